"""MultiBerry: M foragers share one arena and compete for its berries.

Three layers, as for the single-forager worlds:
  - `step_arenas`: the batched core, N arenas x M foragers on one torch device;
  - `MultiBerryVectorEnv`: a Gymnasium VectorEnv over the N*M forager slots (row n*M + i is
    forager i of arena n), for batched training with parameter sharing;
  - `parallel_env()` / `env()`: PettingZoo's ParallelEnv and AEC forms of one arena, numpy at the
    boundary, following PettingZoo's module convention.

Each forager sees its own egocentric view, with the other foragers drawn as white discs, and its
own goal. It is rewarded for what it eats (a berry touched by several foragers at once goes to the
lowest-numbered one). `target_mode="own"` gives each forager its own target colour, cued in its own
goal; `cooperative=True` gives every forager the team's total reward. With `starvation_steps > 0`
a forager that eats no target for that many steps dies (terminates): PettingZoo removes it; in the
vector env its slot respawns on the next step, so each slot follows next-step autoreset exactly.
"""

from __future__ import annotations

import functools
import math
import secrets
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs import rng
from envs.config import NUM_COLOURS, WorldConfig, make_config
from envs.retina import LABEL_FORAGER, Retina
from envs.vector import action_space, observation_space, resolve_device
from envs.world import DRAW_BERRY, _spawn_berries, velocities

DRAW_AGENT_POSE, DRAW_AGENT_TARGET, DRAW_ARENA, DRAW_FOLIAGE = 20, 21, 22, 23
TARGET_MODES = ("shared", "own")


@dataclass(frozen=True)
class MultiConfig:
    """The arena (a WorldConfig) plus what is particular to several foragers."""

    world: WorldConfig
    num_agents: int = 4  # foragers per arena
    target_mode: str = "shared"  # "shared": one target for all (red, or cued per episode); "own": one each
    cooperative: bool = False  # every forager receives the team's total reward
    starvation_steps: int = 0  # a forager that eats no target for this many steps dies; 0 = never


def make_multi_config(num_agents: int = 4, target_mode: str = "shared", cooperative: bool = False,
                      starvation_steps: int = 0, task: str = "red", **world_kwargs) -> MultiConfig:
    if not isinstance(num_agents, int) or isinstance(num_agents, bool) or num_agents < 1:
        raise ValueError(f"num_agents={num_agents!r} must be an int >= 1")
    if target_mode not in TARGET_MODES:
        raise ValueError(f"target_mode={target_mode!r} must be one of {TARGET_MODES}")
    if not isinstance(starvation_steps, int) or starvation_steps < 0:
        raise ValueError(f"starvation_steps={starvation_steps!r} must be an int >= 0 (0 = foragers never starve)")
    if task == "reversal":
        raise ValueError("task='reversal' is not supported by MultiBerry; use 'red' or 'cued'")
    world = make_config(task, **world_kwargs)
    return MultiConfig(world, num_agents, target_mode, bool(cooperative), starvation_steps)


