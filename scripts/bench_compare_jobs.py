"""The wall time of one small compare grid with --jobs 1 and with --jobs J, in one invocation.

    python scripts/bench_compare_jobs.py                     # ~4 min on a 2-core CPU
    python scripts/bench_compare_jobs.py --steps 32768 --jobs 2

The grid is feedforward on RedBerry-v1 and on CuedBerry-v1 (two groups of equal cost), each group's
seeds trained as one population, then evaluated on easy and hard worlds. Both compares must write
the same cells; it ends with one line, `compare --jobs J speed-up: X.XX` (wall time of --jobs 1
over that of --jobs J; the target on this 2-core CPU is >= 1.7 with J = 2).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace

import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compare.cli import CompareArgs  # noqa: E402
from compare.run import _comparable, run_compare  # noqa: E402
from compare.store import KINDS, load_cells  # noqa: E402


@dataclass
class Args:
    """Time a compare with --jobs 1 and --jobs J."""

    steps: int = 65_536
    """Env steps per training run (256 worlds x 16 steps an update)."""
    seeds: int = 2
    """Seeds per group, trained as one population."""
    jobs: int = 2
    """The --jobs to compare with --jobs 1."""
    out: str = ""
    """Folder for the two compares (jobs1/, jobsJ/); left out: a temporary one."""


def cells(out: str) -> dict:
    return {(kind, key): _comparable(record) for kind in KINDS for key, record in load_cells(out, kind).items()}


def main(args: Args) -> None:
    grid = CompareArgs(agents=("feedforward",), envs=("RedBerry-v1", "CuedBerry-v1"), seeds=args.seeds,
                       steps=args.steps, conditions=("easy", "hard"), lesions=(), passes=(1,), eval_worlds=64,
                       device="cpu", progress=False, command="python scripts/bench_compare_jobs.py")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or scratch
        walls, outs = {}, {}
        for jobs in dict.fromkeys((1, args.jobs)):
            outs[jobs] = os.path.join(root, f"jobs{jobs}")
            start = time.perf_counter()
            run_compare(replace(grid, out=outs[jobs], jobs=jobs))
            walls[jobs] = time.perf_counter() - start
            print(f"--jobs {jobs}: {walls[jobs]:.1f} s", flush=True)
        same = cells(outs[1]) == cells(outs[args.jobs])
        evaluated = len(load_cells(outs[1], "eval"))
    print(f"grid: feedforward on RedBerry-v1 and CuedBerry-v1, {args.seeds} seeds x {args.steps:,} steps, "
          f"{evaluated} evaluation cells; same cells with --jobs {args.jobs}: {'yes' if same else 'NO'}")
    print(f"compare --jobs {args.jobs} speed-up: {walls[1] / walls[args.jobs]:.2f}")


if __name__ == "__main__":
    main(tyro.cli(Args))
