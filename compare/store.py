"""Finished cells on disk: one JSON file per cell, `OUT/cells/<kind>/<key>.json`, written atomically.

A file exists only once its cell is finished (`common.files`: temporary file + `os.replace`), so
an interrupted compare leaves no half-written cell, and a resumed one skips every cell whose file
exists.
Kinds: "train" (a trained unit), "reference" (random and scripted foragers on a condition's
worlds), "eval" (a unit in one condition, lesion and T). Beside the cells: OUT/plan.json (a resumed
compare must match it, `prepare_out`) and OUT/invocations.json (every command that worked on it).
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import envs
from common import files
from compare.grid import CompareError, Plan
from training.config import ConfigError, from_dict

KINDS = ("train", "reference", "eval")
CURVE_TAG = "forage/normalized_score"  # the learning curve of a train record ("curve")
PRECISION_TAG = "forage/precision"  # its "precision_curve"
PLAN_FILE = "plan.json"
INVOCATIONS_FILE = "invocations.json"


def write_json(path: str, values: Any) -> None:
    """Write `values` as JSON to `path` atomically (NaN is written as NaN, which json reads back)."""
    files.write_json(path, values, indent=1, sort_keys=True)


def read_json(path: str) -> Any:
    """A compare file's JSON; a damaged one is a CompareError naming it and saying what to do."""
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CompareError(f"{path}: damaged ({str(exc)[:200]}); delete it and run the same command again, which redoes "
                           f"just that piece") from None


def run_dir_of(out: str, record: dict, plan: Plan) -> str:
    """The run directory a train record names, resolved and checked: a relative one must stay inside
    OUT/runs, an absolute one must be one of the plan's --from runs (a crafted record cannot point a
    compare, or a merge's copy, anywhere else)."""
    name = record.get("run_dir")
    if not isinstance(name, str) or not name:
        raise CompareError(f"{cell_path(out, 'train', str(record.get('key')))}: its run_dir {name!r} is not a path; "
                           f"delete the file and run the same command again")
    if os.path.isabs(name):
        if os.path.realpath(name) not in {os.path.realpath(r) for r in plan.from_runs}:
            raise CompareError(f"train cell {record.get('key')!r} in {out!r} names the run {name!r}, which is not one "
                               f"of this compare's --from runs; delete the cell and run again")
        return name
    runs = os.path.realpath(os.path.join(out, "runs"))
    path = os.path.realpath(os.path.join(out, name))
    if os.path.commonpath([runs, path]) != runs or path == runs:
        raise CompareError(f"train cell {record.get('key')!r} in {out!r} names the run {name!r}, outside "
                           f"{os.path.join(out, 'runs')}; delete the cell and run again")
    return os.path.join(out, name)


def cell_path(out: str, kind: str, key: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} must be one of {KINDS}")
    return os.path.join(out, "cells", kind, f"{key}.json")


def load_cell(out: str, kind: str, key: str) -> Optional[dict]:
    """The finished cell's record, or None where it is not finished."""
    path = cell_path(out, kind, key)
    return read_json(path) if os.path.isfile(path) else None


def save_cell(out: str, kind: str, key: str, record: dict) -> None:
    write_json(cell_path(out, kind, key), {"key": key, **record})


def load_cells(out: str, kind: str) -> dict[str, dict]:
    """Every finished cell of `kind` in `out`, by key."""
    directory = os.path.dirname(cell_path(out, kind, "x"))
    if not os.path.isdir(directory):
        return {}
    return {name[:-5]: read_json(os.path.join(directory, name))  # hidden names are writes in progress
            for name in sorted(os.listdir(directory)) if name.endswith(".json") and not name.startswith(".")}


# --- the out folder: its plan and the commands that made it ----------------------------------


def prepare_out(out: str, plan: Plan) -> None:
    """Write OUT/plan.json, or check that a compare already there has the same plan (resume)."""
    path = os.path.join(out, PLAN_FILE)
    if os.path.isfile(path):
        try:
            saved = Plan.from_dict(read_json(path))
        except (json.JSONDecodeError, TypeError, CompareError) as exc:
            raise CompareError(f"--out: {path} cannot be read ({exc}); allowed: a new folder, or one written by "
                               f"compare.py") from None
        differences = saved.differences(plan)
        if differences:
            raise CompareError(f"--out: {out!r} holds a compare with other settings ({'; '.join(differences)}); "
                               f"allowed: the same flags (to resume it) or a new --out")
    elif os.path.isdir(out) and set(os.listdir(out)) - {files.LOCK_FILE}:
        raise CompareError(f"--out: {out!r} exists and is not a compare's folder (no {PLAN_FILE}); allowed: a new or "
                           f"empty folder, or a compare's folder to resume")
    sweep_out(out)
    write_json(path, plan.to_dict())


def sweep_out(out: str) -> None:
    """Remove the temporaries that killed processes left in `out` (cells, report, plots); the run
    directories under OUT/runs are swept by the trainer when it opens them."""
    for directory, subdirs, _ in os.walk(out):
        if directory == out and "runs" in subdirs:
            subdirs.remove("runs")
        files.sweep_temporaries(directory)


def record_invocation(out: str, entry: dict) -> None:
    """Append `entry` (a run or a merge: command, shard, start, seconds, device) to OUT/invocations.json."""
    path = os.path.join(out, INVOCATIONS_FILE)
    invocations = read_json(path) if os.path.isfile(path) else []
    write_json(path, invocations + [entry])


def read_curve(run_dir: str, tag: str = CURVE_TAG) -> list[list[float]]:
    """[[step, value], ...] of a TensorBoard scalar in a run directory ([] where it was never logged),
    from `curriculum_end` on: a learning curve is of the task's own worlds."""
    if not os.path.isdir(run_dir):
        return []
    accumulator = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    accumulator.Reload()
    if tag not in accumulator.Tags().get("scalars", []):
        return []
    start = curriculum_end(run_dir)
    return [[int(e.step), float(e.value)] for e in accumulator.Scalars(tag) if e.step >= start]


def curriculum_end(run_dir: str) -> int:
    """The env step from which every episode a run logs ran in its task's own worlds: 0, or for a run
    trained with --colour-prior-ramp (whose earlier worlds paid red more often, so an agent that always
    seeks red scored well there) or --clutter-ramp (whose earlier worlds were easier to see) the later
    ramp's end plus one episode of every world."""
    try:
        config = from_dict(read_json(os.path.join(run_dir, "config.json")), run_dir)
    except (CompareError, ConfigError, OSError, TypeError, ValueError):
        return 0
    ramp = max(config.prior_ramp, config.clutter_ramp)
    if not ramp:
        return 0

    episode = envs.world_config(config.env, **config.env_make_kwargs()).max_episode_steps
    return int(ramp * config.total_steps) + episode * config.num_envs
