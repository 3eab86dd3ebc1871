"""The batched foraging world: state as one dataclass of tensors, dynamics as functions of it.

Shapes: N worlds, K berries, F foliage discs. All tensors live on one device. Nothing here loops
over worlds or reads a tensor's value on the host, so a step never syncs with the device.

Randomness comes from `envs.rng`, keyed by each world's (seed, step counter, draw), so world i
evolves the same way whatever N is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from envs import rng
from envs.config import NUM_COLOURS, WorldConfig

# Draw ids: one independent random stream per purpose.
DRAW_BERRY, DRAW_RESET, DRAW_FOLIAGE, DRAW_REVERSAL, DRAW_NOISE = range(5)

# Discrete actions: (linear, angular) in units of forward_speed and turn_speed.
ACTION_NAMES = ("forward", "turn left", "turn right", "forward-left", "forward-right")
DISCRETE_ACTIONS = ((1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (1.0, 1.0), (1.0, -1.0))


@dataclass
class WorldState:
    """The whole state of N worlds. Positions are world units, the arena spans [0, L]^2."""

    pose: torch.Tensor  # (N, 3) float32: x, y, heading (radians, 0 = +x, counter-clockwise)
    berry_pos: torch.Tensor  # (N, K, 2) float32
    berry_colour: torch.Tensor  # (N, K) int64 palette index
    berry_timer: torch.Tensor  # (N, K) int64: 0 = present, else steps until it regrows
    foliage_pos: torch.Tensor  # (N, F, 2) float32
    target_colour: torch.Tensor  # (N,) int64: the colour that pays now
    illumination: torch.Tensor  # (N, 3) float32 per-channel gain (brightness x colour cast)
    seed: torch.Tensor  # (N,) int64 32-bit seed of each world
    counter: torch.Tensor  # (N,) int64 steps since the world was seeded (the RNG counter)
    episode_step: torch.Tensor  # (N,) int64
    episode_return: torch.Tensor  # (N,) float32
    episode_target: torch.Tensor  # (N,) float32 target berries eaten this episode
    episode_distractor: torch.Tensor  # (N,) float32
    needs_reset: torch.Tensor  # (N,) bool: the episode ended on the last step (next-step autoreset)

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def empty_state(config: WorldConfig, num_envs: int, device: torch.device) -> WorldState:
    n, k, f = num_envs, config.num_berries, config.num_foliage
    zeros = lambda *s, dtype=torch.float32: torch.zeros(*s, dtype=dtype, device=device)  # noqa: E731
    return WorldState(
        pose=zeros(n, 3), berry_pos=zeros(n, k, 2), berry_colour=zeros(n, k, dtype=torch.int64),
        berry_timer=zeros(n, k, dtype=torch.int64), foliage_pos=zeros(n, f, 2),
        target_colour=zeros(n, dtype=torch.int64), illumination=torch.ones(n, 3, device=device),
        seed=zeros(n, dtype=torch.int64), counter=zeros(n, dtype=torch.int64),
        episode_step=zeros(n, dtype=torch.int64), episode_return=zeros(n),
        episode_target=zeros(n), episode_distractor=zeros(n),
        needs_reset=torch.ones(n, dtype=torch.bool, device=device),
    )


def goal_vector(config: WorldConfig, state: WorldState) -> torch.Tensor:
    """The goal the forager is shown: (N, P) float32 one-hot of the target; zeros on reversal."""
    goal = torch.nn.functional.one_hot(state.target_colour, NUM_COLOURS).to(torch.float32)
    if config.task == "reversal":
        goal = torch.zeros_like(goal)
    return goal


def is_target(state: WorldState) -> torch.Tensor:
    """(N, K) bool: which berries have the colour that pays now."""
    return state.berry_colour == state.target_colour[:, None]


def _spawn_berries(config: WorldConfig, target: torch.Tensor, key: torch.Tensor):
    """Fresh positions and colours for every berry slot: (N, K, 2) float32, (N, K) int64.

    Slots keep their kind: the first round(K * target_share) slots grow targets, the others
    distractors, so an eaten berry regrows as its own kind and the target count stays fixed.
    (Without this, a forager that eats only targets would leave a field of distractors.) On
    ReversalBerry half the slots grow each colour of the pair. target: (N,) the paying colour.
    Callers keep the slots they need with torch.where.
    """
    k = config.num_berries
    margin = config.berry_radius
    u = rng.uniform(key, DRAW_BERRY, (k, 3))  # (N, K, 3): x, y, distractor pick
    pos = margin + u[..., :2] * (config.arena_size - 2 * margin)
    slot = torch.arange(k, device=key.device)  # (K,)
    if config.task == "reversal":
        a, b = config.reversal_colours
        return pos, torch.where(slot < k // 2, a, b).expand(key.shape[0], k)
    near = config.near_distractors
    pick = u[..., 2]
    side = torch.where(pick < 0.5 * near, 1, NUM_COLOURS - 1)  # +1 or -1 around the hue circle
    num_far = NUM_COLOURS - 3
    far_rank = ((pick - near) / max(1.0 - near, 1e-6) * num_far).clamp(0, num_far - 1).floor().long()
    offset = torch.where(pick < near, side, 2 + far_rank)
    target = target[:, None]  # (N, 1)
    colour = torch.where(slot < num_target_slots(config), target, (target + offset) % NUM_COLOURS)
    return pos, colour


def num_target_slots(config: WorldConfig) -> int:
    """How many of the K berry slots grow the target colour (at least one when the share is > 0)."""
    count = round(config.num_berries * config.target_share)
    return max(count, 1) if config.target_share > 0 else 0


def velocities(config: WorldConfig, action: torch.Tensor) -> torch.Tensor:
    """Actions -> (N, 2) float32 (linear, angular) in [-1, 1]; discrete uses DISCRETE_ACTIONS."""
    if config.action_type == "discrete":
        table = torch.tensor(DISCRETE_ACTIONS, dtype=torch.float32, device=action.device)
        return table[action]
    return action.to(torch.float32)


def step_worlds(config: WorldConfig, state: WorldState, action: torch.Tensor):
    """Advance every world one step, with next-step autoreset.

    Worlds whose episode ended on the previous step (`needs_reset`) ignore their action and start
    a new episode, with reward 0; `reset()` is this same step with every world resetting, so a
    reset and an autoreset are one code path. The other worlds move, eat, regrow berries and,
    on ReversalBerry, maybe switch the paying colour.
    Returns (state, reward (N,), truncated (N,) bool, target_eaten (N,), distractor_eaten (N,)).
    """
    resetting = state.needs_reset  # (N,)
    live = ~resetting
    n, device = resetting.shape[0], resetting.device
    L = config.arena_size
    key = rng.step_key(state.seed, state.counter)  # (N,): every draw of this step derives from it
    new = WorldState(**state.as_dict())

    # The paying colour: drawn at reset; on ReversalBerry it also switches at random times.
    u = rng.uniform(key, DRAW_RESET, (8,))  # (N, 8)
    current = state.target_colour
    if config.task == "red":
        drawn = torch.zeros(n, dtype=torch.int64, device=device)
    elif config.task == "cued":
        drawn = (u[:, 3] * NUM_COLOURS).floor().long().clamp(0, NUM_COLOURS - 1)
    else:
        a, b = config.reversal_colours
        drawn = torch.where(u[:, 3] < 0.5, a, b)
        switch = rng.uniform(key, DRAW_REVERSAL, (1,))[:, 0] < config.reversal_rate
        current = torch.where(switch, a + b - current, current)
    new.target_colour = torch.where(resetting, drawn, current)

    # Reset: pose, illumination and foliage of the worlds that start an episode.
    margin = config.forager_radius + 0.5
    start_pose = torch.stack([margin + u[:, 0] * (L - 2 * margin), margin + u[:, 1] * (L - 2 * margin),
                              (u[:, 2] * 2 - 1) * math.pi], dim=1)
    brightness = 1 + config.illumination * (2 * u[:, 4:5] - 1)  # (N, 1)
    cast = 1 + 0.5 * config.illumination * (2 * u[:, 5:8] - 1)  # (N, 3)
    new.illumination = torch.where(resetting[:, None], brightness * cast, state.illumination)
    if config.num_foliage:
        foliage = rng.uniform(key, DRAW_FOLIAGE, (config.num_foliage, 2)) * L
        new.foliage_pos = torch.where(resetting[:, None, None], foliage, state.foliage_pos)

    # Move the live worlds: turn, then go forward; the walls stop the disc.
    vel = velocities(config, action)  # (N, 2)
    heading = state.pose[:, 2] + vel[:, 1] * config.turn_speed
    heading = torch.remainder(heading + math.pi, 2 * math.pi) - math.pi
    r = config.forager_radius
    x = (state.pose[:, 0] + vel[:, 0] * config.forward_speed * torch.cos(heading)).clamp(r, L - r)
    y = (state.pose[:, 1] + vel[:, 0] * config.forward_speed * torch.sin(heading)).clamp(r, L - r)
    new.pose = torch.where(live[:, None], torch.stack([x, y, heading], dim=1), start_pose)

    # Eat every present berry the disc touches; the colour that paid before a switch counts.
    delta = state.berry_pos - new.pose[:, None, :2]  # (N, K, 2)
    touching = (delta * delta).sum(-1) < (config.forager_radius + config.berry_radius) ** 2
    present = state.berry_timer == 0
    eaten = touching & present & live[:, None]  # (N, K)
    target = state.berry_colour == state.target_colour[:, None]
    target_eaten = (eaten & target).sum(1).to(torch.float32)  # (N,)
    distractor_eaten = (eaten & ~target).sum(1).to(torch.float32)
    reward = target_eaten * config.target_reward + distractor_eaten * config.distractor_reward

    # Regrow: timers count down, and a berry whose timer reaches 0 grows at a fresh place. At a
    # reset every berry grows afresh. Both use this step's draws.
    timer = torch.where(eaten, config.regrow_delay + 1, state.berry_timer)
    timer = (timer - 1).clamp_min(0)
    regrown = ((timer == 0) & ~present) | resetting[:, None]  # (N, K)
    pos, colour = _spawn_berries(config, new.target_colour, key)
    new.berry_pos = torch.where(regrown[..., None], pos, state.berry_pos)
    new.berry_colour = torch.where(regrown, colour, state.berry_colour)
    new.berry_timer = torch.where(resetting[:, None], 0, timer)

    # Bookkeeping: the reset step is step 0 of the new episode, not a step taken.
    keep = live.to(torch.float32)
    new.episode_step = state.episode_step * live + live
    new.episode_return = state.episode_return * keep + reward
    new.episode_target = state.episode_target * keep + target_eaten
    new.episode_distractor = state.episode_distractor * keep + distractor_eaten
    truncated = live & (new.episode_step >= config.max_episode_steps)
    new.needs_reset = truncated
    new.counter = state.counter + 1
    return new, reward, truncated, target_eaten, distractor_eaten
