"""One group's work, wherever it runs (this process, a worker process, a Ray task): train the group's
seeds one after another, then evaluate each of its units' cells.

A *group* is this shard's units that share (task, agent, difficulty): the seeds of one grid cell. A `--from` unit is a group of its own: it is loaded, not trained. Every record is saved
(`compare.store`) the moment it is finished, by whichever process made it, so an interrupted compare
loses no finished cell, and a resumed one skips it: a unit whose train record exists is not trained
again, and a run that stopped mid-way resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from typing import Iterator, Sequence

import torch
from tqdm import tqdm

import training
from common.device import resolve_device
from compare.evaluate import env_spec, evaluate_cell, evaluate_reference
from compare.grid import CompareError, Plan, Unit, eval_cells
from compare.store import PRECISION_TAG, cell_path, cut_event_files, load_cell, read_curve, run_dir_of, save_cell
from compare.variants import parse_variant, trainer_overrides
from training.checkpoint import CHECKPOINT_FILE, CheckpointError, read_run
from training.config import Config
from training.run_state import check_resumable


class UnitError(RuntimeError):
    """A unit's training or evaluation failed; the message names the unit(s), the cause follows."""


def groups_of(units: Sequence[Unit]) -> list[list[Unit]]:
    """Units that share (task, agent, difficulty), in the order given; a --from unit stays alone."""
    groups: dict[tuple, list[Unit]] = {}
    for unit in units:
        key = ("from", unit.run_dir) if unit.run_dir else (unit.task, unit.agent, unit.difficulty)
        groups.setdefault(key, []).append(unit)
    return list(groups.values())


def run_group(units: Sequence[Unit], plan: Plan, out: str, progress: bool) -> int:
    """Train the group's untrained units as one population (a --from unit: read its run), then
    evaluate every unit's unfinished cells; returns how many cells it evaluated."""
    device = resolve_device(plan.device, "--device")
    records = {u.key: load_cell(out, "train", u.key) for u in units}
    untrained = [u for u in units if records[u.key] is None]
    for unit in (u for u in untrained if u.run_dir):
        with _naming("reading", [unit]):
            records[unit.key] = loaded_unit_record(unit)
        save_cell(out, "train", unit.key, records[unit.key])
    fresh = [u for u in untrained if not u.run_dir]
    if fresh:
        records.update(zip((u.key for u in fresh), train_group(fresh, plan, out, progress)))
    done = 0
    for unit in units:
        run_dir = run_dir_of(out, records[unit.key], plan)
        with _naming("evaluating", [unit]):
            done += evaluate_unit(unit, plan, out, run_dir, records[unit.key], device, progress)
    return done


@contextlib.contextmanager
def _naming(doing: str, units: Sequence[Unit]) -> Iterator[None]:
    """An error inside becomes a UnitError that names the units (Ctrl-C, bad input and file-system trouble, such
    as a full disk, pass as they are: compare.py says each in one line)."""
    try:
        yield
    except (CompareError, UnitError, OSError):
        raise
    except Exception as exc:
        raise UnitError(f"{doing} {', '.join(u.key for u in units)}: {type(exc).__name__}: {exc}") from exc


# --- training --------------------------------------------------------------------------------


def train_group(units: Sequence[Unit], plan: Plan, out: str, progress: bool) -> list[dict]:
    """Train units that differ only in seed, one after another (as `training.train_population` does); saves
    and returns each unit's train record. A run with a checkpoint (an interrupted compare) resumes from it,
    every one checked before any trains; a run that died before its first checkpoint starts again."""
    configs = []
    for unit in units:
        run_dir = os.path.join(out, "runs", unit.key)
        config = train_config(unit, plan, run_dir, progress)
        if os.path.isfile(os.path.join(run_dir, CHECKPOINT_FILE)):
            checkpoint_of(out, unit, run_dir, resume=True)  # a damaged one is named, with what to do, before any training
            config = dataclasses.replace(config, resume=run_dir)
        configs.append(config)
    records = []
    for unit, config in zip(units, configs):
        if config.resume is None:
            if os.path.isdir(config.run_dir):
                shutil.rmtree(config.run_dir)  # died before its first checkpoint: start it again
            os.makedirs(config.run_dir)
        with _naming("training", [unit]):
            records.append(_train_unit(unit, config, out))
    return records


def train_config(unit: Unit, plan: Plan, run_dir: str, progress: bool = False):
    """The trainer's Config of a unit under the plan (no final evaluation: compare's own evaluation of the
    saved policy, in every condition, is the measure)."""
    return Config(env=unit.task, agent=parse_variant(unit.agent).preset, seed=unit.seed, total_steps=plan.steps,
                  num_envs=plan.num_envs, num_steps=plan.num_steps, device=plan.device, run_dir=run_dir,
                  difficulty=unit.difficulty, max_episode_steps=plan.episode_steps, progress=progress,
                  agent_overrides=trainer_overrides(unit.agent), env_kwargs=dict(unit.world_kwargs),
                  clutter_ramp=plan.clutter_ramp, final_episodes=0)  # compare evaluates every run itself


def calibrate(units: Sequence[Unit], plan: Plan, updates: int = 2) -> dict[tuple[str, str, str], float]:
    """Steady training steps/s of each distinct (task, agent, difficulty) among ``units``, measured here by
    a short run of ``updates`` updates at the plan's settings (the first update, which warms up, is not
    timed) in a scratch directory."""
    measured = {}
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
        for unit in units:
            kind = (unit.task, unit.agent, unit.difficulty)
            if kind not in measured:
                config = train_config(unit, plan, os.path.join(scratch, unit.key))
                config = dataclasses.replace(config, total_steps=plan.num_envs * plan.num_steps * updates,
                                             video_interval=0, image_interval=0, checkpoint_interval=0)
                measured[kind] = training.train(config).sps
    return measured


