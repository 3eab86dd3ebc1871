"""A compare from start to end: check the input, train or load each unit, evaluate its cells, report.

Order of work: this shard's units, in groups (`compare.work`): the seeds of one (task, agent)
train together as one population (`training.train_population`), then each unit's cells are
evaluated. The groups run one after another in this process, or `--jobs J` at once in worker
processes, or as Ray tasks (`compare.launch`). Each finished record is saved at once
(`compare.store`), so an interrupted compare, run again with the same flags, redoes none of them;
a training run interrupted mid-way resumes from its last checkpoint. `merge` joins the output
folders of shards (`--shard i/n`) into one report, after making whole the reference cells stored
before a reference forager or measure existed (`compare.references`).

Every check of the input runs before any training starts (`make_plan`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from typing import Iterator

from tqdm import tqdm

import agents
from common.device import resolve_device
from common.files import LOCK_FILE, TEMP_MARK, DirLock, DirLockedError, unwritable_dir
from compare import report
from compare.cli import CompareArgs
from compare.grid import ALL_TASKS, CONDITIONS, CompareError, Plan, Unit, check_plan, eval_cells, preset_unit
from compare.launch import check_launch, parse_shard, run_groups, shard_units
from compare.references import complete_references
from compare.scales import ESTIMATE_FROM_HOURS, SCALES, cost, cost_text, estimate_text
from compare.store import (INVOCATIONS_FILE, PLAN_FILE, cell_path, load_cell, load_cells, prepare_out, read_json, run_dir_of,
                           record_invocation, save_cell, write_json)
from compare.variants import parse_variant, trainer_overrides, variant_of_run
from compare.work import calibrate, groups_of
from training import prepare_cpu_process
from training.checkpoint import CHECKPOINT_FILE, CheckpointError, read_run
from training.checks import validate
from training.config import Config, ConfigError

# --- the plan and its units ------------------------------------------------------------------


def make_plan(args: CompareArgs) -> tuple[Plan, list[Unit]]:
    """The resolved settings and every unit of the compare; raises CompareError on bad input."""
    check_launch(args.jobs, args.launcher)
    if args.scale not in SCALES:
        raise CompareError(f"--scale: got {args.scale!r}; allowed: {', '.join(SCALES)}")
    values = dict(SCALES[args.scale])
    explicit = {f.name: getattr(args, f.name) for f in dataclasses.fields(Plan)
                if hasattr(args, f.name) and f.name not in ("shard", "from_runs") and getattr(args, f.name) is not None}
    values.update({k: tuple(v) if isinstance(v, list) else v for k, v in explicit.items()})
    values["shard"] = parse_shard(args.shard)
    if values.get("groups") and not args.from_runs and ("agents" in explicit or "envs" in explicit):
        values["groups"] = () if "agents" in explicit and "envs" in explicit else _select_groups(args, values)
    units: list[Unit] = []
    if args.from_runs:
        for flag, value in (("--seeds", args.seeds), ("--steps", args.steps), ("--train-difficulty", args.train_difficulty),
                            ("--num-envs", args.num_envs), ("--num-steps", args.num_steps),
                            ("--clutter-ramp", args.clutter_ramp)):
            if value is not None:
                raise CompareError(f"{flag}: not used with --from, whose run directories decide it; drop {flag}")
        found = load_runs(args.from_runs)
        _listed_units(args)
        units = [u for u in found if (args.agents is None or u.agent in args.agents)
                 and (args.envs is None or u.task in args.envs)]
        if not units:
            raise CompareError(f"--agents/--envs: the selection leaves none of the --from runs; they hold "
                               f"{sorted({(u.task, u.agent) for u in found})}")
        values["agents"] = tuple(sorted({u.agent for u in units}, key=lambda a: (list(agents.PRESETS).index(
            parse_variant(a).preset), a)))
        values["envs"] = tuple(t for t in ALL_TASKS if any(u.task == t for u in units))
        values["groups"] = tuple((task, tuple(a for a in values["agents"] if any((u.task, u.agent) == (task, a)
                                                                          for u in units)))
                                 for task in values["envs"])  # the (task, agents) pairs the runs hold
        values["seeds"] = max(sum(1 for u in units if (u.task, u.agent) == (v.task, v.agent)) for v in units)
        values["from_runs"] = tuple(sorted(u.run_dir for u in units))
    if "conditions" not in explicit:  # the scale's conditions, kept to those that apply to the tasks
        values["conditions"] = tuple(c for c in values["conditions"]
                                     if any(CONDITIONS[c].applies_to(t) for t in values["envs"] if t in ALL_TASKS))
    for name in ("lesion_conditions", "passes_conditions"):
        if name not in explicit:  # the scale's choice, kept to the conditions chosen
            values[name] = tuple(c for c in values[name] if c in values["conditions"])
    plan = Plan(**values)
    # the scale's primary contrasts that this selection still trains and evaluates (a narrowed scale keeps fewer)
    pairs = plan.pairs()
    plan = dataclasses.replace(plan, primary=tuple(c for c in plan.primary if (c[0], c[1]) in pairs
                                                   and (c[0], c[2]) in pairs and c[3] in plan.conditions))
    check_plan(plan)
    if not args.from_runs:
        check_training(plan)
        units = [preset_unit(t, a, s, plan.train_difficulty) for t, a in plan.pairs() for s in range(1, plan.seeds + 1)]
    mine = shard_units(units, plan.shard)
    if not mine:
        raise CompareError(f"--shard {plan.shard[0]}/{plan.shard[1]}: this shard gets none of the {len(units)} "
                           f"trained agents; allowed: n <= {len(units)}")
    if not any(eval_cells(u, plan) for u in mine):
        raise CompareError(f"--conditions {list(plan.conditions)}: no evaluation cell applies to this selection")
    return plan, units


def _select_groups(args: CompareArgs, values: dict) -> tuple:
    """--agents or --envs alone, with a scale of (task, variants) groups: the groups kept to them."""
    unknown = [t for t in (args.envs or ()) if t not in {task for task, _ in values["groups"]}]
    if unknown:
        raise CompareError(f"--envs: {unknown} have no group in --scale {args.scale}; allowed: "
                           f"{', '.join(t for t, _ in values['groups'])}, or give --agents too for a plain product")
    groups = tuple((task, tuple(a for a in group if args.agents is None or a in args.agents))
                   for task, group in values["groups"] if args.envs is None or task in args.envs)
    groups = tuple(g for g in groups if g[1])
    if not groups:
        raise CompareError(f"--agents: {list(args.agents)} are in no group of --scale {args.scale}; allowed: "
                           f"{', '.join(values['agents'])}, or give --envs too for a plain product")
    values["agents"] = tuple(dict.fromkeys(a for _, g in groups for a in g))
    values["envs"] = tuple(t for t, _ in groups)
    return groups


def check_training(plan: Plan) -> None:
    """The trainer's own checks of every preset's run settings, before any run starts."""
    for agent in plan.agents:
        preset = agents.PRESETS[parse_variant(agent).preset]
        config = Config(env=plan.envs[0], agent=parse_variant(agent).preset, total_steps=plan.steps,
                        num_envs=plan.num_envs, agent_overrides=trainer_overrides(agent),
                        num_steps=plan.num_steps, max_episode_steps=plan.episode_steps, device=plan.device,
                        clutter_ramp=plan.clutter_ramp)
        try:
            validate(config, recurrent=preset.core == "gru" or preset.feedback or preset.plastic)
        except ConfigError as exc:
            raise CompareError(f"training settings for {agent}: {exc}") from None
        if plan.steps < plan.num_envs * plan.num_steps:
            raise CompareError(f"--steps: got {plan.steps}; allowed: at least one update's "
                               f"{plan.num_envs * plan.num_steps} steps (--num-envs x --num-steps)")


def _listed_units(args: CompareArgs) -> None:
    for name in args.agents or ():
        parse_variant(name)
    for flag, given, valid in (("--envs", args.envs, list(ALL_TASKS)),):
        bad = [x for x in (given or ()) if x not in valid]
        if bad:
            raise CompareError(f"{flag}: {bad} not known; valid: {', '.join(valid)}")


def _run_dirs(path: str) -> list[str]:
    """A run directory, or a folder of run directories (e.g. a compare's runs/)."""
    if os.path.isfile(os.path.join(path, CHECKPOINT_FILE)):
        return [path]
    if os.path.isdir(path):
        found = sorted(os.path.join(path, d) for d in os.listdir(path)
                       if os.path.isfile(os.path.join(path, d, CHECKPOINT_FILE)))
        if found:
            return found
    raise CompareError(f"--from: {path!r} is not a run directory (it holds no {CHECKPOINT_FILE}) nor a folder of "
                       f"them; allowed: directories written by scripts/train.py or by a compare (OUT/runs)")


def load_runs(paths: tuple[str, ...]) -> list[Unit]:
    """Units from trained run directories; every one is read and checked here."""
    units, seen, settings = [], {}, {}
    for path in paths:
        for run_dir in _run_dirs(path):
            try:
                saved = read_run(run_dir)
            except CheckpointError as exc:
                raise CompareError(f"--from: {run_dir!r} cannot be read (its checkpoint {exc.problem}); allowed: "
                                   f"run directories written by scripts/train.py") from None
            config, agent_config, world = saved.config, saved.agent_config, saved.world_kwargs()
            if config.env not in ALL_TASKS:
                raise CompareError(f"--from: {run_dir!r} was trained on {config.env!r}; allowed tasks: "
                                   f"{', '.join(ALL_TASKS)}")
            if config.agent not in agents.PRESETS:
                raise CompareError(f"--from: {run_dir!r} has agent {config.agent!r}; allowed: {', '.join(agents.PRESETS)}")
            difficulty = config.difficulty or "easy"
            # Its own variant, as --agents names it: another T, harder worlds, other agent or world settings.
            variant = variant_of_run(config.env, config.agent, difficulty, agent_config, world)
            unit = Unit(config.env, variant.name, config.seed,
                        agent_config.feedback, agent_config.plastic, agent_config.passes, difficulty,
                        variant.world, os.path.abspath(run_dir), agent_config.whatwhere)
            if unit.key in seen:
                raise CompareError(f"--from: {run_dir!r} and {seen[unit.key]!r} are both {unit.key}; give each "
                                   f"(task, agent, seed) once")
            seen[unit.key] = run_dir
            units.append(unit)
            settings.setdefault((unit.task, unit.agent), []).append((run_dir, _agent_settings(config)))
    for (task, agent), runs in settings.items():
        (first, base), *others = runs
        for run_dir, values in others:
            differ = [f"{k}: {base[k]!r} in {first!r}, {values[k]!r} in {run_dir!r}" for k in base if base[k] != values[k]]
            if differ:
                raise CompareError(f"--from: the runs of {agent} on {task} are pooled as its seeds but were trained "
                                   f"with other settings ({'; '.join(differ)}); allowed: runs that differ only in "
                                   f"seed")
    return units


# Settings of a run that say nothing about the agent it made: where and how it ran, and what it logged.
RUN_ONLY_SETTINGS = ("seed", "run_dir", "resume", "config", "device", "progress", "compile", "cuda_graph",
                     "population", "checkpoint_interval", "image_interval", "video_interval", "final_episodes")


def _agent_settings(config: Config) -> dict:
    """A run's settings that define the agent it trained (every one but `RUN_ONLY_SETTINGS`)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in RUN_ONLY_SETTINGS}


# --- the whole compare -----------------------------------------------------------------------


def run_compare(args: CompareArgs) -> str:
    """Run (or resume) a compare, or merge shards when `args.merge` is set; returns results.md's path."""
    problem = unwritable_dir(args.out)
    if problem:
        raise CompareError(f"--out: {args.out!r} cannot hold the compare: {problem}; allowed: a writable directory path")
    if args.merge:
        defaults = CompareArgs()
        given = [f.name for f in dataclasses.fields(CompareArgs)
                 if f.name not in ("out", "merge", "progress", "command") and getattr(args, f.name) != getattr(defaults, f.name)]
        if given:
            flags = ", ".join("--" + name.replace("_", "-").replace("from-runs", "from") for name in given)
            raise CompareError(f"--merge: joins shards as they were made and takes no other settings; got {flags}; "
                               f"allowed: --merge DIRS --out OUT (drop {flags})")
        return merge(args.merge, args.out, args.command_line())
    plan, units = make_plan(args)
    with locked_out(args.out):
        return _run(args, plan, units)


@contextlib.contextmanager
def locked_out(out: str) -> Iterator[None]:
    """Hold OUT's lock (`common.files.DirLock`) while this compare or merge writes it: a second one
    into the same --out is refused, naming the holder; a lock left by a dead process does not block."""
    os.makedirs(out, exist_ok=True)
    try:
        lock = DirLock(out).acquire()
    except DirLockedError as exc:
        raise CompareError(f"--out: {out!r} is in use by {exc} (another compare writing into it); allowed: wait "
                           f"for it or stop it, or another --out") from None
    try:
        yield
    finally:
        lock.release()


def _run(args: CompareArgs, plan: Plan, units: list[Unit]) -> str:
    device = resolve_device(plan.device, "--device") if args.launcher == "local" else None  # a Ray cluster's own
    if device is not None and device.type == "cpu":
        prepare_cpu_process()
    prepare_out(args.out, plan)
    todo = [u for u in shard_units(units, plan.shard) if u.run_dir is None and load_cell(args.out, "train", u.key) is None]
    print(f"compare: {cost_text(plan)} in the grid; {len(todo)} runs to train here, into {args.out}", flush=True)
    if device is not None and cost(plan)["cpu_hours"] >= ESTIMATE_FROM_HOURS:
        if todo:
            print(f"compare: calibrating the training speed of {len(todo)} runs here (a short run of each kind)...",
                  flush=True)
            start = time.time()
            measured = calibrate(todo, plan)
            print("compare: " + estimate_text(todo, plan, measured, args.jobs, time.time() - start), flush=True)

    groups = groups_of(shard_units(units, plan.shard))
    started, before = time.time(), len(load_cells(args.out, "eval"))
    try:
        with tqdm(total=sum(map(len, groups)), desc="compare", unit="agent", disable=not args.progress,
                  dynamic_ncols=True) as bar:
            run_groups(groups, plan, args.out, jobs=args.jobs, launcher=args.launcher, progress=args.progress,
                       on_done=lambda group: bar.update(len(group)))
    finally:
        record_invocation(args.out, {"kind": "run", "command": args.command_line(), "shard": list(plan.shard),
                                      "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
                                      "seconds": time.time() - started, "jobs": args.jobs, "launcher": args.launcher,
                                      "device": str(device or f"{plan.device} (ray)"),
                                      "cells": len(load_cells(args.out, "eval")) - before})
    for message in complete_references(args.out, plan):  # reference cells an older version wrote, made whole
        print(f"compare: {message}", flush=True)
    return report.write_report(args.out, plan)


def merge(dirs: tuple[str, ...], out: str, command: str) -> str:
    """Join the output folders of shards (or of any compares with one plan) into `out`, and report."""
    seen = {}
    for directory in dirs:
        real = os.path.realpath(directory)
        if real in seen:
            raise CompareError(f"--merge: {directory!r} is given twice (as {seen[real]!r} too); allowed: each folder "
                               f"once")
        seen[real] = directory
    plans = []
    for directory in dirs:
        path = os.path.join(directory, PLAN_FILE)
        if not os.path.isfile(path):
            raise CompareError(f"--merge: {directory!r} holds no {PLAN_FILE}; allowed: output folders of "
                               f"compare.py (e.g. of each --shard i/n)")
        plans.append(Plan.from_dict(read_json(path), path))
    for directory, plan in zip(dirs[1:], plans[1:]):
        differences = plans[0].differences(plan, ignore=("shard",))
        if differences:
            raise CompareError(f"--merge: {directory!r} was made with other settings than {dirs[0]!r} "
                               f"({'; '.join(differences)}); allowed: shards of one compare")
    plan = dataclasses.replace(plans[0], shard=(0, 1))
    if os.path.realpath(out) in seen:
        raise CompareError(f"--out: {out!r} is one of the folders to merge; allowed: a new folder")
    with locked_out(out):
        join_shards(dirs, out, command, plan)
        return report.write_report(out, plan)


def join_shards(dirs: tuple[str, ...], out: str, command: str, plan: Plan) -> None:
    """Copy every cell of `dirs` into `out` (the folders themselves are only read), make its reference cells
    whole (`compare.references.complete_references`, saying what it did), and record the merge. A train cell's
    run directory is copied whole before the cell is saved, so an interrupted merge, run again, ends with
    whole runs; the same invocation found in two folders (a folder and its copy) is recorded once."""
    prepare_out(out, plan)
    sweep_copies(out)
    invocations = []
    for directory in dirs:
        for kind in ("train", "reference", "eval"):
            for key, record in load_cells(directory, kind).items():
                existing = load_cell(out, kind, key)
                if existing is not None and not _agrees(existing, record, kind):
                    raise CompareError(f"--merge: cell {kind}/{key} differs between the folders; they are not "
                                       f"shards of one deterministic compare")
                if kind == "train":  # both ends checked first: a crafted record cannot reach outside runs/
                    source = run_dir_of(directory, record, plan)
                    if not os.path.isabs(record["run_dir"]) and os.path.isdir(source):
                        copy_run(source, run_dir_of(out, record, plan))
                if existing is None:
                    save_cell(out, kind, key, {k: v for k, v in record.items() if k != "key"})
        path = os.path.join(directory, INVOCATIONS_FILE)
        if os.path.isfile(path):
            invocations += [i for i in read_json(path) if i not in invocations]
    trained = load_cells(out, "train")
    for key, record in load_cells(out, "eval").items():
        run = trained.get(record["unit_key"], {}).get("run")
        if record.get("run") is not None and run is not None and record["run"] != run:
            raise CompareError(f"--merge: {cell_path(out, 'eval', key)} evaluated another checkpoint of "
                               f"{record['unit_key']} than its train record names (update {record['run'].get('update')!r} "
                               f"vs {run.get('update')!r}); allowed: shards whose cells come from one run each")
    start = time.time()
    messages = complete_references(out, plan)
    for message in messages:
        print(f"merge: {message}", flush=True)
    write_json(os.path.join(out, INVOCATIONS_FILE),
               invocations + [{"kind": "merge", "command": command, "dirs": list(dirs), "shard": [0, 1],
                               "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start)),
                               "seconds": time.time() - start, "device": "cpu", "references": messages}])


def _run_files(run_dir: str) -> dict[str, int]:
    """{path inside the run: size} of a run directory's files, without its lock and temporaries."""
    found = {}
    for directory, _, names in os.walk(run_dir):
        for name in names:
            if name != LOCK_FILE and TEMP_MARK not in name:
                path = os.path.join(directory, name)
                found[os.path.relpath(path, run_dir)] = os.path.getsize(path)
    return found


def copy_run(source: str, target: str) -> None:
    """Make ``target`` a whole copy of the run directory ``source``, or leave none: the files are copied into a
    hidden temporary folder beside it, which replaces it at the end. A target that is already whole (the same
    files, the same sizes) is kept; one that is not (a copy cut short by an older version) is replaced. A full
    disk or a file-size limit is a one-line CompareError naming the file."""
    files_there = _run_files(source)
    if os.path.isdir(target) and _run_files(target) == files_there:
        return
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}{TEMP_MARK}{os.getpid()}")
    try:
        for name in files_there:
            os.makedirs(os.path.dirname(os.path.join(tmp, name)), exist_ok=True)
            shutil.copy2(os.path.join(source, name), os.path.join(tmp, name))
        if os.path.lexists(target):
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError as exc:
        where = str(exc.filename2 or exc.filename or tmp).replace(tmp, target, 1)  # the file as it would be named
        raise CompareError(f"--merge: copying the run {source!r} to {target!r} failed at {where!r}: "
                           f"{exc.strerror or exc}; nothing of it was kept. Free space (or raise the file-size "
                           f"limit) and run the same command again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sweep_copies(out: str) -> None:
    """Remove the run copies a killed merge left half-made in OUT/runs (hidden temporary folders; the
    merge holds OUT's lock, so none of them is being written)."""
    runs = os.path.join(out, "runs")
    for name in os.listdir(runs) if os.path.isdir(runs) else ():
        if name.startswith(".") and TEMP_MARK in name:
            shutil.rmtree(os.path.join(runs, name), ignore_errors=True)


def _agrees(existing: dict, record: dict, kind: str) -> bool:
    """Whether a cell already in the merge's output is the record a folder holds: equal, or for a reference
    cell made whole by an earlier merge into the same output, equal in every number the record holds."""
    if kind != "reference":
        return _comparable(existing) == _comparable(record)
    return _holds(_comparable(existing), _comparable(record))


def _holds(have, want) -> bool:
    """`want` is `have`, or (dicts) every entry of `want` is in `have`. JSON reads every NaN as one object."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and _holds(have[k], v) for k, v in want.items())
    return have is want or have == want


def _comparable(record: dict) -> dict:
    """A cell's record without what may differ between equal computations: timings, and the checkpoint file's
    hash (a checkpoint holds its run's wall time); the run's update and step stay."""
    out = {k: v for k, v in record.items() if k not in ("seconds", "sps", "run_dir") and k != "key"}
    if isinstance(out.get("run"), dict):
        out["run"] = {k: v for k, v in out["run"].items() if k != "checkpoint_sha256"}
    return out
