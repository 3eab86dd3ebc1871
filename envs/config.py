"""Task and difficulty settings of the foraging worlds: one frozen dataclass, validated once."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

# The palette, ordered around the hue circle so that a colour's neighbours are its near hues:
# red sits between orange and magenta. Index 0 is red. Foliage is green, so no berry is.
PALETTE_NAMES: tuple[str, ...] = ("red", "orange", "yellow", "cyan", "blue", "magenta")
PALETTE_RGB: tuple[tuple[int, int, int], ...] = (
    (220, 30, 30),  # red
    (235, 125, 25),  # orange
    (225, 210, 40),  # yellow
    (40, 200, 215),  # cyan
    (45, 70, 225),  # blue
    (210, 40, 190),  # magenta
)
FLOOR_RGB = (92, 74, 58)
WALL_RGB = (40, 40, 44)
FOLIAGE_RGB = (45, 120, 40)
FORAGER_RGB = (235, 235, 235)
NUM_COLOURS = len(PALETTE_NAMES)
MAX_WORLDS = 1 << 20  # worlds (forager slots) in one batch: ~1M; more is an allocator error, not a world

TASKS = ("red", "cued", "reversal")
VERSIONS = (0, 1)  # the worlds' rules: an id's -vN (`envs.ENV_VERSIONS`); see `WorldConfig.version`
ACTION_TYPES = ("discrete", "continuous")
DIFFICULTIES = ("easy", "medium", "hard")

# Knobs each difficulty preset sets; any of them can be overridden by keyword.
DIFFICULTY_PRESETS: dict[str, dict[str, float | int]] = {
    "easy": dict(num_berries=12, target_share=0.5, near_distractors=0.0, num_foliage=0,
                 noise=0.0, illumination=0.0, arena_size=8.0),
    "medium": dict(num_berries=16, target_share=0.4, near_distractors=0.5, num_foliage=6,
                   noise=0.06, illumination=0.25, arena_size=10.0),
    "hard": dict(num_berries=24, target_share=0.25, near_distractors=1.0, num_foliage=14,
                 noise=0.15, illumination=0.45, arena_size=12.0),
}

# Knobs a task sets over WorldConfig's defaults (any of them can still be overridden by keyword).
# ReversalBerry: the colour eaten shows in the goal (taste) and the paying colour, drawn at reset,
# holds for the episode. This form is what a control agent learns (docs/design.md, "The reversal task");
# the harder forms are knobs: reversal_rate=1/150 switches it about every 150 steps, taste=False hides
# which colour was eaten.
TASK_DEFAULTS: dict[str, dict[str, float | bool]] = {
    "red": {},
    "cued": {},
    "reversal": dict(taste=True, reversal_rate=0.0),
}


@dataclass(frozen=True)
class WorldConfig:
    """Everything that defines a foraging world. Built by `make_config`, which validates it."""

    task: str = "red"  # "red" (target always red), "cued" (target drawn per episode), "reversal"
    difficulty: str = "easy"  # the preset the knobs below started from
    num_berries: int = 12  # berries in the arena at once (eaten ones regrow)
    target_share: float = 0.5  # share of berry slots that grow the target colour (kept when they regrow)
    near_distractors: float = 0.0  # share of distractors in the target's neighbouring hues
    num_foliage: int = 0  # clutter: foliage discs drawn over berries in the view
    noise: float = 0.0  # pixel noise, uniform in +-noise*255 per channel
    illumination: float = 0.0  # per-episode brightness and colour cast, +-this fraction
    arena_size: float = 8.0  # side of the square arena, world units
    view_size: int = 24  # the egocentric image is view_size x view_size pixels
    view_extent: float = 6.0  # world units the view spans from side to side (and ahead)
    max_episode_steps: int = 500  # episodes are truncated after this many steps
    # The first episode of each world after a reset (every world starting together) is truncated at a uniform step
    # in [1, max_episode_steps - 1], drawn from the world's own stream, so that episode ends are spread out from the
    # start; later episodes (autoresets, partial resets) run the full length. Such an episode's end is marked in
    # info["forage"]["staggered"].
    stagger_start: bool = False
    target_reward: float = 1.0  # reward for eating a target berry
    distractor_reward: float = -1.0  # reward for eating a distractor berry
    regrow_delay: int = 20  # steps before an eaten berry grows again elsewhere
    reversal_rate: float = 1.0 / 150.0  # ReversalBerry: chance per step that the paying colour switches (task default 0)
    reversal_colours: tuple[int, int] = (0, 4)  # ReversalBerry: the two colours (red, blue)
    first_colour_share: float = 0.5  # ReversalBerry: chance that the first of reversal_colours pays at an episode's start
    taste: bool = False  # ReversalBerry (task default True): obs["goal"] is one-hot of the colour eaten on the last step
    action_type: str = "discrete"  # "discrete" (5 actions) or "continuous" (linear, angular)
    forward_speed: float = 0.25  # world units per step at full forward
    turn_speed: float = 0.3  # radians per step at full turn
    forager_radius: float = 0.3
    berry_radius: float = 0.3
    foliage_radius: float = 0.6
    # The rules' version, set by the id (RedBerry-v1 -> 1). v1: berries spawn and regrow only outside an
    # exclusion zone around every forager and never overlap each other (`envs.arena.berry_grid`), and
    # ReversalBerry honours target_share. v0: positions uniform over the arena, as the stored records had them.
    version: int = 1

    @property
    def pixel_size(self) -> float:
        return self.view_extent / self.view_size

    @property
    def exclusion_radius(self) -> float:
        """v1: no berry grows closer than this to a forager: its radius, the berry's and one step's travel,
        so a forager that only turns never eats and nothing grows under one that stands still."""
        return self.forager_radius + self.berry_radius + self.forward_speed


GRID_MAX = 64  # v1's spawn grid has at most this many cells a side (every step ranks them all, per world)
GRID_PITCH = 2.2  # a cell's side in berry radii: berries in two cells are at least 0.2 radii apart


def berry_grid(c: WorldConfig) -> tuple[int, float, float]:
    """v1's spawn grid: (G cells a side, pitch p, origin o). Cell (i, j) spans o + [i, i + 1) p by
    o + [j, j + 1) p, and a berry grows at a uniform point of a free cell at least a berry radius from its
    edges, so two berries in different cells never overlap and none crosses a wall."""
    pitch = max(GRID_PITCH * c.berry_radius, c.arena_size / GRID_MAX)
    cells = int(c.arena_size // pitch)
    return cells, pitch, (c.arena_size - cells * pitch) / 2


def exclusion_stencil(c: WorldConfig) -> list[tuple[int, int]]:
    """The cell offsets (dx, dy) one forager closes around the cell it stands in: every cell that comes
    closer to that cell than the exclusion radius (plus the grid's margin to the walls, where a forager may
    stand outside the grid). Any point of a closed cell may be the forager's, so no berry that grows
    outside them is within the radius."""
    _, pitch, origin = berry_grid(c)
    reach = c.exclusion_radius + origin
    span = int(reach // pitch) + 1
    return [(dx, dy) for dx in range(-span, span + 1) for dy in range(-span, span + 1)
            if pitch * math.hypot(max(abs(dx) - 1, 0), max(abs(dy) - 1, 0)) < reach]


def blocked_cells(c: WorldConfig) -> int:
    """At most how many cells one forager's exclusion zone can close (`exclusion_stencil`)."""
    return len(exclusion_stencil(c))


