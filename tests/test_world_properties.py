"""Invariants of the world core under random seeds, settings and actions (hypothesis).

Each example steps a few small batches through resets and autoresets and checks what must hold
after every step, whatever the draws: the accounting of eaten berries, the berry slots' kinds,
the arena's walls, batch-size invariance, and `set_target`'s swap.
"""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.vector import BerryVectorEnv
from envs.world import is_target, num_target_slots

FAST = settings(max_examples=25, deadline=None, derandomize=True)
seeds = st.integers(0, 2**32 - 1)
tasks = st.sampled_from(["red", "cued", "reversal"])
difficulties = st.sampled_from(["easy", "medium", "hard"])


def make(task, difficulty, num_envs, **kwargs):
    return BerryVectorEnv(num_envs=num_envs, task=task, difficulty=difficulty, max_episode_steps=7, **kwargs)


def random_actions(seed: int, steps: int, num_envs: int) -> torch.Tensor:
    return torch.randint(0, 5, (steps, num_envs), generator=torch.Generator().manual_seed(seed))


@FAST
@given(seed=seeds, task=tasks, difficulty=difficulties, num_envs=st.integers(1, 5), action_seed=st.integers(0, 999),
       version=st.sampled_from([0, 1]))
def test_every_step_keeps_the_world_consistent(seed, task, difficulty, num_envs, action_seed, version):
    env = make(task, difficulty, num_envs, regrow_delay=3, version=version)
    c = env.config
    env.reset(seed=seed)
    slot = torch.arange(c.num_berries)
    for action in random_actions(action_seed, 20, num_envs):  # two autoresets
        before = env.state
        _, reward, terminated, truncated, info = env.step(action)
        s = env.state
        live = ~before.needs_reset
        # Eaten berries are exactly the ones that start regrowing, and they are paid as such.
        started = ((s.berry_timer == c.regrow_delay) & (before.berry_timer == 0)).sum(1).float()
        eaten = info["target_eaten"] + info["distractor_eaten"]
        assert torch.equal(torch.where(live, started, 0.0), eaten)
        assert torch.equal(reward, info["target_eaten"] * c.target_reward + info["distractor_eaten"] * c.distractor_reward)
        assert torch.all(s.berry_timer >= 0) and torch.all(s.berry_timer <= c.regrow_delay)
        # Berry slots keep their kinds, so the number of targets is fixed (ReversalBerry's colour never switches here).
        if task == "reversal" and version == 0:  # v0: half the slots grow each colour, whatever pays
            a, b = c.reversal_colours
            assert torch.equal(s.berry_colour, torch.where(slot < c.num_berries // 2, a, b).expand_as(s.berry_colour))
        else:
            assert torch.equal(is_target(s), (slot < num_target_slots(c)).expand_as(s.berry_colour))
        # Everything stays inside the arena.
        r, L = c.forager_radius, c.arena_size
        assert torch.all((s.pose[:, :2] >= r) & (s.pose[:, :2] <= L - r))
        assert torch.all((s.pose[:, 2] >= -math.pi) & (s.pose[:, 2] <= math.pi))
        assert torch.all((s.berry_pos >= c.berry_radius) & (s.berry_pos <= L - c.berry_radius))
        # Episodes end by truncation only, exactly at the limit, and the ending world resets next.
        assert not terminated.any()
        assert torch.equal(truncated, s.episode_step == c.max_episode_steps)
        assert torch.equal(s.needs_reset, truncated)


@FAST
@given(seed=seeds, task=tasks, difficulty=difficulties, num_envs=st.integers(2, 6), data=st.data())
def test_a_world_alone_follows_the_same_trajectory_as_in_a_batch(seed, task, difficulty, num_envs, data):
    index = data.draw(st.integers(0, num_envs - 1), label="index")
    actions = random_actions(seed % 1000, 12, num_envs)
    batch = make(task, difficulty, num_envs)
    alone = make(task, difficulty, 1)
    seeds_ = [seed + i for i in range(num_envs)]
    a, _ = batch.reset(seed=seeds_)
    b, _ = alone.reset(seed=[seeds_[index]])
    for action in actions:
        assert torch.equal(a["image"][index], b["image"][0]) and torch.equal(a["goal"][index], b["goal"][0])
        a, reward, *_ = batch.step(action)
        b, reward_alone, *_ = alone.step(action[index:index + 1])
        assert reward[index] == reward_alone[0]


@FAST
@given(seed=seeds, task=st.sampled_from(["red", "cued"]), difficulty=difficulties, num_envs=st.integers(1, 5),
       data=st.data())
def test_set_target_swap_permutes_colours_between_the_old_and_new_target(seed, task, difficulty, num_envs, data):
    env = make(task, difficulty, num_envs)
    env.reset(seed=seed)
    for action in random_actions(seed % 1000, 5, num_envs):
        env.step(action)
    new = torch.tensor(data.draw(st.lists(st.integers(0, 5), min_size=num_envs, max_size=num_envs), label="colours"))
    before = env.get_state()
    env.set_target(new, swap_berries=True)
    old = before["target_colour"]
    for colour in range(6):
        # colour c now counts what its image under the swap old <-> new counted before.
        source = torch.where(colour == new, old, torch.where(colour == old, new, torch.full_like(new, colour)))
        assert torch.equal((env.state.berry_colour == colour).sum(1), (before["berry_colour"] == source[:, None]).sum(1))
    assert torch.equal(is_target(env.state).sum(1), (before["berry_colour"] == old[:, None]).sum(1))
    assert torch.equal(env.state.target_colour, new)
