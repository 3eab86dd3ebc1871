"""The sections of results.md that judge: "What we found" (each mechanism against its matched
control, by paired differences and the probability of improvement), whether the gain from passes is
larger in hard worlds than in clean ones, whether an agent's gains follow the cued colour's tuning
beyond an untrained net's, sample efficiency from the training curves, and the
reversal curve; and the formatting every section shares.

A verdict compares agent X with agent Y on one task and condition over the seeds both have: seed
k of each met the same worlds, so the paired difference x_k - y_k and its 95% bootstrap CI decide
(`compare.stats.Paired`): better or worse where the CI excludes 0, no difference where it does not.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Optional

from compare import stats
from compare.grid import Plan
from compare.tables import (THRESHOLDS, by_seed, censored_median, cue_turn, efficiency_rows, feature_rows, pass_rows,
                            reversal_curves, win_stay_rows)
from compare.variants import format_setting, parse_variant

# (X, its matched control Y, what the pair tests), on every task where both were trained.
MATCHED = (
    ("feedback", "feedforward", "top-down goal-driven gain against the feedforward controller (goal after the trunk)"),
    ("feedback@hard", "feedback", "trained on hard worlds against trained on easy ones, tested on hard"),
    ("feedback", "early", "multiplicative top-down gain against additive early fusion of the goal"),
    ("feedback", "recurrent", "top-down gain against late fusion (goal after the trunk)"),
    ("early", "recurrent", "early fusion (goal planes at conv1) against late fusion"),
    ("feedback_T3", "feedback", "three feedback passes against one, each trained at its T"),
    ("feedback_T3@hard", "feedback@hard", "three passes against one, trained and tested on hard worlds"),
    ("whatwhere", "recurrent", "what/where streams with top-down gates against none"),
    ("dopamine", "recurrent", "dopamine-modulated plasticity against none"),
    ("full", "recurrent", "every mechanism against none"),
    ("feedforward", "recurrent", "no memory against a GRU core"),
)


def matched_pairs(plan: Plan) -> list[tuple[str, str, str]]:
    """The (X, Y, what) pairs judged in this plan: MATCHED, also between variants with the same settings
    (`feedback+taste=True` against `feedforward+taste=True`), and every variant with agent settings
    against the same preset without them in the same worlds (`feedback+plastic=True` against
    `feedback`). Agents trained in other worlds are evaluated in other worlds, so they are not paired."""
    variants = {a: parse_variant(a) for a in plan.agents}
    suffixes = sorted({(v.agent, v.world) for v in variants.values()})
    pairs = []
    for x, y, what in MATCHED:
        for agent, world in suffixes:
            with_settings = [dataclasses.replace(parse_variant(n), agent=agent, world=world).name for n in (x, y)]
            if all(n in variants for n in with_settings):
                pairs.append((*with_settings, what))
    for name, v in variants.items():  # its agent settings against none, in the same worlds (paired)
        base = dataclasses.replace(v, agent=()).name
        if v.agent and base in variants:
            settings = ", ".join(f"{k}={format_setting(value)}" for k, value in v.agent)
            pairs.append((name, base, f"{settings} against the preset's own agent"))
    return list(dict.fromkeys(pairs))


# --- formatting ------------------------------------------------------------------------------


def fmt(value: Optional[float], digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def fmt_ci(s: stats.Summary, digits: int = 2) -> str:
    if math.isnan(s.mean):
        return "n/a"
    if math.isnan(s.low):
        return f"{fmt(s.mean, digits)} (n={s.n}, no CI)"
    return f"{fmt(s.mean, digits)} [{fmt(s.low, digits)}, {fmt(s.high, digits)}]"


def table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines + [""]


def fmt_difference(d: stats.Summary, digits: int = 2) -> str:
    """'+0.31 [0.12, 0.50]': a paired difference with its CI."""
    return "n/a" if math.isnan(d.mean) else f"{d.mean:+.{digits}f}" + (
        "" if math.isnan(d.low) else f" [{d.low:+.{digits}f}, {d.high:+.{digits}f}]")


def fmt_improvement(x: str, y: str, p: stats.Improvement) -> str:
    ci = "" if math.isnan(p.low) else f" [{p.low:.2f}, {p.high:.2f}]"
    return f"P(`{x}` > `{y}`) = {fmt(p.p)}{ci}"


def fmt_steps(steps: float, censored: bool = False) -> str:
    """'0.45M', '12k', '>1.00M' (censored: not reached within the run's `steps`)."""
    if math.isnan(steps):
        return "n/a"
    return (">" if censored else "") + (f"{steps / 1e6:.2f}M" if steps >= 1e5 else f"{steps / 1e3:.0f}k")


# --- what we found ---------------------------------------------------------------------------


def home_condition(plan: Plan, agent: str) -> str:
    """The condition an agent was trained on: its variant's difficulty, else the plan's."""
    return parse_variant(agent).difficulty or plan.train_difficulty


def what_we_found(plan: Plan, rows: list[dict]) -> list[str]:
    """One finding per matched pair present in the data: at the training difficulty, which is better
    and by how much; then in which conditions the two differ and in how many they do not."""
    score, precision = by_seed(rows, "normalized_score"), by_seed(rows, "precision")
    lines = ["## What we found", "",
             "Each mechanism against its matched control, on each task where both were trained. The paired "
             "difference is X - Y over seeds (seed k of both met the same worlds) with its 95% bootstrap CI; X is "
             "called better or worse only where that CI excludes 0, and only with at least "
             f"{stats.MIN_SEEDS} seeds. P(X > Y) is rliable's probability of improvement (Agarwal et al. 2021) "
             "over every pair of seeds, with its bootstrap CI.", ""]
    found = 0
    for x, y, what in matched_pairs(plan):
        for task in plan.envs:
            home = home_condition(plan, x)
            # where the training difficulty is not evaluated (a plan of named worlds), the plan's first condition
            judged = next((c for c in (home, *plan.conditions) if (task, c, x) in score and (task, c, y) in score), None)
            if judged is None:
                continue
            found += 1
            pair = stats.compare_paired(score[(task, judged, x)], score[(task, judged, y)])
            prec = stats.compare_paired(precision[(task, judged, x)], precision[(task, judged, y)], False).difference
            verdict = pair.verdict
            head = (f"`{x}` is **{verdict}** than `{y}`" if verdict in ("better", "worse") else
                    f"`{x}` and `{y}` show **{verdict}**")
            lines.append(f"- **{task}, `{judged}` worlds{' (as trained)' if judged == home else ''}, {what}:** {head}: "
                         f"normalised score {fmt_difference(pair.difference)} (n = {pair.difference.n} seeds), "
                         f"{fmt_improvement(x, y, pair.improvement)}; precision {fmt_difference(prec)}. "
                         + _elsewhere(score, task, x, y, plan, judged))
    for gain in passes_gains(plan, rows):
        if gain.trained and gain.metric == "normalized_score":
            found += 1
            lines.append(f"- **{_spoerer_heading(gain)}:** {gain.sentence()}")
    for gain in feature_gains(plan, rows):
        found += 1
        lines.append(f"- **{gain.task}, `{gain.condition}` worlds, feature-similarity gain of `{gain.agent}` "
                     f"(Treue & Martinez-Trujillo 1999):** {gain.sentence()}")
    if not found:
        lines.append("- No (mechanism, matched control) pair was trained on one task in this compare; the tables "
                     "below compare each agent with its task's control.")
    return lines + [""]


def _elsewhere(score: dict, task: str, x: str, y: str, plan: Plan, home: str) -> str:
    """'In the other K conditions: better in `a`; worse in `b`; no difference in N.'"""
    verdicts: dict[str, list[str]] = {}
    for condition in plan.conditions:
        if condition != home and (task, condition, x) in score and (task, condition, y) in score:
            pair = stats.compare_paired(score[(task, condition, x)], score[(task, condition, y)], False)
            verdicts.setdefault(pair.verdict, []).append(condition)
    if not verdicts:
        return ""
    total = sum(len(v) for v in verdicts.values())
    named = [f"{v} in {', '.join(f'`{c}`' for c in cs)}" for v, cs in verdicts.items() if v in ("better", "worse")]
    quiet = [f"{v} in {len(cs)}" for v, cs in verdicts.items() if v not in ("better", "worse")]
    return f"Other conditions ({total}): {'; '.join(named + quiet)}."


def control_of(plan: Plan, task: str) -> str:
    """The agent every other is compared with in a task's table: recurrent where trained, else the first."""
    trained = [a for t, a in plan.pairs() if t == task]
    return "recurrent" if "recurrent" in trained else (trained or plan.agents)[0]


def versus(score: dict, task: str, condition: str, agent: str, control: str) -> str:
    """A task table's verdict cell: the agent against the control over paired seeds."""
    if agent == control:
        return "(control)"
    if (task, condition, control) not in score:
        return "n/a"
    pair = stats.compare_paired(score[(task, condition, agent)], score[(task, condition, control)], False)
    return f"{pair.verdict}: {fmt_difference(pair.difference)}"


# --- passes: is their gain larger where the worlds are hard? --------------------------------------

REFERENCE_WORLDS = ("clean", "easy")  # the worlds a gain from passes elsewhere is measured against, first found


@dataclasses.dataclass(frozen=True)
class PassesGain:
    """A gain from passes (`what`: more passes minus fewer, per seed) in `condition` against the same gain in
    `reference` worlds, paired by seed: Spoerer et al. 2017 predict a larger gain under occlusion and noise."""

    task: str
    what: str
    trained: bool  # two agents, each trained and evaluated at its own T; else one agent evaluated at two T
    metric: str
    condition: str
    reference: str
    here: stats.Summary
    at_reference: stats.Summary
    pair: stats.Paired  # (gain here) - (gain in the reference worlds)

    def sentence(self) -> str:
        verdict = {"better": f"**larger** under `{self.condition}`", "worse": f"**smaller** under `{self.condition}`",
                   "no difference": "**no different**"}.get(self.pair.verdict, f"not judged, {self.pair.verdict}")
        measure = "normalised score" if self.metric == "normalized_score" else self.metric
        return (f"{self.what}, in {measure}: {fmt_difference(self.here)} in `{self.condition}` worlds, "
                f"{fmt_difference(self.at_reference)} in `{self.reference}` ones; the gain is {verdict}: "
                f"{fmt_difference(self.pair.difference)} (paired, n = {self.pair.difference.n} seeds).")


def _spoerer_heading(gain: PassesGain) -> str:
    return f"{gain.task}, passes under `{gain.condition}` against `{gain.reference}` (Spoerer et al. 2017)"


def passes_gains(plan: Plan, rows: list[dict]) -> list[PassesGain]:
    """The gain from passes in each T-sweep condition against the reference worlds, in normalised score and
    precision: between agents trained at more and at fewer passes (a matched pair differing only in T), and
    within each swept agent from its lowest to its highest evaluated T."""
    reference = next((c for c in REFERENCE_WORLDS if c in plan.passes_conditions), None)
    if reference is None:
        return []
    others = [c for c in plan.passes_conditions if c != reference]
    gains = []
    for metric in ("normalized_score", "precision"):
        trained = by_seed(rows, metric)
        for x, y, _ in matched_pairs(plan):
            vx, vy = parse_variant(x), parse_variant(y)
            if vx.passes == vy.passes or dataclasses.replace(vx, passes=None) != dataclasses.replace(vy, passes=None):
                continue
            for task in plan.envs:
                gains += _gains(task, f"`{x}` minus `{y}`, each trained and evaluated at its own T", True, metric,
                                reference, others, lambda c: _minus(trained.get((task, c, x)), trained.get((task, c, y))))
        swept: dict[tuple, dict[int, float]] = defaultdict(dict)
        for r in pass_rows(rows, plan):
            swept[(r["task"], r["agent"], r["condition"], r["passes"])][r["seed"]] = float(r[metric])
        for task, agent in sorted({key[:2] for key in swept}):
            ts = sorted({key[3] for key in swept if key[:2] == (task, agent)})
            low, high = ts[0], ts[-1]
            gains += _gains(task, f"`{agent}` evaluated at T = {high} minus T = {low}", False, metric, reference, others,
                            lambda c: _minus(swept.get((task, agent, c, high)), swept.get((task, agent, c, low))))
    return gains


def _minus(x: Optional[dict], y: Optional[dict]) -> Optional[dict]:
    """{seed: x - y} over the seeds both have; None where either is missing."""
    return None if not x or not y else {s: x[s] - y[s] for s in sorted(set(x) & set(y))} or None


def _gains(task, what, trained, metric, reference, others, gain_in) -> list[PassesGain]:
    at_reference = gain_in(reference)
    out = []
    for condition in others:
        here = gain_in(condition)
        if here and at_reference:
            out.append(PassesGain(task, what, trained, metric, condition, reference, stats.summarize(list(here.values())),
                                  stats.summarize(list(at_reference.values())),
                                  stats.compare_paired(here, at_reference, False)))
    return out


# --- feature attention: do the gains follow the cued colour's tuning? ------------------------------

CUE_SWITCH = "cue_change"  # the condition whose cue switches halfway (`compare.measures`, fs_rho_after*)


@dataclasses.dataclass(frozen=True)
class FeatureGain:
    """One agent's feature-similarity gain (`compare.measures`: rho over channels between the cue-centred gain and
    the colour-centred tuning) over seeds, against the untrained net of the same seeds (its gains depend on the cue
    too, through the goal template), and whether it turns with a mid-episode cue switch (`tables.cue_turn`: > 0
    where the gains follow the new cue, < 0 where they keep the old one), against 0 and, where the untrained net
    was switched too, against its turn: a net whose gains read the cue turns with it untrained."""

    task: str
    agent: str
    condition: str
    rho: stats.Summary
    above: int  # seeds whose channel-shuffle p < 0.05: rho above the shuffle null
    below: int  # seeds whose p > 0.95: rho below it
    untrained: stats.Summary  # the untrained nets' rho over the same seeds
    over_untrained: stats.Paired  # trained rho - untrained rho, paired by seed
    turn: Optional[stats.Paired]  # the turn (class doc) against 0, paired by seed
    untrained_turn: Optional[stats.Summary] = None  # the untrained nets' turn over the same seeds
    turn_over_untrained: Optional[stats.Paired] = None  # trained turn - untrained turn, paired by seed

    @property
    def verdict(self) -> str:
        versus = self.over_untrained.verdict
        if versus not in ("better", "worse", "no difference"):
            return f"not judged, {versus}"
        if versus == "no difference":
            return "**no feature-similarity signature** beyond the untrained net's"
        if self.rho.excludes_zero() and (self.rho.mean > 0) == (versus == "better"):
            return ("its gains **follow the cued colour's tuning**" if versus == "better" else
                    "its gains **run against the cued colour's tuning**: they damp the channels that prefer it")
        return "**no feature-similarity signature**: different from the untrained net's, but not from 0"

    def sentence(self) -> str:
        text = (f"rho {fmt_ci(self.rho, 3)} (seeds against the channel-shuffle null: {self.above}/{self.rho.n} "
                f"above it, {self.below}/{self.rho.n} below it, at p < 0.05); the untrained net's "
                f"{fmt_ci(self.untrained, 3)}, and trained minus untrained, paired by seed, "
                f"{fmt_difference(self.over_untrained.difference, 3)}: {self.verdict}.")
        if self.turn is not None:
            turned = {"better": "the gains **turn with the cue**", "worse": "the gains **keep the old cue**",
                      "no difference": "**no turn** detected"}.get(self.turn.verdict, f"not judged, {self.turn.verdict}")
            text += (f" After a mid-episode cue switch (`{CUE_SWITCH}`), rho toward the new cue minus toward the old "
                     f"one, signed as rho before the switch: {fmt_difference(self.turn.difference, 3)}, {turned}")
            if self.turn_over_untrained is None:
                return text + "."
            versus = {"better": "training made them turn **more**", "worse": "they turn **less** than untrained",
                      "no difference": "**no more than untrained**: the turn comes with the architecture, whose "
                                       "gains read the cue through the goal template"
                      }.get(self.turn_over_untrained.verdict, f"not judged, {self.turn_over_untrained.verdict}")
            text += (f"; the untrained net's turn {fmt_ci(self.untrained_turn, 3)}, and trained minus untrained "
                     f"{fmt_difference(self.turn_over_untrained.difference, 3)}: {versus}.")
        return text


def feature_gains(plan: Plan, rows: list[dict]) -> list[FeatureGain]:
    """Each agent's feature-similarity gain in the worlds it was trained on (else the first condition with its
    untrained net), against that net, with its cue-switch turn where the rows hold one. Agents measured with no
    untrained net are left to the table: without it, rho has no reference."""
    values: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for r in feature_rows(rows):
        values[(r["task"], r["agent"], r["condition"], r["lesion"])][r["seed"]] = r
    out = []
    for task, agent in dict.fromkeys((t, a) for t, a, _, lesion in values if lesion == "none"):
        home = home_condition(plan, agent)
        condition = next((c for c in (home, *plan.conditions)
                          if (task, agent, c, "none") in values and (task, agent, c, "untrained") in values), None)
        if condition is None:
            continue
        intact, untrained = values[(task, agent, condition, "none")], values[(task, agent, condition, "untrained")]
        turn, untrained_turn = ({s: t for s, r in values.get((task, agent, CUE_SWITCH, lesion), {}).items()
                                 for t in [cue_turn(r)] if not math.isnan(t)} for lesion in ("none", "untrained"))
        untrained_turn = {s: t for s, t in untrained_turn.items() if s in turn}
        rho = {s: r["fs_rho"] for s, r in intact.items()}
        reference = {s: r["fs_rho"] for s, r in untrained.items() if s in rho}
        out.append(FeatureGain(
            task, agent, condition, stats.summarize([rho[s] for s in sorted(rho)]),
            sum(r["fs_p"] < 0.05 for r in intact.values()), sum(r["fs_p"] > 0.95 for r in intact.values()),
            stats.summarize([reference[s] for s in sorted(reference)]),
            stats.compare_paired(rho, reference, False),
            stats.compare_paired(turn, dict.fromkeys(turn, 0.0), False) if turn else None,
            stats.summarize([untrained_turn[s] for s in sorted(untrained_turn)]) if untrained_turn else None,
            stats.compare_paired(turn, untrained_turn, False) if untrained_turn else None))
    return out


# --- sample efficiency -----------------------------------------------------------------------


def efficiency(out: str, plan: Plan, trained: dict) -> list[str]:
    levels = " and ".join(f"{name.replace('normalized_score', 'normalised score')} {level}" for name, level in THRESHOLDS)
    lines = ["## Sample efficiency", "",
             f"Env steps until the training curve first reaches {levels} (the true-reward curves the trainer logs "
             "to TensorBoard, one point per ~50k steps, each the mean over the episodes that ended since the last; "
             "a run trained with `--colour-prior-ramp` counts only episodes after its ramp, in the task's own worlds). "
             "A run that never gets there is censored at its length: `>N`. The median over seeds is `>N` where at "
             "least half never got there.", ""]
    rows = efficiency_rows(out, plan, trained)
    if not rows:
        return lines + ["No training run logged a learning curve.", ""]
    for task in plan.envs:
        body = []
        for agent in plan.agents:
            mine = sorted((r for r in rows if (r["task"], r["agent"]) == (task, agent)), key=lambda r: r["seed"])
            if not mine:
                continue
            cells = [f"`{agent}`", str(len(mine))]
            for name, _ in THRESHOLDS:
                values = [r[name] for r in mine]
                known = [v for v in values if v is None or not math.isnan(v)]
                run = max(r["run_steps"] for r in mine)
                median, censored = censored_median(values, run)
                cells += [f"{sum(v is not None for v in known)}/{len(known)}", fmt_steps(median, censored),
                          ", ".join(fmt_steps(r["run_steps"], True) if r[name] is None else fmt_steps(r[name])
                                    for r in mine)]
            body.append(cells)
        if body:
            header = ["agent", "seeds"]
            for name, level in THRESHOLDS:
                label = f"{name.replace('normalized_score', 'score')} {level}"
                header += [f"reached {label}", f"median steps to {label}", "per seed"]
            lines += [f"### {task}", ""] + table(header, body)
    return lines


# --- the reversal curve ----------------------------------------------------------------------


def reversal_conditions(plan: Plan) -> tuple[str, ...]:
    """Where the reversal curve and win-stay / lose-shift are read: ReversalBerry agents at their training
    difficulty and in its harder forms (`switches`, `no_taste`), the others in the `reversal` condition."""
    return (plan.train_difficulty, "switches", "no_taste", "reversal")


def reversal(plan: Plan, rows: list[dict]) -> list[str]:
    """The reversal-curve section with win-stay / lose-shift under it; nothing where no row holds either
    (worlds whose colour never switches, `reversal_rate=0`, have win-stay / lose-shift alone)."""
    curves = reversal_curves(rows, reversal_conditions(plan))
    if not curves:
        win_stay = _win_stay(plan, rows)
        return ["## Win-stay / lose-shift", ""] + win_stay if win_stay else []
    bins = sorted({b for curve in curves.values() for b in curve})
    body = [[task, f"`{condition}`", f"`{agent}`"] + [fmt_ci(stats.summarize(curve[b])) if b in curve else "-"
                                                       for b in bins]
            for (task, condition, agent), curve in curves.items()]
    step = bins[1] - bins[0] if len(bins) > 1 else 0
    header = ["task", "condition", "agent"] + [f"{b}-{b + step - 1}" if b != bins[-1] else f">= {b}" for b in bins]
    return ["## Reversal curve", "",
            "Precision (targets / berries eaten) against the steps since the paying colour last switched, mean "
            "over seeds with 95% CIs, on ReversalBerry worlds. An agent that re-learns the colour within an "
            "episode climbs back after each switch; berries eaten before an episode's first switch are left out.",
            ""] + table(header, body) + _win_stay(plan, rows)


def _win_stay(plan: Plan, rows: list[dict]) -> list[str]:
    """Win-stay / lose-shift: does the last berry's reward steer the colour of the next?"""
    pairs = win_stay_rows(rows, reversal_conditions(plan))
    if not pairs:
        return []
    body = []
    for (task, condition, agent), seeds in pairs.items():
        win, loss = [w for w, _ in seeds], [lo for _, lo in seeds]
        body.append([task, f"`{condition}`", f"`{agent}`", fmt_ci(stats.summarize(win)), fmt_ci(stats.summarize(loss)),
                     fmt_difference(stats.summarize([w - lo for w, lo in seeds]))])
    return ["Does reward steer the next choice? After eating a berry of one colour of the pair, the chance that "
            "the next berry eaten is the same colour, after one that paid (win) and after one that cost (loss); "
            "mean over seeds with 95% CIs, and the paired difference. An agent that infers the paying colour from "
            "its rewards stays after a win and shifts after a loss (a difference near +1); one that eats whatever "
            "is near stays at the same rate either way (near 0).", ""] + table(
        ["task", "condition", "agent", "P(stay after win)", "P(stay after loss)", "win - loss"], body)
