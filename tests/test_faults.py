"""Faults a careless or hostile user meets: kill -9 at any moment of a compare, two writers on one
directory, a compare's workers outliving it, memory that is not there, an ASCII-only terminal,
messages that must be true, and an env used after close."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from compare.rows import read_csv
from conftest import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A compare with every kind of record: one training run (its final checkpoint the only one), a
# reference cell, two eval cells (the feedback lesion), the report and its plots.
TINY_COMPARE = ["--agents", "feedback", "--envs", "CuedBerry-v1", "--seeds", "1", "--steps", "512", "--conditions",
                "easy", "--lesion-conditions", "easy", "--lesions", "feedback", "--passes", "1", "--passes-conditions",
                "--episode-steps", "24", "--eval-worlds", "8", "--num-envs", "8", "--num-steps", "32", "--device", "cpu",
                "--no-progress"]

# Runs scripts/compare.py, SIGKILLing itself just before or just after the n-th atomic file write whose
# destination path contains KILL_ON (os.replace is where every file the compare writes becomes visible).
KILLER = textwrap.dedent("""
    import os, runpy, signal, sys
    target, when, nth = os.environ.get("KILL_ON", ""), os.environ.get("KILL_WHEN", ""), int(os.environ.get("KILL_NTH", "1"))
    real, seen = os.replace, []

    def replace(src, dst, *args, **kwargs):
        hit = bool(target) and target in str(dst) and len([d for d in seen if target in d]) == nth - 1
        seen.append(str(dst))
        if hit and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst, *args, **kwargs)
        if hit and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    sys.argv = ["compare.py"] + sys.argv[1:]
    runpy.run_path(os.path.join(os.environ["REDBERRY_ROOT"], "scripts", "compare.py"), run_name="__main__")
