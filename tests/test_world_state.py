"""The worlds' one state type and what issue 39 asked of the worlds.

- One state type, viewed rather than copied: a single-forager world steps as an arena of one forager
  through views of its own tensors, and its checkpoints keep their record.
- `stagger_start`: the first episode of each world after a reset ends at a uniform step below
  `max_episode_steps`, world i's the same whatever num_envs is; later episodes run the full length, and
  `info["forage"]["staggered"]` marks exactly the shortened ones. With it off nothing changes
  (tests/test_trajectories.py pins that bit for bit).
- MultiBerry's foragers are drawn in light colours that no berry, floor or foliage has.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers the ids)
from common.dispatch import no_host_reads
from envs.arena import forager_view, one_forager_arenas
from envs.config import FLOOR_RGB, FOLIAGE_RGB, PALETTE_RGB, WALL_RGB
from envs.draw import FORAGER_COLOURS, forager_colour

SINGLE_IDS = ["RedBerry-v1", "CuedBerry-v1", "ReversalBerry-v1", "ReversalBerry-v0", "RedBerry-v0"]


def idle(env) -> torch.Tensor:
    return torch.zeros(env.num_envs, dtype=torch.int64)


def episode_ends(env, steps: int, seed=0):
    """Run ``steps`` idle steps after reset(seed): per step, the (truncated, staggered flag, length) tensors."""
    env.reset(seed=seed)
    out = []
    for _ in range(steps):
        _, _, terminated, truncated, info = env.step(idle(env))
        out.append((truncated | terminated, info["forage"]["staggered"].clone(), info["forage"]["l"].clone()))
    return out


# -- one state type ----------------------------------------------------------------------------------------
def test_a_single_forager_world_steps_as_an_arena_through_views_of_its_own_tensors():
    env = gym.make_vec("CuedBerry-v1", num_envs=3).unwrapped
    env.reset(seed=1)
    worlds = env.state
    arenas = one_forager_arenas(worlds)
    for name, value in worlds.as_dict().items():
        assert getattr(arenas, name).data_ptr() == value.data_ptr(), name  # the same memory, not a copy
    assert arenas.pose.shape == (3, 1, 3) and arenas.agent_target.data_ptr() == worlds.target_colour.data_ptr()
    back = forager_view(arenas)
    for name, value in worlds.as_dict().items():
        assert getattr(back, name).data_ptr() == value.data_ptr(), name
        assert getattr(back, name).shape == value.shape, name


def test_a_checkpoint_keeps_its_record_and_an_older_one_loads():
    """get_state writes the fields that are not constant by construction, under the names saved runs hold."""
    single = gym.make_vec("ReversalBerry-v1", num_envs=2).unwrapped
    single.reset(seed=0)
    assert set(single.get_state()) == {"pose", "berry_pos", "berry_colour", "berry_timer", "foliage_pos",
                                       "target_colour", "illumination", "seed", "counter", "episode_step",
                                       "episode_return", "episode_target", "episode_distractor", "needs_reset",
                                       "tasted", "seeded"}
    multi = gym.make_vec("MultiBerry-v1", num_envs=2, num_agents=2).unwrapped
    multi.reset(seed=0)
    assert set(multi.get_state()) == {"pose", "alive", "agent_target", "hunger", "berry_pos", "berry_colour",
                                      "berry_timer", "foliage_pos", "target_colour", "illumination", "seed",
                                      "counter", "arena_step", "episode_step", "episode_return", "episode_target",
                                      "episode_distractor", "arena_reset", "slot_reset", "seeded"}
    # A record without the episode limits (every one before stagger_start) loads as full-length episodes.
    for env, env_id, kwargs in ((single, "ReversalBerry-v1", {}), (multi, "MultiBerry-v1", {"num_agents": 2})):
        staggered = gym.make_vec(env_id, num_envs=2, stagger_start=True, **kwargs).unwrapped
        staggered.reset(seed=0)
        assert (staggered.state.episode_limit < staggered.config.max_episode_steps).all()
        staggered.set_state(env.get_state())
        assert (staggered.state.episode_limit == staggered.config.max_episode_steps).all()
        with pytest.raises(ValueError, match="env state is missing \\['berry_pos'\\]"):
            env.set_state({k: v for k, v in env.get_state().items() if k != "berry_pos"})


# -- stagger_start -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", SINGLE_IDS)
def test_first_episodes_end_spread_out_below_the_limit_and_later_ones_run_full(env_id):
    limit = 40
    env = gym.make_vec(env_id, num_envs=256, max_episode_steps=limit, stagger_start=True)
    first = torch.zeros(256, dtype=torch.int64)  # the step at which each world's first episode ended
    second = torch.zeros(256, dtype=torch.int64)
    for t, (ended, staggered, length) in enumerate(episode_ends(env, 2 * limit + 1), start=1):
        now_first = ended & (first == 0)
        now_second = ended & (first > 0) & (second == 0)
        assert torch.equal(staggered[ended], now_first[ended]), t  # the flag marks exactly the shortened ones
        assert torch.equal(length[now_first], torch.full_like(length[now_first], t)), t
        first[now_first] = t
        second[now_second] = t
    assert (first >= 1).all() and (first < limit).all()
    assert first.unique().numel() >= 30  # 256 draws over 39 steps leave few unused (expected ~38)
    # A later episode runs max_episode_steps steps after its first (reset) step.
    assert torch.equal(second - first, torch.full_like(first, limit + 1))


def test_world_i_ends_its_first_episode_at_the_same_step_whatever_num_envs():
    seeds = [11, 12, 13, 14, 15, 16, 17]
    batch = gym.make_vec("CuedBerry-v1", num_envs=7, max_episode_steps=300, stagger_start=True).unwrapped
    batch.reset(seed=seeds)
    limits = batch.state.episode_limit
    assert limits.unique().numel() > 3
    for i in (0, 3, 6):
        alone = gym.make_vec("CuedBerry-v1", num_envs=1, max_episode_steps=300, stagger_start=True).unwrapped
        alone.reset(seed=[seeds[i]])
        assert torch.equal(alone.state.episode_limit, limits[i:i + 1]), i


def test_partial_resets_and_autoresets_start_full_episodes():
    limit = 30
    env = gym.make_vec("RedBerry-v1", num_envs=64, max_episode_steps=limit, stagger_start=True).unwrapped
    env.reset(seed=4)
    before = env.state.episode_limit.clone()
    assert (before < limit).all()
    mask = torch.arange(64) % 2 == 0
    env.reset(options={"reset_mask": mask})
    assert (env.state.episode_limit[mask] == limit).all()
    assert torch.equal(env.state.episode_limit[~mask], before[~mask])  # the others keep their shortened episode
    for t in range(1, limit + 1):
        _, _, _, truncated, info = env.step(idle(env))
        assert t == limit or not truncated[mask].any(), t
        assert not info["forage"]["staggered"][mask].any(), t
    assert truncated[mask].all()  # the restarted ones ran exactly max_episode_steps
    # A full reset staggers again.
    env.reset()
    assert (env.state.episode_limit < limit).all()


def test_the_shortened_episodes_survive_a_checkpoint():
    limit = 50
    kwargs = dict(num_envs=16, max_episode_steps=limit, stagger_start=True)
    run = gym.make_vec("CuedBerry-v1", **kwargs).unwrapped
    run.reset(seed=2)
    for _ in range(5):
        run.step(idle(run))
    saved = run.get_state()
    assert torch.equal(saved["episode_limit"], run.state.episode_limit) and (saved["episode_limit"] < limit).any()
    resumed = gym.make_vec("CuedBerry-v1", **kwargs).unwrapped
    resumed.reset(seed=99)  # other worlds, then the saved ones
    resumed.set_state(saved)
    for t in range(2 * limit):
        _, _, _, truncated, info = run.step(idle(run))
        _, _, _, truncated_again, info_again = resumed.step(idle(resumed))
        assert torch.equal(truncated, truncated_again), t
        assert torch.equal(info["forage"]["staggered"], info_again["forage"]["staggered"]), t


def test_multiberry_staggers_each_arena():
    limit, arenas, agents = 40, 128, 2
    env = gym.make_vec("MultiBerry-v1", num_envs=arenas, num_agents=agents, max_episode_steps=limit,
                       stagger_start=True)
    first = torch.zeros(arenas, dtype=torch.int64)
    second = torch.zeros(arenas, dtype=torch.int64)
    for t, (ended, staggered, _) in enumerate(episode_ends(env, 2 * limit + 1, seed=3), start=1):
        ended, staggered = ended.view(arenas, agents), staggered.view(arenas, agents)
        assert torch.equal(ended[:, 0], ended[:, 1]), t  # an arena's foragers end together (no starvation here)
        now_first = ended[:, 0] & (first == 0)
        now_second = ended[:, 0] & (first > 0) & (second == 0)
        assert torch.equal(staggered[ended], now_first[:, None].expand(arenas, agents)[ended]), t
        first[now_first] = t
        second[now_second] = t
    assert (first >= 1).all() and (first < limit).all() and first.unique().numel() >= 25
    assert torch.equal(second - first, torch.full_like(first, limit + 1))


def test_multiberry_pettingzoo_marks_its_shortened_first_episode():
    from envs.multiberry_pettingzoo import parallel_env

    env = parallel_env(num_agents=2, max_episode_steps=300, stagger_start=True)
    env.reset(seed=0)
    steps, infos = 0, {}
    while env.agents:
        _, _, _, _, infos = env.step({a: 0 for a in env.agents})
        steps += 1
    assert steps < 300 and all(info["forage"]["staggered"] for info in infos.values())


def test_with_stagger_off_episodes_are_full_and_nothing_is_added():
    env = gym.make_vec("MultiBerry-v1", num_envs=4, num_agents=2, max_episode_steps=6)
    env.reset(seed=0)
    for _ in range(6):
        _, _, _, truncated, info = env.step(torch.zeros(8, dtype=torch.int64))
    assert truncated.all() and "staggered" not in info["forage"]
    assert "episode_limit" not in env.unwrapped.get_state()


def test_a_staggered_step_has_no_host_sync_and_compiles_to_one_graph(one_torch_thread):
    actions = [torch.full((6,), t % 5, dtype=torch.int64) for t in range(12)]  # through the first ends and autoresets

    def reset():
        env = gym.make_vec("MultiBerry-v1", num_envs=3, num_agents=2, max_episode_steps=5, stagger_start=True,
                           copy=False, validate_actions=False).unwrapped
        env.reset(seed=5)
        return env

    env = reset()
    expected = [env.step(action) for action in actions]
    env = reset()
    with no_host_reads():
        for action in actions:
            env.step(action)
    torch._dynamo.reset()
    env = reset()
    env.compile_step(backend="eager")
    actual = [env.step(action) for action in actions]
    assert not env._fast_step.failed
    torch.testing.assert_close(actual, expected, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_stagger_start_must_be_a_bool(value):
    for env_id in ("RedBerry-v1", "MultiBerry-v1"):
        with pytest.raises(ValueError, match=f"stagger_start={value!r} is not allowed; stagger_start must be True or False"):
            gym.make_vec(env_id, num_envs=1, stagger_start=value)


# -- forager colours ---------------------------------------------------------------------------------------
def _luma(rgb) -> float:
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


def test_each_forager_is_drawn_in_its_own_clearly_visible_colour():
    others = list(PALETTE_RGB) + [FLOOR_RGB, FOLIAGE_RGB, WALL_RGB]
    for k, colour in enumerate(FORAGER_COLOURS):
        assert min(math.dist(colour, other) for other in others) >= 80, (k, colour)  # no berry's, floor's, leaf's
        assert _luma(colour) - _luma(FLOOR_RGB) >= 60, (k, colour)  # stands out on the floor (forager 1 did not)
        for j in range(k):
            assert math.dist(colour, FORAGER_COLOURS[j]) >= 60, (j, k)
    # And the frame shows them: forager 1's body colour is on the drawn arena.
    env = gym.make_vec("MultiBerry-v1", num_envs=1, num_agents=4).unwrapped
    env.reset(seed=0)
    frame = env.render_arena(0, size=256)
    for k in range(4):
        assert (frame == np.array(forager_colour(k), dtype=np.uint8)).all(-1).sum() > 10, k
