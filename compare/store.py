"""Finished cells on disk: one JSON file per cell, `OUT/cells/<kind>/<key>.json`, written atomically.

A file exists only once its cell is finished (`common.files`: temporary file + `os.replace`), so
an interrupted compare leaves no half-written cell, and a resumed one skips every cell whose file
exists.
Kinds: "train" (a trained unit), "reference" (random and scripted foragers on a condition's
worlds), "eval" (a unit in one condition, lesion and T). Beside the cells: OUT/plan.json (a resumed
compare must match it, `prepare_out`) and OUT/invocations.json (every command that worked on it).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import Any, Optional

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

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
    """The finished cell's record, checked (`check_cell`), or None where it is not finished."""
    path = cell_path(out, kind, key)
    return check_cell(path, kind, read_json(path), _plan_of(out)) if os.path.isfile(path) else None


def save_cell(out: str, kind: str, key: str, record: dict) -> None:
    write_json(cell_path(out, kind, key), {"key": key, **record})


def load_cells(out: str, kind: str) -> dict[str, dict]:
    """Every finished cell of `kind` in `out`, by key."""
    directory = os.path.dirname(cell_path(out, kind, "x"))
    if not os.path.isdir(directory):
        return {}
    plan = _plan_of(out)
    return {name[:-5]: check_cell(os.path.join(directory, name), kind, read_json(os.path.join(directory, name)), plan)
            for name in sorted(os.listdir(directory))
            if name.endswith(".json") and not name.startswith(".")}  # hidden names are writes in progress


# --- what a cell must be ---------------------------------------------------------------------

_NUMBER = (int, float)
# The fields each kind of cell holds, with their JSON types (None: may be null); a cell without one, or with
# another type, was damaged or edited, and is named rather than read.
FIELDS = {
    "train": {"unit": (dict,), "run_dir": (str,), "global_step": (int,), "curve": (list,),
              "final_score": (*_NUMBER, type(None))},
    "reference": {"spec": (dict,), "random": (dict,), "scripted": (dict,)},
    "eval": {"unit": (dict,), "unit_key": (str,), "condition": (str,), "lesion": (str,), "passes": (int, type(None)),
             "reference": (str,), "episode_steps": (int,), "metrics": (dict,)},
}
UNIT_FIELDS = {"task": (str,), "agent": (str,), "seed": (int,)}
METRIC_FIELDS = {"passes": (int,), "episodes": (int,), "return_mean": _NUMBER}
SPEC_FIELDS = {"condition": (str,), "env_id": (str,), "kwargs": (list,), "cue_change": (bool,), "worlds": (int,),
               "seed": (int,)}


class _Bad(Exception):
    """What is wrong with a cell, said by `check_cell`."""


def check_cell(path: str, kind: str, record: Any, plan: Optional[Plan] = None) -> dict:
    """``record``, read from ``path``, if it is a whole cell of ``kind`` whose file name and contents agree, and
    (given ``plan``) a train or eval cell that the plan makes; otherwise a one-line CompareError naming the file.
    A reference cell of other worlds is read: `compare.references` names it, and no row reads it."""
    try:
        _check(os.path.basename(path)[:-len(".json")], kind, record, plan)
    except _Bad as bad:
        raise CompareError(f"{path}: not a {kind} cell of this compare ({bad}); delete it and run the same command "
                           f"again, which redoes just that piece") from None
    return record


def _check(name: str, kind: str, record: Any, plan: Optional[Plan]) -> None:
    _fields(record, FIELDS[kind], "")
    if record.get("key", name) != name:
        raise _Bad(f"its key {record['key']!r} is not its file name")
    if kind == "reference":
        spec = record["spec"]
        _fields(spec, SPEC_FIELDS, "spec.")
        for forager in ("random", "scripted"):
            _numbers(record[forager], f"{forager}.")
        text = json.dumps([spec["env_id"], spec["kwargs"], spec["cue_change"], spec["worlds"], spec["seed"]], default=str)
        if name != f"{spec['env_id']}__{spec['condition']}__{hashlib.sha1(text.encode()).hexdigest()[:10]}":
            raise _Bad("its spec is not the worlds its file name stands for")
        return
    unit = record["unit"]
    _fields(unit, UNIT_FIELDS, "unit.")
    unit_key = f"{unit['task']}__{unit['agent']}__s{unit['seed']}"
    if plan is not None and ((unit["task"], unit["agent"]) not in plan.pairs()
                             or not (plan.from_runs or 1 <= unit["seed"] <= plan.seeds)):
        raise _Bad(f"its unit {unit_key} is not one the plan trains")
    if kind == "train":
        if name != unit_key:
            raise _Bad(f"its unit is {unit_key}")
        if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, _NUMBER) for x in p)
                   for p in record["curve"]):
            raise _Bad("its curve is not a list of [step, value] pairs")
        if not isinstance(record.get("cut_event_files", []), list):
            raise _Bad("its cut_event_files is not a list")
        return
    _fields(record["metrics"], METRIC_FIELDS, "metrics.")
    _numbers(record["metrics"], "metrics.")
    key = f"{unit_key}__{record['condition']}__{record['lesion']}__T{record['passes'] or 'trained'}"
    if record["unit_key"] != unit_key or name != key:
        raise _Bad(f"its contents are the cell {key}")
    if plan is not None and (record["condition"] not in plan.conditions
                             or record["lesion"] not in ("none", *plan.lesions)
                             or record["passes"] not in (None, *plan.passes)
                             or record["episode_steps"] != plan.episode_steps):
        raise _Bad(f"its condition, lesion, T or episode length ({record['condition']}, {record['lesion']}, "
                   f"{record['passes']}, {record['episode_steps']} steps) is not among the plan's")


