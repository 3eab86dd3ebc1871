"""MultiBerry: M foragers share one arena and compete for its berries.

Three layers, as for the single-forager worlds:
  - `envs.arena.step_arenas`: the world core, N arenas x M foragers on one torch device (the
    single-forager worlds are its M = 1);
  - `MultiBerryVectorEnv` (here): a Gymnasium VectorEnv over the N*M forager slots (row n*M + i is
    forager i of arena n), for batched training with parameter sharing;
  - `parallel_env()` / `env()` in envs/multiberry_pettingzoo.py (PettingZoo's module convention):
    ParallelEnv and AEC forms of one arena, numpy at the boundary. That module imports this one,
    never the other way round.

Each forager sees its own egocentric view, with the other foragers drawn as white discs, and its
own goal. It is rewarded for what it eats (a berry touched by several foragers at once goes to the
lowest-numbered one). `target_mode="own"` gives each forager its own target colour, cued in its own
goal; `cooperative=True` gives every forager the team's total reward. With `starvation_steps > 0`
a forager that eats no target for that many steps dies (terminates): PettingZoo removes it; in the
vector env its slot respawns on the next step, so each slot follows next-step autoreset exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from envs.arena import (TARGET_MODES, MultiConfig, StepResult, WorldState, arena_view, empty_arenas, forager_view,
                        restart_slots, step_arenas)
from envs.base import ForagingVectorEnv
from envs.config import MAX_WORLDS, NUM_COLOURS, check_berry_room, make_config
from envs.retina import LABEL_FORAGER, Retina


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
    check_berry_room(world, num_agents)
    return MultiConfig(world, num_agents, target_mode, bool(cooperative), starvation_steps)


class ArenaRenderer:
    """Each forager's egocentric view in N arenas: (N*M, H, W, 3) uint8, other foragers as discs."""

    def __init__(self, mc: MultiConfig, num_arenas: int, device: torch.device):
        self.mc = mc
        self.retina = Retina(mc.world, num_arenas * mc.num_agents, device)
        self.not_self = ~torch.eye(mc.num_agents, dtype=torch.bool, device=device)  # (M, M)

    def render(self, state: WorldState) -> torch.Tensor:
        n, m = state.alive.shape
        others = state.pose[:, None, :, :2].expand(n, m, m, 2).reshape(n * m, m, 2)
        visible = (state.alive[:, None, :] & self.not_self).reshape(n * m, m)
        labels = torch.where(visible, LABEL_FORAGER, 0).to(torch.uint8)
        image, _ = self.retina.draw(forager_view(state), extra_discs=[(others, labels, "forager")])
        return image * state.alive.reshape(n * m, 1, 1, 1)  # a dead forager sees black


def foragers(state: WorldState, index: int) -> dict[str, np.ndarray]:
    """Arena `index`'s forager poses (M, 3) and alive mask (M,) on the host, for `envs.draw`."""
    return {"poses": state.pose[index].cpu().numpy(), "alive": state.alive[index].cpu().numpy()}


def goals(state: WorldState) -> torch.Tensor:
    """(N*M, P) one-hot of each forager's target."""
    n, m = state.alive.shape
    palette = torch.arange(NUM_COLOURS, device=state.agent_target.device)  # a one-hot that reads no value on the host
    return (state.agent_target.reshape(n * m, 1) == palette).to(torch.float32)


