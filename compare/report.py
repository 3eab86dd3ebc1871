"""The compare's output, made from its finished cells: results.csv, summary.csv, results.md, plots.

- `results.csv`: one row per (task, agent, seed, condition, lesion, T) with its metrics and the
  condition's random and scripted reference returns.
- `summary.csv`: the rows grouped over seeds: n, mean, 95% bootstrap CI and IQM of each metric.
- `results.md`: the command and wall time, the setup, one table per task, the lesions, the
  neuroscience measures, and the plots. Its claims are only what the CIs support: where two
  agents' CIs overlap it says there is no difference.
- PNG plots (matplotlib, Agg): learning curves with CI bands, score against difficulty, every
  condition, lesion effects, the attention modulation index, the set-size curve, accuracy vs T.

Everything here reads `OUT/cells`; it trains and evaluates nothing, so a report can be rebuilt
(or merged from shards) at any time.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections import defaultdict
from typing import Optional

import numpy as np

from compare import stats
from compare.grid import CONDITIONS, LADDER, LESIONS, SET_SIZE_TARGETS, SET_SIZES, Plan
from compare.measures import PREFERENCE_METHOD
from compare.store import INVOCATIONS_FILE, load_cells, read_json

RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"
RESULTS_MD = "results.md"
PLOTS = {
    "learning_curves.png": "Learning curves: the training run's normalised score, mean over seeds with its 95% CI band",
    "score_vs_difficulty.png": "Normalised score against difficulty (easy to beyond), mean over seeds with 95% CIs",
    "conditions.png": "Normalised score in every condition, mean over seeds with 95% CIs",
    "lesions.png": "Lesion effects: drop in normalised score (intact - lesioned, paired by seed) with 95% CIs",
    "attention_modulation.png": "Attention modulation index of agents with feedback, intact and with the feedback cut",
    "set_size.png": "Set-size curve: steps to the first target against the number of distractors",
    "passes.png": "Accuracy (precision) against the number of feedback passes T, easy and hard worlds",
}
SUMMARY_METRICS = ("normalized_score", "return_mean", "precision", "steps_to_first_target", "found_share", "ami")
BASE_COLUMNS = ("task", "agent", "seed", "condition", "lesion", "passes", "passes_as_trained", "episodes",
                "episode_steps", "return_mean", "return_se", "normalized_score", "precision", "target_eaten",
                "distractor_eaten", "steps_to_first_target", "found_share", "random_return", "scripted_return",
                "scripted_steps_to_first_target", "ami", "train_steps", "train_final_score")
LESION_ORDER = ("none",) + LESIONS


# --- rows ------------------------------------------------------------------------------------


def normalized(agent_return: float, random: float, scripted: float) -> float:
    """DESIGN.md's (agent - random) / (scripted - random); NaN where the references tie."""
    return (agent_return - random) / (scripted - random) if scripted != random else math.nan


def build_rows(out: str, plan: Plan) -> list[dict]:
    """One row per finished evaluation cell in `out`, in the plan's order."""
    references = load_cells(out, "reference")
    trained = load_cells(out, "train")
    rows = []
    for record in load_cells(out, "eval").values():
        unit, metrics = record["unit"], record["metrics"]
        reference = references[record["reference"]]
        train = trained.get(record["unit_key"], {})
        row = {
            "task": unit["task"], "agent": unit["agent"], "seed": unit["seed"], "condition": record["condition"],
            "lesion": record["lesion"], "passes": metrics["passes"], "passes_as_trained": record["passes"] is None,
            "episodes": metrics["episodes"], "episode_steps": record["episode_steps"],
            "random_return": reference["random"]["return_mean"],
            "scripted_return": reference["scripted"]["return_mean"],
            "scripted_steps_to_first_target": reference["scripted"]["steps_to_first_target"],
            "train_steps": train.get("global_step", math.nan),
            "train_final_score": train.get("final_score", math.nan),
        }
        row.update({k: v for k, v in metrics.items() if k not in ("passes", "episodes")})
        row["normalized_score"] = normalized(row["return_mean"], row["random_return"], row["scripted_return"])
        row.setdefault("ami", math.nan)
        rows.append(row)
    rows.sort(key=lambda r: _order(plan, r))
    return rows