def check_berry_room(c: WorldConfig, foragers: int = 1) -> None:
    """v1: refuse worlds whose grid cannot hold every berry outside every forager's exclusion zone."""
    if c.version == 0:
        return
    cells, _, _ = berry_grid(c)
    free = cells * cells - foragers * blocked_cells(c)
    if free < c.num_berries:
        raise ValueError(
            f"num_berries={c.num_berries} does not fit an arena_size={c.arena_size:g} arena with {foragers} "
            f"forager(s): v1 worlds grow berries on a grid of {cells}x{cells} cells and keep {blocked_cells(c)} cells "
            f"free around each forager, leaving {max(free, 0)}; allowed: fewer berries, a larger arena_size, or a "
            f"smaller berry_radius / forager_radius / forward_speed")


def _check(name: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be {allowed}")


def make_config(task: str = "red", difficulty: str = "easy", **overrides) -> WorldConfig:
    """Build a validated WorldConfig from a task, a difficulty preset, the task's own defaults
    (`TASK_DEFAULTS`) and keyword overrides, each over the last."""
    _check("task", task, task in TASKS, f"one of {TASKS}")
    _check("difficulty", difficulty, difficulty in DIFFICULTIES, f"one of {DIFFICULTIES}")
    names = {f.name for f in dataclasses.fields(WorldConfig)} - {"task", "difficulty"}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(
            f"unknown keyword argument(s) {unknown} for the foraging worlds; valid ones are {sorted(names)}"
        )
    values = dict(DIFFICULTY_PRESETS[difficulty])
    values.update(TASK_DEFAULTS[task])
    values.update(overrides)
    if isinstance(values.get("reversal_colours"), list):  # JSON and flags give lists
        values["reversal_colours"] = tuple(values["reversal_colours"])
    config = WorldConfig(task=task, difficulty=difficulty, **values)
    _validate(config)
    return config


def _validate(c: WorldConfig) -> None:
    def integer(name, low, high=None):
        v = getattr(c, name)
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v <= high)
        _check(name, v, ok, f"an int >= {low}" if high is None else f"an int in [{low}, {high}]")

    def real(name, low, high, low_open=False):
        v = getattr(c, name)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ok = ok and (v > low if low_open else v >= low) and v <= high
        _check(name, v, ok, f"a number in {'(' if low_open else '['}{low}, {high}]")

    _check("version", c.version, c.version in VERSIONS and not isinstance(c.version, bool),
           f"one of {VERSIONS} (set by the id: RedBerry-v0 or RedBerry-v1)")
    integer("num_berries", 1, 1024)  # per world; each is drawn into every view
    integer("num_foliage", 0, 1024)
    integer("view_size", 8, 256)  # the retina holds N x view_size^2 x 3 bytes; 4096 asked for ~68 GB
    integer("max_episode_steps", 1, 10**9)
    integer("regrow_delay", 1, 10**9)
    real("target_share", 0.0, 1.0)
    real("near_distractors", 0.0, 1.0)
    real("noise", 0.0, 1.0)
    real("illumination", 0.0, 0.9)
    real("reversal_rate", 0.0, 1.0)
    real("first_colour_share", 0.0, 1.0)
    real("arena_size", 2.0, 1000.0)
    real("view_extent", 0.5, 1000.0)
    real("target_reward", -1e6, 1e6)
    real("distractor_reward", -1e6, 1e6)
    real("forward_speed", 0.0, 10.0, low_open=True)
    real("turn_speed", 0.0, math.pi, low_open=True)
    for name in ("forager_radius", "berry_radius", "foliage_radius"):
        real(name, 0.0, c.arena_size / 4, low_open=True)
    _check("action_type", c.action_type, c.action_type in ACTION_TYPES, f"one of {ACTION_TYPES}")
    _check("taste", c.taste, isinstance(c.taste, bool), "True or False")
    _check("stagger_start", c.stagger_start, isinstance(c.stagger_start, bool), "True or False")
    _check("taste", c.taste, not c.taste or c.task == "reversal",
           f"False for task={c.task!r}, whose goal shows the target; taste=True is for ReversalBerry (task='reversal')")
    pair = c.reversal_colours
    _check("reversal_colours", pair,
           isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(i, int) and 0 <= i < NUM_COLOURS for i in pair) and pair[0] != pair[1],
           f"two different palette indices in [0, {NUM_COLOURS - 1}] ({', '.join(PALETTE_NAMES)})")
    check_berry_room(c)
    _check("num_berries", c.num_berries, c.task != "reversal" or c.num_berries >= 2,
           "2 or more on ReversalBerry, whose berries are half of each of its two colours (with one, only the "
           "second colour ever grows)")
    if c.task != "reversal":  # ReversalBerry's own knobs would be ignored here: refuse them, as taste is
        for name in ("reversal_rate", "reversal_colours", "first_colour_share"):
            default = getattr(WorldConfig, name)
            shown = f"{default:.4g}" if isinstance(default, float) else repr(default)
            _check(name, getattr(c, name), getattr(c, name) == default,
                   f"its default ({shown}) for task={c.task!r}; {name} is ReversalBerry's (task='reversal')")
