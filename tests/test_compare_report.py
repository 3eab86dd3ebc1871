"""The compare's grid: variants and groups, the matched pairs, the scales and the card grid's cost, plans
from runs, and the reversal conditions. Fast: no training. (The analyses are tests/test_analysis.py.)"""

from __future__ import annotations

import pytest

import compare.run
import compare.work
from compare import grid, scales, variants
from compare.analysis.contrasts import matched_pairs
from compare.cli import CompareArgs, _description
from compare.grid import CompareError
from compare.run import make_plan

# --- variants, groups and the card grid ------------------------------------------------------


def test_variants_name_the_trained_t_and_difficulty():
    unit = grid.preset_unit("CuedBerry-v1", "feedback_T3@hard", 2, "easy")
    assert (unit.agent, unit.passes, unit.difficulty, unit.feedback) == ("feedback_T3@hard", 3, "hard", True)
    assert unit.key == "CuedBerry-v1__feedback_T3@hard__s2"
    assert grid.preset_unit("CuedBerry-v1", "feedback", 1, "easy").passes == 1
    assert variants.trainer_overrides("feedback_T3") == {"passes": 3} and variants.trainer_overrides("dopamine") == {}
    assert grid.preset_unit("CuedBerry-v1", "whatwhere", 1, "easy").whatwhere
    for bad, why in (("recurrent_T3", "without top-down feedback"), ("feedback@mega", "difficulty 'mega'"),
                     ("telepathy", "not known"), ("feedback+bogus=1", r"\['bogus'\], which are neither"),
                     ("feedback+plastic=True+modulator=learned", "write it as 'feedback\\+modulator=learned\\+plastic=True'"),
                     ("feedback+passes=3", "write it as _T<k>"), ("feedback+hidden=-3", "hidden must be an int"),
                     ("feedback+max_episode_steps=9", "the plan decides"),
                     ("feedback_T1", "is the preset itself .*write it as 'feedback'")):
        with pytest.raises(CompareError, match=f"--agents.*{why}"):
            variants.parse_variant(bad)


def test_variants_with_settings_set_the_agent_and_the_worlds():
    name = "feedback+modulator=learned+num_berries=20+plastic=True+taste=True"
    variant = variants.parse_variant(name)
    assert variant.agent == (("modulator", "learned"), ("plastic", True))
    assert variant.world == (("num_berries", 20), ("taste", True))
    assert variant.name == name and variant.base == "feedback"
    unit = grid.preset_unit("ReversalBerry-v1", name, 3, "easy")
    assert (unit.feedback, unit.plastic, unit.whatwhere) == (True, True, False)  # the plasticity lesion applies
    assert unit.world_kwargs == (("num_berries", 20), ("taste", True))
    assert variants.trainer_overrides(name) == {"modulator": "learned", "plastic": True}
    # The worlds it is evaluated in keep its knobs, under the condition's difficulty and episode length.
    env_id, kwargs = grid.world_kwargs_for(unit, grid.CONDITIONS["hard"], 40)
    assert env_id == "ReversalBerry-v1" and kwargs == dict(num_berries=20, taste=True, difficulty="hard",
                                                           max_episode_steps=40)
    # A world knob the task rejects is named with the task.
    with pytest.raises(CompareError, match="feedback\\+taste=True' on CuedBerry-v1: taste=True is not allowed"):
        grid.preset_unit("CuedBerry-v1", "feedback+taste=True", 1, "easy")
    assert variants.parse_setting(variants.format_setting((16, 32, 32))) == (16, 32, 32)
    assert variants.parse_setting(variants.format_setting(0.25)) == 0.25 and variants.parse_setting("0.0") == 0.0


def test_matched_pairs_cover_variants_in_the_same_worlds():
    plan = grid.Plan(**{**scales.SCALES["default"], "agents": ("feedforward+taste=True", "recurrent+taste=True", "feedback+taste=True",
                             "feedback+plastic=True+taste=True", "feedback", "feedback+plastic=True")})
    pairs = {(x, y) for x, y, _ in matched_pairs(plan)}
    assert ("feedback+taste=True", "feedforward+taste=True") in pairs  # MATCHED, in the shared worlds
    assert ("feedback+plastic=True+taste=True", "feedback+taste=True") in pairs  # the agent setting, same worlds
    assert ("feedback+plastic=True", "feedback") in pairs
    assert ("feedback+taste=True", "feedback") not in pairs  # other worlds: not paired
    assert ("feedback+taste=True", "feedforward") not in pairs