@dataclass
class ArenaState:
    """N arenas with M foragers each."""

    pose: torch.Tensor  # (N, M, 3) x, y, heading
    alive: torch.Tensor  # (N, M) bool
    agent_target: torch.Tensor  # (N, M) int64 colour that pays each forager
    hunger: torch.Tensor  # (N, M) int64 steps since the forager last ate a target
    berry_pos: torch.Tensor  # (N, K, 2)
    berry_colour: torch.Tensor  # (N, K) int64
    berry_timer: torch.Tensor  # (N, K) int64, 0 = present
    foliage_pos: torch.Tensor  # (N, F, 2)
    target_colour: torch.Tensor  # (N,) the shared target (shared mode)
    illumination: torch.Tensor  # (N, 3)
    seed: torch.Tensor  # (N,) int64
    counter: torch.Tensor  # (N,) int64
    arena_step: torch.Tensor  # (N,) int64 steps since the arena's episode began
    episode_step: torch.Tensor  # (N, M) int64 steps of each forager's current episode
    episode_return: torch.Tensor  # (N, M) float32
    episode_target: torch.Tensor  # (N, M) float32
    episode_distractor: torch.Tensor  # (N, M) float32
    arena_reset: torch.Tensor  # (N,) bool: the arena starts afresh on the next step
    slot_reset: torch.Tensor  # (N, M) bool: the forager respawns on the next step

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def empty_arenas(mc: MultiConfig, n: int, device: torch.device) -> ArenaState:
    m, k, f = mc.num_agents, mc.world.num_berries, mc.world.num_foliage

    def z(*shape, dtype=torch.float32):
        return torch.zeros(*shape, dtype=dtype, device=device)

    i64 = torch.int64
    return ArenaState(
        pose=z(n, m, 3), alive=torch.ones(n, m, dtype=torch.bool, device=device), agent_target=z(n, m, dtype=i64),
        hunger=z(n, m, dtype=i64), berry_pos=z(n, k, 2), berry_colour=z(n, k, dtype=i64),
        berry_timer=z(n, k, dtype=i64), foliage_pos=z(n, f, 2), target_colour=z(n, dtype=i64),
        illumination=torch.ones(n, 3, device=device), seed=z(n, dtype=i64), counter=z(n, dtype=i64),
        arena_step=z(n, dtype=i64), episode_step=z(n, m, dtype=i64), episode_return=z(n, m),
        episode_target=z(n, m), episode_distractor=z(n, m),
        arena_reset=torch.ones(n, dtype=torch.bool, device=device),
        slot_reset=torch.zeros(n, m, dtype=torch.bool, device=device),
    )


