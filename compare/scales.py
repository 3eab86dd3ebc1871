"""The values of each `--scale`, and what a grid costs.

- `default`: for a 2-core CPU. The easy baseline only: feedforward, recurrent and
  feedback on RedBerry-v1, 5 seeds, 250k steps each. On RedBerry-v0 the trainer's 4x4 PPO passed a
  normalised score of 0.8 after ~0.2M steps of a 1M-step run (its learning rate annealed over 1M), so
  250k steps show who learns it and how fast; the cued and reversal tasks need ~1M steps a run, which
  is the card grid's job.
- `card`: the grid that answers the card (issue 11, part 5): each preset on the task where its
  mechanism should matter, trained on the difficulty it is tested on, 5 seeds, the trainer's
  default 1M steps (5 seeds detect about 0.3-0.47 with 80% power, `POWER_SEEDS`). CuedBerry-v1 for the goal pathways (late = recurrent, early, top-down =
  feedback, and feedback trained at T = 3 for the T sweep), what/where and full; hard-trained
  feedback at T = 1 and T = 3 for the T sweep on hard worlds (agents trained on easy worlds score
  below random on hard ones); ReversalBerry-v1 for plasticity (`PLASTICITY_AGENTS`); RedBerry-v1 as the easy baseline (feedforward, recurrent, feedback). About 19 CPU-hours
  nominally (see `compare.work.calibrate` for the measured figure before it starts):
  run it on a GPU, or as `--shard i/n` on n cores and `--merge` the shards.
- `reversal`: plasticity's fair test (issue 19): `PLASTICITY_AGENTS` on ReversalBerry-v1's defaults, 5
  seeds of 2M steps in full 500-step episodes (the control reached precision 0.75 in about 1-1.5M
  steps), evaluated on the task and its harder forms (`switches`, `no_taste`), with the lesions.
  25 runs, about 14 CPU-hours here (measured, as five shards; calibrated on the machine before it starts): `--jobs 2`, or a GPU.
  5 seeds detect a difference of about 0.47 with 80% power; 0.2 needs 18 (`POWER_SEEDS`): `--seeds 18` on a GPU.
- `attention`: feature attention's test (issue 20): `feedback` beside its feature-gain-only variant
  (`feedback+spatial_strength=0.0`, the spatial gain map off) on CuedBerry-v1, 9 seeds of 1M steps
  (`POWER_SEEDS`),
  with the feature-similarity gain measured in every cell against the `untrained` and `feedback`
  lesions, in the trained worlds and at a mid-episode cue switch. 18 runs, about 4.1 CPU-hours here
  (5 seeds measured 2.3: 75 min at `--jobs 2` as five shards, docs/data/attention): `--jobs 2`.
- `passes`: iterative processing's test (issue 20): `feedback` trained at T = 1 and at T = 3 on
  CuedBerry-v1's easy worlds under foliage and pixel noise (`occluded`: 20 discs, noise 0.25), brought
  in over the first half (`--clutter-ramp 0.5`: thrown in from the start, T = 1 never learned to
  forage; with the ramp it learns partly, score 0.33 on one seed, docs/data/passes), 8 seeds of 1M
  steps, each evaluated at T = 1..4 on those worlds and on `clean` ones (Spoerer et al. 2017: passes
  should help more under occlusion). 16 runs; T = 3 trains about 2.5x slower; about 5 CPU-hours here
  (5 seeds measured 3.1, as five shards): `--jobs 2`, or a GPU.
- `gating` and `gating_reversal`: is it feedback, or multiplicative goal gating (issue 42)? `feedback` beside
  the goal-only gate and state-only feedback (`GATE`, `STATE_ONLY`), with `early` and `recurrent` on
  CuedBerry-v1 (1M steps, 13 seeds: 65 runs, about 9 CPU-hours at the ~2,000 steps/s these agents train
  at here) and `recurrent` on ReversalBerry-v1 (2M steps, 29 seeds: 116 runs, about 65 CPU-hours: a GPU),
  the seeds the power analysis gives for a difference of 0.15 (`GATING_SEEDS`), evaluated with the
  lesions that cut each input of the top-down signal. Pre-registered in docs/data/gating/README.md.
- `full`: the card's groups on a GPU, 18 seeds (the largest of `POWER_SEEDS`), 10M steps, full-length
  episodes.

Every scale declares its primary contrasts and their predictions before its runs (`PRIMARY`), and
what was calibrated on few seeds (`CALIBRATED`); the report judges the primary ones under Holm's
correction and calls everything else exploratory.
"""

from __future__ import annotations

from typing import Any

from compare.grid import CONDITIONS, LESIONS, OCCLUDED_FOLIAGE, OCCLUDED_NOISE, Plan

