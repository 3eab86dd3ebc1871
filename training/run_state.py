"""A run's state across stops: where it lives, what it resumes from, and what a checkpoint holds.

`RunState.open` checks a ``--resume`` against the saved run (before anything is built) and picks
the run directory; `RunState.begin` starts the worlds and the agent's carry fresh or restores
them, with the model, the optimizer and every RNG, exactly where the saved run stopped;
`RunState.save` writes all of that as one checkpoint (`training.checkpoint` has the format).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from agents.runner import Carry
from common.files import LOCK_FILE, DirLock, DirLockedError, sweep_temporaries, unwritable_dir, write_json
from common.flags import first_line
from training import distributed
from training.build import reference_returns
from training.checkpoint import CHECKPOINT_FILE, SavedRun, damaged, read_run, save_checkpoint
from training.config import CONFIG_FILE, Config, ConfigError, to_dict

# Fields that define the worlds, the agent and the RNG streams: a resumed run must keep them.
RESUME_FIXED = ("env", "agent", "num_envs", "seed", "difficulty", "view_size", "max_episode_steps",
                "action_type", "env_kwargs", "agent_overrides")


def check_resumable(saved: SavedRun) -> dict:
    """The saved run config of a checkpoint to resume, as a dict; CheckpointError naming the file if any part
    a resume reads is damaged (`read_run` decoded the configs; here: counters that are not counts,
    per-process entries without their RNG, worlds and carry). The weights are checked when they are loaded."""
    checkpoint, path = saved.payload, saved.path
    for name in ("update", "global_step"):
        value = checkpoint[name]
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise damaged(path, f"its {name} is {value!r}, not a count")
    ranks = checkpoint["ranks"]
    if not isinstance(ranks, list):
        raise damaged(path, "its per-process entries are not a list")
    for rank, entry in enumerate(ranks):
        rng = entry.get("rng_actions", entry.get("rng_cpu")) if isinstance(entry, dict) else None
        state = entry.get("env_state") if isinstance(entry, dict) else None
        if not (isinstance(rng, torch.Tensor) and (state is None or isinstance(state, dict))
                and isinstance(entry.get("carry", {}), dict) and (state is None or "carry" in entry)):
            raise damaged(path, f"the entry of process {rank} lacks its action RNG, worlds or carry")
    return to_dict(saved.config)


def _to(obj: Any, device: torch.device | str) -> Any:
    """``obj`` with every tensor inside (dicts, lists, tuples) cloned onto ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to(device, copy=True)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to(v, device) for v in obj)
    return obj


