"""The v1 worlds: no berry within reach of a forager that only turns, no two berries on top of each
other at any step, ReversalBerry's target share honoured, and the v0 ids left exactly as they were."""

import math

import gymnasium as gym
import pytest
import torch

import envs
from envs.audit import overlapping, spawn_audit
from envs.config import DIFFICULTIES, make_config


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
@pytest.mark.parametrize("name", ["RedBerry", "CuedBerry", "ReversalBerry", "MultiBerry"])
def test_a_forager_that_only_turns_eats_nothing_and_no_berries_overlap(name, difficulty):
    worlds = 1024 if name == "MultiBerry" else 4096  # MultiBerry: 1024 arenas of 4 foragers
    v1 = spawn_audit(f"{name}-v1", difficulty, worlds=worlds, steps=20)
    assert v1 == {"free_5": 0.0, "free": 0.0, "overlap_reset": 0.0, "overlap_any": 0.0}


def test_v0_keeps_its_free_and_stacked_berries():
    v0 = spawn_audit("RedBerry-v0", "easy", worlds=1024, steps=5)
    assert 0.15 < v0["free_5"] < 0.3 and v0["overlap_reset"] > 0.6  # a fifth of worlds pay a turning forager


def test_berries_regrow_outside_every_forager_and_apart_while_foragers_move_and_eat():
    # Random foragers, berries regrowing one step after they are eaten: every berry that appears is at least
    # the exclusion radius from every forager, and no two present berries ever overlap.
    for env_id, kwargs in (("RedBerry-v1", dict(difficulty="hard", num_berries=48)),
                           ("CuedBerry-v1", dict(num_berries=40)), ("MultiBerry-v1", dict(num_agents=4, num_berries=24))):
        env = gym.make_vec(env_id, num_envs=64, regrow_delay=1, **kwargs)
        world = env.unwrapped
        env.reset(seed=3)
        reach = world.config.exclusion_radius
        generator = torch.Generator().manual_seed(0)
        present = world.state.berry_timer == 0
        grown = 0
        for _ in range(100):
            action = torch.randint(0, 5, (world.num_envs,), generator=generator)
            _, _, _, _, info = env.step(action)
            state = world.state
            now = state.berry_timer == 0
            new = now & ~present  # (N, K) berries that grew this step
            foragers = state.pose[..., :2] if state.pose.dim() == 3 else state.pose[:, None, :2]  # (N, M, 2)
            gap = torch.cdist(state.berry_pos, foragers)  # (N, K, M)
            assert not (new[..., None] & (gap < reach)).any(), env_id
            assert not overlapping(state, world.config.berry_radius).any(), env_id
            grown += int(new.sum())
            present = now
        assert grown > 150, env_id  # the check saw many regrowths
        env.close()


@pytest.mark.parametrize("targets, berries", [(2, 8), (2, 32), (6, 12)])
def test_reversal_v1_honours_target_share_and_v0_does_not(targets, berries):
    for version, expected in ((1, targets), (0, berries // 2)):
        env = gym.make_vec(f"ReversalBerry-v{version}", num_envs=256, num_berries=berries,
                           target_share=targets / berries)
        env.reset(seed=0)
        state = env.unwrapped.state
        paying = (state.berry_colour == state.target_colour[:, None]).sum(1)
        assert (paying == expected).all(), (version, paying.unique())
        env.close()


def test_reversal_v1_target_slots_regrow_in_the_colour_that_pays_when_they_grow():
    env = gym.make_vec("ReversalBerry-v1", num_envs=64, num_berries=10, target_share=0.2, reversal_rate=1.0,
                       regrow_delay=1)
    env.reset(seed=1)
    world = env.unwrapped
    a, b = world.config.reversal_colours
    for _ in range(40):  # the colour switches every step; slots 0-1 grow the payer of their step, the rest the other
        env.step(torch.randint(0, 5, (64,)))
    colours = world.state.berry_colour
    assert set(colours.unique().tolist()) <= {a, b}
    assert ((colours == a).sum(1) + (colours == b).sum(1) == 10).all()


def test_a_world_too_small_for_its_berries_is_refused_in_v1_and_kept_in_v0():
    with pytest.raises(ValueError, match=r"num_berries=30 does not fit an arena_size=4 arena with 1 forager"):
        make_config("red", arena_size=4.0, num_berries=30)
    assert make_config("red", arena_size=4.0, num_berries=30, version=0).num_berries == 30
    with pytest.raises(ValueError, match="with 4 forager"):
        gym.make_vec("MultiBerry-v1", num_envs=1, num_agents=4, arena_size=5.0)
    with pytest.raises(ValueError, match="version=0: the id sets the version"):
        envs.world_config("RedBerry-v1", version=0)


def test_every_id_names_its_version_and_v0_keeps_its_rules():
    assert {envs.ENV_VERSIONS[i] for i in envs.ENV_IDS} == {0, 1}
    for env_id in envs.ENV_IDS:
        env = gym.make_vec(env_id, num_envs=1)
        assert env.unwrapped.config.version == int(env_id[-1]), env_id
        env.close()
    assert envs.world_config("CuedBerry-v0").version == 0 and envs.world_config("CuedBerry-v1").version == 1
    assert math.isclose(make_config("red").exclusion_radius, 0.3 + 0.3 + 0.25)
