"""The compare: a tiny one end to end, the bootstrap CI, resume, shards + merge, --from, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

import compare.run
import compare.work
from compare import grid, stats
from compare.cli import parse_args
from compare.evaluate import change_cue, make_env
from compare.cli import CompareArgs
from compare.grid import CompareError
from compare.run import make_plan, run_compare
from compare.rows import read_csv
from conftest import TINY_COMPARE as TINY
from conftest import tiny_args as tiny
from envs.config import PALETTE_RGB

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



# Before any module fixture trains: one torch thread here and in the workers (conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread_everywhere")


@pytest.fixture(scope="module")
def whole(tiny_compare):
    out, report, _ = tiny_compare
    return out, report


def expected_cells(args: CompareArgs) -> set[str]:
    plan, units = make_plan(args)
    return {cell.key for unit in units for cell in grid.eval_cells(unit, plan)}


def csv_without(path, drop=()) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in drop} for row in read_csv(path)]


def same_rows(a: list[dict], b: list[dict]) -> bool:
    def norm(row):
        return {k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
    return [norm(r) for r in a] == [norm(r) for r in b]


# --- end to end ------------------------------------------------------------------------------


def test_tiny_compare_writes_csv_report_and_plots_that_agree(whole):
    out, report_path = whole
    rows = read_csv(out / "results.csv")
    # One row per (agent, seed, condition, lesion, T): every cell of the grid, no more.
    keys = {f"{r['task']}__{r['agent']}__s{r['seed']}__{r['condition']}__{r['lesion']}__"
            f"T{'trained' if r['passes_as_trained'] else r['passes']}" for r in rows}
    assert len(rows) == len(keys) == len(expected_cells(tiny(out)))
    assert keys == expected_cells(tiny(out))
    assert {(r["agent"], r["lesion"]) for r in rows} == {
        ("feedforward", "none"), ("feedforward", "goal"), ("feedback", "none"), ("feedback", "feedback"),
        ("feedback", "goal"), ("feedback", "untrained"), ("feedback", "feedback_goal"), ("feedback", "feedback_core"),
        ("feedback", "feedback_top")}  # the cuts of one top-down input apply where z reads it
    assert {r["passes"] for r in rows if r["agent"] == "feedback"} == {1, 2}
    for r in rows:
        assert r["episodes"] == 8 and r["episode_steps"] == 24
        assert r["normalized_score"] == pytest.approx(
            (r["return_mean"] - r["random_return_mean"]) / (r["scripted_return_mean"] - r["random_return_mean"]))
        assert r["still_score"] == pytest.approx(
            (r["still_return_mean"] - r["random_return_mean"]) / (r["scripted_return_mean"] - r["random_return_mean"]))
        assert 0 <= r["found_share"] <= 1 and 0 < r["steps_to_first_target"] <= 24
        # a target reached before any distractor is a target reached: clean search is never the shorter
        assert r["steps_to_first_target"] <= r["clean_steps_to_first_target"] <= 24
        assert r["clean_found_share"] + r["distractor_first_share"] <= 1 + 1e-9
    # The feedback lesion fixes every gain at 1: nothing varies with the cue, so no correlation at all;
    # intact and untrained feedback agents have one, with its shuffle p; agents without gains have none.
    assert all(math.isnan(r["fs_rho"]) for r in rows if r["lesion"] == "feedback" or r["agent"] == "feedforward")
    measured = [r for r in rows if r["agent"] == "feedback" and r["lesion"] in ("none", "untrained")]
    assert {r["lesion"] for r in measured} == {"none", "untrained"}
    assert all(-1 <= r["fs_rho"] <= 1 and 0 < r["fs_p"] <= 1 for r in measured)

    # summary.csv and results.md report what results.csv holds.
    summary = read_csv(out / "summary.csv")
    text = open(report_path).read()
    head = text.splitlines()[:6]
    assert any(line.startswith("Command: `python scripts/compare.py --tiny`") for line in head)
    assert any(re.match(r"Wall time: \d+\.\d min", line) for line in head)
    main = [r for r in rows if r["lesion"] == "none" and r["passes_as_trained"]]

    def main_still(condition):
        return next(r["still_score"] for r in main if r["condition"] == condition)

    for condition in TINY.conditions:
        for agent in TINY.agents:
            scores = [r["normalized_score"] for r in main if (r["condition"], r["agent"]) == (condition, agent)]
            assert len(scores) == 2
            s = stats.summarize(scores)
            entry = [x for x in summary if (x["condition"], x["agent"], x["lesion"], x["passes_as_trained"])
                     == (condition, agent, "none", True)]
            assert len(entry) == 1 and entry[0]["normalized_score_mean"] == pytest.approx(np.mean(scores))
            assert entry[0]["normalized_score_low"] == pytest.approx(s.low)
            cell = f"{s.mean:.2f} [{s.low:.2f}, {s.high:.2f}]"
            flag = " **not above still**" if stats.t_test([v - main_still(condition) for v in scores], 0.0, "greater") \
                >= stats.ALPHA else ""  # two seeds: seldom above the forager that turns in place
            assert re.search(rf"\| `{condition}` \| `{agent}` \| {re.escape(cell + flag)} \|", text), cell

    # Every plot the report shows exists as a PNG; the ones it could not draw it says so.
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert set(shown) == {"learning_curves.png", "sample_efficiency.png", "score_vs_difficulty.png", "conditions.png",
                          "lesions.png", "feature_similarity.png", "passes.png"}
    # Every verdict the report states is a row of verdicts.csv, with its paired differences by seed; two seeds
    # call nothing.
    verdicts = read_csv(out / "verdicts.csv")
    assert verdicts and {v["verdict"] for v in verdicts} == {"too few seeds (n < 5)"}
    assert {v["analysis"] for v in verdicts} >= {"contrasts", "lesions"}
    for name in shown:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] > 200
    assert "`set_size.png` not drawn" in text and not (out / "set_size.png").exists()
    assert "`reversal_curve.png` not drawn" in text and "## Reversal curve" not in text
    # One TensorBoard run per trained agent, each with its checkpoint.
    runs = sorted(os.listdir(out / "runs"))
    assert runs == [f"CuedBerry-v1__{a}__s{s}" for a in ("feedback", "feedforward") for s in (1, 2)]
    for run in runs:
        files = os.listdir(out / "runs" / run)
        assert "checkpoint.pt" in files and any(f.startswith("events.out") for f in files)


def test_shard_and_merge_equal_one_whole_run(whole, tmp_path, monkeypatch):
    import training

    out, _ = whole
    calls, real = [], training.train
    monkeypatch.setattr(training, "train", lambda config, **options: calls.append(
        [os.path.basename(config.run_dir)]) or real(config, **options))
    shards = [tmp_path / "s0", tmp_path / "s1"]
    run_compare(tiny(shards[0], shard="0/2"))
    # Its seed of each (task, agent), alone: a shard trains only its part of a group.
    assert sorted(calls) == [[f"CuedBerry-v1__{agent}__s1"] for agent in ("feedback", "feedforward")]
    run_compare(tiny(shards[1], shard="1/2", jobs=2))  # the other shard in two worker processes
    trained = [set(os.listdir(s / "cells" / "train")) for s in shards]
    assert trained[0] and trained[1] and not trained[0] & trained[1]  # each shard trained its own units
    merged = tmp_path / "merged"
    run_compare(CompareArgs(out=str(merged), merge=(str(shards[0]), str(shards[1])), progress=False,
                            command="merge"))
    assert same_rows(read_csv(merged / "results.csv"), read_csv(out / "results.csv"))
    assert same_rows(read_csv(merged / "summary.csv"), read_csv(out / "summary.csv"))
    assert "summed over 2 shards" in open(merged / "results.md").read()


def test_a_crafted_cell_cannot_make_merge_copy_outside_its_output(whole, tmp_path):
    out, _ = whole
    shard = tmp_path / "crafted"
    shutil.copytree(out, shard)
    victim = tmp_path / "outside"  # a directory the crafted record points at, next to the output
    (shard / "secret").mkdir()
    cell = shard / "cells" / "train" / sorted(os.listdir(shard / "cells" / "train"))[0]
    record = json.loads(cell.read_text())
    record["run_dir"] = "../outside"
    cell.write_text(json.dumps(record))
    with pytest.raises(CompareError, match="outside .*runs"):
        run_compare(CompareArgs(out=str(tmp_path / "merged"), merge=(str(shard),), progress=False, command="merge"))
    assert not victim.exists() and not (tmp_path / "merged" / "cells" / "train").exists()


def test_a_damaged_cell_is_named_with_what_to_do(whole, tmp_path):
    out, _ = whole
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    cell = copy / "cells" / "eval" / sorted(os.listdir(copy / "cells" / "eval"))[0]
    cell.write_text('{"metrics": {"return_mean": 1.')  # cut short, as by a full disk
    with pytest.raises(CompareError, match=f"{cell.name}: damaged.*delete it and run the same command again"):
        run_compare(tiny(copy))


def test_a_corrupt_checkpoint_met_on_resume_is_named_and_deleting_its_run_retrains_just_it(whole, tmp_path,
                                                                                           monkeypatch):
    out, _ = whole
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    # As if compare stopped after this run's last checkpoint but before its train record, and the
    # checkpoint was then damaged (a full disk, a bad copy): the next run must resume it.
    key = "CuedBerry-v1__feedback__s2"
    os.remove(copy / "cells" / "train" / f"{key}.json")
    checkpoint = copy / "runs" / key / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(CompareError) as caught:
        run_compare(tiny(copy))
    message = str(caught.value)
    assert "\n" not in message and str(checkpoint) in message and "corrupt" in message
    assert f"delete {copy / 'runs' / key}" in message and "run the same command again" in message
    shutil.rmtree(copy / "runs" / key)  # what the message says to do
    trained, real = [], compare.work.train_group
    monkeypatch.setattr(compare.work, "train_group",
                        lambda units, *a, **k: trained.append([u.key for u in units]) or real(units, *a, **k))
    run_compare(tiny(copy))
    assert trained == [[key]]  # just that run, retrained
    assert same_rows(read_csv(copy / "results.csv"), read_csv(out / "results.csv"))  # seeded: the same again


def test_resume_after_an_interruption_redoes_no_finished_cell(tmp_path, monkeypatch):
    args = tiny(tmp_path / "resumed", agents=("feedback",), conditions=("easy",))
    real_train, real_eval = compare.work.train_group, compare.work.evaluate_cell
    trained, evaluated = [], []

    def counting_train(units, *a, **k):
        trained.append([u.key for u in units])
        return real_train(units, *a, **k)

    def interrupting_eval(cell, *a, **k):
        if len(evaluated) == 2:  # the third cell of the first agent: stop here, as Ctrl-C would
            raise KeyboardInterrupt
        evaluated.append(cell.key)
        return real_eval(cell, *a, **k)

    monkeypatch.setattr(compare.work, "train_group", counting_train)
    monkeypatch.setattr(compare.work, "evaluate_cell", interrupting_eval)
    with pytest.raises(KeyboardInterrupt):
        run_compare(args)
    assert trained == [[f"CuedBerry-v1__feedback__s{s}" for s in (1, 2)]]  # the seeds: one population, one call
    assert len(evaluated) == 2
    cells = tmp_path / "resumed" / "cells" / "eval"
    finished = {p: os.stat(cells / p).st_mtime_ns for p in os.listdir(cells)}
    assert len(finished) == 2

    first_evaluated = list(evaluated)
    trained.clear()
    evaluated.clear()

    def counting_eval(cell, *a, **k):
        evaluated.append(cell.key)
        return real_eval(cell, *a, **k)

    monkeypatch.setattr(compare.work, "evaluate_cell", counting_eval)
    run_compare(args)
    assert trained == []  # both runs finished and were saved before the interruption: not trained again
    assert not set(evaluated) & set(first_evaluated)  # no finished cell is evaluated again
    assert set(evaluated) | set(first_evaluated) == expected_cells(args)
    assert all(os.stat(cells / p).st_mtime_ns == t for p, t in finished.items())
    text = open(tmp_path / "resumed" / "results.md").read()
    assert "over 2 invocations (the compare was interrupted and resumed)" in text


def test_from_runs_evaluates_trained_agents_without_training_them(whole, tmp_path, monkeypatch):
    out, _ = whole
    monkeypatch.setattr(compare.work, "train_group", lambda *a, **k: pytest.fail("--from must not train"))
    again = tmp_path / "again"
    args = CompareArgs(out=str(again), from_runs=(str(out / "runs"),), conditions=("easy", "hard"),
                       lesion_conditions=("easy",), passes=(1, 2), passes_conditions=("easy",), episode_steps=24,
                       eval_worlds=8, device="cpu", progress=False)
    run_compare(args)
    drop = ("train_steps", "train_final_score")
    assert same_rows(csv_without(again / "results.csv", drop), csv_without(out / "results.csv", drop))


def test_from_runs_trained_on_hard_worlds_are_their_own_variant(tmp_path):
    """A run trained with --difficulty hard is `feedback@hard`, as --agents names it, not a second `feedback`."""
    from training import Config, train

    base = Config(env="CuedBerry-v1", agent="feedback", num_envs=4, num_steps=8, total_steps=32, num_minibatches=2,
                  max_episode_steps=16, video_interval=0, image_interval=0, progress=False, device="cpu")
    train(dataclasses.replace(base, run_dir=str(tmp_path / "runs" / "easy")))
    train(dataclasses.replace(base, difficulty="hard", run_dir=str(tmp_path / "runs" / "hard")))
    plan, units = make_plan(CompareArgs(out=str(tmp_path / "out"), from_runs=(str(tmp_path / "runs"),)))
    assert sorted(u.key for u in units) == ["CuedBerry-v1__feedback@hard__s1", "CuedBerry-v1__feedback__s1"]
    assert {u.agent: u.difficulty for u in units} == {"feedback": "easy", "feedback@hard": "hard"}
    assert plan.agents == ("feedback", "feedback@hard")


def test_a_run_is_named_by_the_worlds_it_trained_in_after_the_task_defaults_change(tmp_path, monkeypatch):
    """The checkpoint records every world setting as trained, so a run keeps its name, and is evaluated in
    its own worlds, when a task's defaults later change; a checkpoint saved before the record is read
    by its flags over today's defaults."""
    import envs.config
    from training import Config, train
    from training.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "runs" / "r"
    train(Config(env="ReversalBerry-v1", agent="feedforward", num_envs=4, num_steps=8, total_steps=32,
                 num_minibatches=2, max_episode_steps=16, video_interval=0, image_interval=0, progress=False,
                 device="cpu", run_dir=str(run)))
    payload = load_checkpoint(str(run / "checkpoint.pt"))
    worlds = json.loads(payload["worlds"])
    assert worlds["taste"] is True and worlds["reversal_rate"] == 0.0 and worlds["first_colour_share"] == 0.5
    args = CompareArgs(out=str(tmp_path / "out"), from_runs=(str(run),))
    assert [u.agent for u in make_plan(args)[1]] == ["feedforward"]
    monkeypatch.setitem(envs.config.TASK_DEFAULTS, "reversal", dict(taste=False, reversal_rate=0.0))
    (unit,) = make_plan(args)[1]
    assert unit.agent == "feedforward+taste=True" and unit.world_kwargs == (("taste", True),)
    payload.pop("worlds")  # as saved before the record: named by today's defaults
    save_checkpoint(str(run / "checkpoint.pt"), {k: v for k, v in payload.items() if not k.startswith("format")})
    assert [u.agent for u in make_plan(args)[1]] == ["feedforward"]