def step_arenas(mc: MultiConfig, state: ArenaState, action: torch.Tensor, respawn: bool):
    """One step of N arenas. action: (N, M) ints or (N, M, 2) floats.

    Arenas flagged `arena_reset` start afresh and ignore their actions; foragers flagged
    `slot_reset` (died on the last step, respawn=True) are placed anew and ignore theirs.
    Returns (state, reward (N, M), terminated (N, M), truncated (N, M), target_eaten, distractor_eaten).
    """
    c = mc.world
    n, m = state.alive.shape
    device = state.alive.device
    L = c.arena_size
    key = rng.step_key(state.seed, state.counter)
    new = ArenaState(**state.as_dict())
    arena_reset = state.arena_reset  # (N,)
    respawning = (state.slot_reset | arena_reset[:, None])  # (N, M) slots that start a new episode
    acting = state.alive & ~respawning  # (N, M) slots whose action counts

    # Fresh draws for whatever starts now: arena features, forager poses and targets.
    u = rng.uniform(key, DRAW_ARENA, (5,))  # shared target, brightness, cast x3
    if c.task == "cued":
        shared = (u[:, 0] * NUM_COLOURS).floor().long().clamp(0, NUM_COLOURS - 1)
    else:
        shared = torch.zeros(n, dtype=torch.int64, device=device)
    new.target_colour = torch.where(arena_reset, shared, state.target_colour)
    illumination = (1 + c.illumination * (2 * u[:, 1:2] - 1)) * (1 + 0.5 * c.illumination * (2 * u[:, 2:5] - 1))
    new.illumination = torch.where(arena_reset[:, None], illumination, state.illumination)
    if c.num_foliage:
        foliage = rng.uniform(key, DRAW_FOLIAGE, (c.num_foliage, 2)) * L
        new.foliage_pos = torch.where(arena_reset[:, None, None], foliage, state.foliage_pos)
    up = rng.uniform(key, DRAW_AGENT_POSE, (m, 3))  # (N, M, 3)
    margin = c.forager_radius + 0.5
    start_pose = torch.stack([margin + up[..., 0] * (L - 2 * margin), margin + up[..., 1] * (L - 2 * margin),
                              (up[..., 2] * 2 - 1) * math.pi], dim=-1)
    if mc.target_mode == "own":
        own = (rng.uniform(key, DRAW_AGENT_TARGET, (m,)) * NUM_COLOURS).floor().long().clamp(0, NUM_COLOURS - 1)
    else:
        own = new.target_colour[:, None].expand(n, m)
    new.agent_target = torch.where(respawning, own, state.agent_target)

    # Move the foragers that act.
    vel = velocities(c, action.reshape(n * m, *action.shape[2:])).view(n, m, 2)
    heading = state.pose[..., 2] + vel[..., 1] * c.turn_speed
    heading = torch.remainder(heading + math.pi, 2 * math.pi) - math.pi
    r = c.forager_radius
    x = (state.pose[..., 0] + vel[..., 0] * c.forward_speed * torch.cos(heading)).clamp(r, L - r)
    y = (state.pose[..., 1] + vel[..., 0] * c.forward_speed * torch.sin(heading)).clamp(r, L - r)
    moved = torch.stack([x, y, heading], dim=-1)
    new.pose = torch.where(respawning[..., None], start_pose, torch.where(acting[..., None], moved, state.pose))

    # Eat: a berry touched by several foragers goes to the lowest-numbered one.
    delta = state.berry_pos[:, None] - new.pose[:, :, None, :2]  # (N, M, K, 2)
    touching = ((delta * delta).sum(-1) < (c.forager_radius + c.berry_radius) ** 2)
    touching = touching & (state.berry_timer == 0)[:, None] & acting[..., None]  # (N, M, K)
    eaten_by = touching & (touching.cumsum(1) == 1)  # (N, M, K) first toucher only
    pays = state.berry_colour[:, None, :] == state.agent_target[..., None]  # (N, M, K)
    target_eaten = (eaten_by & pays).sum(-1).to(torch.float32)  # (N, M)
    distractor_eaten = (eaten_by & ~pays).sum(-1).to(torch.float32)
    reward = target_eaten * c.target_reward + distractor_eaten * c.distractor_reward
    if mc.cooperative:
        reward = reward.sum(1, keepdim=True).expand(n, m).contiguous()

    # Regrow (as the single-forager world does); arenas that reset grow every berry afresh.
    eaten = eaten_by.any(1)  # (N, K)
    present = state.berry_timer == 0
    timer = (torch.where(eaten, c.regrow_delay + 1, state.berry_timer) - 1).clamp_min(0)
    regrown = ((timer == 0) & ~present) | arena_reset[:, None]
    if mc.target_mode == "own":  # every colour grows, so every forager's target does
        k = c.num_berries
        ub = rng.uniform(key, DRAW_BERRY, (k, 3))
        pos = c.berry_radius + ub[..., :2] * (L - 2 * c.berry_radius)
        colour = (ub[..., 2] * NUM_COLOURS).floor().long().clamp(0, NUM_COLOURS - 1)
    else:
        pos, colour = _spawn_berries(c, new.target_colour, key)
    new.berry_pos = torch.where(regrown[..., None], pos, state.berry_pos)
    new.berry_colour = torch.where(regrown, colour, state.berry_colour)
    new.berry_timer = torch.where(arena_reset[:, None], 0, timer)

    # Life, death and bookkeeping.
    fed = target_eaten > 0
    new.hunger = torch.where(respawning | fed, 0, state.hunger + acting.long())
    alive = torch.where(respawning, True, state.alive)
    terminated = torch.zeros_like(alive)
    if mc.starvation_steps > 0:
        terminated = alive & ~respawning & (new.hunger >= mc.starvation_steps)
        alive = alive & ~terminated
    new.alive = alive
    new.arena_step = torch.where(arena_reset, 0, state.arena_step + 1)
    keep = (~respawning).to(torch.float32)
    new.episode_step = state.episode_step * ~respawning + acting
    new.episode_return = state.episode_return * keep + reward * acting
    new.episode_target = state.episode_target * keep + target_eaten
    new.episode_distractor = state.episode_distractor * keep + distractor_eaten
    arena_over = ~arena_reset & (new.arena_step >= c.max_episode_steps)
    if not respawn:  # PettingZoo: the arena also ends when every forager is dead
        arena_over = arena_over | (~arena_reset & ~alive.any(1))
    truncated = arena_over[:, None] & alive  # (N, M): living foragers are cut off by the time limit
    new.arena_reset = arena_over
    new.slot_reset = terminated if respawn else torch.zeros_like(terminated)
    new.counter = state.counter + 1
    reward = reward * acting
    return new, reward, terminated, truncated, target_eaten, distractor_eaten


