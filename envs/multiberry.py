"""MultiBerry: M foragers share one arena and compete for its berries.

Three layers, as for the single-forager worlds:
  - `envs.arena.step_arenas`: the world core, N arenas x M foragers on one torch device (the
    single-forager worlds are its M = 1);
  - `MultiBerryVectorEnv` (here): a Gymnasium VectorEnv over the N*M forager slots (row n*M + i is
    forager i of arena n), for batched training with parameter sharing;
  - `parallel_env()` / `env()` (envs/multiberry_pettingzoo.py, also reachable as
    `envs.multiberry.parallel_env` / `.env`, PettingZoo's module convention): ParallelEnv and AEC
    forms of one arena, numpy at the boundary.

Each forager sees its own egocentric view, with the other foragers drawn as white discs, and its
own goal. It is rewarded for what it eats (a berry touched by several foragers at once goes to the
lowest-numbered one). `target_mode="own"` gives each forager its own target colour, cued in its own
goal; `cooperative=True` gives every forager the team's total reward. With `starvation_steps > 0`
a forager that eats no target for that many steps dies (terminates): PettingZoo removes it; in the
vector env its slot respawns on the next step, so each slot follows next-step autoreset exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs import rng
from envs.actions import ActionCheck, action_space
from envs.arena import (  # noqa: F401  (ArenaState, step_arenas: re-exported, MultiBerry's core)
    TARGET_MODES, ArenaState, MultiConfig, View, arena_view, empty_arenas, forager_view, restart_slots,
    step_arenas,
)
from envs.config import MAX_WORLDS, NUM_COLOURS, make_config
from envs.retina import LABEL_FORAGER, Retina
from envs.vector import check_open, observation_space, partial_reset_mask, resolve_device

PETTINGZOO_NAMES = ("MultiBerryParallelEnv", "parallel_env", "env")


def make_multi_config(num_agents: int = 4, target_mode: str = "shared", cooperative: bool = False,
                      starvation_steps: int = 0, task: str = "red", **world_kwargs) -> MultiConfig:
    if not isinstance(num_agents, int) or isinstance(num_agents, bool) or not 1 <= num_agents <= 256:
        raise ValueError(f"num_agents={num_agents!r} must be an int from 1 to 256")
    if target_mode not in TARGET_MODES:
        raise ValueError(f"target_mode={target_mode!r} must be one of {TARGET_MODES}")
    if not isinstance(starvation_steps, int) or starvation_steps < 0:
        raise ValueError(f"starvation_steps={starvation_steps!r} must be an int >= 0 (0 = foragers never starve)")
    if task == "reversal":
        raise ValueError("task='reversal' is not supported by MultiBerry; use 'red' or 'cued'")
    world = make_config(task, **world_kwargs)
    return MultiConfig(world, num_agents, target_mode, bool(cooperative), starvation_steps)


class ArenaRenderer:
    """Each forager's egocentric view in N arenas: (N*M, H, W, 3) uint8, other foragers as discs."""

    def __init__(self, mc: MultiConfig, num_arenas: int, device: torch.device):
        self.mc = mc
        self.retina = Retina(mc.world, num_arenas * mc.num_agents, device)
        self.not_self = ~torch.eye(mc.num_agents, dtype=torch.bool, device=device)  # (M, M)

    def render(self, state: ArenaState) -> torch.Tensor:
        n, m = state.alive.shape
        others = state.pose[:, None, :, :2].expand(n, m, m, 2).reshape(n * m, m, 2)
        visible = (state.alive[:, None, :] & self.not_self).reshape(n * m, m)
        labels = torch.where(visible, LABEL_FORAGER, 0).to(torch.uint8)
        image = self.retina.render(forager_view(state), extra_discs=[(others, labels, self.mc.world.forager_radius)])
        return image * state.alive.reshape(n * m, 1, 1, 1)  # a dead forager sees black


def foragers(state: ArenaState, index: int) -> dict[str, np.ndarray]:
    """Arena `index`'s forager poses (M, 3) and alive mask (M,) on the host, for `envs.draw`."""
    return {"poses": state.pose[index].cpu().numpy(), "alive": state.alive[index].cpu().numpy()}


def goals(state: ArenaState) -> torch.Tensor:
    """(N*M, P) one-hot of each forager's target."""
    n, m = state.alive.shape
    return torch.nn.functional.one_hot(state.agent_target.reshape(n * m), NUM_COLOURS).to(torch.float32)