""")


def _compare(tmp_path, out, kill=None, extra=()) -> subprocess.CompletedProcess:
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = dict(os.environ, PYTHONPATH=ROOT, REDBERRY_ROOT=ROOT, OMP_NUM_THREADS="1", KILL_ON="")
    if kill is not None:
        env.update(KILL_ON=kill[0], KILL_WHEN=kill[1], KILL_NTH=str(kill[2] if len(kill) > 2 else 1))
    return subprocess.run([sys.executable, str(script), "--out", str(out), *TINY_COMPARE, *extra], env=env,
                          capture_output=True, text=True, timeout=300)


def _rows(path) -> list[dict]:
    """A CSV's rows with NaN made comparable (a CI of one seed is NaN)."""
    return [{k: "nan" if v != v else v for k, v in row.items()} for row in read_csv(str(path))]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("whole")
    done = _compare(tmp, tmp / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    return tmp / "out"


# Where a kill -9 lands: as training starts, with a checkpoint half-written, just after the final
# checkpoint (before its train cell), with a train / eval cell half-written (a temporary left in
# cells/), just after a reference cell, in the report, among the plots.
KILLS = [("config.json", "after"), ("checkpoint.pt", "before"), ("checkpoint.pt", "after"),
         ("cells/train/", "before"), ("cells/reference/", "after"), ("cells/eval/", "before", 2),
         ("results.csv", "before"), ("lesions.png", "after")]
QUICK = {("checkpoint.pt", "after"), ("cells/eval/", "before", 2), ("config.json", "after")}


@pytest.mark.parametrize("kill", [k if k in QUICK else pytest.param(k, marks=pytest.mark.slow) for k in KILLS],
                         ids=lambda k: "-".join(map(str, k)))
def test_a_compare_killed_anywhere_resumes_to_the_uninterrupted_results(uninterrupted, tmp_path, kill):
    out = tmp_path / "out"
    killed = _compare(tmp_path, out, kill)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    again = _compare(tmp_path, out)
    assert again.returncode == 0, again.stderr[-2000:]
    for name in ("results.csv", "summary.csv"):
        assert _rows(out / name) == _rows(uninterrupted / name), name
    left = [os.path.join(d, f) for d, _, names in os.walk(out) for f in names if ".tmp-" in f]
    assert left == []  # what the killed process left half-written was swept, never read
    (train,) = [r for r in read_csv(str(out / "results.csv")) if r["lesion"] == "none"]
    assert train["train_final_score"] not in ("", "nan", None)


# --- one writer per directory ----------------------------------------------------------------------


def _script(name: str, *args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", name), *args], env=env, text=True,
                            **popen)


def _holder(path) -> str:
    try:
        return open(os.path.join(path, ".lock")).read().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_second_trainer_on_a_run_dir_in_use_is_refused_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    first = _script("train.py", "--run-dir", str(run), "--total-steps", "100000000", "--num-envs", "8",
                    "--device", "cpu", "--no-progress")
    try:
        wait_for(lambda: _holder(run) == str(first.pid), "the first trainer's lock")
        for flags in (["--run-dir", str(run)], ["--resume", str(run)]):
            second = _script("train.py", *flags, "--device", "cpu", "--no-progress")
            _, err = second.communicate(timeout=120)
            assert second.returncode == 2, err
            assert len(err.strip().splitlines()) == 1 and f"is in use by process {first.pid}" in err, err
            assert flags[0] in err
        assert first.poll() is None  # the first one trains on
    finally:
        first.kill()
        first.communicate()


def test_a_lock_left_by_a_dead_process_does_not_block(tmp_path):
    from training import Config, train

    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from common.files import DirLock; "
                               f"DirLock({str(run)!r}).acquire(); print('held', flush=True); time.sleep(600)"],
                              env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    assert _holder(run) == str(holder.pid)  # its lock file is still there, naming the dead process
    result = train(Config(num_envs=4, num_steps=8, total_steps=32, num_minibatches=2, max_episode_steps=16,
                          video_interval=0, image_interval=0, progress=False, device="cpu", run_dir=str(run)))
    assert result.global_step == 32 and os.path.isfile(run / "checkpoint.pt")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_second_compare_into_one_out_is_refused_and_workers_die_with_their_parent(tmp_path):
    out = tmp_path / "out"
    flags = ["--out", str(out), "--agents", "feedforward", "recurrent", "--envs", "CuedBerry-v1", "--seeds", "1",
             "--steps", "100000000", "--conditions", "easy", "--device", "cpu", "--no-progress", "--jobs", "2"]
    log = open(tmp_path / "first.log", "w")  # not a pipe: an orphan holding it would block the read
    first = _script("compare.py", *flags, start_new_session=True, stdout=log, stderr=log)
    try:
        wait_for(lambda: _holder(out) == str(first.pid), "the compare's lock")
        second = _script("compare.py", *flags)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2 and len(err.strip().splitlines()) == 1, err
        assert f"--out: {str(out)!r} is in use by process {first.pid}" in err, err
        # Both groups training, each in its worker (whose trainer holds its run directory's lock).
        runs = out / "runs"
        wait_for(lambda: runs.is_dir() and len([d for d in os.listdir(runs) if _holder(runs / d)]) == 2,
                  "two training workers")
        workers = [int(_holder(runs / d)) for d in os.listdir(runs)]
        assert all(_alive(w) for w in workers) and first.pid not in workers
        first.send_signal(signal.SIGKILL)
        first.wait()
        wait_for(lambda: not any(_alive(w) for w in workers), "the orphaned workers to exit", timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
        try:
            os.killpg(first.pid, signal.SIGKILL)  # whatever is left of the group, if the test failed
        except ProcessLookupError:
            pass
        log.close()


# --- memory ---------------------------------------------------------------------------------------


def _limit_address_space(gib: float):
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (int(gib * 2 ** 30), int(gib * 2 ** 30)))
    return limit


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS")
def test_a_run_that_cannot_fit_is_refused_up_front_naming_the_size_and_the_flag(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--num-envs", "60000",
                           "--device", "cpu", "--no-progress", "--run-dir", str(run)],
                          env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=120, preexec_fn=_limit_address_space(5))
    assert done.returncode == 2, done.stderr[-2000:]
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("train.py: error: --num-envs: got 60000"), line
    assert "GiB" in line and "worlds or fewer" in line and "--num-minibatches" in line
    assert not run.exists()  # refused before anything was written