class ArenaRenderer:
    """Each forager's egocentric view in N arenas: (N*M, H, W, 3) uint8, other foragers as discs."""

    def __init__(self, mc: MultiConfig, num_arenas: int, device: torch.device):
        self.mc = mc
        self.m = mc.num_agents
        self.retina = Retina(mc.world, num_arenas * mc.num_agents, device)
        eye = torch.eye(mc.num_agents, dtype=torch.bool, device=device)
        self.not_self = ~eye  # (M, M)
        self.slot = torch.arange(mc.num_agents, device=device)

    def render(self, state: ArenaState) -> torch.Tensor:
        n, m = state.alive.shape
        rep = functools.partial(torch.repeat_interleave, repeats=m, dim=0)
        others = state.pose[:, None, :, :2].expand(n, m, m, 2).reshape(n * m, m, 2)
        visible = (state.alive[:, None, :] & self.not_self).reshape(n * m, m)
        labels = torch.where(visible, LABEL_FORAGER, 0).to(torch.uint8)
        view = SimpleNamespace(
            pose=state.pose.reshape(n * m, 3), berry_pos=rep(state.berry_pos), berry_colour=rep(state.berry_colour),
            berry_timer=rep(state.berry_timer), foliage_pos=rep(state.foliage_pos),
            illumination=rep(state.illumination),
            seed=(rep(state.seed) * m + self.slot.repeat(n)) & rng.MASK32, counter=rep(state.counter),
        )
        image = self.retina.render(view, extra_discs=[(others, labels, self.mc.world.forager_radius)])
        return image * state.alive.reshape(n * m, 1, 1, 1)  # a dead forager sees black


def goals(mc: MultiConfig, state: ArenaState) -> torch.Tensor:
    """(N*M, P) one-hot of each forager's target."""
    n, m = state.alive.shape
    return torch.nn.functional.one_hot(state.agent_target.reshape(n * m), NUM_COLOURS).to(torch.float32)


def _check_batched_actions(mc: MultiConfig, actions, num_slots: int, device, validate: bool) -> torch.Tensor:
    if not isinstance(actions, torch.Tensor):
        actions = torch.as_tensor(np.asarray(actions))
    discrete = mc.world.action_type == "discrete"
    shape = (num_slots,) if discrete else (num_slots, 2)
    if tuple(actions.shape) != shape:
        raise ValueError(f"actions have shape {tuple(actions.shape)}; this env needs {shape} (one per forager slot)")
    if discrete and (actions.dtype == torch.bool or actions.is_floating_point()):
        raise TypeError(f"actions have dtype {actions.dtype}; Discrete actions need an integer dtype")
    if not discrete and not actions.is_floating_point():
        raise TypeError(f"actions have dtype {actions.dtype}; continuous actions need a floating dtype")
    actions = actions.to(device)
    if validate:  # one host sync, as in BerryVectorEnv
        bad = ((actions < 0) | (actions >= 5)).any() if discrete else ~(actions.abs() <= 1).all()
        if bad:
            raise ValueError("actions hold values outside the action space; allowed are "
                             + ("integers in [0, 4]" if discrete else "finite floats in [-1, 1]"))
    return actions