def test_a_t3_unit_is_trained_with_the_passes_override(tmp_path, monkeypatch):
    import training

    seen = {}

    def capture(config):
        seen["configs"] = [config]
        raise RuntimeError("stop")

    monkeypatch.setattr(training, "train", capture)
    plan, units = make_plan(CompareArgs(agents=("feedback_T3",), envs=("CuedBerry-v1",), seeds=1, steps=4096,
                                        device="cpu", out=str(tmp_path)))
    with pytest.raises(RuntimeError, match="stop"):
        compare.work.train_group(units[:1], plan, str(tmp_path), progress=False)
    (config,) = seen["configs"]
    assert (config.agent, config.agent_overrides, config.env) == ("feedback", {"passes": 3}, "CuedBerry-v1")


def test_card_grid_trains_each_preset_where_its_mechanism_matters():
    plan, units = make_plan(CompareArgs(scale="card"))
    trained = {task: {a for t, a in plan.pairs() if t == task} for task in plan.envs}
    assert {"feedforward", "recurrent", "early", "feedback", "feedback_T3", "whatwhere", "full"} <= trained["CuedBerry-v1"]
    assert trained["ReversalBerry-v1"] == set(scales.PLASTICITY_AGENTS)
    assert trained["RedBerry-v1"] == {"feedforward", "recurrent", "feedback"}
    assert plan.seeds == 5 and len(units) == 5 * len(plan.pairs())
    assert {u.passes for u in units if u.agent.startswith("feedback_T3")} == {3}
    cost = scales.cost(plan)
    assert cost["runs"] == len(units) and cost["env_steps"] == len(units) * plan.steps
    assert cost["cpu_hours"] == pytest.approx(cost["env_steps"] / scales.CPU_STEPS_PER_SECOND / 3600)
    assert f"{cost['runs']} training runs" in _description()
    # The default stays a 2-core CPU's: about an hour of training, under the calibrating threshold.
    default, _ = make_plan(CompareArgs())
    assert scales.cost(default)["cpu_hours"] < scales.ESTIMATE_FROM_HOURS and default.seeds >= 5
    # Given both, --agents and --envs make a plain product; one of them selects from the groups.
    product, units = make_plan(CompareArgs(scale="card", agents=("dopamine", "feedback"), envs=("RedBerry-v1",)))
    assert product.groups == () and product.pairs() == [("RedBerry-v1", "dopamine"), ("RedBerry-v1", "feedback")]
    only, _ = make_plan(CompareArgs(scale="card", envs=("ReversalBerry-v1",)))
    assert only.pairs() == [("ReversalBerry-v1", a) for a in scales.PLASTICITY_AGENTS]
    picked, _ = make_plan(CompareArgs(scale="card", agents=("feedback+plastic=True",)))
    assert picked.pairs() == [("ReversalBerry-v1", "feedback+plastic=True")]
    with pytest.raises(CompareError, match="--envs.*no group"):
        make_plan(CompareArgs(scale="card", envs=("MultiBerry-v1",)))
    # A plan with groups survives plan.json.
    assert grid.Plan.from_dict(plan.to_dict()) == plan


def test_reversal_scale_is_plasticitys_test_on_the_tasks_defaults():
    plan, units = make_plan(CompareArgs(scale="reversal"))
    assert plan.pairs() == [("ReversalBerry-v1", a) for a in scales.PLASTICITY_AGENTS] and plan.seeds == 5
    plastic = {u.agent: u.plastic for u in units}
    assert plastic["feedback+plastic=True"] and not plastic["feedback"]
    assert all(u.world_kwargs == () for u in units)  # the task's own worlds
    config = compare.work.train_config(units[0], plan, "/tmp/x")
    assert config.prior_ramp == 0.5 and config.max_episode_steps == 500  # the task's curriculum, full episodes
    learned = next(u for u in units if u.agent == "feedback+modulator=learned+plastic=True")
    assert compare.work.train_config(learned, plan, "/tmp/x").agent_overrides == {"modulator": "learned",
                                                                                   "plastic": True}


def test_attention_scale_sets_feature_gain_alone_beside_the_feedback_preset():
    plan, units = make_plan(CompareArgs(scale="attention"))
    assert plan.pairs() == [("CuedBerry-v1", a) for a in scales.ATTENTION_AGENTS]
    assert plan.seeds == scales.POWER_SEEDS["attention"] == 9  # the power analysis's seeds for a difference of 0.2
    variant = next(u for u in units if u.agent != "feedback")
    assert compare.work.train_config(variant, plan, "/tmp/x").agent_overrides == {"spatial_strength": 0.0}
    assert compare.work.train_config(units[0], plan, "/tmp/x").agent_overrides == {}
    cells = {(c.condition, c.lesion) for c in grid.eval_cells(variant, plan)}
    assert {("easy", "none"), ("easy", "feedback"), ("easy", "untrained"), ("cue_change", "none")} <= cells