def _index(values, value) -> int:
    return values.index(value) if value in values else len(values)


def _order(plan: Plan, row: dict):
    return (_index(plan.envs, row["task"]), _index(plan.agents, row["agent"]), row["seed"],
            _index(plan.conditions, row["condition"]), _index(LESION_ORDER, row["lesion"]),
            not row["passes_as_trained"], row["passes"])


def columns(rows: list[dict]) -> list[str]:
    extra = sorted({k for r in rows for k in r} - set(BASE_COLUMNS))
    return list(BASE_COLUMNS) + extra


def write_csv(rows: list[dict], path: str, fieldnames: Optional[list[str]] = None) -> None:
    fieldnames = fieldnames or columns(rows)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
    os.replace(tmp, path)


def _csv_value(value):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return value


def read_csv(path: str) -> list[dict]:
    """results.csv back into typed rows (numbers as float/int, flags as bool)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        typed = {}
        for key, value in row.items():
            if key in ("task", "agent", "condition", "lesion"):
                typed[key] = value
            elif key == "passes_as_trained":
                typed[key] = value == "True"
            elif value == "":
                typed[key] = math.nan
            else:
                number = float(value)
                typed[key] = int(number) if key in ("seed", "passes", "episodes", "episode_steps") else number
        out.append(typed)
    return out


# --- grouping --------------------------------------------------------------------------------


def main_rows(rows: list[dict]) -> list[dict]:
    """The intact agents at their trained T."""
    return [r for r in rows if r["lesion"] == "none" and r["passes_as_trained"]]


def group(rows: list[dict], keys: tuple[str, ...], metric: str) -> dict[tuple, stats.Summary]:
    values: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        values[tuple(row[k] for k in keys)].append(float(row[metric]))
    return {key: stats.summarize(v) for key, v in values.items()}


def summary_rows(rows: list[dict]) -> list[dict]:
    """Every (task, condition, lesion, T, agent) group summarised over seeds."""
    keys = ("task", "condition", "lesion", "passes", "passes_as_trained", "agent")
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[tuple(row[k] for k in keys)].append(row)
    out = []
    for key, members in grouped.items():
        entry = dict(zip(keys, key))
        entry["seeds"] = len(members)
        for metric in SUMMARY_METRICS:
            s = stats.summarize([float(m.get(metric, math.nan)) for m in members])
            entry.update({f"{metric}_mean": s.mean, f"{metric}_low": s.low, f"{metric}_high": s.high,
                          f"{metric}_iqm": s.iqm})
        out.append(entry)
    return out


def lesion_effects(rows: list[dict]) -> list[dict]:
    """Per (task, condition, agent, lesion): the intact and lesioned scores and the drop, paired by seed."""
    intact = {(r["task"], r["condition"], r["agent"], r["seed"]): r["normalized_score"] for r in main_rows(rows)}
    drops: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r["lesion"] != "none":
            base = intact.get((r["task"], r["condition"], r["agent"], r["seed"]))
            if base is not None:
                drops[(r["task"], r["condition"], r["agent"], r["lesion"])].append((base, r["normalized_score"]))
    out = []
    for (task, condition, agent, lesion), pairs in drops.items():
        base, lesioned = zip(*pairs)
        drop = stats.summarize([a - b for a, b in pairs])
        out.append({"task": task, "condition": condition, "agent": agent, "lesion": lesion,
                    "intact": stats.summarize(base), "lesioned": stats.summarize(lesioned), "drop": drop})
    return out


# --- formatting ------------------------------------------------------------------------------


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def fmt_ci(s: stats.Summary, digits: int = 2) -> str:
    if math.isnan(s.mean):
        return "n/a"
    if math.isnan(s.low):
        return f"{fmt(s.mean, digits)} (n={s.n}, no CI)"
    return f"{fmt(s.mean, digits)} [{fmt(s.low, digits)}, {fmt(s.high, digits)}]"


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines + [""]


def _wall_time(out: str) -> tuple[str, str]:
    """(command, wall-time sentence) from OUT/invocations.json."""
    path = os.path.join(out, INVOCATIONS_FILE)
    invocations = read_json(path) if os.path.isfile(path) else []
    runs = [i for i in invocations if i.get("kind") != "merge"]
    merges = [i for i in invocations if i.get("kind") == "merge"]
    if not runs:
        return "(unknown)", "unknown"
    command = runs[0]["command"]
    total = sum(i["seconds"] for i in runs)
    shards = sorted({tuple(i["shard"]) for i in runs})
    text = f"{total / 60:.1f} min"
    if len(shards) > 1:
        per_shard = defaultdict(float)
        for i in runs:
            per_shard[tuple(i["shard"])] += i["seconds"]
        text += (f" summed over {len(shards)} shards (the longest shard took "
                 f"{max(per_shard.values()) / 60:.1f} min)")
        command = merges[-1]["command"] if merges else command
    elif len(runs) > 1:
        text += f" over {len(runs)} invocations (the compare was interrupted and resumed)"
    devices = sorted({i.get("device", "?") for i in runs})
    return command, f"{text}, on {', '.join(devices)}"


# --- the report ------------------------------------------------------------------------------


def write_report(out: str, plan: Plan) -> str:
    """Write results.csv, summary.csv, results.md and the plots into `out`; returns results.md's path."""
    rows = build_rows(out, plan)
    write_csv(rows, os.path.join(out, RESULTS_CSV))
    summary = summary_rows(rows)
    write_csv(summary, os.path.join(out, SUMMARY_CSV), list(summary[0]) if summary else ["task"])
    trained = load_cells(out, "train")
    drawn = draw_plots(out, plan, rows, trained)
    text = markdown(out, plan, rows, trained, drawn)
    path = os.path.join(out, RESULTS_MD)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def markdown(out: str, plan: Plan, rows: list[dict], trained: dict, drawn: dict[str, Optional[str]]) -> str:
    command, wall = _wall_time(out)
    baseline = plan.agents[0]
    params = {}
    for record in trained.values():
        params.setdefault(record["unit"]["agent"], record.get("agent_params"))
    lines = ["# RedBerry compare: does feedback beat feedforward, where, and by how much?", "",
             f"Command: `{command}`", "", f"Wall time: {wall}.", "",
             f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {len(rows)} evaluation cells "
             f"and {len(trained)} trained agents.", ""]
    expected = _expected_units(plan)
    missing = sorted(expected - set(trained)) if expected else []
    if missing:
        lines += [f"**Incomplete:** {len(missing)} of {len(expected)} trained agents are missing "
                  f"({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); the tables below hold "
                  "only what is finished.", ""]

    seeds = sorted({r["seed"] for r in rows})
    lines += ["## Setup", ""]
    lines += ["- Agents: " + ", ".join(f"`{a}` ({params.get(a, '?'):,} parameters)" if isinstance(params.get(a), int)
                                        else f"`{a}`" for a in plan.agents) + ".",
              f"- Training tasks: {', '.join(plan.envs)}; seeds {seeds[0] if seeds else '-'} to "
              f"{seeds[-1] if seeds else '-'} ({len(seeds)} per agent and task).",
              (f"- Training: the runs in --from ({len(plan.from_runs)} given)." if plan.from_runs else
               f"- Training: {plan.steps:,} env steps per run, recurrent PPO with the trainer's defaults "
               f"({plan.num_envs} worlds x {plan.num_steps} steps per update), on the {plan.train_difficulty} "
               f"preset, every preset with the same settings and seeds."),
              f"- Episodes are {plan.episode_steps} steps long in training and evaluation (the worlds' default "
              "is 500): short episodes give the learning curves more points and keep each evaluation cell small. "
              "Returns are per episode of this length.",
              f"- Evaluation: each cell steps {plan.eval_worlds} worlds together, one episode each, from the "
              "condition's own seed, so every agent, lesion and T meets the same worlds. Actions are sampled from "
              "the policy.",
              "- Normalised score = (agent - random) / (scripted - random), with the random and the scripted "
              "forager run on the same worlds of the same condition: 0 is random, 1 is the scripted forager "
              "(which reads the true state).",
              f"- Statistics: over seeds, the mean with a {int(stats.CONFIDENCE * 100)}% percentile-bootstrap CI "
              f"({stats.RESAMPLES:,} resamples) and the interquartile mean (IQM). Agents are called different "
              f"only where their CIs do not overlap, and only with at least {stats.MIN_SEEDS} seeds each.", ""]
    if rows:
        se = np.nanmedian([r["return_se"] for r in rows])
        spread = [s.high - s.low for s in group(main_rows(rows), ("task", "condition", "agent"), "return_mean").values()
                  if not math.isnan(s.low)]
        lines += [f"Each cell's mean return has a median standard error of {fmt(se)} over its "
                  f"{plan.eval_worlds} episodes" + (f", against a median between-seed CI width of "
                                                   f"{fmt(float(np.median(spread)))}." if spread else "."), ""]

    lines += ["## Conditions", ""]
    lines += _table(["condition", "worlds"], [[f"`{c}`", CONDITIONS[c].description] for c in plan.conditions])

    main = main_rows(rows)
    norm = group(main, ("task", "condition", "agent"), "normalized_score")
    ret = group(main, ("task", "condition", "agent"), "return_mean")
    prec = group(main, ("task", "condition", "agent"), "precision")
    findings: list[str] = []
    for task in plan.envs:
        body = []
        for condition in plan.conditions:
            for agent in plan.agents:
                key = (task, condition, agent)
                if key not in norm:
                    continue
                versus = "(baseline)" if agent == baseline else (
                    stats.verdict(norm[key], norm[(task, condition, baseline)])
                    if (task, condition, baseline) in norm else "n/a")
                body.append([f"`{condition}`", f"`{agent}`", fmt_ci(norm[key]), fmt(norm[key].iqm),
                             fmt_ci(ret[key]), fmt(prec[key].mean), str(norm[key].n), versus])
                if agent != baseline and versus in ("higher", "lower"):
                    findings.append(f"On {task}, `{condition}`: `{agent}` scores {versus} than `{baseline}` "
                                    f"({fmt_ci(norm[key])} against {fmt_ci(norm[(task, condition, baseline)])}).")
        if body:
            lines += [f"## {task}", ""]
            lines += _table(["condition", "agent", "normalised score [95% CI]", "IQM", "return [95% CI]",
                             "precision", "seeds", f"vs `{baseline}`"], body)

    lines += ["## Findings", ""]
    compared = sum(1 for (t, c, a) in norm if a != baseline and (t, c, baseline) in norm
                   and min(norm[(t, c, a)].n, norm[(t, c, baseline)].n) >= stats.MIN_SEEDS)
    if compared < sum(1 for (t, c, a) in norm if a != baseline and (t, c, baseline) in norm):
        lines += [f"- Comparisons with fewer than {stats.MIN_SEEDS} seeds on either side are not called: their "
                  "bootstrap CIs are too narrow to trust."]
    if findings:
        lines += [f"- {f}" for f in findings]
    if compared:
        lines += [f"- In {'the other ' if findings else ''}{compared - len(findings)} of the {compared} (task, "
                  f"condition, agent) comparisons with `{baseline}`, the CIs overlap: there is no difference at "
                  f"this sample size.", ""]
    else:
        lines += ["- No comparison with the baseline could be made.", ""]

    effects = lesion_effects(rows)
    lines += ["## Lesions", "",
              "A lesion is applied at evaluation only, to agents that have the mechanism: `feedback` fixes every "
              "top-down gain at 1, `goal` shows the wrong goal (the one-hot rolled by one colour), `plasticity` "
              "freezes the Hebbian trace. The drop is intact minus lesioned normalised score, paired by seed; a "
              "mechanism is *used* where the drop's CI lies above 0.", ""]
    if effects:
        body = []
        for e in effects:
            effect = ("used: the lesion lowers the score" if e["drop"].excludes_zero() and e["drop"].mean > 0 else
                      "the lesion raises the score" if e["drop"].excludes_zero() else "no detectable effect (CI includes 0)")
            body.append([e["task"], f"`{e['condition']}`", f"`{e['agent']}`", e["lesion"], fmt_ci(e["intact"]),
                         fmt_ci(e["lesioned"]), fmt_ci(e["drop"]), effect])
        lines += _table(["task", "condition", "agent", "lesion", "intact", "lesioned", "drop [95% CI]", "effect"], body)
    else:
        lines += ["No lesion cells in this compare.", ""]

    lines += ["## Measures from neuroscience", "", "### Attention modulation index", "",
              "The feature-similarity gain model predicts that attending to a colour raises the gain of channels "
              "that prefer it against the other channels. AMI = (mean gain of channels preferring the colour that "
              "pays now - mean gain of channels preferring another colour) / (their sum), over every step and world "
              "of the cell, per gain-modulated layer, averaged over layers. 0 is no modulation; the feedback lesion "
              "(every gain 1) gives 0.", "", PREFERENCE_METHOD, ""]
    ami_rows = [r for r in rows if r["passes_as_trained"] and r["lesion"] in ("none", "feedback")
                and not math.isnan(r.get("ami", math.nan))]
    ami = group(ami_rows, ("task", "condition", "agent", "lesion"), "ami")
    if ami:
        body = [[t, f"`{c}`", f"`{a}`", fmt_ci(ami[(t, c, a, "none")], 3),
                 fmt_ci(ami[(t, c, a, "feedback")], 3) if (t, c, a, "feedback") in ami else "-"]
                for (t, c, a, lesion) in ami if lesion == "none"]
        lines += _table(["task", "condition", "agent", "AMI intact [95% CI]", "AMI, feedback cut"], body)
    else:
        lines += ["No agent with feedback (or no channel with a measurable preference) in this compare.", ""]

    lines += ["### Set-size curve", "",
              f"Steps to the first target eaten, with {SET_SIZE_TARGETS} targets among D distractors (easy worlds otherwise); an "
              "episode with no target counts as its full length. The scripted forager is on the same worlds.", ""]
    size_rows = [r for r in main if CONDITIONS[r["condition"]].distractors is not None]
    if size_rows:
        sizes = [d for d in SET_SIZES if f"setsize_{d}" in plan.conditions]
        steps = group(size_rows, ("task", "agent", "condition"), "steps_to_first_target")
        body = []
        for task in plan.envs:
            for agent in plan.agents:
                cells = [steps.get((task, agent, f"setsize_{d}")) for d in sizes]
                if any(cells):
                    body.append([task, f"`{agent}`"] + [fmt_ci(s, 1) if s else "-" for s in cells])
            scripted = {r["condition"]: r["scripted_steps_to_first_target"] for r in size_rows if r["task"] == task}
            if scripted:
                body.append([task, "scripted"] + [fmt(scripted.get(f"setsize_{d}", math.nan), 1) for d in sizes])
        lines += _table(["task", "agent"] + [f"D = {d}" for d in sizes], body)
    else:
        lines += ["No set-size conditions in this compare.", ""]

    lines += ["### Accuracy against the number of feedback passes T", "",
              "Precision (targets / berries eaten) of agents with feedback, evaluated with T passes per step. "
              "The agents were trained with their preset's T; other T are evaluated without retraining. If "
              "processing is iterative, hard worlds should gain more from extra passes than easy ones.", ""]
    pass_rows = [r for r in rows if r["lesion"] == "none" and r["condition"] in plan.passes_conditions
                 and any(x["agent"] == r["agent"] and x["task"] == r["task"] and not x["passes_as_trained"] for x in rows)]
    if pass_rows:
        precision = group(pass_rows, ("task", "agent", "condition", "passes"), "precision")
        score = group(pass_rows, ("task", "agent", "condition", "passes"), "normalized_score")
        ts = sorted({k[3] for k in precision})
        body = [[t, f"`{a}`", f"`{c}`"] + [f"{fmt_ci(precision[(t, a, c, p)])}; score {fmt(score[(t, a, c, p)].mean)}"
                                           if (t, a, c, p) in precision else "-" for p in ts]
                for (t, a, c) in sorted({k[:3] for k in precision}, key=lambda k: (k[0], k[1], _index(plan.conditions, k[2])))]
        lines += _table(["task", "agent", "condition"] + [f"T = {p}" for p in ts], body)
    else:
        lines += ["No T sweep in this compare (it needs an agent with feedback).", ""]

    lines += ["## Plots", ""]
    for name, caption in PLOTS.items():
        if drawn.get(name) is None:
            lines += [f"![{caption}]({name})", "", f"*{caption}.*", ""]
        else:
            lines += [f"- `{name}` not drawn: {drawn[name]}.", ""]
    lines += ["## Files", "",
              f"- `{RESULTS_CSV}`: one row per (task, agent, seed, condition, lesion, T); `{SUMMARY_CSV}`: the "
              "same grouped over seeds (n, mean, CI, IQM of each metric).",
              "- `runs/`: one TensorBoard run per trained agent, with an hparams summary: "
              "`tensorboard --logdir runs` (HParams tab compares them).",
              "- `cells/`: one JSON file per finished cell; a compare resumes from them.", ""]
    return "\n".join(lines)


