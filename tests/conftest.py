import os
import time

# Headless pygame for every test: real surfaces, no window, no sound card.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from compare.cli import CompareArgs  # noqa: E402

# The tiny compare both compare test files read: 2 presets x 2 seeds on one task, 1,024 training steps
# each, 2 conditions, 8 worlds of 24 steps a cell.
TINY_COMPARE = CompareArgs(agents=("feedforward", "feedback"), envs=("CuedBerry-v1",), seeds=2, steps=1024,
                           conditions=("easy", "hard"), lesion_conditions=("easy",), passes=(1, 2),
                           passes_conditions=("easy",), episode_steps=24, eval_worlds=8, num_envs=8, num_steps=32,
                           device="cpu", progress=False, command="python scripts/compare.py --tiny")


def tiny_args(out, **changes) -> CompareArgs:
    """`TINY_COMPARE` writing into ``out``, with ``changes``."""
    import dataclasses

    return dataclasses.replace(TINY_COMPARE, out=str(out), **changes)


@pytest.fixture
def one_torch_thread():
    """One torch thread (as the trainer uses on a 2-core machine): small batches only lose time to more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_thread_everywhere():
    """One torch thread here and in worker processes (they inherit OMP_NUM_THREADS), as on a 2-core
    machine: the float sums, and so the runs, are the same in every process."""
    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp


@pytest.fixture(scope="session")
def tiny_compare(tmp_path_factory):
    """`TINY_COMPARE` trained and evaluated once per test session, on one torch thread here and in its
    workers: (out, results.md path, the run directory of every training.train call, in order).
    Tests read its output and never change it; those that resume or damage it work on copies."""
    import training
    from compare.run import run_compare

    out, calls = tmp_path_factory.mktemp("tiny_compare"), []
    real = training.train

    def counting(config, **options):
        calls.append(os.path.basename(config.run_dir))
        return real(config, **options)

    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(training, "train", counting)
            report = run_compare(tiny_args(out))
    finally:
        torch.set_num_threads(threads)
        if omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = omp
    return out, report, calls


def wait_for(predicate, what: str, timeout: float = 120.0) -> None:
    """Sleep until `predicate()` holds, or fail naming `what`: for another process's progress, and for a
    signal sent to this one, whose Python handler a loaded machine can defer past the next line."""
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
