"""Every record is what it claims to be (issue 40): a damaged, edited or stray cell is named in one line, never
read; merge copies runs whole or not at all; the trainer's durations and curves do not follow the wall clock;
a report names every piece it lacks; each cell says which run it evaluated."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import types

import pytest
import torch

import compare.run
from common.files import atomic_path, write_json
from compare.cli import CompareArgs
from compare.grid import CompareError, Plan
from compare.report import analyse
from compare.store import read_curve, read_json
from conftest import tiny_args as tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.usefixtures("one_thread_everywhere")

EVAL = "CuedBerry-v1__feedforward__s1__easy__none__Ttrained"
TRAIN = "CuedBerry-v1__feedback__s1"


@pytest.fixture(scope="module")
def whole(tiny_compare):
    return tiny_compare[0]


def cells_of(whole, tmp_path):
    """A copy of the tiny compare's plan and cells (not its runs): enough for a report."""
    copy = tmp_path / "copy"
    shutil.copytree(whole / "cells", copy / "cells")
    for name in ("plan.json", "invocations.json"):
        shutil.copy(whole / name, copy / name)
    return copy


def report_error(out) -> str:
    """The one-line CompareError that reading ``out``'s cells for a report raises."""
    plan = Plan.from_dict(read_json(str(out / "plan.json")))
    with pytest.raises(CompareError) as caught:
        analyse(str(out), plan)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# --- damaged, edited and stray cells -----------------------------------------------------------------


def _set(path, value):
    def edit(record):
        target = record
        for name in path[:-1]:
            target = target[name]
        target[path[-1]] = value
        return record
    return edit


def _drop(name):
    def edit(record):
        record.pop(name)
        return record
    return edit


def _moved(unit=None, **cell):
    """The record moved to another unit (``unit``'s fields) or condition, lesion or T (``cell``'s), its unit key
    made to match: a consistent edit."""
    def edit(record):
        record["unit"].update(unit or {})
        record.update(cell)
        record["unit_key"] = f"{record['unit']['task']}__{record['unit']['agent']}__s{record['unit']['seed']}"
        return record
    return edit


EVAL_EDITS = {
    "no metrics": _drop("metrics"),
    "no unit": _drop("unit"),
    "no reference": _drop("reference"),
    "metrics a list": _set(["metrics"], [1.0, 2.0]),
    "metrics without passes": lambda record: record["metrics"].pop("passes") and record,
    "a JSON list": lambda record: [record],
    "a JSON number": lambda record: 3,
    "seed a string": _set(["unit", "seed"], "1"),
    "return_mean a string": _set(["metrics", "return_mean"], "1.0"),
    "condition a number": _set(["condition"], 3),
    "passes a string": _set(["passes"], "2"),
    "episode_steps a float": _set(["episode_steps"], 24.5),
    "unit_key another unit": _set(["unit_key"], "CuedBerry-v1__feedback__s1"),
    "key another cell": _set(["key"], "CuedBerry-v1__feedforward__s2__easy__none__Ttrained"),
    "contents of another seed": _moved(dict(seed=2)),
    "contents of another condition": _moved(condition="hard"),
    "another episode length": _set(["episode_steps"], 48),
}


def edited_report(whole, tmp_path, kind: str, key: str, edit):
    """A copy of the whole compare's cells with one cell edited by `edit`; (its path, the report's error)."""
    out = cells_of(whole, tmp_path)
    path = out / "cells" / kind / f"{key}.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    return path, report_error(out)


@pytest.mark.parametrize("edit", list(EVAL_EDITS), ids=lambda e: e.replace(" ", "_"))
def test_a_damaged_or_edited_eval_cell_is_named_in_one_line_at_report_time(whole, tmp_path, edit):
    path, message = edited_report(whole, tmp_path, "eval", EVAL, EVAL_EDITS[edit])
    assert str(path) in message and "delete it and run the same command again" in message, message


STRAYS = {  # a file whose name and contents agree, for a cell the plan does not make
    "seed outside the plan": _moved(dict(seed=3)),
    "condition outside the plan": _moved(condition="noise"),
    "agent outside the plan": _moved(dict(agent="recurrent")),
    "T outside the plan": _moved(passes=5),
}


