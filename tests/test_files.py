"""Atomic writes: the old file survives a failed write, and no temporary file is left."""

import os

import pytest

from common.files import atomic_path, sweep_temporaries, write_json


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    write_json(str(path), {"score": 1})
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(path)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise KeyboardInterrupt
    assert path.read_text() == '{\n  "score": 1\n}\n'
    assert os.listdir(tmp_path) == ["report.json"]


def test_temporary_keeps_the_suffix_so_writers_can_infer_the_format(tmp_path):
    with atomic_path(str(tmp_path / "plot.png")) as tmp:
        assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path)
        open(tmp, "wb").close()
    assert os.listdir(tmp_path) == ["plot.png"]


def test_sweep_removes_only_dead_processes_temporaries(tmp_path):
    dead = tmp_path / ".checkpoint.pt.tmp-999999999.pt"  # no such pid
    alive = tmp_path / f".checkpoint.pt.tmp-{os.getpid()}.pt"
    dead.touch()
    alive.touch()
    assert sweep_temporaries(str(tmp_path)) == [str(dead)]
    assert sorted(os.listdir(tmp_path)) == [alive.name]
