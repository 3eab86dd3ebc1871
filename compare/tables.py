"""The compare's rows: one per finished evaluation cell, their CSV files, and the selections behind
each table of results.md and its plot.

Each table/plot pair reads the rows through one selection here (`main_rows`, `lesion_effects`,
`feature_rows`, `set_size_rows`, `pass_rows`, `learning_curves`, `efficiency_rows`, `reversal_curves`),
so a table and its plot always show the same cells. `by_seed` gives the paired values behind every
verdict (`compare.findings`).
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from typing import Optional

import envs
from common.files import atomic_path
from compare import stats
from compare.grid import CONDITIONS, LESIONS, Plan
from compare.store import load_cells, train_curves

SUMMARY_METRICS = ("normalized_score", "return_mean", "precision", "steps_to_first_target", "found_share", "fs_rho",
                   "fs_beta")
FEATURE_METRICS = ("fs_rho", "fs_beta", "fs_p")  # `compare.measures.FeatureGainRecorder`, NaN without gains
BASE_COLUMNS = ("task", "agent", "seed", "condition", "lesion", "passes", "passes_as_trained", "episodes",
                "episode_steps", "return_mean", "return_se", "normalized_score", "precision", "target_eaten",
                "distractor_eaten", "steps_to_first_target", "found_share", "random_return", "scripted_return",
                "scripted_steps_to_first_target", *FEATURE_METRICS, "train_steps", "train_final_score")
LESION_ORDER = ("none",) + LESIONS


# --- rows ------------------------------------------------------------------------------------


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
        references_here = {"random": row["random_return"], "scripted": row["scripted_return"]}
        row["normalized_score"] = (envs.normalized_score(row["return_mean"], references_here)
                                   if row["scripted_return"] != row["random_return"] else math.nan)
        for name in FEATURE_METRICS:
            row.setdefault(name, math.nan)
        rows.append(row)
    rows.sort(key=lambda r: _order(plan, r))
    return rows


def index_in(values, value) -> int:
    """Where `value` stands in `values` (the plan's order); after them all where it is absent."""
    return values.index(value) if value in values else len(values)


def _order(plan: Plan, row: dict):
    return (index_in(plan.envs, row["task"]), index_in(plan.agents, row["agent"]), row["seed"],
            index_in(plan.conditions, row["condition"]), index_in(LESION_ORDER, row["lesion"]),
            not row["passes_as_trained"], row["passes"])


def columns(rows: list[dict]) -> list[str]:
    extra = sorted({k for r in rows for k in r} - set(BASE_COLUMNS))
    return list(BASE_COLUMNS) + extra


def write_csv(rows: list[dict], path: str, fieldnames: Optional[list[str]] = None) -> None:
    """Write `rows` to `path` atomically, floats as repr (NaN as nan)."""
    fieldnames = fieldnames or columns(rows)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})


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


def group(rows: list[dict], keys: tuple[str, ...], metric: str) -> dict[tuple, stats.Summary]:
    """`metric` summarised over seeds for each combination of `keys`."""
    values: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        values[tuple(row[k] for k in keys)].append(float(row[metric]))
    return {key: stats.summarize(v) for key, v in values.items()}


def summary_rows(rows: list[dict]) -> list[dict]:
    """Every (task, condition, lesion, T, agent) group summarised over seeds (summary.csv)."""
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


# --- one selection per table and its plot ----------------------------------------------------


def main_rows(rows: list[dict]) -> list[dict]:
    """The intact agents at their trained T: the per-task tables, the conditions and difficulty plots."""
    return [r for r in rows if r["lesion"] == "none" and r["passes_as_trained"]]


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


def feature_rows(rows: list[dict]) -> list[dict]:
    """Rows with a feature-similarity gain, at the trained T, intact or as the untrained net."""
    return [r for r in rows if r["passes_as_trained"] and r["lesion"] in ("none", "untrained")
            and not math.isnan(r.get("fs_rho", math.nan))]


def cue_turn(row: dict) -> float:
    """How a row's feature-similarity gain turns at a mid-episode cue switch: sign(rho before the switch) *
    (rho toward the new cue - rho toward the old one, after it); nan where the row has no switch. Gains that
    follow the cue keep their sign toward the new cue and take the other toward the old one (the tuning is
    centred over colours), so the turn is > 0 whether they boost (rho > 0) or damp (rho < 0) the cued colour's
    channels; gains that keep the old cue give < 0."""
    values = [row.get(k, math.nan) for k in ("fs_rho_before", "fs_rho_after", "fs_rho_after_old_cue")]
    if any(math.isnan(v) for v in values):
        return math.nan
    return math.copysign(1.0, values[0]) * (values[1] - values[2])


