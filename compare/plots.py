"""The compare's plots (matplotlib, Agg), one PNG per table of results.md: learning curves with CI
bands, sample efficiency, score against difficulty, every condition, lesion effects, the
feature-similarity gain, the set-size curve, accuracy against T, and the reversal curve. Each draws the rows of
its table's selection in `compare.tables`. Every PNG is written atomically.
"""

from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np

from common.files import atomic_path
from compare import stats
from compare.findings import reversal_conditions
from compare.grid import CONDITIONS, LADDER, LESIONS, Plan
from compare.tables import (THRESHOLDS, efficiency_rows, feature_rows, group, index_in, learning_curves, lesion_effects,
                            main_rows, pass_rows, reversal_curves, set_size_rows)

PLOTS = {
    "learning_curves.png": "Learning curves: the training run's normalised score, mean over seeds with its 95% CI band",
    "sample_efficiency.png": "Sample efficiency: the share of seeds whose training curve has reached precision 0.75 "
                             "(top) and normalised score 0.8 (bottom) by each env step",
    "score_vs_difficulty.png": "Normalised score against difficulty (easy to beyond), mean over seeds with 95% CIs",
    "conditions.png": "Normalised score in every condition, mean over seeds with 95% CIs",
    "lesions.png": "Lesion effects: drop in normalised score (intact - lesioned, paired by seed) with 95% CIs",
    "feature_similarity.png": "Feature-similarity gain (rho) of agents with feedback, trained and untrained",
    "set_size.png": "Set-size curve: steps to the first target against the number of distractors",
    "passes.png": "Accuracy (precision) against the number of feedback passes T, easy and hard worlds",
    "reversal_curve.png": "Reversal curve: precision against steps since the paying colour last switched, mean over "
                          "seeds with 95% CIs",
}


def draw_plots(out: str, plan: Plan, rows: list[dict], trained: dict) -> dict[str, Optional[str]]:
    """Draw every plot into `out`; returns {file: None if drawn, else why not}."""
    import matplotlib  # here, not at the top: the headless backend is chosen before pyplot loads, for this call only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawers = {
        "learning_curves.png": lambda: _learning_curves(plt, plan, trained),
        "sample_efficiency.png": lambda: _efficiency(plt, plan, efficiency_rows(out, plan, trained)),
        "score_vs_difficulty.png": lambda: _ladder(plt, plan, rows),
        "conditions.png": lambda: _conditions(plt, plan, rows),
        "lesions.png": lambda: _lesions(plt, plan, rows),
        "feature_similarity.png": lambda: _attention(plt, plan, rows),
        "set_size.png": lambda: _set_size(plt, plan, rows),
        "passes.png": lambda: _passes(plt, plan, rows),
        "reversal_curve.png": lambda: _reversal(plt, plan, rows),
    }
    result: dict[str, Optional[str]] = {}
    for name, draw in drawers.items():
        path = os.path.join(out, name)
        figure = draw()
        if isinstance(figure, str):
            result[name] = figure
            if os.path.exists(path):
                os.remove(path)
            continue
        with atomic_path(path) as tmp:
            figure.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(figure)
        result[name] = None
    return result


def _colours(plan: Plan) -> dict[str, str]:
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    return {a: palette[i % len(palette)] for i, a in enumerate(plan.agents)}


def _subplots(plt, count: int, width: float = 5.5, height: float = 3.8):
    figure, axes = plt.subplots(1, count, figsize=(width * count, height), squeeze=False)
    return figure, list(axes[0])


def _errorbar(s: stats.Summary) -> tuple[float, float]:
    if math.isnan(s.low):
        return 0.0, 0.0
    return s.mean - s.low, s.high - s.mean


def _label(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)


def _draw_summaries(ax, xs, summaries: list, **style) -> None:
    """Means (stats.Summary) at ``xs`` with their 95% CIs as error bars."""
    errors = np.array([_errorbar(s) for s in summaries]).T
    ax.errorbar(xs, [s.mean for s in summaries], yerr=errors, capsize=3, **style)


def _task_panels(plt, plan: Plan, keys):
    """One panel per task among `keys`' first items: (figure, [(axis, task)], the agents' colours)."""
    tasks = [t for t in plan.envs if any(k[0] == t for k in keys)]
    figure, axes = _subplots(plt, len(tasks))
    return figure, list(zip(axes, tasks)), _colours(plan)


