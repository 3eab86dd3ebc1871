"""The comparison's grid: what is trained, and every condition each trained agent is evaluated in.

A *unit* is one training run: (task, preset, seed). An *evaluation cell* is one unit evaluated in
one condition, with or without a lesion, at its trained number of feedback passes T or another.
A *reference cell* is the random and the scripted forager on one condition's worlds; it sets the
scale of the normalised score, `(agent - random) / (scripted - random)` (DESIGN.md).

Conditions change the worlds, never the agent:

- the difficulty ladder: `easy`, `medium`, `hard` (the presets of `envs.config`) and `beyond`,
  harder than `hard` on every knob;
- one knob at a time on top of `easy`: `more_distractors`, `near_hues`, `clutter`, `noise`,
  `illumination`; `occluded` is clutter and noise at once, and `clean` is easy with neither, even for
  an agent trained with them;
- `cue_change` (cued tasks): halfway through the episode the cue and the paying colour change;
- `reversal` (agents of the other tasks): the ReversalBerry task as it was before it had defaults
  of its own (the paying colour switches at random, the goal is zeros);
- `switches`, `no_taste` (ReversalBerry agents): the task's harder forms, the paying colour also
  switching inside the episode, or no taste of the colour eaten;
- `setsize_D`: two targets among D distractors, for the set-size curve (steps to the first
  target against D).

`near_hues` is not evaluated on ReversalBerry, whose two colours are not near hues
(`SHARED_TASKS`), and `more_distractors` and `setsize_D` not on ReversalBerry-v0, which grows half
of its berries in each colour whatever target_share says (`COUNTED_TASKS`). `drawn_worlds` counts what
a condition's worlds hold (`compare.references.drawn_worlds`), so a test holds every label to them.

The trained agents are *variants* of the presets (`compare.variants`: `feedback_T3@hard`,
`feedback+plastic=True`, ...); a variant's world knobs stay in every condition it is evaluated in,
unless the condition sets that knob itself. `Plan` holds every setting of one
compare, with the (task, variants) groups it trains; `compare.scales.SCALES` gives the values of
each `--scale`.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Any, Optional

import agents
import envs
from agents.actor_critic import CUTS
from common.device import check_choice
from common.flags import first_line
from compare.errors import CompareError
from compare.variants import parse_variant, trainer_overrides
from envs.config import DIFFICULTIES


# --- conditions ------------------------------------------------------------------------------

CUED_TASKS = tuple(t for t, task in envs.TASK_IDS.items() if task == "cued")  # every version's id
REVERSAL_TASKS = tuple(t for t, task in envs.TASK_IDS.items() if task == "reversal")
REVERSAL_RATE = 1.0 / 150.0  # the harder forms' switches: about one every 150 steps
ALL_TASKS = tuple(envs.TASK_IDS)  # the single-forager worlds (MultiBerry is not compared)
SET_SIZE_TARGETS = 2  # targets in every set-size condition
SET_SIZES = (2, 6, 14, 30)  # distractors in the set-size conditions
OCCLUDED_FOLIAGE, OCCLUDED_NOISE = 20, 0.25  # the `occluded` condition: clutter's foliage and noise's noise at once
# The tasks whose berries follow `target_share` (ReversalBerry-v0 grows half of its berries in each of its two
# colours whatever it says) and `near_distractors` (ReversalBerry's red and blue are not neighbouring hues): the
# conditions that promise a number of targets, or near hues, are evaluated only there.
COUNTED_TASKS = tuple(t for t in ALL_TASKS if not (t in REVERSAL_TASKS and envs.ENV_VERSIONS[t] == 0))
SHARED_TASKS = tuple(t for t in ALL_TASKS if t not in REVERSAL_TASKS)
HALF_AND_HALF = " (on ReversalBerry-v0 half the berries red, half blue, whatever the target share and near hues)"


@dataclass(frozen=True)
class Condition:
    """One way to change the evaluation worlds."""

    name: str
    description: str
    difficulty: Optional[str] = None  # the difficulty preset; None: the unit's training difficulty
    knobs: tuple[tuple[str, Any], ...] = ()  # world knobs set on top of the preset
    env_id: Optional[str] = None  # another task's worlds (a name: ReversalBerry, its version the unit's); None: its own
    cue_change: bool = False  # the cue and the paying colour change halfway through the episode
    tasks: Optional[tuple[str, ...]] = None  # training tasks it applies to; None: every task
    distractors: Optional[int] = None  # set-size conditions: the number of distractors

    def applies_to(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


def _set_size(distractors: int) -> Condition:
    total = SET_SIZE_TARGETS + distractors
    return Condition(
        f"setsize_{distractors}", f"easy, {SET_SIZE_TARGETS} targets among {distractors} distractors",
        difficulty="easy", knobs=(("num_berries", total), ("target_share", SET_SIZE_TARGETS / total)),
        tasks=COUNTED_TASKS, distractors=distractors)


CONDITIONS: dict[str, Condition] = {c.name: c for c in [
    Condition("easy", "the easy preset", difficulty="easy"),
    Condition("medium", f"the medium preset{HALF_AND_HALF}", difficulty="medium"),
    Condition("hard", f"the hard preset{HALF_AND_HALF}", difficulty="hard"),
    Condition("beyond", f"hard, and more: 32 berries of which 4 targets, 24 foliage discs, noise 0.25, illumination "
              f"0.7{HALF_AND_HALF}", difficulty="hard",
              knobs=(("num_berries", 32), ("target_share", 0.125), ("num_foliage", 24), ("noise", 0.25),
                     ("illumination", 0.7))),
    Condition("more_distractors", "easy with the same 6 targets among 26 distractors (not 6)", difficulty="easy",
              knobs=(("num_berries", 32), ("target_share", 6 / 32)), tasks=COUNTED_TASKS),
    Condition("near_hues", "easy with every distractor in the target's neighbouring hues", difficulty="easy",
              knobs=(("near_distractors", 1.0),), tasks=SHARED_TASKS),
    Condition("clutter", "easy with 20 foliage discs drawn over the berries", difficulty="easy",
              knobs=(("num_foliage", 20),)),
    Condition("noise", "easy with pixel noise 0.25", difficulty="easy", knobs=(("noise", 0.25),)),
    Condition("occluded", "easy with 20 foliage discs over the berries and pixel noise 0.25 together (the passes "
              "test's training worlds)", difficulty="easy", knobs=(("num_foliage", OCCLUDED_FOLIAGE),
                                                                   ("noise", OCCLUDED_NOISE))),
    Condition("clean", "easy with no foliage and no noise, whatever worlds the agent trained on", difficulty="easy",
              knobs=(("num_foliage", 0), ("noise", 0.0))),
    Condition("illumination", "easy with a per-episode brightness and colour cast of +-0.7", difficulty="easy",
              knobs=(("illumination", 0.7),)),
    Condition("cue_change", "the training difficulty; halfway through the episode the cued colour changes to "
              "another one, and the two colours trade places in the field", cue_change=True, tasks=CUED_TASKS),
    Condition("reversal", "the ReversalBerry task at the training difficulty: red or blue pays and switches "
              "at random (about every 150 steps), the goal is zeros", env_id="ReversalBerry",
              knobs=(("reversal_rate", REVERSAL_RATE), ("taste", False)),
              tasks=tuple(t for t in ALL_TASKS if t not in REVERSAL_TASKS)),
    Condition("switches", "ReversalBerry's worlds, and the paying colour also switches at random inside the "
              "episode, about every 150 steps", knobs=(("reversal_rate", REVERSAL_RATE),), tasks=REVERSAL_TASKS),
    Condition("no_taste", "ReversalBerry's worlds with the goal all zeros: which colour was eaten is not "
              "shown, only seen", knobs=(("taste", False),), tasks=REVERSAL_TASKS),
    *[_set_size(d) for d in SET_SIZES],
]}

PREDICTIONS = ("better", "worse", "equivalent")  # what a primary contrast may predict (`compare.stats.VERDICTS`)
LADDER = ("easy", "medium", "hard", "beyond")  # the difficulty axis of the score-vs-difficulty plot
# The agent's own lesions (feedback, goal, plasticity, what, where), and `untrained`: the same architecture
# with its initial weights (seeded by the unit's seed), the reference of the feature-similarity gain.
LESIONS = tuple(name for name in agents.LESIONS if name is not None) + ("untrained",)


def condition_seed(name: str) -> int:
    """The env seed of a condition's worlds (world i gets seed + i): the same for every agent,
    lesion and T in that condition, so they are compared on the same worlds (paired)."""
    return 1_000_000_000 + 1_000 * (zlib.crc32(name.encode()) % 1_000_000)


# --- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Every setting of one compare. Saved as OUT/plan.json; a resumed compare must match it."""

    agents: tuple[str, ...]  # presets
    envs: tuple[str, ...]  # training tasks
    seeds: int  # training seeds 1..seeds per (task, preset)
    steps: int  # env steps per training run
    train_difficulty: str  # difficulty the agents train on
    episode_steps: int  # episode length, in training and in evaluation
    conditions: tuple[str, ...]
    lesions: tuple[str, ...]  # lesions evaluated (where the agent has the mechanism)
    lesion_conditions: tuple[str, ...]  # conditions the lesions are evaluated in
    passes: tuple[int, ...]  # T evaluated for feedback agents
    passes_conditions: tuple[str, ...]  # conditions the T sweep is evaluated in
    eval_worlds: int  # worlds (= episodes) per evaluation cell, stepped together
    num_envs: int  # training worlds
    num_steps: int  # training rollout length
    device: str  # auto, cpu or cuda
    from_runs: tuple[str, ...] = ()  # trained run directories, instead of training
    shard: tuple[int, int] = (0, 1)  # (i, n): this compare runs units i, i + n, i + 2n, ...
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (task, variants) trained; (): agents x envs
    clutter_ramp: float = 0.0  # every run's --clutter-ramp (foliage and noise grow in over this fraction)
    # Declared before the first run: the primary contrasts (task, X, Y, condition, predicted verdict), judged with
    # Holm's correction over the family; every other contrast of the report is exploratory. `margin`: the
    # equivalence margin in normalised score. `calibrated`: which settings were tuned on which seeds and agents.
    primary: tuple[tuple[str, str, str, str, str], ...] = ()
    margin: float = 0.1
    calibrated: str = ""

    def pairs(self) -> list[tuple[str, str]]:
        """Every (task, variant) trained, in the plan's order."""
        if self.groups:
            return [(task, agent) for task, group in self.groups for agent in group]
        return [(task, agent) for task in self.envs for agent in self.agents]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(values: dict, source: str = "plan.json") -> "Plan":
        """The plan a compare folder's plan.json holds; CompareError naming ``source`` if it is not one."""
        if not isinstance(values, dict):
            raise CompareError(f"{source}: not a compare plan (a JSON {type(values).__name__}, not an object); it is "
                               f"damaged or not from compare.py")
        fields = {f.name for f in dataclasses.fields(Plan)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise CompareError(f"{source} has unknown field(s) {unknown}; it was written by another version")
        try:
            return Plan(**{k: _tuples(v) for k, v in values.items()})
        except TypeError as exc:  # fields missing
            raise CompareError(f"{source}: not a whole compare plan ({exc}); it is damaged or not from "
                               f"compare.py") from None

    def differences(self, other: "Plan", ignore: tuple[str, ...] = ()) -> list[str]:
        """Fields whose values differ, as 'name: a vs b'."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} vs {b[k]!r}" for k in a if k not in ignore and a[k] != b[k]]


def _tuples(value):
    """JSON lists back into (nested) tuples."""
    return tuple(_tuples(x) for x in value) if isinstance(value, list) else value


def _listed(flag: str, given, valid) -> None:
    bad = [x for x in given if x not in valid]
    if bad:
        raise CompareError(f"{flag}: {bad} not known; valid: {', '.join(str(v) for v in valid)}")


def check_plan(plan: Plan) -> None:
    """Raise CompareError naming the first bad setting (before anything is trained)."""
    for name in plan.agents:
        parse_variant(name)
    _listed("--envs", plan.envs, list(ALL_TASKS))
    _listed("--conditions", plan.conditions, list(CONDITIONS))
    _listed("--lesions", plan.lesions, list(LESIONS))
    _listed("--train-difficulty", [plan.train_difficulty], list(DIFFICULTIES))
    for flag, values in (("--agents", plan.agents), ("--envs", plan.envs), ("--conditions", plan.conditions),
                         ("--agents in a group", [f"{t} {a}" for t, a in plan.pairs()])):
        if not values:
            raise CompareError(f"{flag}: the selection is empty; give at least one")
        if len(set(values)) != len(values):
            raise CompareError(f"{flag}: {list(values)} names something twice; give each once")
    for flag, value, low in (("--seeds", plan.seeds, 1), ("--steps", plan.steps, 1),
                             ("--episode-steps", plan.episode_steps, 2), ("--eval-worlds", plan.eval_worlds, 1),
                             ("--num-envs", plan.num_envs, 1), ("--num-steps", plan.num_steps, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise CompareError(f"{flag}: got {value!r}; allowed: an integer >= {low}")
    if isinstance(plan.clutter_ramp, bool) or not isinstance(plan.clutter_ramp, (int, float)) or not (
            0 <= plan.clutter_ramp <= 1):
        raise CompareError(f"--clutter-ramp: got {plan.clutter_ramp!r}; allowed: a number in [0, 1] (0 = off)")
    if not plan.passes or any(not isinstance(t, int) or t < 1 for t in plan.passes):
        raise CompareError(f"--passes: got {list(plan.passes)}; allowed: one or more integers >= 1")
    check_choice(plan.device, "--device")
    index, count = plan.shard
    if not (count >= 1 and 0 <= index < count):
        raise CompareError(f"--shard: got {index}/{count}; allowed: i/n with n >= 1 and 0 <= i < n")
    idle = [c for c in plan.conditions if not any(CONDITIONS[c].applies_to(t) for t in plan.envs)]
    if idle:
        applicable = {c: list(CONDITIONS[c].tasks or ALL_TASKS) for c in idle}
        raise CompareError(f"--conditions: {idle} apply to none of --envs {list(plan.envs)}; they apply to agents "
                           f"trained on: {applicable}")
    for contrast in plan.primary:
        if len(contrast) != 5:
            raise CompareError(f"primary contrast {contrast!r}: allowed: (task, X, Y, condition, prediction)")
        task, x, y, condition, prediction = contrast
        trained = plan.pairs()
        if (task, x) not in trained or (task, y) not in trained or condition not in plan.conditions:
            raise CompareError(f"primary contrast {contrast!r}: X and Y must be trained on the task and the condition "
                               f"evaluated; trained: {trained}, conditions: {list(plan.conditions)}")
        if prediction not in PREDICTIONS:
            raise CompareError(f"primary contrast {contrast!r}: prediction {prediction!r}; allowed: {PREDICTIONS}")
    if isinstance(plan.margin, bool) or not isinstance(plan.margin, (int, float)) or not plan.margin > 0:
        raise CompareError(f"margin: got {plan.margin!r}; allowed: a number > 0 (normalised score)")
    for name in ("lesion_conditions", "passes_conditions"):
        unknown = [c for c in getattr(plan, name) if c not in plan.conditions]
        if unknown:
            raise CompareError(f"--{name.replace('_', '-')}: {unknown} are not among --conditions; allowed: "
                               f"{', '.join(plan.conditions)}")


# --- units and cells -------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One trained agent: (task, preset, seed), with what the grid needs to know about it."""

    task: str
    agent: str
    seed: int
    feedback: bool  # has top-down gains (the feedback lesion and the T sweep apply)
    plastic: bool  # has a plastic layer (the plasticity lesion applies)
    passes: int  # T it was trained with
    difficulty: str  # difficulty it was trained on
    world_kwargs: tuple[tuple[str, Any], ...] = ()  # its other world settings (view size, actions, ...)
    run_dir: Optional[str] = None  # set for --from runs
    whatwhere: bool = False  # has what/where gates (their lesions apply)

    @property
    def key(self) -> str:
        return f"{self.task}__{self.agent}__s{self.seed}"


def preset_unit(task: str, agent: str, seed: int, difficulty: str) -> Unit:
    """The unit of variant `agent` (see `parse_variant`); `difficulty`: the plan's training difficulty."""
    variant = parse_variant(agent)
    config = agents.make_config(variant.preset, **trainer_overrides(agent))
    world = dict(variant.world)
    try:
        envs.world_config(task, variant.difficulty or difficulty, **world)
    except ValueError as exc:
        raise CompareError(f"--agents: {agent!r} on {task}: {first_line(exc)}") from None
    return Unit(task, agent, seed, config.feedback, config.plastic, config.passes, variant.difficulty or difficulty,
                variant.world, whatwhere=config.whatwhere)


@dataclass(frozen=True)
class EvalCell:
    """One unit, one condition, one lesion ("none" or a mechanism), T passes (None: as trained)."""

    unit: Unit
    condition: str
    lesion: str = "none"
    passes: Optional[int] = None

    @property
    def key(self) -> str:
        return f"{self.unit.key}__{self.condition}__{self.lesion}__T{self.passes or 'trained'}"


def condition_env(unit: Unit, condition: Condition) -> str:
    """The env id of a condition's worlds for `unit`: its own task, or another task's worlds of the unit's
    own version (a v1 agent meets ReversalBerry-v1)."""
    return f"{condition.env_id}-v{envs.ENV_VERSIONS[unit.task]}" if condition.env_id else unit.task


def world_kwargs_for(unit: Unit, condition: Condition, episode_steps: int) -> tuple[str, dict]:
    """The env id and gym.make_vec keywords of `condition`'s worlds for `unit`."""
    env_id = condition_env(unit, condition)
    kwargs = dict(unit.world_kwargs)
    kwargs.update(difficulty=condition.difficulty or unit.difficulty, max_episode_steps=episode_steps)
    kwargs.update(dict(condition.knobs))
    return env_id, kwargs


def lesion_applies(unit: Unit, lesion: str, env_id: str) -> bool:
    """A lesion is evaluated only where it can change something: the agent has the mechanism, and
    (for the wrong goal) the task shows a goal at all."""
    if lesion in ("feedback", "untrained"):
        return unit.feedback
    if lesion in CUTS:  # one input of the top-down signal: where the agent's z reads it
        reads = agents.make_config(parse_variant(unit.agent).preset, **trainer_overrides(unit.agent))
        return unit.feedback and CUTS[lesion] in reads.top_down_inputs.split("+") and (
            CUTS[lesion] != "core" or reads.core == "gru")
    if lesion == "plasticity":
        return unit.plastic
    if lesion in ("what", "where"):
        return unit.whatwhere
    return envs.TASK_IDS[env_id] != "reversal"


def eval_cells(unit: Unit, plan: Plan) -> list[EvalCell]:
    """Every evaluation cell of one unit, in a fixed order."""
    cells = []
    for name in plan.conditions:
        condition = CONDITIONS[name]
        if not condition.applies_to(unit.task):
            continue
        cells.append(EvalCell(unit, name))
        env_id = condition_env(unit, condition)
        if name in plan.lesion_conditions:
            cells += [EvalCell(unit, name, lesion) for lesion in plan.lesions if lesion_applies(unit, lesion, env_id)]
        if unit.feedback and name in plan.passes_conditions:
            cells += [EvalCell(unit, name, passes=t) for t in plan.passes if t != unit.passes]
    return cells
