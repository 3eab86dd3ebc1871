"""The single-forager worlds (RedBerry, CuedBerry, ReversalBerry): M = 1 of the world core.

The state is one dataclass of batched tensors, `WorldState` (N worlds, K berries, F foliage
discs), which is also the `View` its forager's eye reads. The dynamics are `envs.arena`'s: each
step views the state as N one-forager arenas (no copies), runs `step_arenas` and views the result
back, so the rules of moving, eating, regrowing and resetting exist once, in envs/arena.py.

Randomness comes from `envs.rng`, keyed by each world's (seed, step counter, draw), so world i
evolves the same way whatever N is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from envs.actions import ACTION_NAMES, DISCRETE_ACTIONS  # noqa: F401  (re-exported: the viewer names actions)
from envs.arena import ArenaState, MultiConfig, StepResult, View, empty_arenas, restart_slots, step_arenas
from envs.arena import num_target_slots  # noqa: F401  (re-exported: a world's target slot count)
from envs.config import NUM_COLOURS, WorldConfig
from envs.retina import LABEL_BERRY


@dataclass
class WorldState(View):
    """The whole state of N worlds: the forager's View (pose, berries, foliage, target colour,
    illumination, seed, RNG counter, each with a leading N) plus the episode's bookkeeping."""

    episode_step: torch.Tensor  # (N,) int64
    episode_return: torch.Tensor  # (N,) float32
    episode_target: torch.Tensor  # (N,) float32 target berries eaten this episode
    episode_distractor: torch.Tensor  # (N,) float32
    needs_reset: torch.Tensor  # (N,) bool: the episode ended on the last step (next-step autoreset)
    tasted: torch.Tensor  # (N, P) float32: one-hot of the colours eaten on the last step (the taste signal)


def _one_forager(config: WorldConfig) -> MultiConfig:
    return MultiConfig(world=config, num_agents=1)


def _as_arenas(state: WorldState) -> ArenaState:
    """N one-forager arenas over the same tensors (views; the forager never dies or starves)."""
    n, device = state.seed.shape[0], state.seed.device
    never = torch.zeros(n, 1, dtype=torch.bool, device=device)
    return ArenaState(
        pose=state.pose[:, None], alive=~never, agent_target=state.target_colour[:, None],
        hunger=torch.zeros(n, 1, dtype=torch.int64, device=device), berry_pos=state.berry_pos,
        berry_colour=state.berry_colour, berry_timer=state.berry_timer, foliage_pos=state.foliage_pos,
        target_colour=state.target_colour, illumination=state.illumination, seed=state.seed, counter=state.counter,
        arena_step=state.episode_step, episode_step=state.episode_step[:, None],
        episode_return=state.episode_return[:, None], episode_target=state.episode_target[:, None],
        episode_distractor=state.episode_distractor[:, None], arena_reset=state.needs_reset, slot_reset=never,
    )


def _as_world(arenas: ArenaState, tasted: torch.Tensor) -> WorldState:
    """The inverse of `_as_arenas`: forager 0 of each arena (views), with the taste signal given."""
    return WorldState(
        pose=arenas.pose[:, 0], berry_pos=arenas.berry_pos, berry_colour=arenas.berry_colour,
        berry_timer=arenas.berry_timer, foliage_pos=arenas.foliage_pos, target_colour=arenas.target_colour,
        illumination=arenas.illumination, seed=arenas.seed, counter=arenas.counter,
        episode_step=arenas.episode_step[:, 0], episode_return=arenas.episode_return[:, 0],
        episode_target=arenas.episode_target[:, 0], episode_distractor=arenas.episode_distractor[:, 0],
        needs_reset=arenas.arena_reset, tasted=tasted,
    )


def empty_state(config: WorldConfig, num_envs: int, device: torch.device) -> WorldState:
    """N worlds that all start an episode on their first step."""
    return _as_world(empty_arenas(_one_forager(config), num_envs, device),
                     torch.zeros(num_envs, NUM_COLOURS, dtype=torch.float32, device=device))


def step_worlds(config: WorldConfig, state: WorldState, action: torch.Tensor,
                first_colour_share: torch.Tensor | None = None) -> StepResult:
    """Advance every world one step, with next-step autoreset: `step_arenas` with M = 1.

    Worlds whose episode ended on the previous step (`needs_reset`) ignore their action and start
    a new episode, with reward 0; `reset()` is this same step with every world resetting, so a
    reset and an autoreset are one code path. The other worlds move, eat, regrow berries and,
    on ReversalBerry, maybe switch the paying colour.
    With `config.taste`, the new state's `tasted` holds the colours of the berries eaten in this step.
    first_colour_share: as `step_arenas`'s (a live knob as a device value; None: the config's).
    Returns a `StepResult` of (N,) tensors (terminated is all False: a lone forager never dies).
    """
    arenas, reward, terminated, truncated, target_eaten, distractor_eaten = step_arenas(
        _one_forager(config), _as_arenas(state), action[:, None], first_colour_share=first_colour_share)
    tasted = state.tasted
    if config.taste:  # eaten this step: present before, regrowing now (a reset regrows nothing: all timers 0)
        eaten = (state.berry_timer == 0) & (arenas.berry_timer > 0)  # (N, K)
        palette = torch.arange(NUM_COLOURS, device=eaten.device)
        tasted = (eaten[..., None] & (state.berry_colour[..., None] == palette)).any(1).to(torch.float32)
    return StepResult(_as_world(arenas, tasted), reward[:, 0], terminated[:, 0], truncated[:, 0],
                      target_eaten[:, 0], distractor_eaten[:, 0])


def restart_worlds(config: WorldConfig, state: WorldState, restart: torch.Tensor) -> WorldState:
    """Start a new episode now in the worlds that restart (N,) bool marks; the others keep their
    state exactly (`envs.arena.restart_slots` with M = 1). For `reset(options={"reset_mask": ...})`."""
    never = torch.zeros_like(restart)[:, None]
    tasted = state.tasted * ~restart[:, None]  # a new episode has tasted nothing
    return _as_world(restart_slots(_one_forager(config), _as_arenas(state), restart, never), tasted)


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
    new.target_colour = colour[:, 0]
    return new


def goal_vector(config: WorldConfig, state: WorldState) -> torch.Tensor:
    """The goal the forager is shown: (N, P) float32 one-hot of the target. On reversal the target is
    hidden: zeros, or with `taste` the colours eaten on the last step (zeros when none was)."""
    if config.task == "reversal":
        return state.tasted.clone() if config.taste else torch.zeros_like(state.tasted)
    palette = torch.arange(NUM_COLOURS, device=state.target_colour.device)  # a one-hot that reads no value on the host
    return (state.target_colour[:, None] == palette).to(torch.float32)


def is_target(state: View) -> torch.Tensor:
    """(N, K) bool: which berries have the colour that pays now."""
    return state.berry_colour == state.target_colour[:, None]


def target_mask(state: View, labels: torch.Tensor, distractors: bool = False) -> torch.Tensor:
    """(N, H, W) bool: the pixels of ``labels`` (the state's label map, `envs.retina.Retina.label_map`)
    that show a berry of each world's paying colour; with distractors=True, a berry of any other colour."""
    target = labels == (LABEL_BERRY + state.target_colour).to(torch.uint8)[:, None, None]
    if not distractors:
        return target
    return (labels >= LABEL_BERRY) & (labels < LABEL_BERRY + NUM_COLOURS) & ~target