def _train_unit(unit: Unit, config, out: str) -> dict:
    """Train one unit, its console output into its run's train.log; save its record at once."""
    with open(os.path.join(config.run_dir, "train.log"), "a") as log, contextlib.redirect_stdout(log):
        result = training.train(config)
    if result.interrupted:
        raise KeyboardInterrupt(f"training of {unit.key} stopped; the checkpoint is saved")
    record = {
        "unit": dataclasses.asdict(unit), "run_dir": os.path.join("runs", unit.key),
        "global_step": result.global_step, "final_score": result.normalized_score,
        "final_return": result.episodic_return, "agent_params": result.agent_params, "sps": result.sps,
        "seconds": result.elapsed, "reference": result.reference, "curve": read_curve(config.run_dir),
        "precision_curve": read_curve(config.run_dir, PRECISION_TAG),
        "run": run_identity(config.run_dir, result.updates, result.global_step),
        "cut_event_files": cut_event_files(config.run_dir)}
    save_cell(out, "train", unit.key, record)
    return record


def checkpoint_of(out: str, unit: Unit, run_dir: str, map_location: str = "cpu", resume: bool = False) -> dict:
    """The unit's checkpoint in ``run_dir`` (with ``resume``, also checked as the trainer will before resuming
    it); a missing or damaged one raises CompareError naming the file and what to delete so that running the
    same command again retrains just this unit."""
    try:
        saved = read_run(run_dir, map_location=map_location)
        if resume:
            check_resumable(saved)
        return saved.payload
    except CheckpointError as exc:
        if unit.run_dir is not None:  # a --from run: compare did not train it and will not
            raise CompareError(f"--from: {exc}; retrain {unit.run_dir} or leave it out") from None
        cell = cell_path(out, "train", unit.key)
        delete = f"delete {run_dir}" + (f" and {cell}" if os.path.isfile(cell) else "")
        raise CompareError(f"checkpoint {exc.path!r} {exc.problem}; {delete} and run the same command again (it "
                           f"retrains this run, nothing else)") from None


def loaded_unit_record(unit: Unit) -> dict:
    """The train record of a --from run, from its checkpoint and event files."""
    payload = checkpoint_of("", unit, unit.run_dir)
    curve = read_curve(unit.run_dir)
    return {"unit": dataclasses.asdict(unit), "run_dir": unit.run_dir, "global_step": int(payload["global_step"]),
            "final_score": curve[-1][1] if curve else None, "final_return": None,
            "agent_params": sum(t.numel() for t in payload["model"].values()),
            "seconds": float(payload.get("elapsed", 0.0)), "reference": payload.get("reference", {}), "curve": curve,
            "precision_curve": read_curve(unit.run_dir, PRECISION_TAG),
            "run": run_identity(unit.run_dir, int(payload["update"]), int(payload["global_step"])),
            "cut_event_files": cut_event_files(unit.run_dir)}


def run_identity(run_dir: str, update: int, global_step: int) -> dict:
    """Which run a record comes from: its checkpoint's counters and the SHA-256 of the checkpoint file."""
    digest = hashlib.sha256()
    with open(os.path.join(run_dir, CHECKPOINT_FILE), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"update": int(update), "global_step": int(global_step), "checkpoint_sha256": digest.hexdigest()}


# --- evaluation ------------------------------------------------------------------------------


def evaluate_unit(unit: Unit, plan: Plan, out: str, run_dir: str, record: dict, device: torch.device,
                  progress: bool) -> int:
    """Evaluate every unfinished cell of one unit (and any reference they need); returns how many. Each cell
    records the run it evaluated (`run_identity`) and the agent's settings; a checkpoint that is not the one
    its train record (or an earlier cell) names is refused: the cells would mix two sets of weights."""
    todo = [c for c in eval_cells(unit, plan) if load_cell(out, "eval", c.key) is None]
    if not todo:
        return 0
    payload = checkpoint_of(out, unit, run_dir)
    identity = run_identity(run_dir, int(payload["update"]), int(payload["global_step"]))
    earlier = [("its train record", cell_path(out, "train", unit.key), record.get("run"))]
    earlier += [("an evaluated cell", cell_path(out, "eval", c.key), (load_cell(out, "eval", c.key) or {}).get("run"))
                for c in eval_cells(unit, plan) if c not in todo]
    for what, path, seen in earlier:
        if seen is not None and seen != identity:
            raise CompareError(f"{os.path.join(run_dir, CHECKPOINT_FILE)} changed since {what} was made ({path}: "
                               f"update {seen.get('update')!r}, now {identity['update']}; another checkpoint); "
                               f"allowed: a new --out, or delete {unit.key}'s cells to evaluate it again")
    for cell in tqdm(todo, desc=f"evaluate {unit.key}", unit="cell", leave=False, disable=not progress,
                     dynamic_ncols=True):
        spec = env_spec(unit, cell.condition, plan)
        if load_cell(out, "reference", spec.key) is None:
            save_cell(out, "reference", spec.key, {"spec": dataclasses.asdict(spec), **evaluate_reference(spec, device)})
        start = time.monotonic()
        metrics = evaluate_cell(cell, plan, payload, device)
        save_cell(out, "eval", cell.key, {
            "unit": dataclasses.asdict(unit), "unit_key": unit.key, "condition": cell.condition,
            "lesion": cell.lesion, "passes": cell.passes, "reference": spec.key,
            "episode_steps": plan.episode_steps, "metrics": metrics, "seconds": time.monotonic() - start,
            "run": identity, "agent_config": json.loads(payload["agent_config"])})
    return len(todo)