@pytest.mark.parametrize("stray", list(STRAYS), ids=lambda e: e.replace(" ", "_"))
def test_a_stray_cell_the_plan_does_not_make_is_refused(whole, tmp_path, stray):
    out = cells_of(whole, tmp_path)
    record = json.loads((out / "cells" / "eval" / f"{EVAL}.json").read_text())
    record = STRAYS[stray](record)
    unit = record["unit"]
    record["key"] = (f"{record['unit_key']}__{record['condition']}__{record['lesion']}__"
                     f"T{record['passes'] or 'trained'}")
    path = out / "cells" / "eval" / f"{record['key']}.json"
    path.write_text(json.dumps(record))
    message = report_error(out)
    assert str(path) in message and "plan" in message and unit["task"] in message, message


def test_a_cell_put_under_another_cells_name_is_refused(whole, tmp_path):
    out = cells_of(whole, tmp_path)
    other = out / "cells" / "eval" / "CuedBerry-v1__feedforward__s2__easy__none__Ttrained.json"
    shutil.copy(out / "cells" / "eval" / f"{EVAL}.json", other)  # seed 1's numbers as seed 2's
    message = report_error(out)
    assert str(other) in message and "not its file name" in message, message


def test_an_eval_cell_whose_reference_cell_is_missing_is_named(whole, tmp_path):
    out = cells_of(whole, tmp_path)
    record = json.loads((out / "cells" / "eval" / f"{EVAL}.json").read_text())
    for name in os.listdir(out / "cells" / "reference"):
        if name == f"{record['reference']}.json":
            os.remove(out / "cells" / "reference" / name)
    message = report_error(out)
    assert str(out / "cells" / "eval") in message and record["reference"] in message and "missing" in message, message


TRAIN_EDITS = {
    "a JSON list": lambda record: [record],
    "no global_step": _drop("global_step"),
    "no unit": _drop("unit"),
    "curve a string": _set(["curve"], "1,2"),
    "curve of triples": _set(["curve"], [[1, 2, 3]]),
    "final_score a string": _set(["final_score"], "0.5"),
    "unit of another seed": _set(["unit", "seed"], 2),
    "cut_event_files a string": _set(["cut_event_files"], "events"),
}


@pytest.mark.parametrize("edit", list(TRAIN_EDITS), ids=lambda e: e.replace(" ", "_"))
def test_a_damaged_or_edited_train_cell_is_named_in_one_line_at_report_time(whole, tmp_path, edit):
    path, message = edited_report(whole, tmp_path, "train", TRAIN, TRAIN_EDITS[edit])
    assert str(path) in message, message


REFERENCE_EDITS = {
    "a JSON list": lambda record: [record],
    "no random forager": _drop("random"),
    "a forager's return a string": _set(["scripted", "return_mean"], "9"),
    "spec a list": _set(["spec"], []),
    "other worlds than its name": _set(["spec", "seed"], 7),
}


@pytest.mark.parametrize("edit", list(REFERENCE_EDITS), ids=lambda e: e.replace(" ", "_"))
def test_a_damaged_or_edited_reference_cell_is_named_in_one_line_at_report_time(whole, tmp_path, edit):
    out = cells_of(whole, tmp_path)
    path = out / "cells" / "reference" / sorted(os.listdir(out / "cells" / "reference"))[0]
    path.write_text(json.dumps(REFERENCE_EDITS[edit](json.loads(path.read_text()))))
    message = report_error(out)
    assert str(path) in message, message


def test_every_stored_cell_in_docs_data_is_still_accepted():
    from compare.store import KINDS, load_cells

    folders = sorted({os.path.dirname(os.path.join(d, "plan.json"))
                      for d, _, names in os.walk(os.path.join(ROOT, "docs", "data")) if "plan.json" in names})
    assert folders
    assert sum(len(load_cells(folder, kind)) for folder in folders for kind in KINDS) > 100


# --- merge: whole runs or none --------------------------------------------------------------------------


