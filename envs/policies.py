"""Reference policies, batched on the device: a scripted forager that reads the true state, and a
random policy. Their returns set the scale of every agent's score (DESIGN.md):
normalised = (agent - random) / (scripted - random).
"""

from __future__ import annotations

import functools
import math

import gymnasium as gym
import torch

from envs import rng
from envs.actions import action_table
from envs.retina import egocentric, in_view
from envs.world import DISCRETE_ACTIONS, is_target

DRAW_EXPLORE = 101
FORWARD, TURN_LEFT, TURN_RIGHT, FORWARD_LEFT, FORWARD_RIGHT = range(5)


def scripted_actions(env) -> torch.Tensor:
    """Actions of the scripted forager for every world of a BerryVectorEnv: (N,) or (N, 2).

    It steers to the nearest target berry in its field of view, sidesteps distractors in its path,
    and when it sees no target it wanders, turning away from walls.
    """
    config = env.config
    # MultiBerry's vector env offers each forager slot as a one-forager world.
    state = env.forager_state() if hasattr(env, "forager_state") else env.state
    ahead, left = egocentric(state.pose, state.berry_pos)  # (N, K)
    present = (state.berry_timer == 0) & in_view(config, state.pose, state.berry_pos)
    target = present & is_target(state)
    distance = ahead * ahead + left * left
    target_distance = torch.where(target, distance, math.inf)
    nearest = target_distance.argmin(1, keepdim=True)  # (N, 1)
    has_target = target.any(1)
    angle = torch.atan2(left.gather(1, nearest), ahead.gather(1, nearest))[:, 0]  # (N,) left is positive
    steer = torch.where(angle.abs() < 0.2, FORWARD,
                        torch.where(angle.abs() < 0.9, torch.where(angle > 0, FORWARD_LEFT, FORWARD_RIGHT),
                                    torch.where(angle > 0, TURN_LEFT, TURN_RIGHT)))

    # A distractor in the path, nearer than the target: turn away from it, on the spot if close.
    lane = config.forager_radius + config.berry_radius + 0.15
    blocking = present & ~is_target(state) & (ahead > -0.1) & (ahead < 1.2) & (left.abs() < lane)
    blocking = blocking & (distance < target_distance.gather(1, nearest))
    block_left = torch.where(blocking, left, 0.0).sum(1)  # which side the blockers lie on
    # Turn on the spot only where one more step forward would touch a distractor.
    reach = config.forager_radius + config.berry_radius
    close = (blocking & (ahead < reach + config.forward_speed + 0.05) & (left.abs() < reach)).any(1)
    dodge = torch.where(block_left > 0, torch.where(close, TURN_RIGHT, FORWARD_RIGHT),
                        torch.where(close, TURN_LEFT, FORWARD_LEFT))
    steer_or_wander_blocked = blocking.any(1)

    # Wander: forward, now and then a turn; turn away from a wall ahead.
    heading = state.pose[:, 2]
    probe_x = state.pose[:, 0] + torch.cos(heading) * 1.0
    probe_y = state.pose[:, 1] + torch.sin(heading) * 1.0
    margin, L = config.forager_radius, config.arena_size
    wall_ahead = (probe_x < margin) | (probe_x > L - margin) | (probe_y < margin) | (probe_y > L - margin)
    u = rng.uniform(rng.step_key(state.seed, state.counter), DRAW_EXPLORE, (1,))[:, 0]
    wander = torch.where(u < 0.1, FORWARD_LEFT, torch.where(u < 0.2, FORWARD_RIGHT, FORWARD))
    wander = torch.where(wall_ahead, TURN_LEFT, wander)
    action = torch.where(has_target, steer, wander)
    action = torch.where(steer_or_wander_blocked, dodge, action)
    if config.action_type == "continuous":
        return action_table(action.device)[action]  # the discrete actions' velocities, no host copy per step
    return action


def random_actions(env, generator: torch.Generator, n: int | None = None) -> torch.Tensor:
    """Uniform random actions for every world (or the first ``n``): (N,) ints or (N, 2) floats in [-1, 1]."""
    n, device = env.num_envs if n is None else n, env.device
    if env.config.action_type == "discrete":
        return torch.randint(0, len(DISCRETE_ACTIONS), (n,), generator=generator, device=device)
    return torch.rand(n, 2, generator=generator, device=device) * 2 - 1


@functools.lru_cache(maxsize=64)
def _reference_returns(env_id: str, num_envs: int, seed: int, device: str, kwargs: tuple) -> tuple[float, float]:
    """One full episode of each policy in every world, both at once on twice the worlds: the first
    half random, the second scripted, both halves on the same seeds (the same worlds, and the same
    returns as two runs, since a world's draws depend on its seed and step alone)."""
    env = gym.make_vec(env_id, num_envs=2 * num_envs, device=device, copy=False, validate_actions=False,
                       **dict(kwargs)).unwrapped  # both policies' actions are valid: no value read per step
    generator = torch.Generator(device=env.device)
    generator.manual_seed(seed)
    env.reset(seed=[seed + i for i in range(env.num_worlds // 2)] * 2)
    slots = env.num_envs // 2  # MultiBerry: num_envs counts arenas, and each has several forager slots
    total = torch.zeros(env.num_envs, device=env.device)
    for _ in range(env.config.max_episode_steps):
        action = scripted_actions(env)
        action[:slots] = random_actions(env, generator, slots)
        _, reward, _, _, _ = env.step(action)
        total += reward
    env.close()
    return total[:slots].mean().item(), total[slots:].mean().item()


def reference_returns(env_id: str, num_envs: int = 64, seed: int = 0, device: str = "cpu", **env_kwargs) -> dict[str, float]:
    """Mean episodic return of the random and the scripted policy on one task setting (cached).

    Returns {"random": float, "scripted": float}; each is the mean over num_envs full episodes.
    """
    from envs import check_env_id  # here, not at the top: envs/__init__.py imports this module

    check_env_id(env_id)
    random, scripted = _reference_returns(env_id, num_envs, seed, str(device), tuple(sorted(env_kwargs.items())))
    return {"random": random, "scripted": scripted}


def normalized_score(agent_return, references: dict[str, float]):
    """(agent - random) / (scripted - random): 0 is random, 1 is the scripted forager."""
    return (agent_return - references["random"]) / (references["scripted"] - references["random"])
