"""Iterative processing: accuracy against the number of feedback passes T, and whether the gain from
passes is larger in hard worlds than in clean ones (Spoerer et al. 2017 predict a larger gain under
occlusion and noise), between agents trained at more and fewer passes, and within each agent evaluated
at other T without retraining. Every gain is per seed, and its difference between worlds is paired by
seed."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

from compare import stats
from compare.analysis.common import Context, Verdict, draw_summaries, label, subplots
from compare.analysis.contrasts import matched_pairs
from compare.rows import by_seed, index_in
from compare.text import fmt, fmt_ci, fmt_difference, fmt_p, table
from compare.variants import parse_variant

NAME = "passes"
FIGURES = {"passes.png": "Accuracy (precision) against the number of feedback passes T, per condition"}
REFERENCE_WORLDS = ("clean", "easy")  # the worlds a gain from passes elsewhere is measured against, first found
GAIN_WORDS = {"better": "larger", "worse": "smaller", "equivalent": "the same within the margin",
              "inconclusive": "inconclusive"}


def pass_rows(rows: list[dict], plan) -> list[dict]:
    """Intact rows, in the T sweep's conditions, of the (task, agent) pairs evaluated at other T."""
    swept = {(r["task"], r["agent"]) for r in rows if not r["passes_as_trained"]}
    return [r for r in rows if r["lesion"] == "none" and (r["task"], r["agent"]) in swept
            and r["condition"] in plan.passes_conditions]


@dataclass(frozen=True)
class PassesGain:
    """A gain from passes (`what`: more passes minus fewer, per seed) in `condition` against the same gain in
    `reference` worlds, paired by seed."""

    task: str
    what: str
    trained: bool  # two agents, each trained and evaluated at its own T; else one agent evaluated at two T
    metric: str
    condition: str
    reference: str
    here: stats.Summary
    at_reference: stats.Summary
    verdict: Verdict  # (gain here) - (gain in the reference worlds)

    @property
    def word(self) -> str:
        return GAIN_WORDS.get(self.verdict.word, self.verdict.word)


@dataclass(frozen=True)
class Passes:
    table: dict  # {(task, agent, condition, T): (precision Summary, score Summary)}
    gains: list  # [PassesGain]
    reference: Optional[str]

    @property
    def verdicts(self) -> list:
        return [g.verdict for g in self.gains]


def summarise(ctx: Context) -> Passes:
    plan, swept_rows = ctx.plan, pass_rows(ctx.rows, ctx.plan)
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for r in swept_rows:
        grouped[(r["task"], r["agent"], r["condition"], r["passes"])].append(r)
    summaries = {key: (stats.summarize([r["precision"] for r in members]),
                       stats.summarize([r["normalized_score"] for r in members]))
                 for key, members in sorted(grouped.items(), key=lambda kv: (
                     index_in(plan.envs, kv[0][0]), index_in(plan.agents, kv[0][1]),
                     index_in(plan.conditions, kv[0][2]), kv[0][3]))}
    reference = next((c for c in REFERENCE_WORLDS if c in plan.passes_conditions), None)
    return Passes(summaries, _gains(ctx, reference) if reference else [], reference)


def _gains(ctx: Context, reference: str) -> list[PassesGain]:
    plan = ctx.plan
    others = [c for c in plan.passes_conditions if c != reference]
    gains = []
    for metric in ("normalized_score", "precision"):
        trained = by_seed(ctx.rows, metric)
        for x, y, _ in matched_pairs(plan):
            vx, vy = parse_variant(x), parse_variant(y)
            if vx.passes == vy.passes or dataclasses.replace(vx, passes=None) != dataclasses.replace(vy, passes=None):
                continue
            for task in plan.envs:
                gains += _judge(ctx, task, f"`{x}` minus `{y}`, each trained and evaluated at its own T", True, metric,
                                reference, others, lambda c: _minus(trained.get((task, c, x)), trained.get((task, c, y))))
        swept: dict[tuple, dict[int, float]] = defaultdict(dict)
        for r in pass_rows(ctx.rows, plan):
            swept[(r["task"], r["agent"], r["condition"], r["passes"])][r["seed"]] = float(r[metric])
        for task, agent in sorted({key[:2] for key in swept}):
            ts = sorted({key[3] for key in swept if key[:2] == (task, agent)})
            low, high = ts[0], ts[-1]
            gains += _judge(ctx, task, f"`{agent}` evaluated at T = {high} minus T = {low}", False, metric, reference,
                            others, lambda c: _minus(swept.get((task, agent, c, high)), swept.get((task, agent, c, low))))
    return gains