def _merge(out, *dirs) -> str:
    return compare.run.run_compare(CompareArgs(out=str(out), merge=tuple(str(d) for d in dirs), progress=False,
                                               command="merge"))


def _tree(path) -> dict:
    """{file inside path: its bytes' SHA-1}, without the lock."""
    found = {}
    for directory, _, names in os.walk(path):
        for name in names:
            if name != ".lock":
                with open(os.path.join(directory, name), "rb") as f:
                    found[os.path.relpath(os.path.join(directory, name), path)] = hashlib.sha1(f.read()).hexdigest()
    return found


def _failing_copy(error: int, on: str):
    """shutil.copy2 that writes a few bytes of the file ``on`` names and then fails as a full disk or a file-size
    limit does (as sendfile reports it: the source and the destination named)."""
    real = shutil.copy2

    def copy(source, destination, **kwargs):
        if on in os.path.basename(str(destination)):
            with open(destination, "wb") as f:
                f.write(b"half")
            raise OSError(error, os.strerror(error), str(source), None, str(destination))
        return real(source, destination, **kwargs)
    return copy


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EFBIG], ids=["disk-full", "file-size-limit"])
def test_a_merge_that_fails_while_copying_keeps_no_half_run_and_a_rerun_ends_whole(whole, tmp_path, monkeypatch,
                                                                                   error):
    merged = tmp_path / "merged"
    monkeypatch.setattr(compare.run.shutil, "copy2", _failing_copy(error, "checkpoint.pt"))
    with pytest.raises(CompareError) as caught:
        _merge(merged, whole)
    message = str(caught.value)
    assert "\n" not in message and os.strerror(error) in message and "checkpoint.pt" in message, message
    assert ".tmp-" not in message  # the file named as the user will see it
    runs = merged / "runs"
    assert not runs.exists() or os.listdir(runs) == []  # no half-copied run, no temporary
    assert not (merged / "cells" / "train").exists() or os.listdir(merged / "cells" / "train") == []
    monkeypatch.undo()
    _merge(merged, whole)
    for key in os.listdir(whole / "runs"):
        assert _tree(merged / "runs" / key) == _tree(whole / "runs" / key), key
    assert sorted(os.listdir(merged / "cells" / "train")) == sorted(os.listdir(whole / "cells" / "train"))


def test_a_run_half_copied_by_an_older_merge_is_made_whole_by_the_next(whole, tmp_path):
    merged = tmp_path / "merged"
    shutil.copytree(whole / "cells", merged / "cells")
    shutil.copy(whole / "plan.json", merged / "plan.json")
    run = merged / "runs" / TRAIN
    run.mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes((whole / "runs" / TRAIN / "checkpoint.pt").read_bytes()[:100])
    (run / "config.json").write_text("")
    left = merged / "runs" / f".{TRAIN}.tmp-999999999"  # a killed merge's temporary copy
    left.mkdir()
    (left / "checkpoint.pt").write_bytes(b"half")
    _merge(merged, whole)
    assert _tree(run) == _tree(whole / "runs" / TRAIN)
    assert sorted(os.listdir(merged / "runs")) == sorted(os.listdir(whole / "runs"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE")
def test_a_file_size_limit_during_a_merge_is_one_line_naming_the_file(whole, tmp_path):
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    checkpoint = os.path.getsize(whole / "runs" / TRAIN / "checkpoint.pt")
    assert checkpoint > 200_000
    merged = tmp_path / "merged"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "compare.py"), "--merge", str(whole),
                           "--out", str(merged)], env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert done.returncode == 2, done.stderr[-2000:]
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "File too large" in line and "checkpoint.pt" in line, line
    assert not os.listdir(merged / "runs") if (merged / "runs").exists() else True


def test_a_shard_listed_twice_is_refused(whole, tmp_path):
    with pytest.raises(CompareError, match=r"--merge: .* is given twice .*allowed: each folder once"):
        _merge(tmp_path / "merged", whole, whole)
    (tmp_path / "link").symlink_to(whole)
    with pytest.raises(CompareError, match="given twice"):
        _merge(tmp_path / "merged2", whole, tmp_path / "link")
    assert not (tmp_path / "merged" / "cells").exists()