def _fields(record: Any, fields: dict, prefix: str) -> None:
    if not isinstance(record, dict):
        raise _Bad(f"{prefix or 'the file'} is a JSON {type(record).__name__}, not an object")
    for name, types in fields.items():
        if name not in record:
            raise _Bad(f"it has no {prefix}{name}")
        value = record[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise _Bad(f"its {prefix}{name} is {type(value).__name__}, not {' or '.join(_json_name(t) for t in types)}")


def _numbers(values: dict, prefix: str) -> None:
    for name, value in values.items():
        if not isinstance(value, (*_NUMBER, type(None))) or isinstance(value, bool):
            raise _Bad(f"its {prefix}{name} is {type(value).__name__}, not a number")


def _json_name(t: type) -> str:
    return {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
            bool: "true/false", type(None): "null"}[t]


def _plan_of(out: str) -> Optional[Plan]:
    """OUT's plan, which its cells must agree with (None where it has none yet)."""
    path = os.path.join(out, PLAN_FILE)
    return Plan.from_dict(read_json(path), path) if os.path.isfile(path) else None


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
    """[[step, value], ...] of a TensorBoard scalar in a run directory ([] where it was never logged), in step
    order, from `curriculum_end` on: a learning curve is of the task's own worlds.

    Each event file is read on its own. A resumed run writes a new one from its checkpoint's step on, which
    replaces what the earlier files logged from that step (the trainer's purge_step), whatever order the wall
    clock gave the files' names."""
    curve: list[list[float]] = []
    for first, _, points in _event_pieces(run_dir, tag):
        curve = [p for p in curve if p[0] < first] + points
    start = curriculum_end(run_dir)
    return [p for p in curve if p[0] >= start]


def cut_event_files(run_dir: str) -> list[str]:
    """The run's last event file (the one its curve ends with), if it ends inside a record: cut short by a full
    disk or a bad copy, so its curve may lack its end. An earlier file cut short (a process killed, then resumed)
    is not named: the resumed run's file replaces its end."""
    pieces = _event_pieces(run_dir, CURVE_TAG)
    if not pieces:
        return []
    name = pieces[-1][1]
    return [] if _whole_records(os.path.join(run_dir, name)) else [name]


def _event_pieces(run_dir: str, tag: str) -> list[tuple[int, str, list[list[float]]]]:
    """(the file's first step of any scalar, its name, its points of ``tag`` in step order) for each event file of
    ``run_dir`` that holds ``tag``, in the order of their first steps."""
    if not os.path.isdir(run_dir):
        return []
    pieces = []
    for name in sorted(os.listdir(run_dir)):
        if "tfevents" not in name:
            continue
        accumulator = EventAccumulator(os.path.join(run_dir, name), size_guidance={"scalars": 0})
        accumulator.Reload()
        tags = accumulator.Tags().get("scalars", [])
        firsts = [accumulator.Scalars(t)[0].step for t in tags if accumulator.Scalars(t)]
        if tag in tags and firsts:
            points = sorted(([int(e.step), float(e.value)] for e in accumulator.Scalars(tag)), key=lambda p: p[0])
            pieces.append((min(firsts), name, points))
    return sorted(pieces, key=lambda piece: piece[0])


def _whole_records(path: str) -> bool:
    """Whether an event file is a sequence of whole TFRecords (length, its checksum, data, data checksum)."""
    with open(path, "rb") as f:
        size, at = os.fstat(f.fileno()).st_size, 0
        while at < size:
            header = f.read(12)
            if len(header) < 12 or masked_crc32c(header[:8]) != struct.unpack("<I", header[8:])[0]:
                return False
            at += 12 + struct.unpack("<Q", header[:8])[0] + 4
            if at > size:
                return False
            f.seek(at)
    return True


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
