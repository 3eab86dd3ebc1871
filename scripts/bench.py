"""Benchmarks: `python scripts/bench.py env` (worlds alone), `train` and the others below.

    python scripts/bench.py env                        # N = 1, 256, 4096, 16384 vs SyncVectorEnv
    python scripts/bench.py env --device cuda --sizes 65536 262144
    python scripts/bench.py multi                      # MultiBerry agent-steps/s at N x M = 4096

    python scripts/bench.py train                      # every preset: sequential vs batched replay, and the ceiling
    python scripts/bench.py train --presets feedforward feedback --num-envs 128 --device cuda
    python scripts/bench.py concurrent --jobs 1 4 16   # K runs at once on one device, steps/s summed
    python scripts/bench.py launches                   # aten ops / GPU kernel launches per world step and minibatch
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass
from typing import Annotated, Literal, Optional, Union

import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import agents  # noqa: E402
import envs  # noqa: E402
from common.device import resolve_device  # noqa: E402
from common.heap import keep_freed_memory  # noqa: E402
from common.flags import parse_flags, safe_streams  # noqa: E402
from envs.benchmark import sync_steps_per_second, vector_steps_per_second  # noqa: E402
from envs.config import MAX_WORLDS  # noqa: E402
from training.bench import bench_concurrent, bench_launches, bench_train  # noqa: E402
from training.checks import validate  # noqa: E402
from training.config import Config  # noqa: E402


def need(flag: str, value, ok: bool, allowed: str) -> None:
    """Bad input: ValueError naming the flag, what was given and what is allowed."""
    if not ok:
        raise ValueError(f"--{flag}: got {value!r}; allowed: {allowed}")


def counts_up_to(values, most: int) -> bool:
    """One or more integers from 1 to ``most`` (batch sizes: envs.config.MAX_WORLDS)."""
    return len(values) > 0 and all(1 <= v <= most for v in values)


def device_and_threads(choice: str, threads: int):
    """--device through the one resolver (its error names --device); --threads on the CPU."""
    device = resolve_device(choice, "--device")
    if device.type == "cpu" and threads:
        torch.set_num_threads(threads)
    return device, torch.get_num_threads()


@dataclass
class TrainBench:
    """End-to-end training SPS per preset, beside env-only SPS."""

    presets: Optional[tuple[str, ...]] = None
    """Presets to measure; left out: all."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where worlds and agents run; auto picks cuda when present."""
    num_envs: Optional[int] = None
    """Worlds; left out: the training default."""
    num_steps: Optional[int] = None
    """Steps per rollout; left out: the training default."""
    update_epochs: Optional[int] = None
    """PPO epochs per update; left out: the training default."""
    num_minibatches: Optional[int] = None
    """Minibatches per epoch; left out: the training default."""
    difficulty: Optional[Literal["easy", "medium", "hard"]] = None
    """Difficulty preset of the worlds; left out: the task's default."""
    updates: int = 3
    """Timed updates after one warm-up update."""
    repeats: int = 1
    """Times each path (each beside its own ceiling) is measured per preset, in alternating order; the
    table gives medians, and each fraction of the ceiling its range over the repeats."""
    paths: tuple[Literal["sequential", "batched", "compiled", "captured"], ...] = ("sequential", "batched")
    """Training paths to time: PPO's sequential replay, its batched replay, the batched replay with the agent
    compiled (torch.compile), and the batched replay with the world step as one CUDA graph (--cuda-graph;
    CUDA only)."""

    def run(self) -> None:
        unknown = [p for p in self.presets or () if p not in agents.PRESETS]
        need("presets", list(self.presets or ()), self.presets != () and not unknown,
             f"one or more of {', '.join(agents.PRESETS)}")
        need("updates", self.updates, self.updates >= 1, "an integer >= 1")
        need("repeats", self.repeats, self.repeats >= 1, "an integer >= 1")
        overrides = {name: getattr(self, name) for name in ("num_envs", "num_steps", "update_epochs",
                                                             "num_minibatches", "difficulty")
                     if getattr(self, name) is not None}
        base = dataclasses.replace(Config(device=self.device), **overrides)
        validate(base)  # the trainer's own checks, before anything is printed
        need("paths", list(self.paths), len(self.paths) > 0, "one or more of sequential, batched, compiled, captured")
        bench_train(self.presets or list(agents.PRESETS), base, updates=self.updates, paths=self.paths,
                    repeats=self.repeats)


