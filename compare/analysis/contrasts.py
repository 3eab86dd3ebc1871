"""Each mechanism against its matched control: the plan's primary contrasts (declared before its runs,
Holm-corrected as one family, each with its prediction and whether it held), every other matched pair
as an exploratory contrast with its uncorrected p, and the power analysis: how many seeds a plan needs,
from the seed-to-seed spread of paired differences in these records.

A contrast is the normalised score of X minus Y over the seeds both have (seed k of both met the same
worlds), judged by `compare.stats.compare_paired`: better, worse, equivalent within the plan's margin,
or inconclusive.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from compare import stats
from compare.analysis.common import Context, Verdict
from compare.grid import Plan
from compare.rows import by_seed
from compare.text import fmt, fmt_difference, fmt_p, table
from compare.variants import format_setting, parse_variant

NAME = "contrasts"
EFFECTS = (0.1, 0.2)  # the differences in normalised score a power analysis plans for

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
    ("dopamine", "recurrent", "a plastic readout layer under the TD-error modulator against none"),
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


def home_condition(plan: Plan, agent: str) -> str:
    """The condition an agent was trained on: its variant's difficulty, else the plan's."""
    return parse_variant(agent).difficulty or plan.train_difficulty


@dataclass(frozen=True)
class Power:
    """The seed-to-seed standard deviation of paired differences in normalised score, pooled over the
    contrasts at hand (`contrasts` of them, `df` degrees of freedom), and the seeds a paired t-test needs
    to detect each of `EFFECTS` with 80% power; `detectable`: the difference the seeds at hand detect so."""

    sd: float
    df: int
    contrasts: int
    seeds_at_hand: int
    needed: dict
    detectable: float


@dataclass(frozen=True)
class Contrasts:
    primary: list  # [Verdict], Holm-adjusted over the family, each with its prediction
    exploratory: list  # [Verdict]: the matched pairs not declared primary, in every condition
    precision: dict  # {(task, condition, x, y): stats.Summary} the paired difference in precision
    power: Optional[Power]

    @property
    def verdicts(self) -> list:
        return self.primary + self.exploratory


def summarise(ctx: Context) -> Contrasts:
    plan, rows = ctx.plan, ctx.rows
    score, precision = by_seed(rows, "normalized_score"), by_seed(rows, "precision")

    def judge(task, condition, x, y, what, prediction=None) -> Optional[Verdict]:
        if (task, condition, x) not in score or (task, condition, y) not in score:
            return None
        pair = stats.compare_paired(score[(task, condition, x)], score[(task, condition, y)], margin=plan.margin)
        return Verdict(NAME, task, condition, x, y, what, "normalized_score", pair, prediction)

    declared = [judge(task, condition, x, y, "declared before the runs", prediction)
                for task, x, y, condition, prediction in plan.primary]
    family = [v for v in declared if v is not None]
    adjusted = stats.holm([v.pair for v in family])
    primary = [dataclasses.replace(v, pair=p) for v, p in zip(family, adjusted)]
    done = {(v.task, v.condition, v.x, v.y) for v in primary}
    exploratory = []
    for x, y, what in matched_pairs(plan):
        for task in plan.envs:
            home = home_condition(plan, x)
            for condition in sorted(plan.conditions, key=lambda c: c != home):  # the training worlds first
                verdict = judge(task, condition, x, y, what)
                if verdict is not None and (task, condition, x, y) not in done:
                    exploratory.append(verdict)
    differences = {(v.task, v.condition, v.x, v.y): stats.compare_paired(
        precision[(v.task, v.condition, v.x)], precision[(v.task, v.condition, v.y)], False).difference
        for v in primary + exploratory}
    return Contrasts(primary, exploratory, differences, _power(score, primary + exploratory))


def _power(score: dict, verdicts: list) -> Optional[Power]:
    """The power analysis from the contrasts' paired differences (one spread pooled over them all)."""
    diffs, seeds = [], 0
    for v in verdicts:
        x, y = score[(v.task, v.condition, v.x)], score[(v.task, v.condition, v.y)]
        diffs.append([x[s] - y[s] for s in sorted(set(x) & set(y))])
        seeds = max(seeds, v.pair.difference.n)
    sd, df = stats.pooled_sd(diffs)
    if not df or sd != sd:
        return None
    needed = {effect: stats.seeds_for_power(effect, sd) for effect in EFFECTS}
    detectable = next((d / 100 for d in range(1, 301) if stats.power(seeds, d / 100, sd) >= stats.POWER), float("inf"))
    return Power(sd, df, len(diffs), seeds, needed, detectable)