def _minus(x: Optional[dict], y: Optional[dict]) -> Optional[dict]:
    """{seed: x - y} over the seeds both have; None where either is missing."""
    return None if not x or not y else {s: x[s] - y[s] for s in sorted(set(x) & set(y))} or None


def _judge(ctx: Context, task, what, trained, metric, reference, others, gain_in) -> list[PassesGain]:
    at_reference = gain_in(reference)
    out = []
    for condition in others:
        here = gain_in(condition)
        if here and at_reference:
            pair = stats.compare_paired(here, at_reference, False, margin=ctx.plan.margin)
            verdict = Verdict(NAME, task, condition, f"{what}: the gain in `{condition}`", f"the gain in `{reference}`",
                              what, metric, pair)
            out.append(PassesGain(task, what, trained, metric, condition, reference,
                                  stats.summarize(list(here.values())), stats.summarize(list(at_reference.values())),
                                  verdict))
    return out


def section(data: Passes, ctx: Context) -> list[str]:
    lines = ["## Accuracy against the number of feedback passes T", "",
             "Precision (targets / berries eaten) of agents with feedback, evaluated with T passes per step. "
             "Each agent was trained at its preset's T, or at k where its name ends in `_Tk` (so `feedback_T3` "
             "is trained at T = 3); other T are evaluated without retraining.", ""]
    if not data.table:
        return lines + ["No T sweep in this compare (it needs an agent with feedback).", ""]
    ts = sorted({k[3] for k in data.table})
    keys = list(dict.fromkeys(k[:3] for k in data.table))
    body = [[t, f"`{a}`", f"`{c}`"] + [f"{fmt_ci(data.table[(t, a, c, p)][0])}; score {fmt(data.table[(t, a, c, p)][1].mean)}"
                                       if (t, a, c, p) in data.table else "-" for p in ts] for t, a, c in keys]
    lines += table(["task", "agent", "condition"] + [f"T = {p}" for p in ts], body)
    if data.gains:
        lines += [f"Is the gain from passes larger where the worlds are hard (Spoerer et al. 2017)? Each gain is per "
                  f"seed, more passes minus fewer in the same worlds, and its difference from the gain in "
                  f"`{data.reference}` worlds is paired by seed (exploratory, uncorrected p).", ""]
        lines += table(["task", "gain", "measure", "in", "gain there", f"gain in `{data.reference}`",
                        "difference [95% CI]", "p", "the gain is"],
                       [[g.task, g.what, "normalised score" if g.metric == "normalized_score" else g.metric,
                         f"`{g.condition}`", fmt_difference(g.here), fmt_difference(g.at_reference),
                         fmt_difference(g.verdict.pair.difference), fmt_p(g.verdict.pair.p), g.word]
                        for g in data.gains])
    return lines


def draw(plt, data: Passes, ctx: Context) -> dict:
    if not data.table:
        return {"passes.png": "no T sweep in this compare (it needs an agent with feedback)"}
    tasks = [t for t in ctx.plan.envs if any(k[0] == t for k in data.table)]
    figure, axes = subplots(plt, len(tasks))
    styles = ["o-", "s--", "^:", "d-."]
    for ax, task in zip(axes, tasks):
        lines = list(dict.fromkeys(k[1:3] for k in data.table if k[0] == task))
        for i, (agent, condition) in enumerate(lines):
            points = sorted((k[3], s[0]) for k, s in data.table.items() if k[:3] == (task, agent, condition))
            draw_summaries(ax, [p for p, _ in points], [s for _, s in points], fmt=styles[i % len(styles)],
                           label=f"{agent}, {condition}")
        label(ax, "feedback passes T", "precision (targets / eaten)", task)
        ax.set_xticks(sorted({k[3] for k in data.table if k[0] == task}))  # T is an integer
    return {"passes.png": figure}

