"""The references a score is measured against: the forager that turns on the spot, the clean search
measures, stored reference cells made whole on merge, and condition labels held to the worlds drawn."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib

import pytest
import torch

import envs
from compare.errors import CompareError
from compare.evaluate import (REFERENCE_KINDS, EnvSpec, ReferencePolicy, env_spec, evaluate_reference, make_env,
                              run_episodes)
from compare.grid import (ALL_TASKS, CONDITIONS, REVERSAL_RATE, REVERSAL_TASKS, SET_SIZE_TARGETS, SET_SIZES, Plan,
                          preset_unit)
from compare.references import LATER_MEASURES, complete_references, drawn_worlds
from compare.run import join_shards
from compare.store import cell_path, load_cell, load_cells, prepare_out, save_cell

CPU = torch.device("cpu")
# A plan as small as a compare's: one unit on CuedBerry-v0, two conditions, 8 worlds of 24 steps a cell.
PLAN = Plan(agents=("feedforward",), envs=("CuedBerry-v0",), seeds=1, steps=1024, train_difficulty="easy",
            episode_steps=24, conditions=("easy", "setsize_6"), lesions=(), lesion_conditions=(), passes=(1,),
            passes_conditions=(), eval_worlds=8, num_envs=8, num_steps=32, device="cpu")
UNIT = preset_unit("CuedBerry-v0", "feedforward", 1, "easy")


def unit_of(task: str):
    return preset_unit(task, "feedforward", 1, "easy")


# --- the still forager and the clean search --------------------------------------------------


@pytest.mark.parametrize("action_type", ["discrete", "continuous"])
def test_the_still_forager_turns_on_the_spot(action_type):
    spec = EnvSpec("easy", "CuedBerry-v0", (("action_type", action_type), ("max_episode_steps", 24)), False, 8, 7)
    env = make_env(spec, CPU)
    world = env.unwrapped
    env.reset(seed=spec.seed)
    still = ReferencePolicy("still")
    still.start(world, None)
    start = world.state.pose.clone()
    for step in range(1, 6):
        env.step(still.act(None, world))
        assert torch.equal(world.state.pose[:, :2], start[:, :2])  # it never moves
        turned = torch.remainder(start[:, 2] + step * world.config.turn_speed + math.pi, 2 * math.pi) - math.pi
        assert torch.allclose(world.state.pose[:, 2], turned, atol=1e-5)  # it turns left, turn_speed a step
    env.close()


def test_every_reference_cell_holds_random_scripted_and_still():
    assert REFERENCE_KINDS == ("random", "scripted", "still")
    cell = evaluate_reference(env_spec(UNIT, "easy", PLAN), CPU)
    assert set(cell) == set(REFERENCE_KINDS)
    # Standing still eats next to nothing; the scripted forager eats targets.
    assert cell["still"]["target_eaten"] + cell["still"]["distractor_eaten"] < 1
    assert cell["scripted"]["target_eaten"] > 1
    with pytest.raises(ValueError, match=r"kind='idle' must be one of \('random', 'scripted', 'still'\)"):
        ReferencePolicy("idle")


def test_clean_search_counts_a_first_target_only_when_no_distractor_came_first():
    # Random actions among 6 distractors: some episodes find a target first, some eat a distractor first.
    spec = env_spec(UNIT, "setsize_6", dataclasses.replace(PLAN, episode_steps=80, eval_worlds=64))
    env = make_env(spec, CPU)
    measured = run_episodes(env, spec, ReferencePolicy("random"))
    # The same episodes again, every step's events kept on the host and judged one world at a time.
    world = env.unwrapped
    generator = torch.Generator().manual_seed(spec.seed)
    env.reset(seed=spec.seed)
    events = []
    for _ in range(spec.steps):
        _, _, _, _, info = env.step(envs.random_actions(world, generator))
        events.append((info["target_eaten"].tolist(), info["distractor_eaten"].tolist()))
    env.close()
    first, found, clean_first, clean, distractor_first, ties = [], [], [], [], [], 0
    for i in range(spec.worlds):
        hits = [t + 1 for t, (target, _) in enumerate(events) if target[i] > 0]
        misses = [t + 1 for t, (_, distractor) in enumerate(events) if distractor[i] > 0]
        target_at, distractor_at = min(hits, default=math.inf), min(misses, default=math.inf)
        first.append(min(target_at, spec.steps))
        found.append(target_at < math.inf)
        clean.append(target_at < distractor_at)
        clean_first.append(target_at if clean[-1] else spec.steps)
        distractor_first.append(distractor_at <= target_at and distractor_at < math.inf)
        ties += target_at == distractor_at < math.inf
    # Both kinds of episode occur, and one whose first target came with a distractor (it counts as not clean).
    assert 0 < sum(clean) < spec.worlds and 0 < sum(distractor_first) < spec.worlds and ties >= 1
    assert measured["clean_steps_to_first_target"] == pytest.approx(sum(clean_first) / spec.worlds)
    assert measured["clean_found_share"] == pytest.approx(sum(clean) / spec.worlds)
    assert measured["distractor_first_share"] == pytest.approx(sum(distractor_first) / spec.worlds)
    assert measured["steps_to_first_target"] == pytest.approx(sum(first) / spec.worlds)  # as before
    assert measured["found_share"] == pytest.approx(sum(found) / spec.worlds)


# --- stored reference cells made whole -------------------------------------------------------


def old_cell(spec: EnvSpec) -> dict:
    """A reference cell as stored before the still forager and the clean search measures."""
    cell = evaluate_reference(spec, CPU)
    return {"spec": dataclasses.asdict(spec),
            **{kind: {k: v for k, v in cell[kind].items() if k not in LATER_MEASURES}
               for kind in ("random", "scripted")}}


def stored_compare(out) -> dict[str, dict]:
    """A compare's folder as it would have been stored: its plan, its unit's train record and its reference
    cells, old; returns the cells by key."""
    prepare_out(str(out), PLAN)
    save_cell(str(out), "train", UNIT.key, {"unit": dataclasses.asdict(UNIT), "run_dir": f"runs/{UNIT.key}",
                                            "global_step": PLAN.steps, "curve": [], "final_score": None})
    for condition in PLAN.conditions:
        spec = env_spec(UNIT, condition, PLAN)
        save_cell(str(out), "reference", spec.key, old_cell(spec))
    return load_cells(str(out), "reference")


def digest(folder) -> dict[str, str]:
    """Every file under `folder`, by its path there: the SHA-1 of its bytes."""
    return {str(path.relative_to(folder)): hashlib.sha1(path.read_bytes()).hexdigest()
            for path in pathlib.Path(folder).rglob("*") if path.is_file()}


def test_stored_reference_cells_gain_the_still_forager_and_keep_what_they_held(tmp_path):
    old = stored_compare(tmp_path)
    messages = complete_references(str(tmp_path), PLAN)
    assert len(messages) == 1 and messages[0].startswith(
        "completed 2 reference cells with `still`, `clean_steps_to_first_target`, `clean_found_share`, "
        "`distractor_first_share`")
    assert "reproduced the stored random and scripted foragers exactly" in messages[0]
    for key, record in old.items():
        now = load_cell(str(tmp_path), "reference", key)
        assert set(now) == {"key", "spec", *REFERENCE_KINDS} and now["spec"] == record["spec"]
        for kind in ("random", "scripted"):
            assert {k: now[kind][k] for k in record[kind]} == record[kind]
        still = evaluate_reference(env_spec(UNIT, record["spec"]["condition"], PLAN), CPU)["still"]
        assert json.dumps(now["still"], sort_keys=True) == json.dumps(still, sort_keys=True)  # NaN and all
    assert complete_references(str(tmp_path), PLAN) == []  # whole now: nothing more to do
    # A cell with every forager but not every measure is made whole too.
    key = sorted(old)[0]
    record = load_cell(str(tmp_path), "reference", key)
    save_cell(str(tmp_path), "reference", key,
              {k: {m: x for m, x in v.items() if m not in LATER_MEASURES} if k in REFERENCE_KINDS else v
               for k, v in record.items() if k != "key"})
    assert complete_references(str(tmp_path), PLAN)[0].startswith(
        "completed 1 reference cell with `clean_steps_to_first_target`, `clean_found_share`, "
        "`distractor_first_share` (")
    assert json.dumps(load_cell(str(tmp_path), "reference", key), sort_keys=True) == json.dumps(record, sort_keys=True)


def test_a_stored_forager_that_does_not_come_out_the_same_leaves_its_cell_as_it_was(tmp_path):
    old = stored_compare(tmp_path)
    changed, kept = sorted(old)
    record = {k: v for k, v in old[changed].items() if k != "key"}
    record["scripted"] = {**record["scripted"], "return_mean": record["scripted"]["return_mean"] + 1e-6}
    save_cell(str(tmp_path), "reference", changed, record)
    path = pathlib.Path(cell_path(str(tmp_path), "reference", changed))
    before = path.read_bytes()
    messages = complete_references(str(tmp_path), PLAN)
    assert messages[0].startswith("completed 1 reference cell with `still`")
    assert any(m.startswith(f"reference cell {changed}: left as it was: the random and scripted foragers it holds did "
                            f"not come out the same (scripted return_mean: stored") and "must not mix worlds" in m
               for m in messages)
    assert path.read_bytes() == before
    assert "still" in load_cell(str(tmp_path), "reference", kept)


def test_a_reference_cell_whose_worlds_no_unit_makes_is_left_and_named(tmp_path):
    stored_compare(tmp_path)
    stray = env_spec(UNIT, "easy", dataclasses.replace(PLAN, eval_worlds=4))  # another plan's worlds
    save_cell(str(tmp_path), "reference", stray.key, old_cell(stray))
    messages = complete_references(str(tmp_path), PLAN)
    assert f"reference cell {stray.key}: left as it was: none of the plan's units makes these worlds" in messages[-1]
    assert "still" not in load_cell(str(tmp_path), "reference", stray.key)
    assert messages[0].startswith("completed 2 reference cells")


def test_merge_makes_the_stored_references_whole_in_its_output_and_leaves_the_shards_alone(tmp_path, capsys):
    shards = [tmp_path / "shard0", tmp_path / "shard1"]
    for shard in shards:
        stored_compare(shard)
    before = [digest(shard) for shard in shards]
    out = tmp_path / "merged"
    join_shards(tuple(map(str, shards)), str(out), "merge", PLAN)
    assert [digest(shard) for shard in shards] == before
    assert all(set(REFERENCE_KINDS) <= set(record) for record in load_cells(str(out), "reference").values())
    printed = capsys.readouterr().out
    assert printed.startswith("merge: completed 2 reference cells with `still`")
    # Merged again into the same output: the shards' cells agree with the whole ones in all they hold.
    join_shards(tuple(map(str, shards)), str(out), "merge", PLAN)
    assert capsys.readouterr().out == ""
    # A shard whose stored forager differs is still refused.
    key = sorted(load_cells(str(shards[1]), "reference"))[0]
    record = load_cell(str(shards[1]), "reference", key)
    record["random"]["target_eaten"] += 1
    save_cell(str(shards[1]), "reference", key, {k: v for k, v in record.items() if k != "key"})
    with pytest.raises(CompareError, match=f"cell reference/{key} differs between the folders"):
        join_shards(tuple(map(str, shards)), str(out), "merge", PLAN)


# --- condition labels held to the worlds drawn -----------------------------------------------


@pytest.mark.parametrize("distractors", SET_SIZES)
def test_set_size_conditions_hold_two_targets_among_their_distractors(distractors):
    condition = CONDITIONS[f"setsize_{distractors}"]
    assert condition.distractors == distractors
    for task in ALL_TASKS:
        drawn = drawn_worlds(unit_of(task), condition.name, 24)
        if condition.applies_to(task):
            assert (drawn["targets"], drawn["distractors"]) == ([SET_SIZE_TARGETS], [distractors]), task
        else:  # ReversalBerry-v0 grows half its berries in each colour: its worlds would not hold the label
            assert task == "ReversalBerry-v0"
            half = (SET_SIZE_TARGETS + distractors) // 2
            assert (drawn["targets"], drawn["distractors"]) == ([half], [half])
    assert [t for t in ALL_TASKS if not condition.applies_to(t)] == ["ReversalBerry-v0"]


def test_the_conditions_that_name_their_berries_hold_them():
    for task in ALL_TASKS:
        unit = unit_of(task)
        drawn = {name: drawn_worlds(unit, name, 24) for name in ("easy", "beyond", "more_distractors", "near_hues")}
        assert (drawn["easy"]["targets"], drawn["easy"]["distractors"]) == ([6], [6])
        reversal, half_and_half = task in REVERSAL_TASKS, task == "ReversalBerry-v0"
        beyond = ([16], [16]) if half_and_half else ([4], [28])
        assert (drawn["beyond"]["targets"], drawn["beyond"]["distractors"]) == beyond
        assert ("32 berries of which 4 targets" in CONDITIONS["beyond"].description
                and "on ReversalBerry-v0 half the berries red, half blue" in CONDITIONS["beyond"].description)
        assert CONDITIONS["more_distractors"].applies_to(task) != half_and_half
        assert CONDITIONS["near_hues"].applies_to(task) != reversal
        if not half_and_half:  # v1's ReversalBerry honours target_share
            assert (drawn["more_distractors"]["targets"], drawn["more_distractors"]["distractors"]) == ([6], [26])
        if not reversal:
            assert drawn["near_hues"]["near_share"] == 1.0 and drawn["easy"]["near_share"] == 0.0
        else:  # near hues are not there to be had: red and blue are not neighbours
            assert drawn["near_hues"]["near_share"] == 0.0


def test_reversal_conditions_switch_the_paying_colour_at_the_rate_they_name():
    # 512 worlds x 150 steps: about 510 switches at 1/150, so 20% is about 4.5 standard deviations; a rate
    # off by half or twice is far outside.
    rates = {(task, name): drawn_worlds(unit_of(task), name, 150, worlds=512)["switch_rate"]
             for task in ALL_TASKS for name in ("reversal", "switches") if CONDITIONS[name].applies_to(task)}
    assert set(rates) == {(f"{name}-v{v}", condition) for v in (0, 1) for name, condition in (
        ("RedBerry", "reversal"), ("CuedBerry", "reversal"), ("ReversalBerry", "switches"))}
    for where, rate in rates.items():
        assert rate == pytest.approx(REVERSAL_RATE, rel=0.2), where
    reversal = unit_of("ReversalBerry-v0")
    for name in ("easy", "no_taste"):  # ReversalBerry-v0's own form: the colour drawn at reset holds
        assert drawn_worlds(reversal, name, 150)["switch_rate"] == 0.0
    assert drawn_worlds(unit_of("CuedBerry-v0"), "easy", 24)["switch_rate"] is None