def _learning_curves(plt, plan: Plan, trained: dict):
    curves = learning_curves(trained)
    if not curves:
        return "no training run logged a normalised score (no episode ended during training)"
    figure, panels, colours = _task_panels(plt, plan, curves)
    for ax, task in panels:
        for agent in plan.agents:
            runs = curves.get((task, agent))
            if not runs:
                continue
            start = max(min(s for s, _ in run) for run in runs)
            end = min(max(s for s, _ in run) for run in runs)
            grid = np.asarray(sorted({s for s, _ in runs[0] if start <= s <= end}) or [start], dtype=float)
            values = np.stack([np.interp(grid, [s for s, _ in run], [v for _, v in run]) for run in runs])
            mean = values.mean(axis=0)
            ax.plot(grid, mean, color=colours[agent], label=f"{agent} (n={len(runs)})")
            if len(runs) > 1:
                bands = [stats.bootstrap_ci(values[:, i], resamples=2_000) for i in range(len(grid))]
                ax.fill_between(grid, [b[0] for b in bands], [b[1] for b in bands], color=colours[agent], alpha=0.2)
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.set_ylabel("normalised score (training)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=8)
    return figure


def _by_condition(plan: Plan, rows: list[dict], conditions: list[str], title: str, plt):
    main = group(main_rows(rows), ("task", "condition", "agent"), "normalized_score")
    tasks = [t for t in plan.envs if any(k[0] == t and k[1] in conditions for k in main)]
    if not tasks:
        return None
    figure, axes = _subplots(plt, len(tasks), width=max(5.5, 0.9 * len(conditions) + 2))
    colours = _colours(plan)
    width = 0.8 / len(plan.agents)
    for ax, task in zip(axes, tasks):
        present = [c for c in conditions if any((task, c, a) in main for a in plan.agents)]
        x = np.arange(len(present))
        for i, agent in enumerate(plan.agents):
            points = [(j, main[(task, c, agent)]) for j, c in enumerate(present) if (task, c, agent) in main]
            if not points:
                continue
            xs = [x[j] + (i - (len(plan.agents) - 1) / 2) * width for j, _ in points]
            _draw_summaries(ax, xs, [s for _, s in points], fmt="o-" if title == "ladder" else "o",
                            color=colours[agent], label=agent)
        ax.set_xticks(x, present, rotation=30 if len(present) > 4 else 0, ha="right" if len(present) > 4 else "center")
        ax.set_title(task)
        ax.set_ylabel("normalised score")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axhline(1, color="grey", lw=0.5, ls="--")
        ax.legend(fontsize=8)
    return figure


def _ladder(plt, plan: Plan, rows: list[dict]):
    ladder = [c for c in LADDER if c in plan.conditions]
    figure = _by_condition(plan, rows, ladder, "ladder", plt) if ladder else None
    return figure if figure is not None else "no difficulty conditions (easy, medium, hard, beyond) were evaluated"


def _conditions(plt, plan: Plan, rows: list[dict]):
    figure = _by_condition(plan, rows, list(plan.conditions), "all", plt)
    return figure if figure is not None else "no evaluation cell is finished"


def _lesions(plt, plan: Plan, rows: list[dict]):
    effects = lesion_effects(rows)
    if not effects:
        return "no lesion cells in this compare"
    tasks = [t for t in plan.envs if any(e["task"] == t for e in effects)]
    figure, axes = _subplots(plt, len(tasks), width=6.5)
    colours = {"feedback": "#d62728", "goal": "#1f77b4", "plasticity": "#2ca02c"}
    for ax, task in zip(axes, tasks):
        mine = [e for e in effects if e["task"] == task]
        groups = sorted({(e["agent"], e["condition"]) for e in mine},
                        key=lambda g: (index_in(plan.agents, g[0]), index_in(plan.conditions, g[1])))
        lesions = [l for l in LESIONS if any(e["lesion"] == l for e in mine)]
        width = 0.8 / len(lesions)
        for i, lesion in enumerate(lesions):
            labelled = False
            for j, (agent, condition) in enumerate(groups):
                match = [e for e in mine if (e["agent"], e["condition"], e["lesion"]) == (agent, condition, lesion)]
                if not match:
                    continue
                drop = match[0]["drop"]
                ax.bar(j + (i - (len(lesions) - 1) / 2) * width, drop.mean, width, yerr=np.array([_errorbar(drop)]).T,
                       color=colours.get(lesion, "grey"), edgecolor="black", capsize=3,
                       label=None if labelled else lesion)
                labelled = True
        ax.set_xticks(range(len(groups)), [f"{a}\n{c}" for a, c in groups], fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{task}: drop = intact - lesioned")
        ax.set_ylabel("drop in normalised score")
        ax.legend(title="lesion", fontsize=8)
    return figure


def _attention(plt, plan: Plan, rows: list[dict]):
    selected = feature_rows(rows)
    if not selected:
        return "no agent with feedback"
    rho = group(selected, ("task", "agent", "condition", "lesion"), "fs_rho")
    labels = sorted({k[:3] for k in rho}, key=lambda k: (index_in(plan.envs, k[0]), index_in(plan.agents, k[1]),
                                                         index_in(plan.conditions, k[2])))
    figure, (ax,) = _subplots(plt, 1, width=max(6.0, 0.45 * len(labels) + 2), height=4.6)
    for i, lesion in enumerate(("none", "untrained")):
        points = [(j, rho[(*label, lesion)]) for j, label in enumerate(labels) if (*label, lesion) in rho]
        if points:
            ax.bar([j + (i - 0.5) * 0.4 for j, _ in points], [s.mean for _, s in points], 0.4,
                   yerr=np.array([_errorbar(s) for _, s in points]).T, capsize=3,
                   label="trained" if lesion == "none" else "untrained", color="#d62728" if i == 0 else "#999999")
    one_task = len({t for t, _, _ in labels}) == 1
    ax.set_xticks(range(len(labels)), [f"{a}, {c}" + ("" if one_task else f" ({t.split('-')[0]})")
                                       for t, a, c in labels], rotation=40, ha="right", fontsize=8)
    if one_task:
        ax.set_title(labels[0][0], fontsize=10)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("feature-similarity gain (rank correlation)")
    ax.legend(fontsize=8)
    return figure


def _set_size(plt, plan: Plan, rows: list[dict]):
    size_rows = set_size_rows(rows)
    if not size_rows:
        return "no set-size conditions in this compare"
    steps = group(size_rows, ("task", "agent", "condition"), "steps_to_first_target")
    tasks = [t for t in plan.envs if any(r["task"] == t for r in size_rows)]
    figure, axes = _subplots(plt, len(tasks))
    colours = _colours(plan)
    for ax, task in zip(axes, tasks):
        for agent in plan.agents:
            points = [(CONDITIONS[c].distractors, s) for (t, a, c), s in steps.items() if t == task and a == agent]
            if not points:
                continue
            points.sort()
            _draw_summaries(ax, [d for d, _ in points], [s for _, s in points], fmt="o-", color=colours[agent],
                            label=agent)
        scripted = sorted({(CONDITIONS[r["condition"]].distractors, r["scripted_steps_to_first_target"])
                           for r in size_rows if r["task"] == task})
        # The scripted forager steers around every distractor in its way, which costs it steps; agents
        # that eat through them reach a target sooner and pay for it in precision.
        ax.plot([d for d, _ in scripted], [v for _, v in scripted], "k--", label="scripted (walks around distractors)")
        _label(ax, "distractors (2 targets)", "steps to the first target", task)
    return figure


def _passes(plt, plan: Plan, rows: list[dict]):
    swept = pass_rows(rows, plan)
    if not swept:
        return "no T sweep in this compare (it needs an agent with feedback)"
    precision = group(swept, ("task", "agent", "condition", "passes"), "precision")
    tasks = [t for t in plan.envs if any(r["task"] == t for r in swept)]
    figure, axes = _subplots(plt, len(tasks))
    styles = ["o-", "s--", "^:", "d-."]
    for ax, task in zip(axes, tasks):
        lines = sorted({k[1:3] for k in precision if k[0] == task},
                       key=lambda k: (index_in(plan.agents, k[0]), index_in(plan.conditions, k[1])))
        for i, (agent, condition) in enumerate(lines):
            points = sorted((k[3], s) for k, s in precision.items() if k[:3] == (task, agent, condition))
            _draw_summaries(ax, [p for p, _ in points], [s for _, s in points], fmt=styles[i % len(styles)],
                            label=f"{agent}, {condition}")
        _label(ax, "feedback passes T", "precision (targets / eaten)", task)
        ax.set_xticks(sorted({k[3] for k in precision if k[0] == task}))  # T is an integer
    return figure


def _efficiency(plt, plan: Plan, rows: list[dict]):
    """Per task, per threshold: the share of seeds that reached it by each step (exact under
    censoring, since every run of a task ends at the same step)."""
    tasks = [t for t in plan.envs if any(r["task"] == t for r in rows)]
    if not tasks:
        return "no training run logged a learning curve"
    figure, axes = plt.subplots(len(THRESHOLDS), len(tasks), figsize=(5.5 * len(tasks), 3.4 * len(THRESHOLDS)),
                                squeeze=False)
    colours = _colours(plan)
    for j, task in enumerate(tasks):
        for i, (name, level) in enumerate(THRESHOLDS):
            ax = axes[i][j]
            for agent in plan.agents:
                mine = [r for r in rows if (r["task"], r["agent"]) == (task, agent)
                        and (r[name] is None or not math.isnan(r[name]))]
                if not mine:
                    continue
                end = max(r["run_steps"] for r in mine)
                reached = sorted(r[name] for r in mine if r[name] is not None)
                xs = [0.0] + [float(s) for s in reached] + [float(end)]
                ys = [0.0] + [(k + 1) / len(mine) for k in range(len(reached))] + [len(reached) / len(mine)]
                ax.step(xs, ys, where="post", color=colours[agent], label=f"{agent} (n={len(mine)})")
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(f"{task}: {name.replace('_', ' ')} >= {level}")
            ax.set_xlabel("env steps")
            ax.set_ylabel("share of seeds")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _reversal(plt, plan: Plan, rows: list[dict]):
    curves = reversal_curves(rows, reversal_conditions(plan))
    if not curves:
        return "no reversal curve in the evaluation (it needs ReversalBerry worlds and an evaluator that measures it)"
    figure, panels, colours = _task_panels(plt, plan, curves)
    for ax, task in panels:
        for (t, condition, agent), curve in curves.items():
            if t != task:
                continue
            points = [(b, stats.summarize(v)) for b, v in curve.items()]
            _draw_summaries(ax, [b for b, _ in points], [s for _, s in points], fmt="o-", color=colours.get(agent),
                            label=f"{agent} ({condition})")
        _label(ax, "steps since the last switch (bin start)", "precision (targets / eaten)", task)
    return figure