class MultiBerryVectorEnv(ForagingVectorEnv):
    """N MultiBerry arenas as a VectorEnv over their N*M forager slots (slot n*M + i = forager i of
    arena n), for batched training with parameter sharing. `num_envs` = N*M.

    Each slot follows `AutoresetMode.NEXT_STEP`: when its forager dies (terminated) or the arena's
    time runs out (truncated), the next step ignores its action and starts its new episode. A seed
    s gives arena n the seed s + n. A partial reset (options={"reset_mask": (N*M,) bool}) starts the
    masked slots now, as their next step's autoreset would (`envs.arena.restart_slots`): an arena
    whose time ran out starts afresh, elsewhere a masked forager respawns. Info follows
    BerryVectorEnv's (`target_eaten`, `distractor_eaten`, `forage`, `_forage`); the base class
    (envs/base.py) holds reset, step, info and state for both.
    Arguments: `num_arenas`, `num_agents` (4), `target_mode`, `cooperative`, `starvation_steps`,
    `task` ('red' or 'cued'), `device`, and every WorldConfig knob. Observations are always fresh
    tensors (`copy` is accepted for BerryVectorEnv parity).

    With `stagger_start=True` each arena's first episode after `reset()` ends at a uniform step in
    [1, max_episode_steps - 1] (drawn per arena), and every episode that ends inside it is marked in
    `info["forage"]["staggered"]` (N*M,) bool.

    ## Version History
    * `stagger_start` (v0 and v1, off by default): the first episode of each arena after `reset()` ends at a
      uniform step below `max_episode_steps`, so that episode ends are spread out from the start; with it off,
      nothing changes.
    * v1: berries grow only outside every forager's exclusion zone and never on another berry
      (`python -m envs.audit`: 1,024 arenas of 4 foragers that only turn; v0 fed one of them a berry in
      its first 5 steps in 21% / 18% / 18% of foragers (easy / medium / hard) and had overlapping berries
      at reset in 75% / 78% / 91% of arenas, v1 in none). An arena too small to keep its berries clear of
      its foragers is refused with a message.
    * v0: initial version, kept with its exact rules.
    """

    worlds_name = "num_arenas"

    def __init__(self, num_arenas: int = 1, device="cpu", render_mode=None, copy: bool = True,
                 validate_actions: bool = True, **kwargs: Any):
        if not isinstance(num_arenas, int) or isinstance(num_arenas, bool) or num_arenas < 1:
            raise ValueError(f"num_arenas={num_arenas!r} must be an int >= 1")
        self.multi = make_multi_config(**kwargs)
        if num_arenas * self.multi.num_agents > MAX_WORLDS:
            raise ValueError(f"num_arenas={num_arenas!r} x num_agents={self.multi.num_agents} forager slots; allowed: "
                             f"at most {MAX_WORLDS:,} slots")
        self.config = self.multi.world
        self.num_arenas = num_arenas
        self.num_agents = self.multi.num_agents
        self._setup(num_arenas * self.num_agents, num_arenas, device, render_mode, copy, validate_actions)
        self._built_multi = self.multi  # what a step reads (`_advance`); the live knobs are device values
        self.state = empty_arenas(self.multi, num_arenas, self.device)
        self.renderer = ArenaRenderer(self.multi, num_arenas, self.device)

    # -- the arenas' part of the base's reset and step (envs/base.py) -------------------------
    def _per_arena(self, flat: torch.Tensor) -> torch.Tensor:
        return flat.view(self.num_arenas, self.num_agents, *flat.shape[1:])

    def _start_all(self) -> WorldState:
        self.state.arena_reset = torch.ones(self.num_arenas, dtype=torch.bool, device=self.device)
        return step_arenas(self.multi, self.state, self._per_arena(self._idle_action), stagger=True).state

    def _restart(self, mask: torch.Tensor) -> WorldState:
        slots = self._per_arena(mask)
        return restart_slots(self.multi, self.state, self.state.arena_reset & slots.any(1), slots)

    def _advance(self, state: WorldState, actions: torch.Tensor) -> StepResult:
        stepped = step_arenas(self._built_multi, state, self._per_arena(actions), respawn=True,
                              first_colour_share=self._first_colour_share)
        return StepResult(state=stepped.state, reward=stepped.reward.view(-1), terminated=stepped.terminated.view(-1),
                          truncated=stepped.truncated.view(-1), target_eaten=stepped.target_eaten.view(-1),
                          distractor_eaten=stepped.distractor_eaten.view(-1))

    def _draw(self, state: WorldState):
        image = self.renderer.render(state)
        return {"image": image, "goal": goals(state)}, None

    def _use_config(self, config) -> None:
        self.multi = dataclasses.replace(self.multi, world=config)
        self.config = config
        self.renderer.retina.use_config(config)

    def _saved_fields(self, fields: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # MultiBerry has no taste signal (no ReversalBerry), so its `tasted` is zeros by construction: not saved.
        return {k: v for k, v in super()._saved_fields(fields).items() if k != "tasted"}

    def slot_targets(self) -> torch.Tensor:
        return self.state.agent_target.reshape(-1)

    def slot_alive(self) -> torch.Tensor:
        return self.state.alive.reshape(-1)

    def arena_foragers(self, index: int) -> dict[str, np.ndarray]:
        return foragers(self.state, index)

    def forager_state(self) -> WorldState:
        """Each forager slot seen as a one-forager world (N*M rows), for the scripted policy."""
        return forager_view(self.state)

    def render_arena(self, index: int = 0, size: int = 384, watched: int = 0) -> np.ndarray:
        """Arena `index` top-down: every living forager numbered in its own colour, forager `watched`
        ringed with its field of view (`envs.draw.draw_arena`)."""
        from envs.draw import draw_arena_frame  # pygame loads on the first drawing, not with the worlds

        index, size = self._check_frame(index, size)
        return draw_arena_frame(self.config, arena_view(self.state), index, size, **foragers(self.state, index),
                                watched=watched)


def make_vector_env(num_envs: int = 1, **kwargs) -> MultiBerryVectorEnv:
    """`vector_entry_point` of MultiBerry-v1: num_envs counts arenas; the VectorEnv has num_envs*M slots."""
    return MultiBerryVectorEnv(num_arenas=num_envs, **kwargs)