# One training run on this 2-core CPU, 256 worlds x 16 steps, 4x4 PPO: about the mean over the presets of
# `bench.py train` on 2026-12-02 (550-1,740 steps/s). A grid of ESTIMATE_FROM_HOURS or more measures its own.
CPU_STEPS_PER_SECOND = 1_200

_GOAL_PATHWAYS = ("feedforward", "recurrent", "early", "feedback", "feedback_T3", "whatwhere", "full")
# Plasticity's test: the control (top-down gain read from the core, which sees its rewards), the control
# with the plastic layer under the TD-error modulator (dopamine's) and under Backpropamine's learned one,
# and the plain recurrent and feedforward agents, which see rewards too.
PLASTICITY_AGENTS = ("feedforward", "recurrent", "feedback", "feedback+plastic=True",
                     "feedback+modulator=learned+plastic=True")
# Feature attention's test: top-down gain as trained, and with only its feature (channel) gain.
ATTENTION_AGENTS = ("feedback", "feedback+spatial_strength=0.0")
# Iterative processing's test: top-down gain at T = 1 and T = 3 passes, both trained where foliage hides the
# berries and pixel noise blurs them (the `occluded` condition's worlds), where T = 1 learns only partly.
OCCLUDED_WORLDS = f"+noise={OCCLUDED_NOISE}+num_foliage={OCCLUDED_FOLIAGE}"
PASSES_AGENTS = ("feedback" + OCCLUDED_WORLDS, "feedback_T3" + OCCLUDED_WORLDS)
# Is it feedback, or multiplicative goal gating (issue 42)? `feedback` beside its two controls: the goal-only gate
# (the same gain layers computed from the goal alone: FiLM-like goal conditioning, no state) and state-only feedback
# (no goal template: the goal reaches the gains only through z, mixed with h(t-1) and the top features).
GATE, STATE_ONLY = "feedback+top_down_inputs=goal", "feedback+goal_template=0.0"
GATING_AGENTS = ("feedback", GATE, STATE_ONLY, "early", "recurrent")
GATING_REVERSAL_AGENTS = ("feedback", GATE, STATE_ONLY, "recurrent")
TOP_DOWN_LESIONS = ("feedback", "goal", "feedback_goal", "feedback_core", "feedback_top")
CARD_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CuedBerry-v1", _GOAL_PATHWAYS + ("feedback@hard", "feedback_T3@hard")),
    ("ReversalBerry-v1", PLASTICITY_AGENTS),
    ("RedBerry-v1", ("feedforward", "recurrent", "feedback")),
)