def test_two_variants_of_one_preset_share_one_compare(tmp_path):
    """Runs of one preset trained with other agent settings or in other worlds are their own named
    variants: they load from one --from, are evaluated side by side and judged against each other."""
    from training import Config, train

    base = Config(env="CuedBerry-v1", agent="feedback", num_envs=4, num_steps=8, total_steps=32, num_minibatches=2,
                  max_episode_steps=16, video_interval=0, image_interval=0, progress=False, device="cpu")
    runs = tmp_path / "runs"
    train(dataclasses.replace(base, run_dir=str(runs / "plain")))
    train(dataclasses.replace(base, agent_overrides={"plastic": True}, run_dir=str(runs / "plastic")))
    train(dataclasses.replace(base, env_kwargs={"num_berries": 20, "regrow_delay": 20}, run_dir=str(runs / "dense")))
    args = CompareArgs(out=str(tmp_path / "out"), from_runs=(str(runs),), conditions=("easy",), lesion_conditions=(),
                       passes=(1,), passes_conditions=(), episode_steps=16, eval_worlds=4, device="cpu", progress=False)
    plan, units = make_plan(args)
    # regrow_delay 20 is the default: only what differs from the task's defaults names a variant.
    assert plan.agents == ("feedback", "feedback+num_berries=20", "feedback+plastic=True")
    assert {u.agent: u.plastic for u in units} == {"feedback": False, "feedback+plastic=True": True,
                                                    "feedback+num_berries=20": False}
    assert {u.agent: u.world_kwargs for u in units}["feedback+num_berries=20"] == (("num_berries", 20),)
    run_compare(args)
    rows = [r for r in read_csv(str(tmp_path / "out" / "results.csv")) if r["lesion"] == "none"]
    assert sorted(r["agent"] for r in rows) == list(plan.agents)
    text = open(tmp_path / "out" / "results.md").read()
    assert "`feedback+plastic=True`" in text and "plastic=True against the preset's own agent" in text


