"""The one world core: N arenas with M foragers each, as batched tensors, stepped by one function.

The single-forager worlds (RedBerry, CuedBerry, ReversalBerry; `envs.world`) are M = 1 of this
core and MultiBerry (`envs.multiberry`) is M >= 1, so both run the same reset draws, movement,
eating, regrowth and bookkeeping, on one state type (`WorldState`), which each views in the layout
it needs. Nothing here loops over arenas or reads a tensor's value on the host, so a step never
syncs with the device.

One step, `step_arenas`, for every arena at once:
  reset:   an arena flagged `arena_reset` starts afresh (target colour, illumination, foliage,
           every berry and forager) and ignores its actions; a forager flagged `slot_reset` (it
           died on the last step) respawns at a fresh pose and ignores its action.
  move:    heading += w * turn_speed, wrapped into [-pi, pi); then
           (x, y) += v * forward_speed * (cos, sin)(heading), clamped to [r, L - r]: walls stop
           the disc. (v, w) are the action's (linear, angular) velocities.
  eat:     a present berry is eaten when |berry - forager| < forager_radius + berry_radius; one
           touched by several foragers goes to the lowest-numbered one. It pays `target_reward`
           if its colour is the forager's target before this step's switch, else
           `distractor_reward`.
  regrow:  an eaten berry waits `regrow_delay` steps, then grows at a fresh place as its own kind.
           v1 (`WorldConfig.version`): berries grow only outside every forager's exclusion zone and
           never on another berry (`spawn_berries`); v0: anywhere, as the stored records had it.
  switch:  on ReversalBerry the shared target swaps a <-> b with probability `reversal_rate`.
  starve:  with starvation_steps > 0, a forager that eats no target for that long dies.
  time:    an arena's episode is truncated after `max_episode_steps` steps (its `episode_limit`); with
           `stagger_start`, the first episode after a reset is truncated at a uniform step in
           [1, max_episode_steps - 1] instead, drawn from the arena's stream, so that episode ends
           are spread out from the start.

Randomness comes from `envs.rng`, keyed by each arena's (seed, step counter, draw), so arena n
evolves the same way whatever N is. DRAW_RESET holds 3M + 5 numbers: M start poses (x, y,
heading), then target, brightness and colour cast x 3; for M = 1 that is the layout the
single-forager world has always drawn, so its trajectories did not change when it joined the core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch

from envs import rng
from envs.actions import velocities
from envs.config import NUM_COLOURS, WorldConfig
from envs.spawn import grid_positions

# Draw ids: one independent random stream per purpose.
DRAW_BERRY, DRAW_RESET, DRAW_FOLIAGE, DRAW_REVERSAL, DRAW_NOISE, DRAW_CELLS, DRAW_STAGGER = range(7)
DRAW_AGENT_TARGET = 21  # target_mode="own": each forager's colour
TARGET_MODES = ("shared", "own")


@dataclass(frozen=True)
class MultiConfig:
    """The arena (a WorldConfig) plus the rules for its foragers; the single-forager worlds use
    num_agents=1 and the defaults."""

    world: WorldConfig
    num_agents: int = 4  # foragers per arena
    target_mode: str = "shared"  # "shared": one target for all (red, or cued per episode); "own": one each
    cooperative: bool = False  # every forager receives the team's total reward
    starvation_steps: int = 0  # a forager that eats no target for this many steps dies; 0 = never


@dataclass
class WorldState:
    """The world's state: N arenas with M foragers each, as batched tensors. Positions are world units;
    the arena spans [0, L]^2. This is the one state type; everything else views it.

    A slot field (`SLOT_FIELDS`) belongs to one forager, the others to its arena. It has two layouts:
      arenas (N, M, ...): what `step_arenas` steps and MultiBerry keeps;
      worlds (B, ...):    one forager per row, each row a one-forager world. The single-forager worlds
                          keep this layout (B = N, M = 1), and the retina, the top-down drawing and the
                          scripted forager read it (`forager_view`, `arena_view`).
    `one_forager_arenas` and `forager_view` turn one-forager worlds into arenas of one forager and back
    with views of the same tensors, no copies. In the worlds' layout `target_colour` is the row's
    forager's target (its `agent_target`).
    """

    # per forager slot
    pose: torch.Tensor  # (N, M, 3) float32 x, y, heading (radians, 0 = +x, counter-clockwise)
    alive: torch.Tensor  # (N, M) bool
    agent_target: torch.Tensor  # (N, M) int64 colour that pays each forager
    hunger: torch.Tensor  # (N, M) int64 steps since the forager last ate a target (when it can starve)
    episode_step: torch.Tensor  # (N, M) int64 steps of each forager's current episode
    episode_return: torch.Tensor  # (N, M) float32
    episode_target: torch.Tensor  # (N, M) float32 target berries eaten this episode
    episode_distractor: torch.Tensor  # (N, M) float32
    slot_reset: torch.Tensor  # (N, M) bool: the forager respawns on the next step
    tasted: torch.Tensor  # (N, M, P) float32 one-hot of the colours eaten on the last step (the taste signal)
    # per arena
    berry_pos: torch.Tensor  # (N, K, 2) float32
    berry_colour: torch.Tensor  # (N, K) int64 palette index
    berry_timer: torch.Tensor  # (N, K) int64: 0 = present, else steps until it regrows
    foliage_pos: torch.Tensor  # (N, F, 2) float32
    target_colour: torch.Tensor  # (N,) int64 the shared target (shared mode)
    illumination: torch.Tensor  # (N, 3) float32 per-channel gain (brightness x colour cast)
    seed: torch.Tensor  # (N,) int64 32-bit seed of the arena's stream
    counter: torch.Tensor  # (N,) int64 steps since the arena was seeded (the RNG counter)
    arena_step: torch.Tensor  # (N,) int64 steps since the arena's episode began
    arena_reset: torch.Tensor  # (N,) bool: the arena starts afresh on the next step (next-step autoreset)
    episode_limit: torch.Tensor  # (N,) int64 the arena_step at which its episode is truncated (< max: staggered)

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def needs_reset(self) -> torch.Tensor:
        """(N,) bool: the episode ended on the last step, so the next step starts a new one (`arena_reset`)."""
        return self.arena_reset


class StepResult(NamedTuple):
    """What one step of the world core returns, named as dm_env's TimeStep is, and read by name: the new
    state and, per forager slot, the step's reward, whether it ended (died / ran out of time) and what it
    ate. Shapes (N, M) from `step_arenas`; (N,) from `envs.world.step_worlds` (M = 1, kept flat)."""

    state: WorldState  # in the arenas' layout from step_arenas, the worlds' layout from step_worlds
    reward: torch.Tensor  # float32
    terminated: torch.Tensor  # bool: the forager died (never in the single-forager worlds)
    truncated: torch.Tensor  # bool: the arena's time ran out
    target_eaten: torch.Tensor  # float32 target berries eaten this step
    distractor_eaten: torch.Tensor  # float32 other berries eaten this step


# The WorldState fields that belong to one forager slot (N, M, ...); the others belong to the arena (N, ...).
SLOT_FIELDS = ("pose", "alive", "agent_target", "hunger", "episode_step", "episode_return", "episode_target",
               "episode_distractor", "slot_reset", "tasted")


def _fields_mapped(state: WorldState, slot, arena) -> WorldState:
    """``state`` with ``slot`` applied to each slot field and ``arena`` to each arena field."""
    return WorldState(**{name: (slot if name in SLOT_FIELDS else arena)(value) for name, value in state.as_dict().items()})


def empty_arenas(mc: MultiConfig, n: int, device: torch.device) -> WorldState:
    """N arenas (arenas' layout) that all start afresh on their first step."""
    m, k, f = mc.num_agents, mc.world.num_berries, mc.world.num_foliage

    def z(*shape, dtype=torch.float32):
        return torch.zeros(*shape, dtype=dtype, device=device)

    i64 = torch.int64
    return WorldState(
        pose=z(n, m, 3), alive=torch.ones(n, m, dtype=torch.bool, device=device), agent_target=z(n, m, dtype=i64),
        hunger=z(n, m, dtype=i64), episode_step=z(n, m, dtype=i64), episode_return=z(n, m), episode_target=z(n, m),
        episode_distractor=z(n, m), slot_reset=z(n, m, dtype=torch.bool), tasted=z(n, m, NUM_COLOURS),
        berry_pos=z(n, k, 2), berry_colour=z(n, k, dtype=i64), berry_timer=z(n, k, dtype=i64), foliage_pos=z(n, f, 2),
        target_colour=z(n, dtype=i64), illumination=torch.ones(n, 3, device=device), seed=z(n, dtype=i64),
        counter=z(n, dtype=i64), arena_step=z(n, dtype=i64), arena_reset=torch.ones(n, dtype=torch.bool, device=device),
        episode_limit=torch.full((n,), mc.world.max_episode_steps, dtype=i64, device=device),
    )


def one_forager_arenas(worlds: WorldState) -> WorldState:
    """N one-forager worlds (worlds' layout) as N arenas of one forager (arenas' layout): views of the same
    tensors. The forager's target is the world's `target_colour` (what `set_target` changes)."""
    arenas = _fields_mapped(worlds, lambda x: x[:, None], lambda x: x)
    arenas.agent_target = worlds.target_colour[:, None]
    return arenas


def forager_view(state: WorldState) -> WorldState:
    """Each forager slot of N arenas as a one-forager world (worlds' layout, B = N*M rows, row n*M + i =
    forager i of arena n), whose target is the forager's own. With M = 1 these are views of the same
    tensors (the inverse of `one_forager_arenas`); with M > 1 the arena fields are repeated per forager
    and slot i draws its own random stream: seed * M + i."""
    n, m = state.alive.shape
    if m == 1:
        worlds = _fields_mapped(state, lambda x: x[:, 0], lambda x: x)
    else:
        worlds = _fields_mapped(state, lambda x: x.reshape(n * m, *x.shape[2:]),
                                lambda x: torch.repeat_interleave(x, m, dim=0))
        slot = torch.arange(m, device=state.seed.device).repeat(n)  # (N*M,)
        worlds.seed = (worlds.seed * m + slot) & rng.MASK32
    worlds.target_colour = worlds.agent_target
    return worlds


def arena_view(state: WorldState) -> WorldState:
    """Each arena seen from its first forager (worlds' layout, B = N), for drawing it top-down."""
    worlds = _fields_mapped(state, lambda x: x[:, 0], lambda x: x)
    worlds.target_colour = worlds.agent_target
    return worlds


def num_target_slots(config: WorldConfig) -> int:
    """How many of the K berry slots grow the target colour (at least one when the share is > 0)."""
    count = round(config.num_berries * config.target_share)
    return max(count, 1) if config.target_share > 0 else 0


def spawn_berries(mc: MultiConfig, target: torch.Tensor, key: torch.Tensor, foragers: torch.Tensor,
                  growing: torch.Tensor, staying: torch.Tensor, berry_pos: torch.Tensor):
    """Fresh positions and colours for every berry slot: (N, K, 2) float32, (N, K) int64.

    Slots keep their kind: the first round(K * target_share) slots grow targets, the others
    distractors, so an eaten berry regrows as its own kind and the target count stays fixed.
    (Without this, a forager that eats only targets would leave a field of distractors.) On
    ReversalBerry v1 a target slot grows the colour that pays when it grows and the others the other
    colour of the pair (v0: half the slots grow each colour, whatever target_share says); with
    target_mode="own" every slot grows a uniform colour, so every forager's target grows.
    target: (N,) the shared paying colour.

    Where (v1): `growing` (N, K) bool slots take distinct free cells of `berry_grid`, a cell being free
    when no `staying` (N, K) berry (at `berry_pos`) is in it and it lies outside every forager's exclusion
    zone (`foragers` (N, M, 2) positions); v0 draws uniform positions over the arena. Callers keep the slots
    they need with torch.where.
    """
    config = mc.world
    k = config.num_berries
    margin = config.berry_radius
    u = rng.uniform(key, DRAW_BERRY, (k, 3))  # (N, K, 3): x, y, colour pick
    if config.version == 0:
        pos = margin + u[..., :2] * (config.arena_size - 2 * margin)
    else:
        pick = rng.uniform(key, DRAW_CELLS, (1,))[:, 0]  # (N,) which order of the cells
        pos = grid_positions(config, pick, u[..., :2], foragers, growing, staying, berry_pos)
    pick = u[..., 2]
    if mc.target_mode == "own":
        return pos, (pick * NUM_COLOURS).floor().long().clamp(0, NUM_COLOURS - 1)
    slot = torch.arange(k, device=key.device)  # (K,)
    if config.task == "reversal":
        a, b = config.reversal_colours
        if config.version == 0:
            return pos, torch.where(slot < k // 2, a, b).expand(key.shape[0], k)
        paying = target[:, None]  # (N, 1)
        return pos, torch.where(slot < num_target_slots(config), paying, a + b - paying)
    near = config.near_distractors
    side = torch.where(pick < 0.5 * near, 1, NUM_COLOURS - 1)  # +1 or -1 around the hue circle
    num_far = NUM_COLOURS - 3
    far_rank = ((pick - near) / max(1.0 - near, 1e-6) * num_far).clamp(0, num_far - 1).floor().long()
    offset = torch.where(pick < near, side, 2 + far_rank)
    target = target[:, None]  # (N, 1)
    colour = torch.where(slot < num_target_slots(config), target, (target + offset) % NUM_COLOURS)
    return pos, colour


def step_arenas(mc: MultiConfig, state: WorldState, action: torch.Tensor, respawn: bool = True,
                first_colour_share: torch.Tensor | None = None, stagger: bool = False) -> StepResult:
    """Advance N arenas (arenas' layout) one step (the rules are in the module docstring). action: (N, M)
    ints or (N, M, 2) floats. respawn=False (PettingZoo) leaves dead foragers dead and also ends an arena
    when all of them have died. A reset is this same step with `arena_reset` set everywhere.
    first_colour_share: a 0-d float32 device tensor that replaces the config's (a knob a curriculum
    changes between steps, read as a value so that a compiled step does not bake it in).
    stagger: the episodes that start in this step are the first ones after a reset, cut short as
    `WorldConfig.stagger_start` says (where it is on); autoresets and partial resets leave it False.

    Returns a `StepResult` of (N, M) tensors.
    """
    c = mc.world
    n, m = state.alive.shape
    device = state.alive.device
    L = c.arena_size
    key = rng.step_key(state.seed, state.counter)  # (N,): every draw of this step derives from it
    new = WorldState(**state.as_dict())
    arena_reset = state.arena_reset  # (N,)
    respawning = state.slot_reset | arena_reset[:, None]  # (N, M) slots that start a new episode
    going_on = ~respawning  # (N, M) slots that continue their episode
    acting = state.alive & going_on  # (N, M) slots whose action counts

    # Reset draws: start poses, then the arena's target, brightness and colour cast.
    u = rng.uniform(key, DRAW_RESET, (3 * m + 5,))  # (N, 3M + 5)
    up, u = u[:, :3 * m].view(n, m, 3), u[:, 3 * m:]
    margin = c.forager_radius + 0.5
    start_pose = torch.stack([margin + up[..., 0] * (L - 2 * margin), margin + up[..., 1] * (L - 2 * margin),
                              (up[..., 2] * 2 - 1) * math.pi], dim=-1)  # (N, M, 3)

    # The shared paying colour: drawn at reset; on ReversalBerry it also switches at random times.
    current = state.target_colour
    if c.task == "red":
        drawn = torch.zeros(n, dtype=torch.int64, device=device)
    elif c.task == "cued":
        drawn = (u[:, 0] * NUM_COLOURS).floor().long().clamp(0, NUM_COLOURS - 1)
    else:
        a, b = c.reversal_colours
        share = c.first_colour_share if first_colour_share is None else first_colour_share
        drawn = torch.where(u[:, 0] < share, a, b)
        switch = rng.uniform(key, DRAW_REVERSAL, (1,))[:, 0] < c.reversal_rate
        current = torch.where(switch, a + b - current, current)
    new.target_colour = torch.where(arena_reset, drawn, current)
    if mc.target_mode == "own":
        own = (rng.uniform(key, DRAW_AGENT_TARGET, (m,)) * NUM_COLOURS).floor().long().clamp(0, NUM_COLOURS - 1)
        new.agent_target = torch.where(respawning, own, state.agent_target)
    else:
        new.agent_target = new.target_colour[:, None].expand(n, m).contiguous()
    brightness = 1 + c.illumination * (2 * u[:, 1:2] - 1)  # (N, 1)
    cast = 1 + 0.5 * c.illumination * (2 * u[:, 2:5] - 1)  # (N, 3)
    new.illumination = torch.where(arena_reset[:, None], brightness * cast, state.illumination)
    if c.num_foliage:
        foliage = rng.uniform(key, DRAW_FOLIAGE, (c.num_foliage, 2)) * L
        new.foliage_pos = torch.where(arena_reset[:, None, None], foliage, state.foliage_pos)

    # Move the foragers that act: turn, then go forward; the walls stop the disc.
    vel = velocities(c, action.reshape(n * m, *action.shape[2:])).view(n, m, 2)
    heading = state.pose[..., 2] + vel[..., 1] * c.turn_speed
    heading = torch.remainder(heading + math.pi, 2 * math.pi) - math.pi
    r = c.forager_radius
    x = (state.pose[..., 0] + vel[..., 0] * c.forward_speed * torch.cos(heading)).clamp(r, L - r)
    y = (state.pose[..., 1] + vel[..., 0] * c.forward_speed * torch.sin(heading)).clamp(r, L - r)
    moved = torch.stack([x, y, heading], dim=-1)
    new.pose = torch.where(respawning[..., None], start_pose, torch.where(acting[..., None], moved, state.pose))

    # Eat every present berry a forager touches.
    delta = state.berry_pos[:, None] - new.pose[:, :, None, :2]  # (N, M, K, 2)
    present = state.berry_timer == 0  # (N, K)
    touching = (delta * delta).sum(-1) < (c.forager_radius + c.berry_radius) ** 2
    touching = touching & present[:, None] & acting[..., None]  # (N, M, K)
    eaten_by = touching & (touching.cumsum(1) == 1) if m > 1 else touching  # first toucher only
    pays = state.berry_colour[:, None, :] == state.agent_target[..., None]  # (N, M, K)
    target_eaten = (eaten_by & pays).sum(-1).to(torch.float32)  # (N, M)
    distractor_eaten = (eaten_by & ~pays).sum(-1).to(torch.float32)
    if c.taste:  # what each forager tastes: the colours it ate this step (none at a reset or respawn)
        palette = torch.arange(NUM_COLOURS, device=device)
        new.tasted = (eaten_by[..., None] & (state.berry_colour[:, None, :, None] == palette)).any(2).to(torch.float32)
    reward = target_eaten * c.target_reward + distractor_eaten * c.distractor_reward
    if mc.cooperative:
        reward = reward.sum(1, keepdim=True) * acting

    # Regrow: timers count down, and a berry whose timer reaches 0 grows at a fresh place. At a
    # reset every berry grows afresh. Both use this step's draws.
    timer = torch.where(eaten_by.any(1), c.regrow_delay + 1, state.berry_timer)
    timer = (timer - 1).clamp_min(0)
    regrown = ((timer == 0) & ~present) | arena_reset[:, None]  # (N, K)
    staying = present & ~eaten_by.any(1) & ~arena_reset[:, None]  # (N, K) berries still on the ground
    pos, colour = spawn_berries(mc, new.target_colour, key, new.pose[..., :2], regrown, staying, state.berry_pos)
    new.berry_pos = torch.where(regrown[..., None], pos, state.berry_pos)
    new.berry_colour = torch.where(regrown, colour, state.berry_colour)
    new.berry_timer = torch.where(arena_reset[:, None], 0, timer)

    # Life and death: hunger counts only where foragers can starve.
    alive = state.alive | respawning
    terminated = torch.zeros_like(alive)
    if mc.starvation_steps > 0:
        new.hunger = torch.where(respawning | (target_eaten > 0), 0, state.hunger + acting.long())
        terminated = acting & (new.hunger >= mc.starvation_steps)
        alive = alive & ~terminated
    new.alive = alive

    # Bookkeeping: a forager's first step (reset or respawn) is step 0 of its episode, not a step taken.
    keep = going_on.to(torch.float32)
    new.arena_step = torch.where(arena_reset, 0, state.arena_step + 1)
    new.episode_step = state.episode_step * going_on + acting
    new.episode_return = state.episode_return * keep + reward
    new.episode_target = state.episode_target * keep + target_eaten
    new.episode_distractor = state.episode_distractor * keep + distractor_eaten
    # Time: an episode is truncated at its arena's limit, max_episode_steps, except the first episodes after a
    # reset with stagger_start, which end at a uniform step in [1, max_episode_steps - 1] (at most 1 when that is 1).
    limit = torch.full_like(state.episode_limit, c.max_episode_steps)
    if stagger and c.stagger_start:
        share = rng.uniform(key, DRAW_STAGGER, (1,))[:, 0]  # (N,)
        limit = 1 + (share * (c.max_episode_steps - 1)).long()
    new.episode_limit = torch.where(arena_reset, limit, state.episode_limit)
    arena_over = ~arena_reset & (new.arena_step >= new.episode_limit)
    if not respawn:  # PettingZoo: the arena also ends when every forager is dead
        arena_over = arena_over | (~arena_reset & ~alive.any(1))
    truncated = arena_over[:, None] & alive  # (N, M): living foragers are cut off by the time limit
    new.arena_reset = arena_over
    new.slot_reset = terminated if respawn else torch.zeros_like(terminated)
    new.counter = state.counter + 1
    return StepResult(state=new, reward=reward, terminated=terminated, truncated=truncated,
                      target_eaten=target_eaten, distractor_eaten=distractor_eaten)


def restart_slots(mc: MultiConfig, state: WorldState, arenas: torch.Tensor, slots: torch.Tensor) -> WorldState:
    """Start new episodes now, as the next step's autoreset would, and leave everything else exactly
    as it was: Gymnasium's partial reset (`reset(options={"reset_mask": ...})`). The arenas that
    `arenas` (N,) bool marks start afresh, every slot in them; the foragers that `slots` (N, M) bool
    marks respawn in their running arenas, as a starved one does.

    This is one `step_arenas` with those resets, kept only where marked: the other arenas and slots
    keep their state, RNG counter included, so they go on exactly as they would have without it.
    """
    asked = WorldState(**state.as_dict())
    asked.arena_reset = arenas
    asked.slot_reset = slots & ~arenas[:, None]
    n, m = slots.shape
    shape = (n, m) if mc.world.action_type == "discrete" else (n, m, 2)
    idle = torch.zeros(shape, dtype=torch.int64 if len(shape) == 2 else torch.float32, device=slots.device)
    stepped = step_arenas(mc, asked, idle).state  # restarting slots ignore `idle`; the others' moves are dropped
    take_slot = slots | arenas[:, None]  # (N, M)
    out = {}
    for name, old in state.as_dict().items():
        take = take_slot if name in SLOT_FIELDS else arenas
        take = take.view(*take.shape, *(1,) * (old.dim() - take.dim()))
        out[name] = torch.where(take, getattr(stepped, name), old)
    return WorldState(**out)