class MultiBerryVectorEnv(VectorEnv):
    """N MultiBerry arenas as a VectorEnv over their N*M forager slots (slot n*M + i = forager i of
    arena n), for batched training with parameter sharing. `num_envs` = N*M.

    Each slot follows `AutoresetMode.NEXT_STEP`: when its forager dies (terminated) or the arena's
    time runs out (truncated), the next step ignores its action and starts its new episode. Info
    follows BerryVectorEnv's (`target_eaten`, `distractor_eaten`, `episode`, `_episode`).
    Arguments: `num_arenas`, `num_agents` (4), `target_mode`, `cooperative`, `starvation_steps`,
    `task` ('red' or 'cued'), `device`, and every WorldConfig knob.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, num_arenas: int = 1, device="cpu", render_mode=None, copy: bool = True,
                 validate_actions: bool = True, **kwargs: Any):
        if not isinstance(num_arenas, int) or isinstance(num_arenas, bool) or num_arenas < 1:
            raise ValueError(f"num_arenas={num_arenas!r} must be an int >= 1")
        self.multi = make_multi_config(**kwargs)
        self.config = self.multi.world
        self.device = resolve_device(device)
        self.num_arenas = num_arenas
        self.num_agents = self.multi.num_agents
        self.num_envs = num_arenas * self.num_agents
        self.render_mode = render_mode
        self.copy = copy  # accepted for BerryVectorEnv parity; observations are always fresh tensors
        self.validate_actions = validate_actions
        self.single_observation_space = observation_space(self.config)
        self.single_action_space = action_space(self.config)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.state = empty_arenas(self.multi, num_arenas, self.device)
        self.renderer = ArenaRenderer(self.multi, num_arenas, self.device)
        self._seeded = False

    def reset(self, *, seed=None, options=None):
        if seed is not None or not self._seeded:
            base = secrets.randbits(32) if seed is None else int(seed)
            folded = [rng.fold_seed(base + i) for i in range(self.num_arenas)]
            self.state.seed = torch.tensor(folded, dtype=torch.int64, device=self.device)
            self.state.counter = torch.zeros_like(self.state.seed)
            self._seeded = True
        self.state.arena_reset = torch.ones(self.num_arenas, dtype=torch.bool, device=self.device)
        idle = torch.zeros(self.action_space.shape, dtype=torch.int64 if self.config.action_type == "discrete" else torch.float32,
                           device=self.device)
        self.state = step_arenas(self.multi, self.state, idle.view(self.num_arenas, self.num_agents, *idle.shape[1:]), True)[0]
        return self._observe(), {}

    def step(self, actions):
        if not self._seeded:
            raise RuntimeError("step() was called before reset(); call reset(seed=...) first")
        actions = _check_batched_actions(self.multi, actions, self.num_envs, self.device, self.validate_actions)
        n, m = self.num_arenas, self.num_agents
        self.state, reward, terminated, truncated, te, de = step_arenas(
            self.multi, self.state, actions.view(n, m, *actions.shape[1:]), respawn=True)
        s = self.state
        ended = (terminated | truncated).view(-1)
        eaten = s.episode_target + s.episode_distractor
        info = {
            "target_eaten": te.view(-1), "distractor_eaten": de.view(-1),
            "episode": {"r": s.episode_return.view(-1).clone(), "l": s.episode_step.view(-1).clone(),
                        "target_eaten": s.episode_target.view(-1).clone(),
                        "distractor_eaten": s.episode_distractor.view(-1).clone(),
                        "precision": (s.episode_target / eaten).view(-1)},
            "_episode": ended,
        }
        return self._observe(), reward.view(-1), terminated.view(-1), truncated.view(-1), info

    def forager_state(self) -> SimpleNamespace:
        """Each forager slot seen as a one-forager world (N*M rows), for the scripted policy."""
        s, m = self.state, self.num_agents
        rep = functools.partial(torch.repeat_interleave, repeats=m, dim=0)
        return SimpleNamespace(pose=s.pose.reshape(-1, 3), berry_pos=rep(s.berry_pos), berry_colour=rep(s.berry_colour),
                               berry_timer=rep(s.berry_timer), target_colour=s.agent_target.reshape(-1),
                               seed=(rep(s.seed) * m + self.renderer.slot.repeat(self.num_arenas)) & rng.MASK32,
                               counter=rep(s.counter))

    def _observe(self):
        image = self.renderer.render(self.state)
        return {"image": image, "goal": goals(self.multi, self.state)}

    def render(self):
        return self.render_arena(0) if self.render_mode == "rgb_array" else None

    def render_arena(self, index: int = 0, size: int = 384) -> np.ndarray:
        from envs.draw import draw_arena_frame

        poses = self.state.pose[index][self.state.alive[index]].cpu().numpy()
        return draw_arena_frame(self.config, _arena_as_world(self.state), index, size, poses=poses)

    def get_state(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.state.as_dict().items()}

    def set_state(self, saved: dict[str, torch.Tensor]) -> None:
        current = self.state.as_dict()
        for name, value in current.items():
            if name not in saved or tuple(saved[name].shape) != tuple(value.shape):
                raise ValueError(f"env state {name!r} is missing or has the wrong shape; num_arenas, num_agents "
                                 f"and the world config must match the saved run")
        self.state = ArenaState(**{k: saved[k].to(self.device, v.dtype) for k, v in current.items()})
        self._seeded = True


def _arena_as_world(state: ArenaState):
    """The fields envs.draw reads, with the first forager's pose as `pose`."""
    return SimpleNamespace(pose=state.pose[:, 0], berry_pos=state.berry_pos, berry_timer=state.berry_timer,
                           berry_colour=state.berry_colour, foliage_pos=state.foliage_pos)