# --- statistics and measures -----------------------------------------------------------------


def cue_change_env(difficulty: str):
    from compare.evaluate import EnvSpec

    spec = EnvSpec("cue_change", "CuedBerry-v1", (("difficulty", difficulty), ("max_episode_steps", 20)), True, 16, 7)
    env = make_env(spec, torch.device("cpu"))
    env.reset(seed=7)
    return env


def test_cue_change_moves_the_payoff_and_the_goal_and_keeps_the_field():
    world = cue_change_env("medium").unwrapped
    old = world.state.target_colour.clone()
    before = (world.state.berry_colour == old[:, None]).sum(1)
    obs = change_cue(world, torch.Generator().manual_seed(1))
    new = world.state.target_colour
    assert (new != old).all()
    assert torch.equal((world.state.berry_colour == new[:, None]).sum(1), before)
    assert torch.equal(obs["goal"].argmax(1), new)


def test_cue_change_returns_the_redrawn_view_with_the_berry_in_its_new_colour():
    # One berry of the old target colour straight ahead of each forager, every other berry regrowing;
    # easy worlds draw it in the flat palette colour (no noise, no illumination).
    world = cue_change_env("easy").unwrapped
    state = world.state
    old = state.target_colour.clone()
    state.berry_timer[:, 1:] = 5
    state.berry_timer[:, 0] = 0
    state.berry_colour[:, 0] = old
    heading = state.pose[:, 2]
    state.berry_pos[:, 0] = state.pose[:, :2] + 2.0 * torch.stack([heading.cos(), heading.sin()], 1)
    view = world.retina.render(state)  # (N, H, W, 3) before the change
    palette = torch.tensor(PALETTE_RGB, dtype=torch.uint8)
    berry = (view == palette[old][:, None, None]).all(-1)  # (N, H, W)
    assert (berry.sum((1, 2)) > 0).all()  # every forager sees its berry
    obs = change_cue(world, torch.Generator().manual_seed(1))
    new = world.state.target_colour
    # The agent's next input already shows the change: the berry's pixels in the new colour, the rest as they were.
    assert torch.equal(obs["image"], torch.where(berry[..., None], palette[new][:, None, None], view))


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, flag, valid", [
    (dict(agents=("feedforward", "telepathy")), "--agents", "feedforward"),
    (dict(envs=("BlueBerry-v9",)), "--envs", "CuedBerry-v1"),
    (dict(envs=("MultiBerry-v1",)), "--envs", "RedBerry-v1"),
    (dict(conditions=("easy", "hurricane")), "--conditions", "cue_change"),
    (dict(lesions=("amnesia",)), "--lesions", "plasticity"),
    (dict(envs=("RedBerry-v1",), conditions=("cue_change",)), "--conditions", "CuedBerry-v1"),
    (dict(agents=()), "--agents", "at least one"),
    (dict(lesion_conditions=("medium",)), "--lesion-conditions", "easy"),
    (dict(shard="2/2"), "--shard", "0 <= i < n"),
    (dict(shard="5/9"), "--shard", "n <= 4"),
    (dict(seeds=0), "--seeds", ">= 1"),
    (dict(num_envs=7), "--num-minibatches", "divisor"),
])
def test_bad_input_fails_before_training_and_lists_what_is_valid(tmp_path, monkeypatch, changes, flag, valid):
    monkeypatch.setattr(compare.work, "train_group", lambda *a, **k: pytest.fail("trained despite bad input"))
    with pytest.raises(CompareError, match=re.escape(flag)) as error:
        run_compare(tiny(tmp_path / "never", **changes))
    assert valid in str(error.value)
    assert not (tmp_path / "never").exists()