def section(data: Contrasts, ctx: Context) -> list[str]:
    plan = ctx.plan
    lines = ["## What we found", "",
             f"Each contrast is X - Y in normalised score over the seeds both have (seed k of both met the same "
             f"worlds), with its 95% Student-t interval, judged by a paired t-test: **better** or **worse** where it "
             f"rejects 0 at 5%, **equivalent** where it does not and a TOST puts the difference within "
             f"+-{fmt(plan.margin)} (the plan's margin), and **inconclusive** where the data cannot tell. "
             f"P(X > Y) is rliable's probability of improvement over every pair of seeds (Agarwal et al. 2021).", ""]
    if plan.calibrated:
        lines += [f"Calibrated before the runs, on too few seeds to be a result: {plan.calibrated}", ""]
    lines += ["### Primary contrasts", ""]
    if not plan.primary:
        lines += ["This plan declared no primary contrasts before its runs, so every verdict in this report is "
                  "**exploratory**: each is stated with its uncorrected p, and the overview at the top gives the "
                  "Holm-corrected p over every contrast the report makes.", ""]
    elif not data.primary:
        lines += ["The plan's primary contrasts have no finished cells yet.", ""]
    else:
        held = sum(bool(v.held) for v in data.primary)
        lines += [f"Declared in the plan before its first run and judged as one family of {len(data.primary)} with "
                  f"Holm's correction (the p beside it is corrected); {held} of {len(data.primary)} came out as "
                  "predicted.", ""]
        lines += table(["task", "condition", "contrast", "predicted", "verdict", "held", "difference [95% CI]",
                        "p (Holm)", "P(X > Y)", "seeds"],
                       [[v.task, f"`{v.condition}`", f"`{v.x}` - `{v.y}`", v.prediction, f"**{v.word}**",
                         "yes" if v.held else "no", fmt_difference(v.pair.difference), fmt_p(v.pair.p_holm),
                         fmt(v.pair.improvement.p), str(v.pair.difference.n)] for v in data.primary])
    lines += ["### Exploratory contrasts", "",
              "Every matched pair (a mechanism against its control) in every condition where both were evaluated; "
              "not declared before the runs, so each p is uncorrected and each verdict a lead, not a result.", ""]
    if data.exploratory:
        lines += table(["task", "condition", "contrast", "what it tests", "verdict", "difference [95% CI]", "p",
                        "P(X > Y)", "precision difference", "seeds"],
                       [[v.task, f"`{v.condition}`", f"`{v.x}` - `{v.y}`", v.what, v.word,
                         fmt_difference(v.pair.difference), fmt_p(v.pair.p), fmt(v.pair.improvement.p),
                         fmt_difference(data.precision[(v.task, v.condition, v.x, v.y)]), str(v.pair.difference.n)]
                        for v in data.exploratory])
    else:
        lines += ["No (mechanism, matched control) pair was evaluated together in this compare.", ""]
    return lines + power_lines(data.power)


def power_lines(power: Optional[Power]) -> list[str]:
    lines = ["### Power", ""]
    if power is None:
        return lines + ["No contrast with two or more seeds: no spread to plan with.", ""]
    needed = ", ".join(f"{n if n <= 1000 else '> 1000'} seeds to detect {fmt(e)}" for e, n in power.needed.items())
    return lines + [
        f"The seed-to-seed standard deviation of paired differences in normalised score is {fmt(power.sd, 3)} "
        f"(pooled over {power.contrasts} contrasts, {power.df} degrees of freedom). A paired t-test at 5% needs "
        f"{needed} with 80% power; at the {power.seeds_at_hand} seeds here it detects {fmt(power.detectable)} with "
        "80% power. A family of primary contrasts under Holm's correction needs more.", ""]