def test_a_shard_merged_with_a_copy_of_itself_counts_its_time_once(whole, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(whole, copy)
    report = open(_merge(tmp_path / "merged", whole, copy)).read()
    alone = open(_merge(tmp_path / "alone", whole)).read()
    wall = [line for line in report.splitlines() if line.startswith("Wall time:")]
    assert wall == [line for line in alone.splitlines() if line.startswith("Wall time:")]
    assert "interrupted and resumed" not in report


# --- reports say what they lack -------------------------------------------------------------------------


def test_a_merged_report_names_every_missing_cell_in_its_head_and_last_line(whole, tmp_path):
    shard = cells_of(whole, tmp_path)
    gone = ["CuedBerry-v1__feedback__s2__hard__none__Ttrained", "CuedBerry-v1__feedforward__s1__easy__goal__Ttrained"]
    for key in gone:
        os.remove(shard / "cells" / "eval" / f"{key}.json")
    os.remove(shard / "cells" / "train" / "CuedBerry-v1__feedforward__s2.json")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "compare.py"), "--merge", str(shard),
                           "--out", str(tmp_path / "merged")],
                          env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    head = [line for line in open(tmp_path / "merged" / "results.md").read().splitlines()
            if line.startswith("**Incomplete:**")]
    assert len(head) == 1
    for text in (last, head[0]):
        assert all(key in text for key in gone), text
        assert "1 of 4 trained agents missing (CuedBerry-v1__feedforward__s2)" in text and "evaluation cells" in text


def test_the_closing_line_names_a_dozen_missing_cells_of_a_kind_and_counts_the_rest(whole, tmp_path, monkeypatch):
    """A shard of a large grid lacks hundreds of cells: the console line names CONSOLE_NAMES of each kind and
    says how many more; the report's head still names every one."""
    import compare.report
    from compare.report import incomplete_line, incomplete_text
    from compare.store import load_cells

    shard = cells_of(whole, tmp_path)
    gone = sorted(os.listdir(shard / "cells" / "eval"))[:5]
    for name in gone:
        os.remove(shard / "cells" / "eval" / name)
    monkeypatch.setattr(compare.report, "CONSOLE_NAMES", 2)
    line = incomplete_line(str(shard))
    assert "5 of " in line and "and 3 more, every one named in results.md" in line, line
    assert sum(name[:-len(".json")] in line for name in gone) == 2
    plan = Plan.from_dict(json.load(open(shard / "plan.json")))
    full = incomplete_text(plan, load_cells(shard, "train"), set(load_cells(shard, "eval")))
    assert all(name[:-len(".json")] in full for name in gone) and "more" not in full