def test_unreadable_run_dirs_fail_before_anything_runs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CompareError, match="--from.*no checkpoint.pt"):
        make_plan(CompareArgs(from_runs=(str(empty),)))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CompareError, match="--from.*cannot be read"):
        make_plan(CompareArgs(from_runs=(str(broken),)))
    with pytest.raises(CompareError, match="--merge.*plan.json"):
        run_compare(CompareArgs(out=str(tmp_path / "m"), merge=(str(empty),)))


def test_resume_with_other_settings_is_refused(whole):
    out, _ = whole
    with pytest.raises(CompareError, match="other settings.*steps"):
        run_compare(tiny(out, steps=2048))


def test_cli_reports_bad_input_and_exits_2(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "compare.py"), "--agents", "telepathy",
                             "--out", str(tmp_path / "never")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert "--agents" in result.stderr and "feedforward" in result.stderr
    assert not (tmp_path / "never").exists()
    with pytest.raises(CompareError, match="--seeds: got 'many'; allowed: INT"):
        parse_args(["--seeds", "many"])
    with pytest.raises(CompareError, match="--telepathy"):
        parse_args(["--telepathy"])


def test_readme_commands_parse_to_the_flags_they_name():
    args = parse_args(["--agents", "feedforward", "feedback", "--envs", "RedBerry-v1", "CuedBerry-v1", "--seeds", "5",
                       "--passes", "1", "2", "--out", "runs/cmp", "--no-progress"])
    assert (args.agents, args.envs, args.seeds, args.passes, args.out, args.progress) == (
        ("feedforward", "feedback"), ("RedBerry-v1", "CuedBerry-v1"), 5, (1, 2), "runs/cmp", False)
    assert (args.steps, args.conditions, args.device) == (None, None, None)  # left out: the scale decides
    assert parse_args(["--scale", "full", "--shard", "0/16"]).shard == "0/16"
    assert parse_args(["--merge", "runs/full-0", "runs/full-1", "--out", "runs/full"]).merge == ("runs/full-0",
                                                                                                "runs/full-1")
    assert parse_args(["--from", "runs/compare/runs", "--out", "runs/again"]).from_runs == ("runs/compare/runs",)