def test_the_memory_estimate_follows_the_batch_and_failed_allocations_are_recognised():
    import numpy as np
    import torch

    from training import Config
    from training.build import make_agent, make_env
    from training.memory import out_of_memory, out_of_memory_message, saved_bytes_per_sample

    sizes = {}
    for preset in ("feedforward", "feedback"):
        config = Config(agent=preset, device="cpu")
        env = make_env(config, 8, torch.device("cpu"))
        obs = env.reset(seed=list(range(8)))[0]
        sizes[preset] = saved_bytes_per_sample(make_agent(config, env), obs, torch.device("cpu"))
        env.close()
    # Activations, not weights: tens of KB a sample, and top-down gain keeps more than a plain trunk.
    assert 10_000 < sizes["feedforward"] < sizes["feedback"] < 200_000, sizes
    try:
        torch.empty(2 ** 50, dtype=torch.uint8)
    except RuntimeError as exc:
        assert out_of_memory(exc) and "\n" not in out_of_memory_message(exc)
    with pytest.raises(MemoryError) as numpy_error:
        np.ones((2 ** 20, 2 ** 20, 2 ** 8), np.uint8)
    assert out_of_memory(numpy_error.value) and "--num-envs" in out_of_memory_message(numpy_error.value)
    assert not out_of_memory(RuntimeError("shape mismatch"))


# --- true messages, on any terminal ----------------------------------------------------------------


def test_an_ascii_terminal_and_a_non_ascii_path_train_and_export(tmp_path):
    run, exported = tmp_path / "rün", tmp_path / "ägent.pt"
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", LC_ALL="C", PYTHONIOENCODING="ascii")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--num-envs", "4",
                           "--total-steps", "128", "--video-interval", "0", "--device", "cpu", "--no-progress",
                           "--run-dir", str(run)], env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert os.path.isfile(run / "checkpoint.pt")
    assert b"r\\xfcn" in done.stdout  # the path printed as an escape, not a crash
    export = subprocess.run([sys.executable, "-m", "training.export", str(run), str(exported)], env=env,
                            capture_output=True, timeout=120, cwd=ROOT)
    assert export.returncode == 0 and b"\\xe4gent.pt" in export.stdout, export.stderr


def test_divergence_at_the_first_update_says_no_checkpoint_was_written(tmp_path):
    from training import Config, NonFiniteError, train

    run = tmp_path / "run"
    with pytest.raises(NonFiniteError, match="update 1 .*No checkpoint was written") as error:
        train(Config(num_envs=8, num_steps=16, total_steps=1024, learning_rate=1e37, video_interval=0,
                     image_interval=0, progress=False, device="cpu", run_dir=str(run)))
    assert "last good checkpoint" not in str(error.value) and not os.path.exists(run / "checkpoint.pt")


def test_two_ctrl_c_inside_one_long_call_quit_as_the_second_one_does():
    """Python runs a handler once for signals that arrive during one C call; the trainer counts the
    deliveries, so two Ctrl-C never become one stop request (a run that saves and exits 0)."""
    import threading

    import torch

    from training.interrupt import stop_requests

    a = torch.randn(1500, 1500)
    before = signal.getsignal(signal.SIGINT)

    def twice() -> None:
        time.sleep(0.05)  # the main thread is inside the matrix products by now
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        with stop_requests(announce=False) as request:
            sender = threading.Thread(target=twice)
            sender.start()
            for _ in range(8):
                a @ a
            sender.join()
            assert request.requested  # reached only if the two were taken as one
    assert signal.getsignal(signal.SIGINT) is before  # put back as it was
    with stop_requests(announce=False) as request:  # one alone is still a stop request
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        assert request.requested