def _union(groups, index: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for name in ([group[0]] if index == 0 else group[1]):
            seen.setdefault(name, None)
    return tuple(seen)


_EVAL = dict(conditions=tuple(CONDITIONS), lesions=LESIONS, passes=(1, 2, 3, 4), device="auto")

# The seeds a paired t-test needs to detect 0.2 normalised score with 80% power (5%, two-sided), from the
# seed-to-seed spread of paired differences in the stored records (the "Power" line of
# `python scripts/compare.py --merge docs/data/<set>/shard0 ... shard4`, 2026-12-06): reversal sd 0.277 -> 18,
# passes 0.170 -> 8, attention 0.175 -> 9. A scale takes them where this CPU's budget allows: attention and
# passes do; reversal (and card, which holds it) would take ~50 CPU-hours, so they keep 5 seeds, which detect
# about 0.47 there, and `full` (a GPU's) takes the largest figure.
POWER_SEEDS = {"reversal": 18, "passes": 8, "attention": 9}
# The gating scales (issue 42) plan for a difference of 0.15 with the same spreads: CuedBerry (sd 0.175, the attention
# records) 13 seeds, ReversalBerry (sd 0.277) 29; at least 8 either way.
GATING_SEEDS = {"gating": 13, "gating_reversal": 29}

# Each scale's primary contrasts, declared before its runs: (task, X, Y, condition, predicted verdict), judged as
# one family with Holm's correction (`compare.analysis.contrasts`); every other contrast is exploratory. The
# predictions are the hypotheses each scale was built to test, from the one-seed calibrations in `CALIBRATED`.
_RED = ("RedBerry-v1", "feedback", "feedforward", "easy", "equivalent")  # easy foraging does not separate them
_CUED = (("CuedBerry-v1", "feedback", "feedforward", "easy", "better"),  # top-down gain learns the cued task...
         ("CuedBerry-v1", "feedback", "early", "easy", "better"))  # ...where additive early fusion did not
_PLASTIC = (("ReversalBerry-v1", "feedback+plastic=True", "feedback", "easy", "better"),
            ("ReversalBerry-v1", "feedback+modulator=learned+plastic=True", "feedback", "easy", "better"))
PRIMARY = {
    "default": (_RED,),
    "card": _CUED + _PLASTIC + (_RED,),
    "reversal": _PLASTIC + (("ReversalBerry-v1", "feedback", "recurrent", "easy", "better"),),
    "attention": (("CuedBerry-v1", "feedback+spatial_strength=0.0", "feedback", "easy", "equivalent"),),
    "passes": (("CuedBerry-v1", PASSES_AGENTS[1], PASSES_AGENTS[0], "occluded", "better"),),
    # The feedback claim's predictions (docs/data/gating/README.md says what each outcome would mean): with the goal
    # shown, gating suffices (feedback equivalent to the gate, the gate better than additive and late fusion); with
    # the goal hidden, only gains that read the agent's state can point vision at the inferred colour.
    "gating": (("CuedBerry-v1", "feedback", GATE, "easy", "equivalent"),
               ("CuedBerry-v1", GATE, "early", "easy", "better"),
               ("CuedBerry-v1", GATE, "recurrent", "easy", "better")),
    "gating_reversal": (("ReversalBerry-v1", "feedback", GATE, "easy", "better"),
                        ("ReversalBerry-v1", GATE, "recurrent", "easy", "better")),
    "full": _CUED + _PLASTIC + (_RED,),
}
# Which settings were tuned on which seeds and agents before a scale's runs (a result on those seeds is not
# independent of the tuning).
_REVERSAL_TUNED = ("ReversalBerry's defaults (the taste signal, the colour held for the episode, the colour-prior "
                   "ramp 0.5, 64-step BPTT, 500-step episodes, 2M steps) on seed 1 of `feedback`, in v0 worlds")
CALIBRATED = {
    "default": "",
    "card": "the PPO settings (4 epochs x 4 minibatches) on one seed each of early fusion and top-down gain on "
            "CuedBerry-v1; "
            + _REVERSAL_TUNED + ".",
    "reversal": _REVERSAL_TUNED + ".",
    "attention": "",
    "passes": "the occluded worlds (20 foliage discs, noise 0.25) and --clutter-ramp 0.5 on seed 1 of `feedback` (T = 1).",
    "gating": "the question itself, on seed 1 of a throwaway goal-only copy of `feedback` and of `feedback` on "
              "CuedBerry-v0 (1.44 against 1.50).",
    "gating_reversal": "the question itself, on seeds 1 and 2 of a throwaway goal-only copy of `feedback` and of "
                       "`feedback` on ReversalBerry-v0 (0.88 and 0.89 against -0.01 and 0.19); " + _REVERSAL_TUNED + ".",
    "full": "as `card`: " + _REVERSAL_TUNED + ".",
}

SCALES: dict[str, dict[str, Any]] = {
    "default": dict(
        _EVAL, primary=PRIMARY["default"], calibrated=CALIBRATED["default"], agents=("feedforward", "recurrent", "feedback"), envs=("RedBerry-v1",), seeds=5, steps=250_000,
        train_difficulty="easy", episode_steps=200, lesion_conditions=("easy", "hard"),
        passes_conditions=("easy", "hard"), eval_worlds=64, num_envs=256, num_steps=16),
    "card": dict(
        _EVAL, primary=PRIMARY["card"], calibrated=CALIBRATED["card"], agents=_union(CARD_GROUPS, 1), envs=_union(CARD_GROUPS, 0), groups=CARD_GROUPS, seeds=5,
        steps=1_000_000, train_difficulty="easy", episode_steps=200,
        lesion_conditions=("easy", "hard", "near_hues", "setsize_30"), passes_conditions=("easy", "hard"),
        eval_worlds=64, num_envs=256, num_steps=16),
    "reversal": dict(
        _EVAL, primary=PRIMARY["reversal"], calibrated=CALIBRATED["reversal"], agents=PLASTICITY_AGENTS, envs=("ReversalBerry-v1",), seeds=5, steps=2_000_000, train_difficulty="easy",
        lesions=tuple(lesion for lesion in LESIONS if lesion != "untrained"),  # no cue: no feature gain to refer
        episode_steps=500, conditions=("easy", "switches", "no_taste"), lesion_conditions=("easy",), passes=(1,),
        passes_conditions=(), eval_worlds=128, num_envs=256, num_steps=64),
    "attention": dict(
        _EVAL, primary=PRIMARY["attention"], calibrated=CALIBRATED["attention"], agents=ATTENTION_AGENTS, envs=("CuedBerry-v1",), seeds=POWER_SEEDS["attention"], steps=1_000_000, train_difficulty="easy",
        episode_steps=200, conditions=("easy", "cue_change", "near_hues", "setsize_30"),
        # lesions at the cue switch too: the untrained net's gains read the cue, so they turn with it as well
        lesion_conditions=("easy", "cue_change"), passes=(1,), passes_conditions=(), eval_worlds=64, num_envs=256,
        num_steps=16),
    "passes": dict(
        _EVAL, primary=PRIMARY["passes"], calibrated=CALIBRATED["passes"], agents=PASSES_AGENTS, envs=("CuedBerry-v1",), seeds=POWER_SEEDS["passes"], steps=1_000_000, train_difficulty="easy",
        episode_steps=200, conditions=("occluded", "clean"), lesion_conditions=("occluded",),
        passes_conditions=("occluded", "clean"), clutter_ramp=0.5, eval_worlds=64, num_envs=256, num_steps=16),
    "gating": dict(
        _EVAL, primary=PRIMARY["gating"], calibrated=CALIBRATED["gating"], agents=GATING_AGENTS,
        envs=("CuedBerry-v1",), seeds=GATING_SEEDS["gating"], steps=1_000_000, train_difficulty="easy",
        episode_steps=200, conditions=("easy", "cue_change", "near_hues"), lesions=TOP_DOWN_LESIONS,
        lesion_conditions=("easy",), passes=(1,), passes_conditions=(), eval_worlds=64, num_envs=256, num_steps=16),
    "gating_reversal": dict(
        _EVAL, primary=PRIMARY["gating_reversal"], calibrated=CALIBRATED["gating_reversal"],
        agents=GATING_REVERSAL_AGENTS, envs=("ReversalBerry-v1",), seeds=GATING_SEEDS["gating_reversal"],
        steps=2_000_000, train_difficulty="easy", episode_steps=500, conditions=("easy", "switches", "no_taste"),
        lesions=tuple(lesion for lesion in TOP_DOWN_LESIONS if lesion != "goal"),  # the goal is hidden there
        lesion_conditions=("easy",), passes=(1,), passes_conditions=(), eval_worlds=128, num_envs=256, num_steps=64),
    "full": dict(
        _EVAL, primary=PRIMARY["full"], calibrated=CALIBRATED["full"], agents=_union(CARD_GROUPS, 1), envs=_union(CARD_GROUPS, 0), groups=CARD_GROUPS, seeds=max(POWER_SEEDS.values()),
        steps=10_000_000, train_difficulty="easy", episode_steps=500,
        lesion_conditions=("easy", "medium", "hard", "beyond", "near_hues", "setsize_30"), passes=(1, 2, 3, 4, 6),
        passes_conditions=("easy", "hard", "beyond"), eval_worlds=1024, num_envs=1024, num_steps=32),
}


def cost(plan: Plan) -> dict[str, float]:
    """What training the plan costs: runs, env steps, and CPU hours at `CPU_STEPS_PER_SECOND` a run
    (T = 3 and the full preset run slower; evaluation adds minutes, not hours)."""
    runs = len(plan.pairs()) * plan.seeds
    steps = runs * plan.steps
    return {"runs": runs, "env_steps": steps, "cpu_hours": steps / CPU_STEPS_PER_SECOND / 3600}


def cost_text(plan: Plan) -> str:
    """The plan's size; how long it takes is measured on the machine at hand (`estimate_text`), not stated."""
    c = cost(plan)
    return f"{c['runs']} training runs, {c['env_steps'] / 1e6:,.1f}M env steps"


ESTIMATE_FROM_HOURS = 1.0  # grids whose nominal cost reaches this are calibrated on the machine before they start


def estimate_text(units, plan: Plan, measured: dict, jobs: int, seconds: float) -> str:
    """What training ``units`` will take here, from `compare.work.calibrate`'s steps/s per (task, agent,
    difficulty), measured in ``seconds``; ``jobs`` groups train at once."""
    run_seconds = [plan.steps / measured[(u.task, u.agent, u.difficulty)] for u in units]
    total = sum(run_seconds)
    # an agent's name carries its difficulty where that is not the plan's (`feedback@hard`)
    rates = ", ".join(f"{agent} on {task} {sps:,.0f}" for (task, agent, _), sps in measured.items())
    return (f"estimated training time: {total / 3600:.1f} CPU-hours for {len(units)} runs, about "
            f"{total / 3600 / max(jobs, 1):.1f} h at --jobs {jobs} (calibrated here in {seconds:.0f} s, steps/s: "
            f"{rates}); evaluation adds minutes")


def scale_plan(name: str) -> Plan:
    """The plan of `--scale name` with no other flag (for --help and tests)."""
    return Plan(**{k: v for k, v in SCALES[name].items()})