@dataclass
class EnvBench:
    """Env steps/s for several N, beside SyncVectorEnv over single envs."""

    env: str = "RedBerry-v1"
    """World to step."""
    device: str = "auto"
    """auto, cpu or cuda."""
    sizes: tuple[int, ...] = (1, 256, 4096, 16384)
    """Numbers of worlds N of the torch vector env."""
    sync_sizes: tuple[int, ...] = (1, 16, 64)
    """Numbers of single envs in SyncVectorEnv."""
    seconds: float = 2.0
    """Timed seconds per size."""
    threads: int = 0
    """Torch CPU threads (0: torch's default)."""
    steps: tuple[Literal["eager", "compiled", "captured"], ...] = ("eager",)
    """How the vector env steps: eager, compiled (torch.compile of the step, fullgraph) or captured (one CUDA
    graph; without CUDA its bookkeeping replayed eagerly, a rehearsal). Each N is timed in each mode."""

    def run(self) -> None:
        need("env", self.env, self.env in envs.TASK_IDS, ", ".join(sorted(envs.TASK_IDS)))
        need("sizes", list(self.sizes), counts_up_to(self.sizes, MAX_WORLDS), f"one or more integers from 1 to {MAX_WORLDS:,}")
        need("sync-sizes", list(self.sync_sizes), counts_up_to(self.sync_sizes, MAX_WORLDS),
             f"one or more integers from 1 to {MAX_WORLDS:,}")
        need("seconds", self.seconds, math.isfinite(self.seconds) and self.seconds > 0, "a finite number > 0")
        need("threads", self.threads, self.threads >= 0, "an integer >= 0 (0: torch's default)")
        need("steps", list(self.steps), len(self.steps) > 0, "one or more of eager, compiled, captured")
        device, threads = device_and_threads(self.device, self.threads)
        keep_freed_memory()  # as the trainer does (common.heap): fresh tensors each step, no page faults
        print(f"env {self.env}, device {device}, torch threads {threads}, {self.seconds:.1f} s per size")
        rehearsed = device.type != "cuda" and "captured" in self.steps
        rehearsal = " (captured: rehearsed eagerly, no CUDA)" if rehearsed else ""
        print(f"{'N':>8} {'step':>9} {'vector steps/s':>15} {'us/env-step':>12}{rehearsal}")
        vector = {}
        for n in self.sizes:
            for mode in self.steps:
                sps = vector_steps_per_second(self.env, n, str(device), self.seconds, step=mode)
                vector[n] = max(vector.get(n, 0.0), sps)
                print(f"{n:>8} {mode:>9} {sps:>15,.0f} {1e6 / sps:>12.3f}", flush=True)
        print(f"{'N':>8} {'SyncVectorEnv steps/s':>22}")
        sync = {}
        for n in self.sync_sizes:
            sync[n] = sync_steps_per_second(self.env, n, self.seconds)
            print(f"{n:>8} {sync[n]:>22,.0f}")
        best_sync = max(sync.values())
        for n, sps in vector.items():
            print(f"ratio vector(N={n}) / best SyncVectorEnv (N<={max(sync)}): {sps / best_sync:,.1f}x")