class MultiBerryVectorEnv(VectorEnv):
    """N MultiBerry arenas as a VectorEnv over their N*M forager slots (slot n*M + i = forager i of
    arena n), for batched training with parameter sharing. `num_envs` = N*M.

    Each slot follows `AutoresetMode.NEXT_STEP`: when its forager dies (terminated) or the arena's
    time runs out (truncated), the next step ignores its action and starts its new episode. Info
    follows BerryVectorEnv's (`target_eaten`, `distractor_eaten`, `forage`, `_forage`).
    Arguments: `num_arenas`, `num_agents` (4), `target_mode`, `cooperative`, `starvation_steps`,
    `task` ('red' or 'cued'), `device`, and every WorldConfig knob.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, num_arenas: int = 1, device="cpu", render_mode=None, copy: bool = True,
                 validate_actions: bool = True, **kwargs: Any):
        if not isinstance(num_arenas, int) or isinstance(num_arenas, bool) or num_arenas < 1:
            raise ValueError(f"num_arenas={num_arenas!r} must be an int >= 1")
        self.multi = make_multi_config(**kwargs)
        if num_arenas * self.multi.num_agents > MAX_WORLDS:
            raise ValueError(f"num_arenas={num_arenas!r} x num_agents={self.multi.num_agents} forager slots; allowed: "
                             f"at most {MAX_WORLDS:,} slots")
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
        self._check_actions = ActionCheck(self.single_action_space, (self.num_envs,), self.device)
        self._idle_action = self._check_actions(np.zeros(self.action_space.shape, self.action_space.dtype))
        self._seeded = False

    def reset(self, *, seed=None, options=None):
        """Start every arena afresh; seed s gives arena n the seed s + n.

        With options={"reset_mask": (N*M,) bool} (Gymnasium's partial reset) only the masked slots
        start a new episode, now, as their next step's autoreset would (`envs.arena.restart_slots`):
        an arena whose time ran out starts afresh, elsewhere a masked forager respawns; everything
        else keeps its state exactly."""
        check_open(self, "reset")
        mask = partial_reset_mask(options, self.num_envs, self.device)
        if mask is not None:
            if not self._seeded or seed is not None:
                raise ValueError("a reset with options['reset_mask'] restarts slots on their arenas' own seeds: "
                                 "call reset(seed=...) without a mask first, and no seed with a mask")
            slots = mask.view(self.num_arenas, self.num_agents)
            self.state = restart_slots(self.multi, self.state, self.state.arena_reset & slots.any(1), slots)
            return self._observe(), {}
        if seed is not None or not self._seeded:
            folded = [rng.fold_seed(s) for s in rng.world_seeds(seed, self.num_arenas, "num_arenas")]
            self.state.seed = torch.tensor(folded, dtype=torch.int64, device=self.device)
            self.state.counter = torch.zeros_like(self.state.seed)
            self._seeded = True
        self.state.arena_reset = torch.ones(self.num_arenas, dtype=torch.bool, device=self.device)
        idle = self._idle_action
        self.state = step_arenas(self.multi, self.state, idle.view(self.num_arenas, self.num_agents, *idle.shape[1:]))[0]
        return self._observe(), {}

    def step(self, actions):
        check_open(self, "step")
        if not self._seeded:
            raise RuntimeError("step() was called before reset(); call reset(seed=...) first")
        actions = self._check_actions(actions, check_values=self.validate_actions)
        n, m = self.num_arenas, self.num_agents
        self.state, reward, terminated, truncated, te, de = step_arenas(
            self.multi, self.state, actions.view(n, m, *actions.shape[1:]), respawn=True)
        s = self.state
        ended = (terminated | truncated).view(-1)
        eaten = s.episode_target + s.episode_distractor
        info = {
            "target_eaten": te.view(-1), "distractor_eaten": de.view(-1),
            "forage": {"r": s.episode_return.view(-1).clone(), "l": s.episode_step.view(-1).clone(),
                        "target_eaten": s.episode_target.view(-1).clone(),
                        "distractor_eaten": s.episode_distractor.view(-1).clone(),
                        "precision": (s.episode_target / eaten).view(-1)},
            "_forage": ended,
        }
        return self._observe(), reward.view(-1), terminated.view(-1), truncated.view(-1), info

    def forager_state(self) -> View:
        """Each forager slot seen as a one-forager world (N*M rows), for the scripted policy."""
        return forager_view(self.state)

    def _observe(self):
        image = self.renderer.render(self.state)
        return {"image": image, "goal": goals(self.state)}

    def render(self):
        return self.render_arena(0) if self.render_mode == "rgb_array" else None

    def render_arena(self, index: int = 0, size: int = 384, watched: int = 0) -> np.ndarray:
        """Arena `index` top-down: every living forager numbered in its own colour, forager `watched`
        ringed with its field of view (`envs.draw.draw_arena`)."""
        from envs.draw import draw_arena_frame

        return draw_arena_frame(self.config, arena_view(self.state), index, size, **foragers(self.state, index),
                                watched=watched)

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


def make_vector_env(num_envs: int = 1, **kwargs) -> MultiBerryVectorEnv:
    """`vector_entry_point` of MultiBerry-v0: num_envs counts arenas; the VectorEnv has num_envs*M slots."""
    return MultiBerryVectorEnv(num_arenas=num_envs, **kwargs)


def __getattr__(name: str):
    """The PettingZoo forms live in envs/multiberry_pettingzoo.py, which imports this module; they
    are imported on first use so that either module can be imported first."""
    if name in PETTINGZOO_NAMES:
        from envs import multiberry_pettingzoo

        return getattr(multiberry_pettingzoo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
