"""The compare's rows: one per finished evaluation cell, with the condition's reference foragers beside
it, their CSV files, and the two groupings every analysis reads (`group`: a metric summarised over
seeds; `by_seed`: the paired values behind a verdict). Each analysis in `compare.analysis` selects
its own rows from these.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from typing import Optional

import envs
from common.files import atomic_path
from compare import stats
from compare.grid import LESIONS, Plan
from compare.errors import CompareError
from compare.store import cell_path, load_cells

SUMMARY_METRICS = ("normalized_score", "return_mean", "precision", "target_eaten", "distractor_eaten",
                   "steps_to_first_target", "found_share", "clean_steps_to_first_target", "distractor_first_share",
                   "fs_rho", "fs_beta")
REFERENCES = ("random", "scripted", "still")  # the reference foragers of every condition (`compare.evaluate`)
REFERENCE_METRICS = ("return_mean", "target_eaten", "distractor_eaten", "steps_to_first_target",
                     "clean_steps_to_first_target", "distractor_first_share")
FEATURE_METRICS = ("fs_rho", "fs_beta", "fs_p")  # `compare.measures.FeatureGainRecorder`, NaN without gains
BASE_COLUMNS = ("task", "agent", "seed", "condition", "lesion", "passes", "passes_as_trained", "episodes",
                "episode_steps", "return_mean", "return_se", "normalized_score", "precision", "target_eaten",
                "distractor_eaten", "steps_to_first_target", "found_share", "clean_steps_to_first_target",
                "clean_found_share", "distractor_first_share", "still_score",
                *(f"{kind}_{metric}" for kind in REFERENCES for metric in REFERENCE_METRICS),
                *FEATURE_METRICS, "train_steps", "train_final_score")
LESION_ORDER = ("none",) + LESIONS


# --- rows ------------------------------------------------------------------------------------


def build_rows(out: str, plan: Plan) -> list[dict]:
    """One row per finished evaluation cell in `out`, in the plan's order."""
    references = load_cells(out, "reference")
    trained = load_cells(out, "train")
    rows = []
    for record in load_cells(out, "eval").values():
        unit, metrics = record["unit"], record["metrics"]
        if record["reference"] not in references:
            raise CompareError(f"{cell_path(out, 'eval', record['key'])}: its reference cell {record['reference']!r} is "
                               f"missing; delete it and run the same command again, which redoes just that piece")
        reference = references[record["reference"]]
        train = trained.get(record["unit_key"], {})
        row = {
            "task": unit["task"], "agent": unit["agent"], "seed": unit["seed"], "condition": record["condition"],
            "lesion": record["lesion"], "passes": metrics["passes"], "passes_as_trained": record["passes"] is None,
            "episodes": metrics["episodes"], "episode_steps": record["episode_steps"],
            **{f"{kind}_{metric}": float(reference.get(kind, {}).get(metric, math.nan))
               for kind in REFERENCES for metric in REFERENCE_METRICS},
            "train_steps": train.get("global_step", math.nan),
            "train_final_score": train.get("final_score", math.nan),
        }
        row.update({k: v for k, v in metrics.items() if k not in ("passes", "episodes")})
        references_here = {"random": row["random_return_mean"], "scripted": row["scripted_return_mean"]}
        scaled = row["scripted_return_mean"] != row["random_return_mean"]
        row["normalized_score"] = envs.normalized_score(row["return_mean"], references_here) if scaled else math.nan
        # the forager that turns in place, on the same scale: a score must beat it (NaN where it was not run)
        row["still_score"] = envs.normalized_score(row["still_return_mean"], references_here) if scaled else math.nan
        for name in ("clean_steps_to_first_target", "clean_found_share", "distractor_first_share"):
            row.setdefault(name, math.nan)  # cells evaluated before the measure existed
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
    """results.csv (or summary.csv, verdicts.csv) back into typed rows: numbers as float (int where a count),
    flags as bool, text as text."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        typed = {}
        for key, value in row.items():
            if key == "passes_as_trained":
                typed[key] = value == "True"
            elif value == "":
                typed[key] = math.nan
            else:
                try:
                    number = float(value)
                except ValueError:
                    typed[key] = value
                    continue
                typed[key] = int(number) if key in ("seed", "passes", "episodes", "episode_steps", "n") else number
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


# --- the groupings every analysis reads -------------------------------------------------------


def main_rows(rows: list[dict]) -> list[dict]:
    """The intact agents at their trained T: the per-task tables, the contrasts, most analyses."""
    return [r for r in rows if r["lesion"] == "none" and r["passes_as_trained"]]


def by_seed(rows: list[dict], metric: str) -> dict[tuple, dict[int, float]]:
    """{(task, condition, agent): {seed: metric}} of the intact agents at their trained T: the
    paired values (same seed, same worlds) that the verdicts compare."""
    out: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in main_rows(rows):
        out[(r["task"], r["condition"], r["agent"])][r["seed"]] = float(r.get(metric, math.nan))
    return out
