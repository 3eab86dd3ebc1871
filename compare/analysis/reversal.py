"""Reversal: the precision against the steps since the paying colour last switched (does an agent
re-learn the colour within an episode?), and win-stay / lose-shift (does the last berry's reward steer
the colour of the next?), on ReversalBerry worlds (`compare.measures.ReversalCurve`)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

from compare import stats
from compare.analysis.common import Context, draw_summaries, label, task_panels
from compare.rows import main_rows
from compare.text import fmt_ci, fmt_difference, table

NAME = "reversal"
FIGURES = {"reversal_curve.png": "Reversal curve: precision against steps since the paying colour last switched, "
                                 "mean over seeds with 95% intervals"}
_REVERSAL = re.compile(r"^reversal_precision_(\d+)$")


def reversal_conditions(plan) -> tuple[str, ...]:
    """Where the reversal curve and win-stay / lose-shift are read: ReversalBerry agents at their training
    difficulty and in its harder forms (`switches`, `no_taste`), the others in the `reversal` condition."""
    return (plan.train_difficulty, "switches", "no_taste", "reversal")


@dataclass(frozen=True)
class Reversal:
    curves: dict  # {(task, condition, agent): {bin start: Summary}}
    win_stay: dict  # {(task, condition, agent): (P(stay | win), P(stay | loss), win - loss) Summaries}

    @property
    def verdicts(self) -> list:
        return []


def summarise(ctx: Context) -> Reversal:
    conditions = reversal_conditions(ctx.plan)
    curves: dict = defaultdict(lambda: defaultdict(list))
    pairs: dict = defaultdict(list)
    for r in main_rows(ctx.rows):
        if r["condition"] not in conditions:
            continue
        key = (r["task"], r["condition"], r["agent"])
        for name, value in r.items():
            match = _REVERSAL.match(name)
            if match and not math.isnan(float(value)):
                curves[key][int(match[1])].append(float(value))
        win, loss = r.get("stay_after_win", math.nan), r.get("stay_after_loss", math.nan)
        if not (math.isnan(float(win)) or math.isnan(float(loss))):  # cells from before the measure have neither
            pairs[key].append((float(win), float(loss)))
    return Reversal(
        {k: {b: stats.summarize(v) for b, v in sorted(c.items())} for k, c in curves.items()},
        {k: (stats.summarize([w for w, _ in p]), stats.summarize([lo for _, lo in p]),
             stats.summarize([w - lo for w, lo in p])) for k, p in pairs.items()})


def section(data: Reversal, ctx: Context) -> list[str]:
    """The reversal-curve section with win-stay / lose-shift under it; nothing where no row holds either
    (worlds whose colour never switches have win-stay / lose-shift alone)."""
    lines = []
    if data.curves:
        bins = sorted({b for curve in data.curves.values() for b in curve})
        step = bins[1] - bins[0] if len(bins) > 1 else 0
        header = ["task", "condition", "agent"] + [f"{b}-{b + step - 1}" if b != bins[-1] else f">= {b}" for b in bins]
        body = [[t, f"`{c}`", f"`{a}`"] + [fmt_ci(curve[b]) if b in curve else "-" for b in bins]
                for (t, c, a), curve in data.curves.items()]
        lines += ["## Reversal curve", "",
                  "Precision (targets / berries eaten) against the steps since the paying colour last switched, mean "
                  "over seeds with 95% intervals, on ReversalBerry worlds. An agent that re-learns the colour within "
                  "an episode climbs back after each switch; berries eaten before an episode's first switch are left "
                  "out.", ""] + table(header, body)
    if data.win_stay:
        if not data.curves:
            lines += ["## Win-stay / lose-shift", ""]
        body = [[t, f"`{c}`", f"`{a}`", fmt_ci(win), fmt_ci(loss), fmt_difference(diff)]
                for (t, c, a), (win, loss, diff) in data.win_stay.items()]
        lines += ["Does reward steer the next choice? After eating a berry of one colour of the pair, the chance that "
                  "the next berry eaten is the same colour, after one that paid (win) and after one that cost "
                  "(loss); mean over seeds with 95% intervals, and the paired difference. An agent that infers the "
                  "paying colour from its rewards stays after a win and shifts after a loss (a difference near +1); "
                  "one that eats whatever is near stays at the same rate either way (near 0).", ""] + table(
            ["task", "condition", "agent", "P(stay after win)", "P(stay after loss)", "win - loss"], body)
    return lines


def draw(plt, data: Reversal, ctx: Context) -> dict:
    if not data.curves:
        return {"reversal_curve.png": "no reversal curve in the evaluation (it needs ReversalBerry worlds and an "
                                      "evaluator that measures it)"}
    figure, panels, palette = task_panels(plt, ctx.plan, data.curves)
    for ax, task in panels:
        for (t, condition, agent), curve in data.curves.items():
            if t == task:
                draw_summaries(ax, list(curve), list(curve.values()), fmt="o-", color=palette.get(agent),
                               label=f"{agent} ({condition})")
        label(ax, "steps since the last switch (bin start)", "precision (targets / eaten)", task)
    return {"reversal_curve.png": figure}
