"""Sample efficiency: the env steps until each run's training curve first reaches a threshold, and the
learning curves themselves. Both read the curves each train record stored when its run ended
(`curve`, `precision_curve`); no report opens an event file, and a record without a curve says so."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

import numpy as np

from compare import stats
from compare.analysis.common import Context, colours, task_panels
from compare.text import fmt_steps, table

NAME = "efficiency"
FIGURES = {
    "learning_curves.png": "Learning curves: the training run's normalised score, mean over seeds with its 95% band",
    "sample_efficiency.png": "Sample efficiency: the share of seeds whose training curve has reached precision 0.75 "
                             "(top) and normalised score 0.8 (bottom) by each env step",
}
THRESHOLDS = (("precision", 0.75), ("normalized_score", 0.8))  # (curve, level)
CURVES = {"normalized_score": "curve", "precision": "precision_curve"}  # the train record's key of each curve


def steps_to(curve: list[list[float]], level: float) -> Optional[int]:
    """The first logged step at which the curve reaches `level`; None where it never does."""
    return next((int(step) for step, value in curve if value >= level), None)


def censored_median(values: list[Optional[float]], run_steps: float) -> tuple[float, bool]:
    """The median of steps-to-threshold where None is 'not within the run': (median, censored).
    Censored is True where the median falls on a run that never got there (report '>run_steps')."""
    ranked = sorted(math.inf if v is None else v for v in values if v is None or not math.isnan(v))
    if not ranked:
        return math.nan, False
    middle = ranked[(len(ranked) - 1) // 2: len(ranked) // 2 + 1]
    if any(math.isinf(v) for v in middle):
        return run_steps, True
    return sum(middle) / len(middle), False


@dataclass(frozen=True)
class Efficiency:
    runs: list  # one dict per trained unit: task, agent, seed, run_steps, and steps to each threshold
    # (None: censored, never reached within the run; nan: the record holds no such curve)
    curves: dict  # {(task, agent): [each seed's [[step, normalised score], ...]]}
    unrecorded: list  # train keys whose record holds no curve of some threshold

    @property
    def verdicts(self) -> list:
        return []


def summarise(ctx: Context) -> Efficiency:
    runs, curves, unrecorded = [], defaultdict(list), []
    for key, record in ctx.trained.items():
        unit = record["unit"]
        row = {"task": unit["task"], "agent": unit["agent"], "seed": unit["seed"], "run_steps": record["global_step"]}
        for name, level in THRESHOLDS:
            curve = record.get(CURVES[name])
            row[name] = steps_to(curve, level) if curve else math.nan
            if curve is None:
                unrecorded.append(key)
        runs.append(row)
        if record.get("curve"):
            curves[(unit["task"], unit["agent"])].append(record["curve"])
    return Efficiency(runs, dict(curves), sorted(set(unrecorded)))


def section(data: Efficiency, ctx: Context) -> list[str]:
    levels = " and ".join(f"{name.replace('normalized_score', 'normalised score')} {level}" for name, level in THRESHOLDS)
    lines = ["## Sample efficiency", "",
             f"Env steps until the training curve first reaches {levels} (the true-reward curves each train record "
             "stored when its run ended, one point per ~50k steps, each the mean over the episodes that ended since "
             "the last; a run trained with a ramp counts only episodes after it, in the task's own worlds). A run "
             "that never gets there is censored at its length: `>N`. The median over seeds is `>N` where at least "
             "half never got there.", ""]
    if data.unrecorded:
        lines += [f"{len(data.unrecorded)} train record(s) hold no precision curve (written before records kept it; "
                  f"n/a below): {', '.join(data.unrecorded[:4])}{', ...' if len(data.unrecorded) > 4 else ''}.", ""]
    if not data.runs:
        return lines + ["No training run in this compare.", ""]
    for task in ctx.plan.envs:
        body = []
        for agent in ctx.plan.agents:
            mine = sorted((r for r in data.runs if (r["task"], r["agent"]) == (task, agent)), key=lambda r: r["seed"])
            if not mine:
                continue
            cells = [f"`{agent}`", str(len(mine))]
            for name, _ in THRESHOLDS:
                values = [r[name] for r in mine]
                known = [v for v in values if v is None or not math.isnan(v)]
                if not known:
                    cells += ["n/a", "n/a", "not recorded"]
                    continue
                median, censored = censored_median(values, max(r["run_steps"] for r in mine))
                cells += [f"{sum(v is not None for v in known)}/{len(known)}", fmt_steps(median, censored),
                          ", ".join(fmt_steps(r["run_steps"], True) if r[name] is None else fmt_steps(r[name])
                                    for r in mine)]
            body.append(cells)
        if body:
            header = ["agent", "seeds"]
            for name, level in THRESHOLDS:
                text = f"{name.replace('normalized_score', 'score')} {level}"
                header += [f"reached {text}", f"median steps to {text}", "per seed"]
            lines += [f"### {task}", ""] + table(header, body)
    return lines


def draw(plt, data: Efficiency, ctx: Context) -> dict:
    return {"learning_curves.png": _learning_curves(plt, data, ctx), "sample_efficiency.png": _reached(plt, data, ctx)}


def _learning_curves(plt, data: Efficiency, ctx: Context):
    if not data.curves:
        return "no train record holds a learning curve (no episode ended during training)"
    figure, panels, palette = task_panels(plt, ctx.plan, data.curves)
    for ax, task in panels:
        for agent in ctx.plan.agents:
            runs = data.curves.get((task, agent))
            if not runs:
                continue
            start = max(min(s for s, _ in run) for run in runs)
            end = min(max(s for s, _ in run) for run in runs)
            grid = np.asarray(sorted({s for s, _ in runs[0] if start <= s <= end}) or [start], dtype=float)
            values = np.stack([np.interp(grid, [s for s, _ in run], [v for _, v in run]) for run in runs])
            ax.plot(grid, values.mean(axis=0), color=palette[agent], label=f"{agent} (n={len(runs)})")
            if len(runs) > 1:
                bands = [stats.t_interval(values[:, i]) for i in range(len(grid))]
                ax.fill_between(grid, [b[0] for b in bands], [b[1] for b in bands], color=palette[agent], alpha=0.2)
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.set_ylabel("normalised score (training)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=8)
    return figure


def _reached(plt, data: Efficiency, ctx: Context):
    """Per task, per threshold: the share of seeds that reached it by each step (exact under censoring,
    since every run of a task ends at the same step)."""
    tasks = [t for t in ctx.plan.envs if any(r["task"] == t for r in data.runs)]
    if not tasks:
        return "no training run in this compare"
    figure, axes = plt.subplots(len(THRESHOLDS), len(tasks), figsize=(5.5 * len(tasks), 3.4 * len(THRESHOLDS)),
                                squeeze=False)
    palette = colours(ctx.plan)
    for j, task in enumerate(tasks):
        for i, (name, level) in enumerate(THRESHOLDS):
            ax = axes[i][j]
            for agent in ctx.plan.agents:
                mine = [r for r in data.runs if (r["task"], r["agent"]) == (task, agent)
                        and (r[name] is None or not math.isnan(r[name]))]
                if not mine:
                    continue
                end = max(r["run_steps"] for r in mine)
                reached = sorted(r[name] for r in mine if r[name] is not None)
                xs = [0.0] + [float(s) for s in reached] + [float(end)]
                ys = [0.0] + [(k + 1) / len(mine) for k in range(len(reached))] + [len(reached) / len(mine)]
                ax.step(xs, ys, where="post", color=palette[agent], label=f"{agent} (n={len(mine)})")
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(f"{task}: {name.replace('_', ' ')} >= {level}")
            ax.set_xlabel("env steps")
            ax.set_ylabel("share of seeds")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    figure.tight_layout()
    return figure