def _expected_units(plan: Plan) -> set[str]:
    if plan.from_runs:
        return set()
    return {f"{t}__{a}__s{s}" for t in plan.envs for a in plan.agents for s in range(1, plan.seeds + 1)}


# --- plots -----------------------------------------------------------------------------------


def draw_plots(out: str, plan: Plan, rows: list[dict], trained: dict) -> dict[str, Optional[str]]:
    """Draw every plot into `out`; returns {file: None if drawn, else why not}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawers = {
        "learning_curves.png": lambda: _learning_curves(plt, plan, trained),
        "score_vs_difficulty.png": lambda: _ladder(plt, plan, rows),
        "conditions.png": lambda: _conditions(plt, plan, rows),
        "lesions.png": lambda: _lesions(plt, plan, rows),
        "attention_modulation.png": lambda: _attention(plt, plan, rows),
        "set_size.png": lambda: _set_size(plt, plan, rows),
        "passes.png": lambda: _passes(plt, plan, rows),
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
        tmp = f"{path}.tmp-{os.getpid()}.png"
        figure.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(figure)
        os.replace(tmp, path)
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


def _learning_curves(plt, plan: Plan, trained: dict):
    curves: dict[tuple[str, str], list[list]] = defaultdict(list)
    for record in trained.values():
        if record.get("curve"):
            curves[(record["unit"]["task"], record["unit"]["agent"])].append(record["curve"])
    if not curves:
        return "no training run logged a normalised score (no episode ended during training)"
    tasks = [t for t in plan.envs if any(k[0] == t for k in curves)]
    figure, axes = _subplots(plt, len(tasks))
    colours = _colours(plan)
    for ax, task in zip(axes, tasks):
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
            errors = np.array([_errorbar(s) for _, s in points]).T
            ax.errorbar(xs, [s.mean for _, s in points], yerr=errors, fmt="o-" if title == "ladder" else "o",
                        color=colours[agent], label=agent, capsize=3)
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
                        key=lambda g: (_index(plan.agents, g[0]), _index(plan.conditions, g[1])))
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
    ami_rows = [r for r in rows if r["passes_as_trained"] and r["lesion"] in ("none", "feedback")
                and not math.isnan(r.get("ami", math.nan))]
    if not ami_rows:
        return "no agent with feedback (or no channel with a measurable colour preference)"
    ami = group(ami_rows, ("task", "agent", "condition", "lesion"), "ami")
    labels = sorted({k[:3] for k in ami}, key=lambda k: (_index(plan.envs, k[0]), _index(plan.agents, k[1]),
                                                         _index(plan.conditions, k[2])))
    figure, (ax,) = _subplots(plt, 1, width=max(6.0, 0.7 * len(labels) + 2))
    for i, lesion in enumerate(("none", "feedback")):
        points = [(j, ami[(*label, lesion)]) for j, label in enumerate(labels) if (*label, lesion) in ami]
        if points:
            ax.bar([j + (i - 0.5) * 0.4 for j, _ in points], [s.mean for _, s in points], 0.4,
                   yerr=np.array([_errorbar(s) for _, s in points]).T, capsize=3,
                   label="intact" if lesion == "none" else "feedback cut", color="#d62728" if i == 0 else "#999999")
    ax.set_xticks(range(len(labels)), [f"{t.split('-')[0]}\n{a}\n{c}" for t, a, c in labels], fontsize=7)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("attention modulation index")
    ax.legend(fontsize=8)
    return figure


def _set_size(plt, plan: Plan, rows: list[dict]):
    size_rows = [r for r in main_rows(rows) if CONDITIONS[r["condition"]].distractors is not None]
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
            errors = np.array([_errorbar(s) for _, s in points]).T
            ax.errorbar([d for d, _ in points], [s.mean for _, s in points], yerr=errors, fmt="o-",
                        color=colours[agent], label=agent, capsize=3)
        scripted = sorted({(CONDITIONS[r["condition"]].distractors, r["scripted_steps_to_first_target"])
                           for r in size_rows if r["task"] == task})
        ax.plot([d for d, _ in scripted], [v for _, v in scripted], "k--", label="scripted")
        ax.set_xlabel("distractors (2 targets)")
        ax.set_ylabel("steps to the first target")
        ax.set_title(task)
        ax.legend(fontsize=8)
    return figure


def _passes(plt, plan: Plan, rows: list[dict]):
    swept = {(r["task"], r["agent"]) for r in rows if not r["passes_as_trained"]}
    pass_rows = [r for r in rows if r["lesion"] == "none" and (r["task"], r["agent"]) in swept
                 and r["condition"] in plan.passes_conditions]
    if not pass_rows:
        return "no T sweep in this compare (it needs an agent with feedback)"
    precision = group(pass_rows, ("task", "agent", "condition", "passes"), "precision")
    tasks = [t for t in plan.envs if any(r["task"] == t for r in pass_rows)]
    figure, axes = _subplots(plt, len(tasks))
    styles = ["o-", "s--", "^:", "d-."]
    for ax, task in zip(axes, tasks):
        lines = sorted({k[1:3] for k in precision if k[0] == task},
                       key=lambda k: (_index(plan.agents, k[0]), _index(plan.conditions, k[1])))
        for i, (agent, condition) in enumerate(lines):
            points = sorted((k[3], s) for k, s in precision.items() if k[:3] == (task, agent, condition))
            errors = np.array([_errorbar(s) for _, s in points]).T
            ax.errorbar([p for p, _ in points], [s.mean for _, s in points], yerr=errors, fmt=styles[i % len(styles)],
                        label=f"{agent}, {condition}", capsize=3)
        ax.set_xlabel("feedback passes T")
        ax.set_ylabel("precision (targets / eaten)")
        ax.set_title(task)
        ax.legend(fontsize=8)
    return figure