def spatial_rows(rows: list[dict]) -> list[dict]:
    """Rows with a spatial attention index (agents with feedback), at the trained T, intact or with the
    wrong goal cue."""
    return [r for r in rows if r["passes_as_trained"] and r["lesion"] in ("none", "goal")
            and not math.isnan(r.get("spatial_index", math.nan))]


def set_size_rows(rows: list[dict]) -> list[dict]:
    """The intact agents in the set-size conditions (a fixed number of distractors)."""
    return [r for r in main_rows(rows) if CONDITIONS[r["condition"]].distractors is not None]


def pass_rows(rows: list[dict], plan: Plan) -> list[dict]:
    """Intact rows, in the T sweep's conditions, of the (task, agent) pairs evaluated at other T."""
    swept = {(r["task"], r["agent"]) for r in rows if not r["passes_as_trained"]}
    return [r for r in rows if r["lesion"] == "none" and (r["task"], r["agent"]) in swept
            and r["condition"] in plan.passes_conditions]


def learning_curves(trained: dict) -> dict[tuple[str, str], list[list]]:
    """{(task, agent): [each seed's [[step, normalised score], ...]]} from the train records."""
    curves: dict[tuple[str, str], list[list]] = defaultdict(list)
    for record in trained.values():
        if record.get("curve"):
            curves[(record["unit"]["task"], record["unit"]["agent"])].append(record["curve"])
    return curves


def by_seed(rows: list[dict], metric: str) -> dict[tuple, dict[int, float]]:
    """{(task, condition, agent): {seed: metric}} of the intact agents at their trained T: the
    paired values (same seed, same worlds) that the verdicts compare."""
    out: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in main_rows(rows):
        out[(r["task"], r["condition"], r["agent"])][r["seed"]] = float(r[metric])
    return out


# --- sample efficiency: steps to a threshold on the training curves ---------------------------

THRESHOLDS = (("precision", 0.75), ("normalized_score", 0.8))  # (curve, level)


def steps_to(curve: list[list[float]], level: float) -> Optional[int]:
    """The first logged step at which the curve reaches `level`; None where it never does."""
    return next((int(step) for step, value in curve if value >= level), None)


def efficiency_rows(out: str, plan: Plan, trained: dict) -> list[dict]:
    """One row per trained unit: its run length and the steps to each threshold (None: censored,
    never reached within the run)."""
    rows = []
    for record in trained.values():
        curves = train_curves(out, record, plan)
        unit = record["unit"]
        row = {"task": unit["task"], "agent": unit["agent"], "seed": unit["seed"], "run_steps": record["global_step"]}
        for name, level in THRESHOLDS:
            row[name] = steps_to(curves[name], level) if curves[name] else math.nan
        rows.append(row)
    return rows


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


# --- the reversal curve (the evaluator's reversal_precision_<steps since the switch>) ---------

_REVERSAL = re.compile(r"^reversal_precision_(\d+)$")


def reversal_curves(rows: list[dict], conditions: tuple[str, ...]) -> dict[tuple[str, str, str], dict[int, list]]:
    """{(task, condition, agent): {bin start: [each seed's precision]}} of the intact agents in
    `conditions`, from the rows that hold a reversal curve (none where the evaluator gives none)."""
    curves: dict[tuple, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for r in main_rows(rows):
        if r["condition"] not in conditions:
            continue
        for key, value in r.items():
            match = _REVERSAL.match(key)
            if match and not math.isnan(float(value)):
                curves[(r["task"], r["condition"], r["agent"])][int(match[1])].append(float(value))
    return {k: dict(sorted(v.items())) for k, v in curves.items()}


def win_stay_rows(rows: list[dict], conditions: tuple[str, ...]) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    """{(task, condition, agent): [each seed's (P(stay | win), P(stay | loss))]} of the intact agents in
    `conditions`, from the rows that measured both (cells evaluated before the measure existed have neither)."""
    pairs: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for r in main_rows(rows):
        win, loss = r.get("stay_after_win"), r.get("stay_after_loss")
        if r["condition"] in conditions and win not in (None, "") and loss not in (None, ""):
            if not (math.isnan(float(win)) or math.isnan(float(loss))):
                pairs[(r["task"], r["condition"], r["agent"])].append((float(win), float(loss)))
    return dict(pairs)
