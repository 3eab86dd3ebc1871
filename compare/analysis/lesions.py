"""Lesions: is a mechanism used, not just present? Each lesion is applied at evaluation only, to agents
that have the mechanism, and the intact score is judged against the lesioned one, paired by seed: the
mechanism is *used* where the lesion lowers the score (intact better), and has *no effect* only where
the two are equivalent within the plan's margin.

The `untrained` net (the same architecture with its initial weights) is a reference for the
feature-similarity gain, not a lesion; it is left out here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compare import stats
from compare.analysis.common import Context, Verdict, errorbar, subplots
from compare.grid import LESIONS
from compare.rows import index_in, main_rows
from compare.text import fmt_ci, fmt_difference, fmt_p, table

NAME = "lesions"
FIGURES = {"lesions.png": "Lesion effects: intact minus lesioned normalised score, paired by seed, with 95% intervals"}
EFFECT = {"better": "used: the lesion lowers the score", "worse": "the lesion raises the score",
          "equivalent": "no effect within the margin", "inconclusive": "inconclusive"}


@dataclass(frozen=True)
class Lesion:
    intact: stats.Summary
    lesioned: stats.Summary
    verdict: Verdict  # intact against lesioned

    @property
    def effect(self) -> str:
        return EFFECT.get(self.verdict.word, self.verdict.word)


@dataclass(frozen=True)
class Lesions:
    effects: dict  # {(task, condition, agent, lesion): Lesion}

    @property
    def verdicts(self) -> list:
        return [e.verdict for e in self.effects.values()]


def summarise(ctx: Context) -> Lesions:
    intact = {(r["task"], r["condition"], r["agent"], r["seed"]): r["normalized_score"] for r in main_rows(ctx.rows)}
    lesioned: dict = {}
    for r in ctx.rows:
        if r["lesion"] not in ("none", "untrained") and r["passes_as_trained"]:
            key = (r["task"], r["condition"], r["agent"], r["lesion"])
            lesioned.setdefault(key, {})[r["seed"]] = r["normalized_score"]
    effects = {}
    for (task, condition, agent, lesion), seeds in lesioned.items():
        base = {s: intact[(task, condition, agent, s)] for s in seeds if (task, condition, agent, s) in intact}
        if not base:
            continue
        pair = stats.compare_paired(base, seeds, False, margin=ctx.plan.margin)
        verdict = Verdict(NAME, task, condition, agent, f"{lesion} lesion", f"`{agent}` intact against its {lesion} lesion",
                          "normalized_score", pair)
        effects[(task, condition, agent, lesion)] = Lesion(
            stats.summarize([base[s] for s in sorted(base)]), stats.summarize([seeds[s] for s in sorted(base)]),
            verdict)
    order = ctx.plan
    return Lesions(dict(sorted(effects.items(), key=lambda kv: (
        index_in(order.envs, kv[0][0]), index_in(order.agents, kv[0][2]), index_in(order.conditions, kv[0][1]),
        index_in(LESIONS, kv[0][3])))))


def section(data: Lesions, ctx: Context) -> list[str]:
    lines = ["## Lesions", "",
             "A lesion is applied at evaluation only, to agents that have the mechanism: `feedback` fixes every "
             "top-down gain at 1, `goal` shows a wrong cue (a colour present in the field that does not pay), "
             "`plasticity` freezes the Hebbian trace, `what` / `where` hold that stream's gate at 0. The drop is "
             "intact minus lesioned normalised score, paired by seed, judged by a paired t-test (exploratory, "
             "uncorrected p); *no effect* needs the equivalence test within the plan's margin.", ""]
    if not data.effects:
        return lines + ["No lesion cells in this compare.", ""]
    body = [[task, f"`{condition}`", f"`{agent}`", lesion, fmt_ci(e.intact), fmt_ci(e.lesioned),
             fmt_difference(e.verdict.pair.difference), fmt_p(e.verdict.pair.p), e.effect]
            for (task, condition, agent, lesion), e in data.effects.items()]
    return lines + table(["task", "condition", "agent", "lesion", "intact", "lesioned", "drop [95% CI]", "p", "effect"],
                         body)


def draw(plt, data: Lesions, ctx: Context) -> dict:
    if not data.effects:
        return {"lesions.png": "no lesion cells in this compare"}
    plan = ctx.plan
    tasks = [t for t in plan.envs if any(k[0] == t for k in data.effects)]
    figure, axes = subplots(plt, len(tasks), width=6.5)
    palette = {"feedback": "#d62728", "goal": "#1f77b4", "plasticity": "#2ca02c"}
    for ax, task in zip(axes, tasks):
        mine = {k: e for k, e in data.effects.items() if k[0] == task}
        groups = list(dict.fromkeys((k[2], k[1]) for k in mine))
        lesions = [name for name in LESIONS if any(k[3] == name for k in mine)]
        width = 0.8 / len(lesions)
        for i, lesion in enumerate(lesions):
            labelled = False
            for j, (agent, condition) in enumerate(groups):
                effect = mine.get((task, condition, agent, lesion))
                if effect is None:
                    continue
                drop = effect.verdict.pair.difference
                ax.bar(j + (i - (len(lesions) - 1) / 2) * width, drop.mean, width, yerr=np.array([errorbar(drop)]).T,
                       color=palette.get(lesion, "grey"), edgecolor="black", capsize=3,
                       label=None if labelled else lesion)
                labelled = True
        ax.set_xticks(range(len(groups)), [f"{a}\n{c}" for a, c in groups], fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{task}: drop = intact - lesioned")
        ax.set_ylabel("drop in normalised score")
        ax.legend(title="lesion", fontsize=8)
    return {"lesions.png": figure}
