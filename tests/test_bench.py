"""`bench.py train`'s table: each path beside its own ceiling, repeated in alternating order, medians and ranges."""

from __future__ import annotations

from training import bench
from training.config import Config


def _stub(monkeypatch, ceiling_sps, train_sps) -> None:
    """bench_train with its measurements replaced: the test times nothing and keeps its threads."""
    monkeypatch.setattr(bench, "ceiling_sps", ceiling_sps)
    monkeypatch.setattr(bench, "_train_sps", train_sps)
    monkeypatch.setattr(bench, "env_only_sps", lambda config, steps: 1.0)
    monkeypatch.setattr(bench, "prepare_cpu_process", lambda: None)


def test_bench_train_repeats_alternate_the_paths_and_report_medians_of_the_fractions(monkeypatch, capsys):
    calls = []
    ceilings = iter([1000.0, 2000.0, 1000.0, 1000.0, 2000.0, 1000.0])  # one per measured path, in call order
    speeds = {"sequential": iter([500.0, 900.0, 400.0]), "batched": iter([800.0, 700.0, 600.0])}

    def train_sps(config, preset):
        path = "batched" if config.replay == "batched" else "sequential"
        calls.append(path)
        return next(speeds[path]), 123

    _stub(monkeypatch, lambda config, device: next(ceilings), train_sps)
    base = Config(device="cpu", num_envs=4, num_steps=4, num_minibatches=2)
    [row] = bench.bench_train(["recurrent"], base, updates=1, repeats=3)
    assert calls == ["sequential", "batched", "batched", "sequential", "sequential", "batched"]
    # sequential: 500/1000, 900/1000, 400/2000 = 0.5, 0.9, 0.2; batched: 800/2000, 700/1000, 600/1000 = 0.4, 0.7, 0.6
    assert row["sequential_fraction"] == 0.5 and row["sequential_fraction_range"] == (0.2, 0.9)
    assert row["batched_fraction"] == 0.6 and row["batched_fraction_range"] == (0.4, 0.7)
    assert row["sequential_sps"] == 500.0 and row["batched_ceiling"] == 1000.0
    out = capsys.readouterr().out
    assert "medians of 3 repeats" in out and "0.50 [0.20, 0.90]" in out and "0.60 [0.40, 0.70]" in out
    assert "batched/sequential" in out and "1.40x" in out  # median steps/s 700 / 500


def test_bench_train_with_one_path_prints_no_ratio(monkeypatch, capsys):
    _stub(monkeypatch, lambda config, device: 1000.0, lambda config, preset: (800.0, 123))
    base = Config(device="cpu", num_envs=4, num_steps=4, num_minibatches=2)
    bench.bench_train(["recurrent"], base, updates=1, paths=("batched",))
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.split()[:5] == ["recurrent", "123", "800", "1,000", "0.80"] and "x" not in row