@pytest.mark.parametrize("env_id", ["RedBerry-v1", "MultiBerry-v1"])
def test_a_closed_env_refuses_to_step_or_reset_as_gymnasiums_do(env_id):
    import gymnasium as gym
    from gymnasium.error import ClosedEnvironmentError

    import envs  # noqa: F401

    env = gym.make_vec(env_id, num_envs=2)
    env.reset(seed=0)
    env.close()
    env.close()  # twice is fine
    assert env.closed
    with pytest.raises(ClosedEnvironmentError, match=r"step\(\) was called after close\(\)"):
        env.step(env.action_space.sample())
    with pytest.raises(ClosedEnvironmentError, match=r"reset\(\)"):
        env.reset(seed=1)


def test_found_by_the_hostile_probe_an_endless_episode_is_refused_and_a_drifted_population_resumes(tmp_path):
    from training import Config, ConfigError, load_checkpoint, train
    from training.checkpoint import CHECKPOINT_FILE
    from training.population import population_configs

    with pytest.raises(ConfigError, match=r"--max-episode-steps: got 1000000000; allowed: an integer from 1 to 100,000"):
        train(Config(max_episode_steps=10 ** 9, progress=False, device="cpu", run_dir=str(tmp_path / "long")))
    assert not (tmp_path / "long").exists()  # it used to hang in the reference foragers' episode
    from training import train_population

    base = Config(num_envs=4, num_steps=8, total_steps=64, num_minibatches=2, max_episode_steps=16, video_interval=0,
                  image_interval=0, progress=False, device="cpu", run_dir=str(tmp_path / "pop"), population=2)
    train_population(population_configs(base), population=base)
    train(Config(**{**base.__dict__, "population": 1, "run_dir": None, "resume": str(tmp_path / "pop" / "seed1"),
                    "total_steps": 96}))  # one member resumed alone runs ahead
    again = population_configs(Config(**{**base.__dict__, "run_dir": None, "resume": str(tmp_path / "pop"),
                                         "total_steps": 128}))
    # Its runs train one after another, so each goes on from where it stopped, to the same end.
    assert [r.global_step for r in train_population(again)] == [128, 128]
    for seed in (1, 2):
        assert load_checkpoint(str(tmp_path / "pop" / f"seed{seed}" / CHECKPOINT_FILE))["global_step"] == 128


def test_found_by_the_hostile_probe_misuse_of_the_pettingzoo_env_and_reversal_knobs_elsewhere_are_refused():
    import gymnasium as gym
    from gymnasium.error import ClosedEnvironmentError

    import envs  # noqa: F401
    from envs import multiberry_pettingzoo as multiberry

    env = multiberry.parallel_env(num_agents=2)
    with pytest.raises(RuntimeError, match=r"step\(\) was called before reset\(\)"):
        env.step({})  # it used to step an arena that was never set up
    env.reset(seed=0)
    env.step({agent: 0 for agent in env.agents})
    env.close()
    with pytest.raises(ClosedEnvironmentError, match=r"step\(\) was called after close\(\)"):
        env.step({agent: 0 for agent in env.agents})
    # ReversalBerry's knobs on another task were silently ignored; now refused, as taste is.
    for knob, value in (("reversal_rate", 0.5), ("first_colour_share", 0.9), ("reversal_colours", (1, 2))):
        with pytest.raises(ValueError, match=rf"{knob} must be its default .* for task='red'; {knob} is ReversalBerry's"):
            gym.make_vec("RedBerry-v1", num_envs=2, **{knob: value})
        gym.make_vec("ReversalBerry-v1", num_envs=2, **{knob: value}).close()


def test_found_by_the_hostile_probe_flags_that_would_be_ignored_are_refused(tmp_path):
    from compare.cli import CompareArgs
    from compare.grid import CompareError
    from compare.run import run_compare
    from training import ConfigError, parse_config

    with pytest.raises(ConfigError, match="--run-dir and --resume: give one"):
        parse_config(["--resume", str(tmp_path), "--run-dir", str(tmp_path / "other")])
    with pytest.raises(CompareError, match=r"--merge: joins shards .* got --agents, --from; allowed: --merge DIRS"):
        run_compare(CompareArgs(out=str(tmp_path / "m"), merge=(str(tmp_path),), agents=("feedback",),
                                from_runs=(str(tmp_path),)))
    assert not (tmp_path / "m").exists()