def test_a_curve_read_from_a_cut_event_file_is_named_as_incomplete(whole, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(whole, out)
    (events,) = [name for name in os.listdir(out / "runs" / TRAIN) if "tfevents" in name]
    path = out / "runs" / TRAIN / events
    path.write_bytes(path.read_bytes()[:-7])  # a full disk, a bad copy
    os.remove(out / "cells" / "train" / f"{TRAIN}.json")  # read again, as a resumed compare does
    report = open(compare.run.run_compare(tiny(out))).read()
    (line,) = [line for line in report.splitlines() if line.startswith("**Incomplete:**")]
    assert f"1 learning curve read from an event file cut short, which may lack its end ({TRAIN} ({events}))" in line


def test_a_whole_report_says_nothing_is_missing(whole):
    from compare.report import incomplete_line

    assert incomplete_line(str(whole)) == ""
    assert "Incomplete" not in open(whole / "results.md").read()


# --- identity: each cell says which run it evaluated ----------------------------------------------------


def _sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_each_cell_records_the_checkpoint_it_came_from(whole):
    train = json.loads((whole / "cells" / "train" / f"{TRAIN}.json").read_text())
    checkpoint = whole / "runs" / TRAIN / "checkpoint.pt"
    assert train["run"]["checkpoint_sha256"] == _sha256(checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert train["run"]["update"] == saved["update"] and train["run"]["global_step"] == saved["global_step"]
    cell = json.loads((whole / "cells" / "eval" / f"{TRAIN}__easy__none__Ttrained.json").read_text())
    assert cell["run"] == train["run"]
    assert cell["agent_config"] == json.loads(saved["agent_config"])


def test_a_run_whose_checkpoint_changed_since_its_train_record_is_not_evaluated(whole, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(whole, out)
    os.remove(out / "cells" / "eval" / f"{TRAIN}__hard__none__Ttrained.json")
    checkpoint = out / "runs" / TRAIN / "checkpoint.pt"
    from training.checkpoint import save_checkpoint

    payload = torch.load(checkpoint, weights_only=True)
    payload["update"] += 1  # trained on between two invocations
    save_checkpoint(str(checkpoint), payload)
    with pytest.raises(CompareError) as caught:
        compare.run.run_compare(tiny(out))
    message = str(caught.value)
    assert "\n" not in message and str(checkpoint) in message and "changed since its train record" in message
    assert not (out / "cells" / "eval" / f"{TRAIN}__hard__none__Ttrained.json").exists()


TINY_RUN = dict(num_envs=4, num_steps=8, total_steps=64, num_minibatches=2, max_episode_steps=16, video_interval=0,
                image_interval=0, progress=False, device="cpu")


def test_a_merge_refuses_an_eval_cell_of_another_checkpoint_than_its_train_record(whole, tmp_path):
    shard = cells_of(whole, tmp_path)
    path = shard / "cells" / "eval" / f"{TRAIN}__hard__none__Ttrained.json"
    record = json.loads(path.read_text())
    record["run"]["update"] += 1
    path.write_text(json.dumps(record))
    with pytest.raises(CompareError) as caught:
        _merge(tmp_path / "merged", shard)
    message = str(caught.value)
    assert "\n" not in message and f"{TRAIN}__hard__none__Ttrained.json evaluated another checkpoint" in message


def _tiny_run(run_dir, **changes):
    from training import Config, train

    return train(Config(**{**TINY_RUN, "run_dir": str(run_dir), **changes}))


def _resume(run_dir, total_steps: int):
    from training import Config, train

    return train(Config(**{**TINY_RUN, "resume": str(run_dir), "total_steps": total_steps}))


def test_runs_pooled_as_seeds_must_share_every_setting_but_the_seed(tmp_path):
    from compare.run import load_runs

    _tiny_run(tmp_path / "runs" / "a", seed=1)
    _tiny_run(tmp_path / "runs" / "b", seed=2, learning_rate=1e-3)
    with pytest.raises(CompareError, match=r"--from: the runs of feedback on RedBerry-v1 .*learning_rate: 0.0005 in "
                                           r".*, 0.001 in .*allowed: runs that differ only in seed"):
        load_runs((str(tmp_path / "runs"),))


# --- the trainer's clock --------------------------------------------------------------------------------


def _clock(offset: float, step: float = 0.0):
    """A `time` module whose wall clock is ``offset`` seconds off and steps back ``step`` seconds a call."""
    import time as real

    calls = [0]

    def wall() -> float:
        calls[0] += 1
        return real.time() + offset - step * calls[0]
    return types.SimpleNamespace(**{**{name: getattr(real, name) for name in dir(real) if not name.startswith("_")},
                                    "time": wall})


def test_durations_and_rates_do_not_follow_a_wall_clock_that_steps_back(tmp_path, monkeypatch):
    import training.loop
    import training.run_state

    for module in (training.loop, training.run_state):
        monkeypatch.setattr(module, "time", _clock(0.0, step=1000.0))
    result = _tiny_run(tmp_path / "run")
    assert result.elapsed >= 0 and 0 < result.sps < 1e7, (result.elapsed, result.sps)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert 0 <= saved["elapsed"] < 600


def test_a_resumed_run_whose_clock_is_behind_keeps_its_curve_in_step_order(tmp_path, monkeypatch):
    from tensorboard.summary.writer import event_file_writer

    run = tmp_path / "run"
    _tiny_run(run, total_steps=128)
    whole = read_curve(str(run), "charts/SPS")
    assert whole[-1][0] == 128
    _tiny_run(tmp_path / "half", total_steps=64)
    monkeypatch.setattr(event_file_writer, "time", _clock(-10 ** 6))  # the resumed process's event file sorts first
    _resume(tmp_path / "half", 128)
    names = sorted(n for n in os.listdir(tmp_path / "half") if "tfevents" in n)
    assert len(names) == 2
    curve = read_curve(str(tmp_path / "half"), "charts/SPS")
    steps = [step for step, _ in curve]
    assert steps == sorted(set(steps)) and steps == [step for step, _ in whole]


# --- one line, never a traceback ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    _tiny_run(run)
    return run


def _first_tensor(state: dict):
    return next(name for name, value in state.items() if isinstance(value, torch.Tensor) and value.dim() >= 1)


WORLD_EDITS = {
    "a field of another shape": lambda state: state.update({_first_tensor(state): state[_first_tensor(state)][:1]}),
    "a field missing": lambda state: state.pop(_first_tensor(state)),
}


@pytest.mark.parametrize("edit", list(WORLD_EDITS), ids=lambda e: e.replace(" ", "_"))
def test_a_checkpoint_whose_worlds_do_not_fit_is_one_line_on_resume(trained_run, tmp_path, edit):
    from training.checkpoint import CheckpointError, save_checkpoint

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    WORLD_EDITS[edit](payload["ranks"][0]["env_state"])
    save_checkpoint(str(run / "checkpoint.pt"), payload)
    with pytest.raises(CheckpointError) as caught:
        _resume(run, 128)
    message = str(caught.value)
    assert "\n" not in message and str(run / "checkpoint.pt") in message and "saved worlds do not fit" in message


@pytest.mark.parametrize("name", ["a" * 252 + ".pt", "ü" * 125 + ".pt"], ids=["ascii", "two-byte"])
def test_a_long_but_legal_file_name_can_be_exported_to(trained_run, tmp_path, name):
    from training.checkpoint import export_checkpoint, read_run

    assert len(os.fsencode(name)) <= 255
    export_checkpoint(str(trained_run), str(tmp_path / name))
    assert read_run(str(tmp_path / name)).config.total_steps == 64
    assert os.listdir(tmp_path) == [name]


def test_a_long_but_legal_file_name_is_written_atomically(tmp_path):
    path = tmp_path / ("r" * 250 + ".json")
    write_json(str(path), {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1} and os.listdir(tmp_path) == [path.name]


def test_a_failed_write_names_the_file_not_its_temporary(tmp_path):
    from common.files import os_error_text

    path = tmp_path / "cell.json"
    with pytest.raises(OSError) as caught:
        with atomic_path(str(path)) as tmp:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)
    assert caught.value.filename == str(path) and os.listdir(tmp_path) == []
    assert os_error_text(OSError(errno.ENOSPC, "No space left on device", os.fsencode(str(path)))) == (
        f"{path}: No space left on device")


def test_a_writer_threads_file_error_leaves_no_traceback_and_others_still_do():
    import threading

    from common.flags import quiet_thread_errors

    previous, shown = threading.excepthook, []
    try:
        threading.excepthook = shown.append  # what would print the thread's traceback
        quiet_thread_errors()
        for error in (OSError(errno.ENOSPC, "No space left on device", b"/tmp/events"), ValueError("a bug")):
            threading.excepthook(threading.ExceptHookArgs([type(error), error, None, None]))
    finally:
        threading.excepthook = previous
    assert [args.exc_type for args in shown] == [ValueError]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_NOFILE")
def test_too_few_open_files_for_a_population_is_one_line_naming_the_limit(tmp_path):
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (7, 7))  # a run needs 8 here (its members train one at a time)

    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--population", "2",
                           "--num-envs", "4", "--num-steps", "8", "--total-steps", "64", "--num-minibatches", "2",
                           "--video-interval", "0", "--device", "cpu", "--no-progress", "--run-dir",
                           str(tmp_path / "pop")], env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert done.returncode == 2, done.stderr[-2000:]
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "b'" not in line and "too many open files (the limit is 7)" in line, line
