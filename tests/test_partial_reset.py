"""Gymnasium's partial reset, reset(options={"reset_mask": ...}), on both vector envs: the masked
worlds (or forager slots) start their next episode now, as the next step's autoreset would, and
everything else goes on exactly as if it had not been called. The SB3 adapter is built on it."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers the ids)
from envs.arena import SLOT_FIELDS


def _actions(steps, n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 5, (n,), generator=generator) for _ in range(steps)]


def test_unmasked_worlds_go_on_exactly_as_without_the_reset():
    masked, untouched = (gym.make_vec("CuedBerry-v1", num_envs=4, difficulty="hard") for _ in range(2))
    masked.reset(seed=5)
    untouched.reset(seed=5)
    mask = np.array([True, False, False, True])
    keep = torch.as_tensor(~mask)
    for t, action in enumerate(_actions(12, 4)):
        obs, reward, _, _, _ = masked.step(action)
        twin_obs, twin_reward, _, _, _ = untouched.step(action)
        if t == 4:
            before = masked.get_state()
            obs, _ = masked.reset(options={"reset_mask": mask})
            after = masked.get_state()
            for name in before:
                if name != "seeded":
                    assert torch.equal(after[name][keep], before[name][keep]), name
            assert (after["episode_step"][~keep] == 0).all() and (after["episode_return"][~keep] == 0).all()
        assert torch.equal(obs["image"][keep], twin_obs["image"][keep]), t
        assert torch.equal(reward[keep], twin_reward[keep]), t


def test_a_masked_restart_is_the_autoreset_the_next_step_would_do():
    """At an episode's end, reset_mask gives the first observation the NEXT_STEP autoreset gives a step later."""
    now, later = (gym.make_vec("RedBerry-v1", num_envs=3, max_episode_steps=5) for _ in range(2))
    now.reset(seed=2)
    later.reset(seed=2)
    for action in _actions(5, 3):
        now.step(action)
        _, _, _, truncated, _ = later.step(action)
    assert truncated.all()
    restarted, _ = now.reset(options={"reset_mask": truncated.numpy()})
    autoreset, reward, _, _, _ = later.step(torch.zeros(3, dtype=torch.int64))
    assert (reward == 0).all()
    for key in ("image", "goal"):
        assert torch.equal(restarted[key], autoreset[key])
    for action in _actions(7, 3, seed=1):  # and the new episodes go on alike
        obs, _, _, _, _ = now.step(action)
        twin, _, _, _, _ = later.step(action)
        assert torch.equal(obs["image"], twin["image"])


def test_multiberry_respawns_a_starved_forager_and_leaves_its_arena_as_it_was():
    env = gym.make_vec("MultiBerry-v1", num_envs=2, num_agents=3, starvation_steps=3, max_episode_steps=50)
    env.reset(seed=1)
    terminated = torch.zeros(6, dtype=torch.bool)
    for t, action in enumerate(_actions(10, 6)):
        if t == 1:  # respawning forager 0 of arena 0 early resets its hunger, so it starves later than the rest
            env.reset(options={"reset_mask": np.array([True] + [False] * 5)})
        _, _, terminated, _, _ = env.step(action)
        if terminated.any():
            break
    assert terminated.any() and not terminated[0]
    before = env.get_state()
    env.reset(options={"reset_mask": terminated.numpy()})
    after = env.get_state()
    dead = terminated.view(2, 3)
    for name, value in after.items():
        if name in SLOT_FIELDS:
            assert torch.equal(value[~dead], before[name][~dead]), name
        else:  # the arenas' own state (berries, RNG counter, time) is untouched: none had run out of time
            assert torch.equal(value, before[name]), name
    assert after["alive"].all() and (after["episode_step"][dead] == 0).all()


def test_multiberry_arena_whose_time_ran_out_starts_afresh():
    env = gym.make_vec("MultiBerry-v1", num_envs=2, num_agents=2, max_episode_steps=4)
    env.reset(seed=3)
    for action in _actions(4, 4):
        _, _, _, truncated, _ = env.step(action)
    assert truncated.all()
    before = env.get_state()
    env.reset(options={"reset_mask": truncated.numpy()})
    after = env.get_state()
    assert not torch.equal(after["berry_pos"], before["berry_pos"])  # a new field
    assert (after["arena_step"] == 0).all() and not after["arena_reset"].any()


@pytest.mark.parametrize("env_id", ["RedBerry-v1", "MultiBerry-v1"])
def test_bad_reset_masks_and_a_seed_with_a_mask_are_refused(env_id):
    env = gym.make_vec(env_id, num_envs=2)
    n = env.num_envs
    with pytest.raises(ValueError, match="reset\\(seed=...\\) without a mask first"):
        env.reset(options={"reset_mask": np.ones(n, bool)})  # before any full reset
    env.reset(seed=0)
    for bad in (np.ones(n, int), np.ones(n + 1, bool), [True] * n):
        with pytest.raises(ValueError, match="must be a"):
            env.reset(options={"reset_mask": bad})
    with pytest.raises(ValueError, match="no seed with a mask"):
        env.reset(seed=1, options={"reset_mask": np.ones(n, bool)})