@dataclass
class MultiBench:
    """MultiBerry agent-steps/s beside the single-forager world."""

    slots: int = 4096
    """Arenas x foragers."""
    num_agents: int = 4
    """Foragers per arena."""
    device: str = "auto"
    """auto, cpu or cuda."""
    seconds: float = 2.0
    """Timed seconds per world."""
    threads: int = 0
    """Torch CPU threads (0: torch's default)."""

    def run(self) -> None:
        need("num-agents", self.num_agents, self.num_agents >= 1, "an integer >= 1")
        need("slots", self.slots, self.num_agents <= self.slots <= MAX_WORLDS and self.slots % self.num_agents == 0,
             f"a multiple of --num-agents ({self.num_agents}) up to {MAX_WORLDS:,}")
        need("seconds", self.seconds, math.isfinite(self.seconds) and self.seconds > 0, "a finite number > 0")
        need("threads", self.threads, self.threads >= 0, "an integer >= 0 (0: torch's default)")
        device, threads = device_and_threads(self.device, self.threads)
        arenas = self.slots // self.num_agents
        multi = vector_steps_per_second("MultiBerry-v1", arenas, str(device), self.seconds, num_agents=self.num_agents)
        single = vector_steps_per_second("RedBerry-v1", self.slots, str(device), self.seconds)
        print(f"device {device}, torch threads {threads}")
        print(f"MultiBerry-v1  {arenas} arenas x {self.num_agents} foragers: {multi:>12,.0f} agent-steps/s")
        print(f"RedBerry-v1    {self.slots} worlds:{'':>13} {single:>12,.0f} steps/s")
        print(f"ratio multi / single: {multi / single:.2f}")


@dataclass
class ConcurrentBench:
    """K runs trained at once, each in its own process, on one device (as compare --jobs K): steps/s summed."""

    jobs: tuple[int, ...] = (1, 4, 16)
    """The K to measure, in order."""
    preset: str = "recurrent"
    """Agent preset."""
    env: str = "CuedBerry-v1"
    """Task."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the runs train; auto picks cuda when present."""
    num_envs: Optional[int] = None
    """Worlds per run; left out: the training default."""
    updates: int = 20
    """Updates per run."""

    def run(self) -> None:
        need("jobs", list(self.jobs), len(self.jobs) > 0 and all(1 <= k <= 64 for k in self.jobs),
             "one or more integers from 1 to 64")
        need("preset", self.preset, self.preset in agents.PRESETS, ", ".join(agents.PRESETS))
        need("env", self.env, self.env in envs.ENV_IDS, ", ".join(sorted(envs.ENV_IDS)))
        need("updates", self.updates, self.updates >= 2, "an integer >= 2 (the first update is not timed)")
        base = Config(env=self.env, agent=self.preset, device=self.device)
        if self.num_envs is not None:
            base = dataclasses.replace(base, num_envs=self.num_envs)
        validate(base)
        bench_concurrent(self.jobs, base, updates=self.updates)


@dataclass
class LaunchBench:
    """Aten ops and GPU kernel launches per world step and per PPO minibatch, counted on the CPU."""

    presets: Optional[tuple[str, ...]] = None
    """Presets whose minibatch to count; left out: all."""

    def run(self) -> None:
        unknown = [p for p in self.presets or () if p not in agents.PRESETS]
        need("presets", list(self.presets or ()), self.presets != () and not unknown,
             f"one or more of {', '.join(agents.PRESETS)}")
        bench_launches(self.presets or list(agents.PRESETS))


Command = Union[
    Annotated[EnvBench, tyro.conf.subcommand("env")],
    Annotated[MultiBench, tyro.conf.subcommand("multi")],
    Annotated[TrainBench, tyro.conf.subcommand("train")],
    Annotated[ConcurrentBench, tyro.conf.subcommand("concurrent")],
    Annotated[LaunchBench, tyro.conf.subcommand("launches")],
]


def main(argv: Optional[list[str]] = None) -> int:
    safe_streams()
    try:
        parse_flags(Command, argv, "bench.py", description=__doc__).run()
    except ValueError as exc:  # training's ConfigError too
        print(f"bench.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
