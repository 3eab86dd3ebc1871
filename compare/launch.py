"""Where a compare's groups run: `--launcher local` in this process (`--jobs 1`) or in J worker
processes on this machine (`--jobs J`), `--launcher ray` as Ray tasks on a Ray cluster.

A group (`compare.work`: the seeds of one grid cell, trained as one population, then evaluated)
depends on no other group, so they can run anywhere at once; each saves its own records as it
finishes them, into --out, which every process must see (on a Ray cluster: a shared filesystem).
The cells do not depend on where they ran: a worker trains with one torch thread on this 2-core
machine, as --jobs 1 does, so `--jobs 2` writes the same cells (with other thread counts the float
sums, and so the runs, may differ in their last bits).

Ctrl-C: the terminal sends it to the worker processes too. A worker that is training stops at the
end of its update and saves a checkpoint, as a single run does; one that is evaluating drops the
unfinished cell; an idle worker ignores it (it would break the pool). The compare then waits for
them and exits; run it again to resume. We schedule nothing ourselves: the pool, or Ray, does.

Across machines without Ray, `--shard i/n` gives each machine every n-th unit (`shard_units`) and
`--merge` joins their output folders (`compare.run.merge`).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor, as_completed
from typing import Callable, Optional, Sequence

import torch

from common.flags import safe_streams
from compare.grid import CompareError, Plan, Unit
from compare.work import UnitError, run_group
from training import prepare_cpu_process

LAUNCHERS = ("local", "ray")

Group = Sequence[Unit]


def check_launch(jobs: int, launcher: str) -> None:
    """Raise CompareError naming --jobs or --launcher where the value cannot be used."""
    if launcher not in LAUNCHERS:
        raise CompareError(f"--launcher: got {launcher!r}; allowed: {', '.join(LAUNCHERS)}")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise CompareError(f"--jobs: got {jobs!r}; allowed: an integer >= 1 (the groups run at once, each in its "
                           f"own process)")
    if launcher == "ray" and jobs != 1:
        raise CompareError(f"--jobs: got {jobs}; allowed: 1 with --launcher ray, whose cluster decides how many "
                           f"groups run at once")
    if launcher == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise CompareError("--launcher ray: ray is not installed; allowed: --launcher local, or install the "
                               "extra: pip install -e .[ray]") from None


def run_groups(groups: Sequence[Group], plan: Plan, out: str, *, jobs: int, launcher: str, progress: bool,
               on_done: Callable[[Group], None]) -> None:
    """Run every group (`compare.work.run_group`), calling `on_done(group)` as each finishes.
    The first failure is raised once the groups still running have ended."""
    if launcher == "ray":
        _on_ray(groups, plan, out, on_done)
    elif jobs == 1 or len(groups) == 1:
        for group in groups:
            run_group(group, plan, out, progress)
            on_done(group)
    else:
        _in_processes(groups, plan, out, min(jobs, len(groups)), on_done)


# --- --jobs J: worker processes on this machine ----------------------------------------------


def _in_processes(groups: Sequence[Group], plan: Plan, out: str, workers: int,
                  on_done: Callable[[Group], None]) -> None:
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(workers, os.getpid()))
    futures = {pool.submit(_work, group, plan, out): group for group in groups}
    try:
        for future in as_completed(futures):
            try:
                future.result()
            except BrokenExecutor:
                unfinished = [u.key for f, g in futures.items()
                              if not f.done() or f.cancelled() or f.exception() for u in g]
                raise UnitError(f"a worker process died (killed, out of memory, or started by a script without "
                                f"`if __name__ == '__main__':`, which spawn re-imports) while these units were "
                                f"unfinished: {', '.join(unfinished)}") from None
            on_done(futures[future])
    except BaseException as exc:
        running = sum(f.running() for f in futures)
        if running and not isinstance(exc, KeyboardInterrupt):
            print(f"compare.py: {exc}\ncompare.py: waiting for the {running} running group(s) to finish and save; "
                  f"Ctrl-C stops them", file=sys.stderr)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(processes: int, parent: int) -> None:
    """A worker's setup: its share of the cores, Ctrl-C ignored while it waits for a group, and its end
    tied to the compare's (`_leave_with`)."""
    _leave_with(parent)
    safe_streams()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prepare_cpu_process(processes)
    # The trainer calls prepare_cpu_process() again for itself; OMP_NUM_THREADS makes it keep this share.
    os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))


def _leave_with(parent: int) -> None:
    """SIGTERM this worker when the compare that started it is gone, however it died (kill -9 included),
    so no orphan keeps writing into --out: a training worker then saves its checkpoint and stops, as on
    Ctrl-C. Linux's parent-death signal does it at once; elsewhere a thread checks the parent each second."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGTERM, 0, 0, 0) == 0:  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # it died before the signal was set
                os.kill(os.getpid(), signal.SIGTERM)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _work(group: Group, plan: Plan, out: str) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # busy: Ctrl-C acts as in --jobs 1
    try:
        return run_group(group, plan, out, progress=False)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- --launcher ray --------------------------------------------------------------------------


def _on_ray(groups: Sequence[Group], plan: Plan, out: str, on_done: Callable[[Group], None]) -> None:
    import ray

    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS set: that cluster; otherwise a new local one on this machine's cores
    task = ray.remote(num_cpus=1, num_gpus=1 if plan.device == "cuda" else 0)(_ray_task)
    pending = {task.remote(group, plan, os.path.abspath(out)): group for group in groups}
    try:
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            group = pending.pop(ready)
            ray.get(ready)  # a task's error is raised here: a UnitError (and a RayTaskError)
            on_done(group)
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise


def _ray_task(group: Group, plan: Plan, out: str) -> int:
    prepare_cpu_process()  # Ray sets OMP_NUM_THREADS to the task's CPUs, which rules
    return run_group(group, plan, out, progress=False)


# --- shards: one compare split over machines (--shard i/n, joined by --merge) ---------------------------


def parse_shard(text: Optional[str]) -> tuple[int, int]:
    """--shard i/n -> (i, n); None -> (0, 1). `check_plan` checks the range."""
    if text is None:
        return (0, 1)
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise CompareError(f"--shard: got {text!r}; allowed: i/n, e.g. 0/4 ... 3/4 (0 <= i < n)") from None
    return index, count


def shard_units(units: list[Unit], shard: tuple[int, int]) -> list[Unit]:
    """Units i, i + n, i + 2n, ... of the sorted list: each shard trains and evaluates its own."""
    index, count = shard
    ordered = sorted(units, key=lambda u: (u.task, u.agent, u.seed))
    return ordered[index::count]
