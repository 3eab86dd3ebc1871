"""What every analysis shares: the context it reads (`Context`), a judged contrast as data
(`Verdict`), and the drawing helpers of its figures."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from compare import stats
from compare.grid import Plan


@dataclass(frozen=True)
class Context:
    """What a report is made from: the plan, the rows (`compare.rows.build_rows`), the train records
    (learning curves included) and a person's play records (`compare.references.stored_play_records`).
    Nothing here opens an event file."""

    plan: Plan
    rows: list
    trained: dict
    human: tuple = ()


@dataclass(frozen=True)
class Verdict:
    """One judged contrast: X against Y in `metric`, over the seeds both have, in one task and condition.
    `analysis` names the module that judged it; `what` says what the pair tests; `prediction` is the verdict a
    plan declared for it before its runs (primary contrasts only)."""

    analysis: str
    task: str
    condition: str
    x: str
    y: str
    what: str
    metric: str
    pair: stats.Paired
    prediction: Optional[str] = None

    @property
    def word(self) -> str:
        return self.pair.verdict

    @property
    def held(self) -> Optional[bool]:
        """Whether a primary contrast came out as predicted (None for an exploratory one)."""
        return None if self.prediction is None else self.word == self.prediction

    def record(self) -> dict:
        """The contrast as one row of verdicts.csv."""
        d, p = self.pair.difference, self.pair
        return {"analysis": self.analysis, "task": self.task, "condition": self.condition, "x": self.x, "y": self.y,
                "metric": self.metric, "what": self.what, "kind": "primary" if p.primary else "exploratory",
                "prediction": self.prediction or "", "verdict": self.word, "n": d.n, "difference": d.mean,
                "low": d.low, "high": d.high, "p": p.p, "p_holm": math.nan if p.p_holm is None else p.p_holm,
                "p_equivalence": p.p_equivalence, "margin": p.margin, "p_improvement": p.improvement.p,
                "differences": json.dumps([round(v, 6) for v in p.differences])}


# --- figures ---------------------------------------------------------------------------------


def colours(plan: Plan) -> dict[str, str]:
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    return {a: palette[i % len(palette)] for i, a in enumerate(plan.agents)}


def subplots(plt, count: int, width: float = 5.5, height: float = 3.8):
    figure, axes = plt.subplots(1, count, figsize=(width * count, height), squeeze=False)
    return figure, list(axes[0])


def errorbar(s: stats.Summary) -> tuple[float, float]:
    if math.isnan(s.low):
        return 0.0, 0.0
    return s.mean - s.low, s.high - s.mean


def label(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)


def draw_summaries(ax, xs, summaries: list, **style) -> None:
    """Means (stats.Summary) at ``xs`` with their 95% intervals as error bars."""
    errors = np.array([errorbar(s) for s in summaries]).T
    ax.errorbar(xs, [s.mean for s in summaries], yerr=errors, capsize=3, **style)


def task_panels(plt, plan: Plan, keys):
    """One panel per task among `keys`' first items: (figure, [(axis, task)], the agents' colours)."""
    tasks = [t for t in plan.envs if any(k[0] == t for k in keys)]
    figure, axes = subplots(plt, len(tasks))
    return figure, list(zip(axes, tasks)), colours(plan)