def make_vector_env(num_envs: int = 1, **kwargs) -> MultiBerryVectorEnv:
    """`vector_entry_point` of MultiBerry-v0: num_envs counts arenas; the VectorEnv has num_envs*M slots."""
    return MultiBerryVectorEnv(num_arenas=num_envs, **kwargs)


# -- PettingZoo -------------------------------------------------------------------------------
from pettingzoo import ParallelEnv  # noqa: E402
from pettingzoo.utils.conversions import parallel_to_aec  # noqa: E402

from envs.window import ArenaRendering  # noqa: E402


class MultiBerryParallelEnv(ArenaRendering, ParallelEnv):
    """One MultiBerry arena behind PettingZoo's ParallelEnv API, numpy at the boundary.

    Agents are "forager_0" ... "forager_{M-1}". Actions are ints (Discrete(5)) or float32 (2,)
    arrays with `action_type="continuous"`; observations are {"image", "goal"} as in RedBerry.
    A forager that starves (`starvation_steps > 0`) is terminated and removed from `agents`; the
    episode ends when all have died or after `max_episode_steps` (all are then truncated).
    """

    metadata = {"name": "multiberry_v0", "render_modes": ["human", "rgb_array"], "render_fps": 15,
                "is_parallelizable": True}

    def __init__(self, render_mode: str | None = None, **kwargs: Any):
        if render_mode not in (None, "human", "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} must be None, 'human' or 'rgb_array'")
        self.render_mode = render_mode
        self.multi = make_multi_config(**kwargs)
        self.config = self.multi.world
        self.possible_agents = [f"forager_{i}" for i in range(self.multi.num_agents)]
        self.agents: list[str] = []
        self._obs_space = observation_space(self.config)
        self._act_space = action_space(self.config)
        self._device = torch.device("cpu")
        self.state_ = empty_arenas(self.multi, 1, self._device)
        self._renderer = ArenaRenderer(self.multi, 1, self._device)
        self._seeded = False

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or not self._seeded:
            self.state_.seed = torch.tensor([rng.fold_seed(secrets.randbits(32) if seed is None else seed)])
            self.state_.counter = torch.zeros(1, dtype=torch.int64)
            self._seeded = True
        self.state_.arena_reset = torch.ones(1, dtype=torch.bool)
        self.state_ = step_arenas(self.multi, self.state_, self._idle(), respawn=False)[0]
        self.agents = list(self.possible_agents)
        if self.render_mode == "human":
            self.render()
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions: dict):
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict from agent name to action, got {type(actions).__name__}")
        dead = sorted(set(actions) - set(self.agents))
        if dead:
            raise ValueError(f"actions given for agents that are not alive: {dead}; alive agents are {self.agents}")
        missing = sorted(set(self.agents) - set(actions))
        if missing:
            raise ValueError(f"no action given for agents {missing}; every agent in env.agents needs one")
        batched = self._idle().clone()
        for agent, action in actions.items():
            batched[0, self.possible_agents.index(agent)] = self._check_action(agent, action)
        self.state_, reward, terminated, truncated, te, de = step_arenas(self.multi, self.state_, batched, respawn=False)
        obs = self._observations()
        s = self.state_
        rewards, terms, truncs, infos = {}, {}, {}, {}
        for agent in self.agents:
            i = self.possible_agents.index(agent)
            rewards[agent] = float(reward[0, i])
            terms[agent] = bool(terminated[0, i])
            truncs[agent] = bool(truncated[0, i])
            infos[agent] = {"target_eaten": float(te[0, i]), "distractor_eaten": float(de[0, i])}
            if terms[agent] or truncs[agent]:
                infos[agent]["episode"] = {"r": float(s.episode_return[0, i]), "l": int(s.episode_step[0, i]),
                                           "target_eaten": float(s.episode_target[0, i]),
                                           "distractor_eaten": float(s.episode_distractor[0, i])}
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terms, truncs, infos

    def _arena_frame(self) -> np.ndarray:
        from envs.draw import draw_arena_frame

        poses = self.state_.pose[0][self.state_.alive[0]].numpy()
        return draw_arena_frame(self.config, _arena_as_world(self.state_), 0, 384, poses=poses if len(poses) else None)

    def state(self) -> np.ndarray:
        """A global view for centralised critics: the arena drawn top-down, (384, 384, 3) uint8."""
        from envs.draw import draw_arena_frame

        return draw_arena_frame(self.config, _arena_as_world(self.state_), 0, 384)

    def _idle(self) -> torch.Tensor:
        m = self.multi.num_agents
        if self.config.action_type == "discrete":
            return torch.zeros(1, m, dtype=torch.int64)
        return torch.zeros(1, m, 2)

    def _check_action(self, agent: str, action) -> torch.Tensor:
        if self.config.action_type == "discrete":
            if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)) and not (
                    isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer)):
                raise TypeError(f"action for {agent} is {action!r}; it must be an int in [0, {self._act_space.n - 1}]")
            if not 0 <= int(action) < self._act_space.n:
                raise ValueError(f"action for {agent} is {action!r}; it must be in [0, {self._act_space.n - 1}]")
            return torch.tensor(int(action))
        array = np.asarray(action)
        if array.shape != (2,) or not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"action for {agent} must be a float array of shape (2,), got {array.dtype} {array.shape}")
        if not (np.all(np.isfinite(array)) and np.all(np.abs(array) <= 1)):
            raise ValueError(f"action for {agent} is {array!r}; it must be finite and in [-1, 1]")
        return torch.as_tensor(array, dtype=torch.float32)

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        images = self._renderer.render(self.state_).numpy()
        goal = goals(self.multi, self.state_).numpy()
        return {a: {"image": images[i].copy(), "goal": goal[i].copy()}
                for i, a in enumerate(self.possible_agents) if a in self.agents}


def parallel_env(**kwargs) -> MultiBerryParallelEnv:
    """PettingZoo ParallelEnv of one MultiBerry arena."""
    return MultiBerryParallelEnv(**kwargs)


def env(**kwargs):
    """PettingZoo AEC env of one MultiBerry arena (parallel_to_aec of `parallel_env`)."""
    return parallel_to_aec(parallel_env(**kwargs))