def test_default_scale_is_sized_for_a_two_core_cpu():
    plan, units = make_plan(CompareArgs())
    assert set(plan.agents) >= {"feedforward", "recurrent", "feedback"} and plan.seeds >= 5
    assert len(units) == len(plan.agents) * len(plan.envs) * plan.seeds
    # Every condition that applies to a default task, and none that applies to none.
    assert set(plan.conditions) == {c for c in grid.CONDITIONS
                                    if any(grid.CONDITIONS[c].applies_to(t) for t in plan.envs)}
    assert "cue_change" not in plan.conditions and "reversal" in plan.conditions
    cued, _ = make_plan(CompareArgs(envs=("RedBerry-v1", "CuedBerry-v1")))
    assert set(cued.conditions) == {c for c, v in grid.CONDITIONS.items() if v.applies_to("CuedBerry-v1")}


def test_a_big_grid_says_its_training_time_here_before_it_starts(tmp_path, capsys, monkeypatch):
    """A grid whose nominal cost reaches ESTIMATE_FROM_HOURS is calibrated on this machine (a short run of
    each kind of unit) and its training time said before any training; the estimate is steps / measured SPS."""
    from compare import scales

    plan, units = make_plan(tiny(tmp_path / "plan"))
    measured = compare.work.calibrate(units, plan)
    assert set(measured) == {(u.task, u.agent, u.difficulty) for u in units} and all(v > 0 for v in measured.values())
    hours = sum(plan.steps / measured[(u.task, u.agent, u.difficulty)] for u in units) / 3600
    text = scales.estimate_text(units, plan, measured, jobs=2, seconds=3.0)
    assert f"{hours:.1f} CPU-hours for {len(units)} runs, about {hours / 2:.1f} h at --jobs 2" in text

    hard = types.SimpleNamespace(task="CuedBerry-v1", agent="feedback@hard", difficulty="hard")
    text = scales.estimate_text([hard], plan, {("CuedBerry-v1", "feedback@hard", "hard"): 1000.0}, jobs=1, seconds=1.0)
    assert "feedback@hard on CuedBerry-v1 1,000" in text and "@hard@hard" not in text

    monkeypatch.setattr(compare.run, "ESTIMATE_FROM_HOURS", 0.0)
    one = tiny(tmp_path / "one", agents=("feedforward",), seeds=1, conditions=("easy",), passes=(1,))
    run_compare(one)
    out = capsys.readouterr().out
    assert "compare: estimated training time:" in out and "1 runs" in out
    run_compare(one)  # resumed with every run trained: nothing to calibrate
    assert "estimated training time" not in capsys.readouterr().out
