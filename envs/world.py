"""The single-forager worlds (RedBerry, CuedBerry, ReversalBerry): M = 1 of the world core.

Their state is the core's one state type, `envs.arena.WorldState`, kept in its worlds' layout: N
one-forager worlds, each field with a leading N (K berries, F foliage discs). Each step views it as N
arenas of one forager (`one_forager_arenas`: views of the same tensors, no copies), runs `step_arenas`
and views the result back (`forager_view`), so the rules of moving, eating, tasting, regrowing and
resetting exist once, in envs/arena.py.

Randomness comes from `envs.rng`, keyed by each world's (seed, step counter, draw), so world i
evolves the same way whatever N is.
"""

from __future__ import annotations

import torch

from envs.actions import ACTION_NAMES, DISCRETE_ACTIONS  # noqa: F401  (re-exported: the viewer names actions)
from envs.arena import (MultiConfig, StepResult, WorldState, empty_arenas, forager_view, one_forager_arenas,
                        restart_slots, step_arenas)
from envs.arena import num_target_slots  # noqa: F401  (re-exported: a world's target slot count)
from envs.config import NUM_COLOURS, WorldConfig
from envs.retina import LABEL_BERRY


def _one_forager(config: WorldConfig) -> MultiConfig:
    return MultiConfig(world=config, num_agents=1)


def empty_state(config: WorldConfig, num_envs: int, device: torch.device) -> WorldState:
    """N worlds (worlds' layout) that all start an episode on their first step."""
    return forager_view(empty_arenas(_one_forager(config), num_envs, device))


def step_worlds(config: WorldConfig, state: WorldState, action: torch.Tensor,
                first_colour_share: torch.Tensor | None = None, stagger: bool = False) -> StepResult:
    """Advance every world one step, with next-step autoreset: `step_arenas` with M = 1.

    Worlds whose episode ended on the previous step (`needs_reset`) ignore their action and start
    a new episode, with reward 0; `reset()` is this same step with every world resetting, so a
    reset and an autoreset are one code path. The other worlds move, eat, regrow berries and,
    on ReversalBerry, maybe switch the paying colour.
    With `config.taste`, the new state's `tasted` holds the colours of the berries eaten in this step.
    first_colour_share, stagger: as `step_arenas`'s.
    Returns a `StepResult` of (N,) tensors (terminated is all False: a lone forager never dies).
    """
    result = step_arenas(_one_forager(config), one_forager_arenas(state), action[:, None],
                         first_colour_share=first_colour_share, stagger=stagger)
    return StepResult(state=forager_view(result.state), reward=result.reward[:, 0],
                      terminated=result.terminated[:, 0], truncated=result.truncated[:, 0],
                      target_eaten=result.target_eaten[:, 0], distractor_eaten=result.distractor_eaten[:, 0])


def restart_worlds(config: WorldConfig, state: WorldState, restart: torch.Tensor) -> WorldState:
    """Start a new episode now in the worlds that restart (N,) bool marks; the others keep their
    state exactly (`envs.arena.restart_slots` with M = 1). For `reset(options={"reset_mask": ...})`."""
    never = torch.zeros_like(restart)[:, None]
    return forager_view(restart_slots(_one_forager(config), one_forager_arenas(state), restart, never))


def set_target(state: WorldState, colour: torch.Tensor, swap_berries: bool = False) -> WorldState:
    """Make colour (N,) int64 the paying colour of every world, from the next step on.

    With swap_berries, berries of the old and the new target colour trade colours (present and
    regrowing ones alike), so each world keeps its numbers of targets and distractors and only
    which colour pays changes. Where the colour does not change, nothing does.
    """
    new = WorldState(**state.as_dict())
    old = state.target_colour[:, None]  # (N, 1)
    colour = colour[:, None]
    if swap_berries:
        berry = state.berry_colour  # (N, K)
        new.berry_colour = torch.where(berry == old, colour, torch.where(berry == colour, old, berry))
    new.target_colour = new.agent_target = colour[:, 0]  # the world's target is its forager's
    return new


def goal_vector(config: WorldConfig, state: WorldState) -> torch.Tensor:
    """The goal the forager is shown: (N, P) float32 one-hot of the target. On reversal the target is
    hidden: zeros, or with `taste` the colours eaten on the last step (zeros when none was)."""
    if config.task == "reversal":
        return state.tasted.clone() if config.taste else torch.zeros_like(state.tasted)
    palette = torch.arange(NUM_COLOURS, device=state.target_colour.device)  # a one-hot that reads no value on the host
    return (state.target_colour[:, None] == palette).to(torch.float32)


def is_target(state: WorldState) -> torch.Tensor:
    """(N, K) bool: which berries have the colour that pays now."""
    return state.berry_colour == state.target_colour[:, None]


def target_mask(state: WorldState, labels: torch.Tensor, distractors: bool = False) -> torch.Tensor:
    """(N, H, W) bool: the pixels of ``labels`` (the state's label map, `envs.retina.Retina.label_map`)
    that show a berry of each world's paying colour; with distractors=True, a berry of any other colour."""
    target = labels == (LABEL_BERRY + state.target_colour).to(torch.uint8)[:, None, None]
    if not distractors:
        return target
    return (labels >= LABEL_BERRY) & (labels < LABEL_BERRY + NUM_COLOURS) & ~target
