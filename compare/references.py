"""The worlds behind the references: what a condition's worlds hold, and reference cells made whole.

`drawn_worlds` counts what a condition's worlds hold at reset (targets, distractors, near hues)
and how often ReversalBerry's paying colour switches, on the worlds themselves, so that every
condition's label can be held to them (tests/test_compare_references.py).

`load_play_records` reads the episodes a person played with `scripts/watch.py --play` (one JSON file
each, `viewer.play`), and `human_references` finds, for each task and condition of a compare, the
complete episodes played in worlds of exactly that condition's settings (the env id and the whole
world config), so a human baseline can sit beside the reference foragers (`compare.analysis.scores`).

`complete_references` brings reference cells stored before a reference forager or a measure
existed up to today's: a reference cell's worlds are fixed by its `EnvSpec`, so every reference
forager can run on them again, with no agent and no checkpoint. The foragers that were stored must
come out the same, number for number; where one does not, the worlds have changed since the record
was made, and the cell is left as it was (a report must not mix worlds).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Optional

import torch

from compare.errors import CompareError
from compare.evaluate import REFERENCE_KINDS, EnvSpec, ReferencePolicy, env_spec, evaluate_reference, make_env
from common import files
from compare.grid import CONDITIONS, Plan, Unit, condition_seed, world_kwargs_for
from compare.store import cell_path, load_cells, save_cell
from envs import world_config
from envs.config import NUM_COLOURS
from envs.world import is_target

# Measures `compare.evaluate.run_episodes` gained after reference cells were first stored: a cell whose
# foragers lack one is made again.
LATER_MEASURES = ("clean_steps_to_first_target", "clean_found_share", "distractor_first_share")
TOLERANCE = 1e-9  # a stored number is reproduced when the new one is within this (relative, or absolute near 0)


def drawn_worlds(unit: Unit, condition: str, episode_steps: int, worlds: int = 256) -> dict:
    """What the first `worlds` worlds of `condition` hold for `unit` (the worlds its cells meet), on the CPU:
    "targets" and "distractors", the sorted distinct numbers of each present at reset (e.g. [2] and [30]);
    "near_share", the share of those distractors in the target's neighbouring hues; "switch_rate", on
    ReversalBerry's worlds the paying colour's switches per world and step over one episode (None elsewhere),
    the forager turning on the spot."""
    env_id, kwargs = world_kwargs_for(unit, CONDITIONS[condition], episode_steps)
    spec = EnvSpec(condition, env_id, tuple(sorted(kwargs.items())), CONDITIONS[condition].cue_change, worlds,
                   condition_seed(condition))
    env = make_env(spec, torch.device("cpu"))
    try:
        env.reset(seed=spec.seed)
        world, state = env.unwrapped, env.unwrapped.state
        present, target = state.berry_timer == 0, is_target(state)
        targets, distractors = (present & target).sum(1), (present & ~target).sum(1)
        hue_step = (state.berry_colour - state.target_colour[:, None]) % NUM_COLOURS  # (N, K)
        near = present & ~target & ((hue_step == 1) | (hue_step == NUM_COLOURS - 1))
        switch_rate = None
        if world.config.task == "reversal":
            still = ReferencePolicy("still")
            still.start(world, None)
            switches = torch.zeros((), dtype=torch.int64)
            for _ in range(spec.steps):  # one episode: the autoreset after its last step is not taken
                before = world.state.target_colour
                env.step(still.act(None, world))
                switches += (world.state.target_colour != before).sum()
            switch_rate = int(switches) / (worlds * spec.steps)
        return {"targets": sorted(set(targets.tolist())), "distractors": sorted(set(distractors.tolist())),
                "near_share": int(near.sum()) / max(int(distractors.sum()), 1), "switch_rate": switch_rate}
    finally:
        env.close()


def complete_references(out: str, plan: Plan, device: torch.device = torch.device("cpu")) -> list[str]:
    """Make every reference cell in `out` that lacks a forager of `REFERENCE_KINDS` or a measure of
    `LATER_MEASURES` whole: its worlds are found among the plan's (the units of OUT's train records, in each
    of the plan's conditions), every reference forager runs on them again on `device`, and the cell is
    rewritten only where the foragers it held come out the same (within `TOLERANCE`). Returns what was
    done and what was not, and why, as sentences for the user; [] where every cell was whole."""
    cells = {key: record for key, record in load_cells(out, "reference").items() if _lacks(record)}
    if not cells:
        return []
    specs = _specs(out, plan)
    messages, completed, checked, added = [], [], set(), set()  # added: the foragers and measures new to a cell
    start = time.time()
    for key, record in cells.items():
        spec = specs.get(key)
        if spec is None:
            messages.append(f"reference cell {key}: left as it was: none of the plan's units makes these worlds in "
                            f"any of its conditions {list(plan.conditions)} (the conditions or the world settings "
                            f"changed since the cell was made), so they cannot be made again")
            continue
        fresh = evaluate_reference(spec, device)
        stored = [kind for kind in REFERENCE_KINDS if kind in record]
        differences = [_difference(kind, name, value, fresh[kind].get(name, math.nan))
                       for kind in stored for name, value in record[kind].items()]
        differences = [d for d in differences if d]
        if differences:
            messages.append(f"reference cell {key}: left as it was: the {' and '.join(stored)} foragers it holds "
                            f"did not come out the same ({'; '.join(differences[:3])}"
                            f"{f'; and {len(differences) - 3} more' if len(differences) > 3 else ''}): its worlds "
                            f"have changed since it was made, and a report must not mix worlds")
            continue
        added |= {kind for kind in REFERENCE_KINDS if kind not in record}
        added |= {name for kind in stored for name in LATER_MEASURES if name not in record[kind]}
        checked |= set(stored)
        save_cell(out, "reference", key, {**{k: v for k, v in record.items() if k != "key"}, **fresh})
        completed.append(key)
    if completed:
        new = [f"`{name}`" for name in REFERENCE_KINDS + LATER_MEASURES if name in added]
        kinds = [kind for kind in REFERENCE_KINDS if kind in checked]
        messages.insert(0, f"completed {len(completed)} reference cell{'s' if len(completed) > 1 else ''} with "
                           f"{', '.join(new)} ({time.time() - start:.1f} s on {device.type}); reproduced the stored "
                           f"{' and '.join(kinds)} foragers exactly (every number within {TOLERANCE:g})")
    return messages


def _lacks(record: dict) -> bool:
    return any(kind not in record or any(name not in record[kind] for name in LATER_MEASURES)
               for kind in REFERENCE_KINDS)


def _specs(out: str, plan: Plan) -> dict[str, EnvSpec]:
    """The worlds of every unit of OUT's train records in each of the plan's conditions that applies to it, by key."""
    specs = {}
    for key, record in load_cells(out, "train").items():
        values = record.get("unit")
        try:
            unit = Unit(**{**values, "world_kwargs": tuple(tuple(pair) for pair in values["world_kwargs"])})
        except (TypeError, KeyError) as exc:
            raise CompareError(f"{cell_path(out, 'train', key)}: its unit {values!r} is not one this version reads "
                               f"({exc}); it is damaged or from another version") from None
        for name in plan.conditions:
            if name in CONDITIONS and CONDITIONS[name].applies_to(unit.task):
                spec = env_spec(unit, name, plan)
                specs[spec.key] = spec
    return specs


def _difference(kind: str, name: str, stored, fresh) -> str:
    """'' where the re-run number matches the stored one, else a phrase saying how it differs."""
    both_nan = isinstance(stored, float) and isinstance(fresh, float) and math.isnan(stored) and math.isnan(fresh)
    if both_nan or (isinstance(stored, (int, float)) and isinstance(fresh, (int, float))
                    and abs(stored - fresh) <= TOLERANCE * max(1.0, abs(stored))):
        return ""
    return f"{kind} {name}: stored {stored!r}, now {fresh!r}"


# --- a person's episodes (`scripts/watch.py --play`) ------------------------------------------

PLAY_FORMAT, PLAY_VERSION = "redberry-play-episode", 1  # what `viewer.play` writes (compare does not import the viewer)
HUMAN_DIR = "human"  # OUT/human: the play records a compare was given (`compare.py --human DIR`), copied
_NUMBER = (int, float)
PLAY_FIELDS = {"env_id": str, "world": dict, "partial": bool, "steps": int, "max_episode_steps": int, "view": str,
               "foragers": int, "world_seed": int, "episode": int, "return": _NUMBER, "target_eaten": _NUMBER,
               "distractor_eaten": _NUMBER, "steps_to_first_target": _NUMBER, "found": bool,
               "clean_steps_to_first_target": _NUMBER, "clean_found": bool, "distractor_first": bool}


def load_play_records(folder: str) -> list[dict]:
    """Every play record (*.json) directly in `folder`, sorted by file name, each with its "path". A file that
    is not one (damaged JSON, another format or version, a missing field or one of the wrong type, counts
    that cannot be) raises CompareError, one line naming the file and what is wrong."""
    if not os.path.isdir(folder):
        raise CompareError(f"--human: {folder!r} is not a folder; allowed: the folder of `watch.py --play` records "
                           f"(its --play-records, runs/play by default)")
    records = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.endswith(".json") or name.startswith(".") or not os.path.isfile(path):
            continue  # a temporary file of an atomic write, or something else of the player's
        try:
            with open(path) as f:
                record = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise CompareError(f"{path}: not a play record: damaged JSON ({str(exc)[:120]})") from None
        records.append({**check_play_record(path, record), "path": path})
    return records


def check_play_record(path: str, record) -> dict:
    """`record` if it is a whole play record of this version, else CompareError naming `path` and the problem."""
    if not isinstance(record, dict):
        raise CompareError(f"{path}: not a play record: a JSON {type(record).__name__}, not an object")
    if record.get("format") != PLAY_FORMAT:
        raise CompareError(f"{path}: not a play record: format {record.get('format')!r}, not {PLAY_FORMAT!r}")
    if record.get("version") != PLAY_VERSION:
        raise CompareError(f"{path}: a play record of version {record.get('version')!r}, which this compare does "
                           f"not read (it reads version {PLAY_VERSION})")
    for name, kind in PLAY_FIELDS.items():
        if name not in record:
            raise CompareError(f"{path}: damaged play record: no {name!r}")
        value = record[name]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise CompareError(f"{path}: damaged play record: {name} is {value!r}, not a "
                               f"{'number' if kind is _NUMBER else kind.__name__}")
    if not 0 <= record["steps"] <= record["max_episode_steps"] or (not record["partial"]
                                                                    and record["steps"] != record["max_episode_steps"]
                                                                    and record["foragers"] == 1):
        raise CompareError(f"{path}: damaged play record: {record['steps']} steps of an episode of "
                           f"{record['max_episode_steps']}{'' if record['partial'] else ' (and not partial)'}")
    if record["target_eaten"] < 0 or record["distractor_eaten"] < 0:
        raise CompareError(f"{path}: damaged play record: negative berries eaten ({record['target_eaten']!r} targets, "
                           f"{record['distractor_eaten']!r} distractors)")
    return record


@dataclasses.dataclass(frozen=True)
class Human:
    """A person's complete episodes in one condition's worlds: means per episode, precision pooled, as
    `compare.evaluate.run_episodes` gives a cell's; `partial`: the cut-short episodes left out."""

    episodes: int
    returns: float
    target_eaten: float
    distractor_eaten: float
    precision: float
    steps_to_first_target: float
    found_share: float
    clean_steps_to_first_target: float
    views: tuple[str, ...]
    partial: int = 0