@dataclass
class RunState:
    """One process's view of the run. ``run_dir`` is set on rank 0 only, which writes the files."""

    config: Config
    process: distributed.Process
    device: torch.device
    run_dir: Optional[str]
    checkpoint: Optional[dict]  # the saved run's, when resuming
    update: int = 0  # counters at the start of this call
    global_step: int = 0
    elapsed_before: float = 0.0  # training seconds of the earlier calls
    reference: dict = field(default_factory=dict)  # {"random", "scripted"} returns, or {} off rank 0
    worlds: Optional[dict] = None  # every setting of the worlds as trained (`record_worlds`)
    last: dict = field(default_factory=dict)  # the saved run's latest logged numbers (`Logbook.last`)
    lock: Optional[DirLock] = field(default=None, repr=False)  # rank 0's hold on the run directory
    started: float = field(default_factory=time.monotonic)  # set again by `start_clock`

    @classmethod
    def open(cls, config: Config, process: distributed.Process, device: torch.device) -> "RunState":
        """Check --resume against the saved run and --run-dir against an existing one; build nothing."""
        if process.is_main and config.resume is None and config.run_dir is None:
            config = dataclasses.replace(config, run_dir=config.default_run_dir())  # named once
        lock = _lock_run_dir(config) if process.is_main else None
        try:
            return cls._open(config, process, device, lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def _open(cls, config: Config, process: distributed.Process, device: torch.device,
              lock: Optional[DirLock]) -> "RunState":
        checkpoint = None
        if config.resume is not None:
            path = os.path.join(config.resume, CHECKPOINT_FILE)
            saved_run = read_run(path)
            checkpoint, saved = saved_run.payload, check_resumable(saved_run)
            for name in RESUME_FIXED:
                if saved[name] != getattr(config, name):
                    flag = "--" + name.replace("_", "-")
                    raise ConfigError(f"{flag}: the run in {config.resume!r} was trained with {saved[name]!r}, "
                                      f"got {getattr(config, name)!r}; a resumed run keeps its worlds and agent")
            if not checkpoint["ranks"]:
                raise ConfigError(f"--resume: {config.resume!r} holds an exported checkpoint without resume "
                                  f"state (made by python -m training.export); resume from a run directory's "
                                  f"own checkpoint")
            if len(checkpoint["ranks"]) != process.world_size:
                raise ConfigError(f"--nproc_per_node: the run in {config.resume!r} was trained by "
                                  f"{len(checkpoint['ranks'])} process(es), got {process.world_size}")
            done = int(checkpoint["global_step"])
            if config.total_steps < done:  # it would end at once and record a budget it has already spent
                raise ConfigError(f"--total-steps: got {config.total_steps:,}, but the run in {config.resume!r} has "
                                  f"trained {done:,} steps; allowed: {done:,} or more (more trains on)")
        run_dir = None
        if process.is_main:
            run_dir = config.resume or config.run_dir or config.default_run_dir()
            problem = unwritable_dir(run_dir)
            if problem:
                raise ConfigError(f"--run-dir: {run_dir!r} cannot hold the run: {problem}; allowed: a writable "
                                  f"directory path")
            if checkpoint is None and os.path.exists(os.path.join(run_dir, CHECKPOINT_FILE)):
                raise ConfigError(f"--run-dir: {run_dir!r} already holds a run's checkpoint; allowed: a new "
                                  f"directory, or --resume {run_dir} to continue that run")
            if checkpoint is None and os.path.isdir(run_dir) and any(
                    f.startswith("events.out.tfevents") for f in os.listdir(run_dir)):
                raise ConfigError(f"--run-dir: {run_dir!r} holds the TensorBoard events of a run that stopped "
                                  f"before its first checkpoint (its points would be logged twice); allowed: a new "
                                  f"directory, or delete {run_dir} and run again")
            if os.path.isdir(run_dir):
                sweep_temporaries(run_dir)  # what a killed run left half-written (.checkpoint.pt.tmp-PID)
        return cls(config, process, device, run_dir, checkpoint, lock=lock)

    def release(self) -> None:
        """Let another process write the run directory (the end of a training call); a directory this call
        made and wrote nothing into (it stopped at a bad setting) is removed again."""
        if self.lock is not None:
            self.lock.release()
            made = self.lock.made_dir
            if made and os.listdir(self.run_dir) == [LOCK_FILE]:
                os.remove(self.lock.path)
                path = os.path.abspath(self.run_dir)
                while not os.listdir(path):  # up to the first folder this call made
                    os.rmdir(path)
                    if path == made:
                        break
                    path = os.path.dirname(path)
            self.lock = None

    @property
    def resumed(self) -> bool:
        return self.checkpoint is not None

    @property
    def agent_config(self) -> Optional[dict]:
        """The saved agent's exact config when resuming (None: build the preset); `check_resumable` read it."""
        return None if self.checkpoint is None else json.loads(self.checkpoint["agent_config"])

    @property
    def saved_config(self) -> Config:
        """The config as the run directory and the checkpoint record it."""
        return dataclasses.replace(self.config, run_dir=self.run_dir, resume=None, config=None)

    def record_worlds(self, world_config: Any) -> None:
        """Keep every setting of the worlds the run trains in (the env's config before any curriculum
        changes it), saved in the checkpoint as ``worlds``: a compare names the run by it and evaluates in
        it, even after a task's defaults change. A resumed run keeps the record of its first start."""
        saved = None if self.checkpoint is None else self.checkpoint.get("worlds")
        if saved is not None:
            self.worlds = json.loads(saved)
        elif dataclasses.is_dataclass(world_config):
            self.worlds = dataclasses.asdict(world_config)

    def begin(self, agent: torch.nn.Module, optimizer: torch.optim.Optimizer,
              generator: torch.Generator) -> Optional[tuple[dict, dict, Carry]]:
        """Restore the model, the optimizer, the counters and the action RNG from the checkpoint when
        resuming, and return the saved (env state, observations, carry); None for a fresh start (then the
        caller resets its worlds with `world_seeds`). Rank 0 writes config.json and reference.json."""
        restored = self._restore(agent, optimizer, generator) if self.resumed else None
        if not self.resumed and self.process.is_main:
            self.reference = reference_returns(self.config, self.device)
        if self.process.is_main:
            write_json(os.path.join(self.run_dir, CONFIG_FILE), to_dict(self.saved_config))
            if self.reference:
                write_json(os.path.join(self.run_dir, "reference.json"), self.reference)
        return restored

    def world_seeds(self) -> list[int]:
        """The seeds of this process's worlds for a fresh start: world i (arena i on MultiBerry) of rank r
        gets seed + r * num_envs + i (+ the steps already trained, when a resume could not restore them)."""
        base = self.config.seed + self.process.rank * self.config.num_envs + self.global_step
        return [base + i for i in range(self.config.num_envs)]

    def _restore(self, agent, optimizer, generator) -> Optional[tuple[dict, dict, Carry]]:
        checkpoint, device = self.checkpoint, self.device
        try:
            agent.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise damaged(os.path.join(self.config.resume, CHECKPOINT_FILE),
                           f"its weights do not fit the agent it describes ({first_line(exc)})") from None
        self.update, self.global_step = int(checkpoint["update"]), int(checkpoint["global_step"])
        self.elapsed_before = float(checkpoint.get("elapsed", 0.0))
        self.reference = dict(checkpoint.get("reference", {}))
        self.last = dict(checkpoint.get("last", {}))
        entry = checkpoint["ranks"][self.process.rank]
        if "rng_actions" in entry and entry["rng_actions"].numel() == generator.get_state().numel():
            generator.set_state(entry["rng_actions"])
        elif device.type == "cpu" and "rng_cpu" in entry:  # saved before the trainer had its own generator
            generator.set_state(entry["rng_cpu"])
        else:
            warnings.warn("the checkpoint's action RNG does not fit this device; the resumed run samples "
                          "actions from a new stream, so it is not an exact continuation")
        if entry.get("env_state") is None:
            warnings.warn("the env has no get_state/set_state: the resumed worlds start new episodes, "
                          "so the run is not an exact continuation")
            return None
        carry = _to(entry["carry"], device)  # {"obs", "state", "episode_start", "valid", "prev_reward", "prev_action"}
        return _to(entry["env_state"], device), carry.pop("obs"), Carry.from_dict(carry, agent)

    def start_clock(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        """Training seconds of the whole run, resumes included."""
        return self.elapsed_before + (time.monotonic() - self.started)

    def save(self, update: int, global_step: int, agent: torch.nn.Module, optimizer: torch.optim.Optimizer,
             generator: torch.Generator, env_state: Optional[dict], obs: dict, carry: Carry,
             last: Optional[dict] = None) -> None:
        """Write the checkpoint (rank 0), with every process's action RNG, worlds and carry; every process
        calls it. ``env_state`` is this run's share of the worlds' `get_state()` (None if the env has none);
        ``last``: the latest logged numbers (`Logbook.last`)."""
        entry = {
            "rng_actions": generator.get_state(),
            "env_state": None if env_state is None else _to(env_state, "cpu"),
            "carry": _to({"obs": obs, **carry.as_dict()}, "cpu"),
        }
        ranks = distributed.gather_to_main(entry, self.process)
        if self.process.is_main:
            save_checkpoint(os.path.join(self.run_dir, CHECKPOINT_FILE), {
                "config": json.dumps(to_dict(self.saved_config)),
                "agent_config": json.dumps(dataclasses.asdict(agent.config)),
                "model": agent.state_dict(),
                "optimizer": optimizer.state_dict(),
                "update": update,
                "global_step": global_step,
                "elapsed": self.elapsed(),
                "reference": self.reference,
                "ranks": ranks,
                "last": dict(last or {}),
                **({} if self.worlds is None else {"worlds": json.dumps(self.worlds)}),
            })


def _lock_run_dir(config: Config) -> Optional[DirLock]:
    """Rank 0's lock on the run directory it will write (`common.files.DirLock`), taken before any check
    reads the directory; None where the directory cannot be made (the checks then say why)."""
    run_dir = config.resume or config.run_dir
    if config.resume is not None and not os.path.isdir(run_dir):
        return None  # nothing to resume there: loading the checkpoint says so
    if unwritable_dir(run_dir):
        return None
    made, parent = None, os.path.abspath(run_dir)
    while not os.path.exists(parent):  # the topmost folder this call makes
        made, parent = parent, os.path.dirname(parent)
    os.makedirs(run_dir, exist_ok=True)
    try:
        lock = DirLock(run_dir).acquire()
        lock.made_dir = made
        return lock
    except DirLockedError as exc:
        flag = "--resume" if config.resume is not None else "--run-dir"
        raise ConfigError(f"{flag}: {run_dir!r} is in use by {exc} (a train.py or compare writing into it); "
                          f"allowed: wait for it or stop it, or another {flag}") from None