def test_passes_scale_trains_one_and_three_passes_under_occlusion_and_sweeps_t_on_clean_worlds_too():
    plan, units = make_plan(CompareArgs(scale="passes"))
    assert plan.pairs() == [("CuedBerry-v1", a) for a in scales.PASSES_AGENTS]
    assert plan.seeds == scales.POWER_SEEDS["passes"] == 8
    one, three = (next(u for u in units if u.agent == a) for a in scales.PASSES_AGENTS)
    assert (one.passes, three.passes) == (1, 3)
    occluded = dict(grid.CONDITIONS["occluded"].knobs)
    for unit in (one, three):  # trained on the occluded condition's worlds
        config = compare.work.train_config(unit, plan, "/tmp/x")
        assert config.env_kwargs == occluded and config.difficulty == "easy"
    # `clean` takes the training worlds' foliage and noise away; `occluded` is those worlds.
    clean = grid.world_kwargs_for(three, grid.CONDITIONS["clean"], 200)[1]
    assert (clean["num_foliage"], clean["noise"]) == (0, 0.0)
    assert grid.world_kwargs_for(three, grid.CONDITIONS["occluded"], 200)[1] == \
        dict(difficulty="easy", max_episode_steps=200, **occluded)
    cells = {(c.condition, c.lesion, c.passes) for c in grid.eval_cells(three, plan)}
    assert {(c, "none", t) for c in ("occluded", "clean") for t in (1, 2, 4)} <= cells
    assert ("occluded", "feedback", None) in cells and ("clean", "feedback", None) not in cells
    # --clutter-ramp reaches every run's trainer; it is checked before anything trains, and --from's runs decide it.
    assert compare.work.train_config(one, plan, "/tmp/x").clutter_ramp == plan.clutter_ramp == scales.SCALES[
        "passes"].get("clutter_ramp", 0.0)
    ramped, ramped_units = make_plan(CompareArgs(scale="passes", clutter_ramp=0.25))
    assert compare.work.train_config(ramped_units[0], ramped, "/tmp/x").clutter_ramp == 0.25
    for args, match in ((CompareArgs(scale="passes", clutter_ramp=2.0), "--clutter-ramp: got 2.0; allowed: a number"),
                        (CompareArgs(from_runs=("/nonexistent",), clutter_ramp=0.5), "--clutter-ramp: not used with --from")):
        with pytest.raises(CompareError, match=match):
            make_plan(args)


# --- plans built from runs and the reversal conditions ---------------------------------------


def test_from_runs_plan_holds_the_task_agent_pairs_the_runs_hold(monkeypatch):
    def unit(task, agent, seed):
        return grid.Unit(task, agent, seed, agent == "feedback", agent == "dopamine", 1, "easy",
                         run_dir=f"runs/{task}__{agent}__s{seed}")

    runs = ([unit("CuedBerry-v1", a, s) for a in ("recurrent", "feedback") for s in (1, 2)]
            + [unit("ReversalBerry-v1", "dopamine", s) for s in (1, 2)])
    monkeypatch.setattr(compare.run, "load_runs", lambda paths: runs)
    plan, units = make_plan(CompareArgs(from_runs=("runs",), device="cpu"))
    assert plan.groups == (("CuedBerry-v1", ("recurrent", "feedback")), ("ReversalBerry-v1", ("dopamine",)))
    assert scales.cost(plan)["runs"] == 6 and len(units) == 6  # not the 3 x 2 x 2 = 12 of a product


def test_reversal_conditions_keep_the_old_form_and_the_harder_ones():
    cued = grid.preset_unit("CuedBerry-v1", "feedback", 1, "easy")
    env_id, kwargs = grid.world_kwargs_for(cued, grid.CONDITIONS["reversal"], 50)
    assert env_id == "ReversalBerry-v1" and kwargs["taste"] is False and kwargs["reversal_rate"] == 1 / 150
    reversal = grid.preset_unit("ReversalBerry-v1", "feedback", 1, "easy")
    names = [c.name for c in grid.CONDITIONS.values() if c.applies_to("ReversalBerry-v1")]
    assert "switches" in names and "no_taste" in names and "reversal" not in names
    assert "switches" not in [c.name for c in grid.CONDITIONS.values() if c.applies_to("CuedBerry-v1")]
    assert grid.world_kwargs_for(reversal, grid.CONDITIONS["switches"], 50)[1]["reversal_rate"] == 1 / 150
    assert grid.world_kwargs_for(reversal, grid.CONDITIONS["no_taste"], 50)[1]["taste"] is False
