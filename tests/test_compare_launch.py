"""Where a compare's work runs: the seeds of a cell as one population, --jobs J worker processes,
--launcher ray, and their bad input (shards with --jobs: tests/test_compare.py). A tiny grid:
2 presets x 2 seeds, 1,024 steps (conftest.py's TINY_COMPARE, shared with tests/test_compare.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from compare.cli import parse_args
from compare.grid import CompareError
from compare.run import _comparable, make_plan, run_compare
from compare.store import KINDS, load_cells, prepare_out
from compare.work import UnitError
from conftest import tiny_args as tiny
from viewer import DEMO_CHECKPOINT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = [[f"CuedBerry-v1__{agent}__s{s}" for s in (1, 2)] for agent in ("feedback", "feedforward")]


# Before any module fixture trains: one torch thread here and in the workers (conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread_everywhere")


@pytest.fixture(scope="module")
def serial(tiny_compare):
    """The tiny grid with --jobs 1, and the run of every training.train call it made."""
    out, _, calls = tiny_compare
    return out, calls


def cells(out) -> dict:
    """Every finished record, without what may differ between equal computations (timings)."""
    return {(kind, key): _comparable(record) for kind in KINDS for key, record in load_cells(out, kind).items()}


def test_each_seed_of_a_cell_trains_once_in_its_own_run(serial):
    out, calls = serial
    assert sorted(calls) == sorted(k for group in GROUPS for k in group)  # one call per unit
    for key in (k for group in GROUPS for k in group):
        run = out / "runs" / key
        assert (run / "checkpoint.pt").is_file() and any(f.startswith("events.out") for f in os.listdir(run))
        assert f"in {run} on cpu" in (run / "train.log").read_text()  # its log, naming it
        assert load_cells(out, "train")[key]["global_step"] == 1024


def test_jobs_2_writes_the_same_cells_as_jobs_1(serial, tmp_path):
    out, _ = serial
    parallel = tmp_path / "parallel"
    run_compare(tiny(parallel, jobs=2))
    expected = cells(out)
    assert {k for k in expected if k[0] == "eval"} and cells(parallel) == expected
    assert (parallel / "results.csv").read_text() == (out / "results.csv").read_text()
    assert re.search(r"Wall time: [\d.]+ min, on cpu \(--jobs 2\)", (parallel / "results.md").read_text())


@pytest.mark.parametrize("fault", ["corrupt", "foreign"])
def test_a_failing_group_names_its_units_and_the_other_groups_cells_are_kept(tmp_path, fault):
    args = tiny(tmp_path / "failing", jobs=2)
    plan, _ = make_plan(args)
    prepare_out(args.out, plan)
    broken = tmp_path / "failing" / "runs" / GROUPS[0][1]
    broken.mkdir(parents=True)
    if fault == "corrupt":  # a damaged checkpoint: named, with what to delete to retrain just it
        (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
        expected = (CompareError, rf"{GROUPS[0][1]}/checkpoint.pt' is corrupt.*; delete .*{GROUPS[0][1]} "
                                  rf"and run the same command again")
        kept = set(GROUPS[1])  # every checkpoint of a group is checked before any of its seeds trains
    else:  # a sound checkpoint of another run, without its config: the trainer refuses to resume it
        shutil.copy(DEMO_CHECKPOINT, broken / "checkpoint.pt")
        expected = (UnitError, rf"^training {GROUPS[0][1]}: ConfigError")
        kept = set(GROUPS[1]) | {GROUPS[0][0]}  # the seed before it trained (one after another) and was saved
    with pytest.raises(expected[0], match=expected[1]):
        run_compare(args)
    assert set(load_cells(args.out, "train")) == kept  # the feedforward group finished and was saved
    assert {r["unit_key"] for r in load_cells(args.out, "eval").values()} == set(GROUPS[1])


@pytest.mark.parametrize("changes, message", [
    (dict(jobs=0), "--jobs: got 0; allowed: an integer >= 1"),
    (dict(jobs=-1), "--jobs: got -1; allowed: an integer >= 1"),
    (dict(launcher="slurm"), "--launcher: got 'slurm'; allowed: local, ray"),
    (dict(launcher="ray", jobs=2), "--jobs: got 2; allowed: 1 with --launcher ray"),
])
def test_bad_jobs_or_launcher_fail_before_anything_runs(tmp_path, changes, message):
    with pytest.raises(CompareError, match=re.escape(message)) as error:
        run_compare(tiny(tmp_path / "never", **changes))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "never").exists()


def test_cli_parses_jobs_and_launcher_and_refuses_a_bad_one(tmp_path):
    args = parse_args(["--jobs", "2", "--launcher", "ray", "--shard", "3/8"])
    assert (args.jobs, args.launcher, args.shard) == (2, "ray", "3/8")
    assert (parse_args([]).jobs, parse_args([]).launcher) == (1, "local")
    with pytest.raises(CompareError, match="--jobs: got 'two'; allowed: INT"):
        parse_args(["--jobs", "two"])
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "compare.py"), "--jobs", "0", "--out",
                             str(tmp_path / "never")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["compare.py: error: --jobs: got 0; allowed: an integer >= 1 (the "
                                                  "groups run at once, each in its own process)"]


def test_launcher_ray_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(CompareError, match=re.escape("--launcher ray: ray is not installed; allowed: --launcher "
                                                     "local, or install the extra: pip install -e .[ray]")):
        run_compare(tiny(tmp_path / "no-ray", launcher="ray"))
    assert not (tmp_path / "no-ray").exists()


@pytest.mark.slow  # 15-25 s here, most of it Ray's start: pytest -m slow tests/test_compare_launch.py
def test_launcher_ray_writes_the_same_cells_as_jobs_1(serial, tmp_path):
    ray = pytest.importorskip("ray")  # the [ray] extra
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        run_compare(tiny(tmp_path / "ray", launcher="ray"))
    finally:
        ray.shutdown()
    out, _ = serial
    assert cells(tmp_path / "ray") == cells(out)