def human_references(records: list[dict], trained: dict, plan: Plan) -> dict[tuple[str, str], Human]:
    """{(task, condition): Human} for each task of the compare's train records and each of the plan's conditions
    whose worlds the records were played in: the same env id and the same world config (settings, version and
    episode length). Conditions that change the cue inside an episode have none (play does not change it)."""
    out = {}
    for record in trained.values():
        values = record.get("unit") or {}
        try:
            unit = Unit(**{**values, "world_kwargs": tuple(tuple(pair) for pair in values.get("world_kwargs", ()))})
        except TypeError:
            continue  # `_specs` names a damaged unit; the human rows only skip it
        for name in plan.conditions:
            condition = CONDITIONS.get(name)
            if condition is None or not condition.applies_to(unit.task) or condition.cue_change:
                continue
            env_id, kwargs = world_kwargs_for(unit, condition, plan.episode_steps)
            world = _world_of(env_id, kwargs)
            if world is None:
                continue
            played = [r for r in records if r["env_id"] == env_id and r["world"] == world and r["foragers"] == 1]
            whole = [r for r in played if not r["partial"]]
            if whole:
                out[(unit.task, name)] = _human(whole, len(played) - len(whole))
    return out


def _world_of(env_id: str, kwargs: dict) -> Optional[dict]:
    """The world config a condition's gym.make_vec keywords make, as a play record stores it (JSON's types)."""
    knobs = dict(kwargs)
    difficulty = knobs.pop("difficulty", "easy")
    try:
        config = world_config(env_id, difficulty, **knobs)
    except (ValueError, TypeError):
        return None
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _human(records: list[dict], partial: int) -> Human:
    n = len(records)

    def mean(name: str) -> float:
        return sum(float(r[name]) for r in records) / n

    targets, distractors = sum(r["target_eaten"] for r in records), sum(r["distractor_eaten"] for r in records)
    eaten = targets + distractors
    return Human(n, mean("return"), mean("target_eaten"), mean("distractor_eaten"),
                 targets / eaten if eaten > 0 else math.nan, mean("steps_to_first_target"),
                 sum(bool(r["found"]) for r in records) / n, mean("clean_steps_to_first_target"),
                 tuple(sorted({r["view"] for r in records})), partial)


def import_play_records(folder: str, out: str) -> int:
    """Check every play record in `folder` and copy them into OUT/human (each atomically), where the report
    reads them, so that a report rebuilt later keeps its human row. Returns how many were copied."""
    records = load_play_records(folder)
    target = os.path.join(out, HUMAN_DIR)
    for record in records:
        values = {k: v for k, v in record.items() if k != "path"}
        files.write_json(os.path.join(target, os.path.basename(record["path"])), values, indent=1, sort_keys=True)
    return len(records)


def stored_play_records(out: str) -> list[dict]:
    """The play records of OUT/human ([] where there are none)."""
    folder = os.path.join(out, HUMAN_DIR)
    return load_play_records(folder) if os.path.isdir(folder) else []
