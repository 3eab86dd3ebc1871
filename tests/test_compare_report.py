"""The compare's verdicts and grid: paired statistics, the probability of improvement, variants and
groups, the card grid's cost, sample efficiency from training curves, "What we found", and the
reversal-curve section. Fast: synthetic rows and records, no training."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import compare.run
import compare.work
from compare import findings, grid, scales, stats, tables, variants
from compare.gains import feature_gains, passes_gains
from compare.cli import CompareArgs, _description
from compare.grid import CompareError
from compare.run import make_plan

# --- statistics ------------------------------------------------------------------------------


# --- variants, groups and the card grid ------------------------------------------------------


def test_variants_name_the_trained_t_and_difficulty():
    unit = grid.preset_unit("CuedBerry-v0", "feedback_T3@hard", 2, "easy")
    assert (unit.agent, unit.passes, unit.difficulty, unit.feedback) == ("feedback_T3@hard", 3, "hard", True)
    assert unit.key == "CuedBerry-v0__feedback_T3@hard__s2"
    assert grid.preset_unit("CuedBerry-v0", "feedback", 1, "easy").passes == 1
    assert variants.trainer_overrides("feedback_T3") == {"passes": 3} and variants.trainer_overrides("dopamine") == {}
    assert grid.preset_unit("CuedBerry-v0", "whatwhere", 1, "easy").whatwhere
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
    unit = grid.preset_unit("ReversalBerry-v0", name, 3, "easy")
    assert (unit.feedback, unit.plastic, unit.whatwhere) == (True, True, False)  # the plasticity lesion applies
    assert unit.world_kwargs == (("num_berries", 20), ("taste", True))
    assert variants.trainer_overrides(name) == {"modulator": "learned", "plastic": True}
    # The worlds it is evaluated in keep its knobs, under the condition's difficulty and episode length.
    env_id, kwargs = grid.world_kwargs_for(unit, grid.CONDITIONS["hard"], 40)
    assert env_id == "ReversalBerry-v0" and kwargs == dict(num_berries=20, taste=True, difficulty="hard",
                                                           max_episode_steps=40)
    # A world knob the task rejects is named with the task.
    with pytest.raises(CompareError, match="feedback\\+taste=True' on CuedBerry-v0: taste=True is not allowed"):
        grid.preset_unit("CuedBerry-v0", "feedback+taste=True", 1, "easy")
    assert variants.parse_setting(variants.format_setting((16, 32, 32))) == (16, 32, 32)
    assert variants.parse_setting(variants.format_setting(0.25)) == 0.25 and variants.parse_setting("0.0") == 0.0


def test_matched_pairs_cover_variants_in_the_same_worlds():
    from compare.pairs import matched_pairs

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

    def capture(configs):
        seen["configs"] = configs
        raise RuntimeError("stop")

    monkeypatch.setattr(training, "train_population", capture)
    plan, units = make_plan(CompareArgs(agents=("feedback_T3",), envs=("CuedBerry-v0",), seeds=1, steps=4096,
                                        device="cpu", out=str(tmp_path)))
    with pytest.raises(RuntimeError, match="stop"):
        compare.work.train_group(units[:1], plan, str(tmp_path), progress=False)
    (config,) = seen["configs"]
    assert (config.agent, config.agent_overrides, config.env) == ("feedback", {"passes": 3}, "CuedBerry-v0")


def test_card_grid_trains_each_preset_where_its_mechanism_matters():
    plan, units = make_plan(CompareArgs(scale="card"))
    trained = {task: {a for t, a in plan.pairs() if t == task} for task in plan.envs}
    assert {"feedforward", "recurrent", "early", "feedback", "feedback_T3", "whatwhere", "full"} <= trained["CuedBerry-v0"]
    assert trained["ReversalBerry-v0"] == set(scales.PLASTICITY_AGENTS)
    assert trained["RedBerry-v0"] == {"feedforward", "recurrent", "feedback"}
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
    product, units = make_plan(CompareArgs(scale="card", agents=("dopamine", "feedback"), envs=("RedBerry-v0",)))
    assert product.groups == () and product.pairs() == [("RedBerry-v0", "dopamine"), ("RedBerry-v0", "feedback")]
    only, _ = make_plan(CompareArgs(scale="card", envs=("ReversalBerry-v0",)))
    assert only.pairs() == [("ReversalBerry-v0", a) for a in scales.PLASTICITY_AGENTS]
    picked, _ = make_plan(CompareArgs(scale="card", agents=("feedback+plastic=True",)))
    assert picked.pairs() == [("ReversalBerry-v0", "feedback+plastic=True")]
    with pytest.raises(CompareError, match="--envs.*no group"):
        make_plan(CompareArgs(scale="card", envs=("MultiBerry-v0",)))
    # A plan with groups survives plan.json.
    assert grid.Plan.from_dict(plan.to_dict()) == plan


def test_reversal_scale_is_plasticitys_test_on_the_tasks_defaults():
    plan, units = make_plan(CompareArgs(scale="reversal"))
    assert plan.pairs() == [("ReversalBerry-v0", a) for a in scales.PLASTICITY_AGENTS] and plan.seeds == 5
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
    assert plan.pairs() == [("CuedBerry-v0", a) for a in scales.ATTENTION_AGENTS] and plan.seeds == 5
    variant = next(u for u in units if u.agent != "feedback")
    assert compare.work.train_config(variant, plan, "/tmp/x").agent_overrides == {"spatial_strength": 0.0}
    assert compare.work.train_config(units[0], plan, "/tmp/x").agent_overrides == {}
    cells = {(c.condition, c.lesion) for c in grid.eval_cells(variant, plan)}
    assert {("easy", "none"), ("easy", "feedback"), ("easy", "untrained"), ("cue_change", "none")} <= cells


def test_passes_scale_trains_one_and_three_passes_under_occlusion_and_sweeps_t_on_clean_worlds_too():
    plan, units = make_plan(CompareArgs(scale="passes"))
    assert plan.pairs() == [("CuedBerry-v0", a) for a in scales.PASSES_AGENTS] and plan.seeds == 5
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


# --- sample efficiency -----------------------------------------------------------------------


def record(agent: str, seed: int, score: list, precision: list, steps: int = 1_000_000) -> dict:
    return {"unit": {"task": "CuedBerry-v0", "agent": agent, "seed": seed}, "run_dir": "/nonexistent",
            "global_step": steps, "curve": score, "precision_curve": precision}


def test_steps_to_threshold_is_censored_where_never_reached():
    assert tables.steps_to([[50, 0.2], [100, 0.8], [150, 0.7], [200, 0.9]], 0.75) == 100
    assert tables.steps_to([[50, 0.2], [100, 0.5]], 0.75) is None
    assert tables.censored_median([100, 300, 200], 1000) == (200, False)
    assert tables.censored_median([100, None, None], 1000) == (1000, True)
    assert tables.censored_median([100, 200, None, None], 1000) == (1000, True)
    assert tables.censored_median([100, 200, 300, None], 1000) == (250, False)
    trained = {f"k{s}": record("feedback", s, [[s * 100_000, 0.9]], [[50_000, 0.5], [s * 200_000, 0.8]])
               for s in (1, 2, 3)}
    trained["k4"] = record("feedback", 4, [[500_000, 0.1]], [[500_000, 0.5]])
    plan, _ = make_plan(CompareArgs(agents=("feedback",), envs=("CuedBerry-v0",)))
    rows = tables.efficiency_rows("/tmp", plan, trained)
    assert sorted((r["seed"], r["precision"], r["normalized_score"]) for r in rows) == [
        (1, 200_000, 100_000), (2, 400_000, 200_000), (3, 600_000, 300_000), (4, None, None)]
    text = "\n".join(findings.efficiency("/tmp", plan, trained))
    # Precision 0.75: 3 of 4 seeds, median of 0.2M, 0.4M, 0.6M and never: 0.5M.
    assert "| `feedback` | 4 | 3/4 | 0.50M | 0.20M, 0.40M, 0.60M, >1.00M | 3/4 | 0.25M |" in text


# --- what we found and the reversal curve ----------------------------------------------------


def rows_of(scores: dict[str, list[float]], condition: str = "easy", task: str = "CuedBerry-v0") -> list[dict]:
    return [{"task": task, "agent": agent, "seed": seed + 1, "condition": condition, "lesion": "none",
             "passes_as_trained": True, "normalized_score": v, "precision": 0.5 + v / 4}
            for agent, values in scores.items() for seed, v in enumerate(values)]


def test_what_we_found_calls_pairs_by_their_paired_difference():
    base = [0.1, 0.5, 0.9, 0.3, 0.7]
    rows = rows_of({"recurrent": base, "feedback": [v + 0.3 for v in base], "early": [v + 0.3 for v in base]})
    rows += rows_of({"recurrent": base, "feedback": [v + 0.01 * (-1) ** i for i, v in enumerate(base)],
                     "early": base}, condition="hard")
    plan, _ = make_plan(CompareArgs(agents=("recurrent", "early", "feedback"), envs=("CuedBerry-v0",)))
    text = "\n".join(findings.what_we_found(plan, rows))
    assert "`feedback` is **better** than `recurrent`: normalised score +0.30 [+0.30, +0.30] (n = 5 seeds)" in text
    assert "P(`feedback` > `recurrent`) = 0.76" in text  # 19 of the 25 seed pairs, no ties
    assert "`feedback` and `early` show **no difference**" in text
    assert "Other conditions (1): no difference in 1." in text
    assert "whatwhere" not in text and "dopamine" not in text  # only pairs present in the data
    assert findings.versus(tables.by_seed(rows, "normalized_score"), "CuedBerry-v0", "easy", "early",
                           "recurrent") == "better: +0.30 [+0.30, +0.30]"


def test_the_gain_from_passes_under_occlusion_is_judged_against_clean_worlds_paired_by_seed():
    plan, _ = make_plan(CompareArgs(scale="passes"))
    one, three = scales.PASSES_AGENTS
    base, wobble = [0.1, 0.5, 0.9, 0.3, 0.7], [0.01, -0.01, 0.02, -0.02, 0.0]

    def rows(agent, condition, t, values, trained):
        out = rows_of({agent: values}, condition=condition)
        for r in out:
            r.update(passes=t, passes_as_trained=trained)
        return out

    data = []
    for condition, t3_gain, sweep in (("occluded", 0.3, 0.1), ("clean", 0.05, -0.1)):
        data += rows(one, condition, 1, base, True) + rows(three, condition, 3, [v + t3_gain for v in base], True)
        for t in (2, 3, 4):  # T = 1's agent: extra passes change nothing, give or take its wobble
            data += rows(one, condition, t, [v + w for v, w in zip(base, wobble)], False)
        for t in (1, 2, 4):  # T = 3's: T = 4 gains 0.1 over T = 1 under occlusion, loses 0.1 in clean worlds
            data += rows(three, condition, t, [v + t3_gain + (sweep if t == 4 else 0.0) for v in base], False)
    gains = {(g.what.split(",")[0], g.metric): g for g in passes_gains(plan, data)}
    trained = gains[(f"`{three}` minus `{one}`", "normalized_score")]
    assert (trained.trained, trained.condition, trained.reference) == (True, "occluded", "clean")
    assert trained.pair.verdict == "better" and trained.pair.difference.mean == pytest.approx(0.25)
    assert trained.here.mean == pytest.approx(0.3) and trained.at_reference.mean == pytest.approx(0.05)
    assert gains[(f"`{one}` evaluated at T = 4 minus T = 1", "normalized_score")].pair.verdict == "no difference"
    swept = gains[(f"`{three}` evaluated at T = 4 minus T = 1", "normalized_score")]
    assert swept.pair.difference.mean == pytest.approx(0.2) and not swept.trained
    assert gains[(f"`{three}` minus `{one}`", "precision")].pair.difference.mean == pytest.approx(0.25 / 4)
    found = "\n".join(findings.what_we_found(plan, data))
    # The training worlds are `occluded` here (no `easy` condition), and the Spoerer test is a finding of its own.
    assert f"- **CuedBerry-v0, `occluded` worlds, three feedback passes against one" in found
    assert ("- **CuedBerry-v0, passes under `occluded` against `clean` (Spoerer et al. 2017):** "
            f"`{three}` minus `{one}`, each trained and evaluated at its own T, in normalised score: +0.30 [+0.30, "
            "+0.30] in `occluded` worlds, +0.05 [+0.05, +0.05] in `clean` ones; the gain is **larger** under "
            "`occluded`: +0.25 [+0.25, +0.25] (paired, n = 5 seeds).") in found
    # Without clean or easy worlds in the sweep there is nothing to measure a gain against.
    assert passes_gains(grid.Plan(**{**scales.SCALES["passes"], "passes_conditions": ("occluded",)}), data) == []


def test_feature_gain_is_judged_against_the_untrained_net_and_the_cue_switch_by_seed():
    plan, _ = make_plan(CompareArgs(scale="attention"))
    control, feature_only = scales.ATTENTION_AGENTS
    untrained = [0.05, 0.03, 0.08, 0.04, 0.06]  # the goal template alone gives each seed a small rho

    def cells(agent, shift, offsets, p, old_cue):
        """Seed k's rows: rho = its untrained net's + shift + offsets[k]; after the switch, rho toward the new
        cue is the rho it had before, and toward the old one `old_cue` times that."""
        out = []
        for seed, (base, offset) in enumerate(zip(untrained, offsets), 1):
            cell = {"task": "CuedBerry-v0", "agent": agent, "seed": seed, "passes_as_trained": True,
                    "normalized_score": 0.7, "precision": 0.8, "fs_beta": 0.0}
            rho = base + shift + offset
            out += [{**cell, "condition": "easy", "lesion": "none", "fs_rho": rho, "fs_beta": rho / 2, "fs_p": p},
                    {**cell, "condition": "easy", "lesion": "untrained", "fs_rho": base, "fs_p": 0.5},
                    {**cell, "condition": "easy", "lesion": "goal", "fs_rho": -0.3, "fs_p": 1.0},  # not a reference
                    {**cell, "condition": "cue_change", "lesion": "none", "fs_rho": 0.1, "fs_p": p,
                     "fs_rho_before": rho, "fs_rho_after": rho, "fs_rho_after_old_cue": old_cue * rho}]
        return out

    data = (cells(control, 0.2, [0.01, 0.02, 0.03, 0.04, 0.05], 0.01, -0.5)
            + cells(feature_only, 0.0, [0.01, -0.01, 0.02, -0.02, 0.0], 0.7, 1.0))
    gains = {g.agent: g for g in feature_gains(plan, data)}
    assert set(gains) == {control, feature_only} and {g.condition for g in gains.values()} == {"easy"}
    assert gains[control].over_untrained.difference.mean == pytest.approx(0.23)
    assert gains[control].turn.difference.mean == pytest.approx(1.5 * 0.282)
    assert (gains[control].above, gains[control].below) == (5, 0)
    assert gains[control].verdict == "its gains **follow the cued colour's tuning**"
    # The feature-only agent's rho is above 0 (0.052 on average) but no more than its untrained net's, and its
    # gains look the same toward both cues after the switch.
    assert gains[feature_only].rho.excludes_zero() and gains[feature_only].rho.mean == pytest.approx(0.052)
    assert gains[feature_only].verdict == "**no feature-similarity signature** beyond the untrained net's"
    assert (gains[feature_only].above, gains[feature_only].below) == (0, 0)
    assert gains[feature_only].turn.difference.mean == 0.0 and gains[feature_only].turn.verdict == "no difference"
    found = "\n".join(findings.what_we_found(plan, data))
    assert (f"- **CuedBerry-v0, `easy` worlds, feature-similarity gain of `{control}` (Treue & Martinez-Trujillo "
            "1999):** rho 0.282 [") in found
    assert gains[control].untrained.mean == pytest.approx(0.052)
    assert ("(seeds against the channel-shuffle null: 5/5 above it, 0/5 below it, at p < 0.05); the untrained net's "
            "0.052 [") in found
    assert ("and trained minus untrained, paired by seed, +0.230 [+0.218, +0.242]: its gains **follow the cued colour's tuning**. After a mid-episode cue "
            "switch (`cue_change`), rho toward the new cue minus toward the old one, signed as rho before the switch: "
            "+0.423 [") in found and "the gains **turn with the cue**." in found
    from compare import markdown

    table = "\n".join(markdown._attention(data))
    assert f"| CuedBerry-v0 | `easy` | `{control}` | 0.282 [0.260, 0.304] | 0.141 [0.130, 0.152] | 5/5, 0/5 |" in table
    assert f"| CuedBerry-v0 | `easy` | `{feature_only}` | 0.052 [0.028, 0.076] | 0.026 [0.014, 0.038] | 0/5, 0/5 |" in table
    # Gains that damp the cued colour's channels (rho < 0, below the untrained net's) run against its tuning, and
    # still turn with the cue: the sign before the switch carries over to the new cue.
    damped = cells(control, -0.4, [0.01, 0.02, 0.03, 0.04, 0.05], 0.99, -0.5)
    gain = feature_gains(plan, damped)[0]
    assert gain.rho.mean < 0 and (gain.above, gain.below) == (0, 5)
    assert gain.verdict.startswith("its gains **run against the cued colour's tuning**")
    assert gain.turn.verdict == "better"
    # Gains that keep the old cue after the switch: toward the new cue what they had toward another colour.
    kept = [{**r, "fs_rho_after": -0.5 * r["fs_rho_before"], "fs_rho_after_old_cue": r["fs_rho_before"]}
            if r["condition"] == "cue_change" else r for r in cells(control, 0.2, [0.01] * 5, 0.01, 0.0)]
    assert feature_gains(plan, kept)[0].turn.verdict == "worse"
    # Where the untrained net met the switch too, the turn is judged against its turn: gains that read the cue
    # turn with it untrained. Here the untrained net turns as far as the trained one, then a third as far.
    switch = [r for r in data if r["condition"] == "cue_change" and r["lesion"] == "none"]
    same = {g.agent: g for g in feature_gains(plan, data + [{**r, "lesion": "untrained"} for r in switch])}
    assert same[control].turn.verdict == "better" and same[control].turn_over_untrained.verdict == "no difference"
    assert same[control].untrained_turn.mean == pytest.approx(same[control].turn.difference.mean)
    turned_less = [{**r, "lesion": "untrained", "fs_rho_after_old_cue": 0.5 * r["fs_rho_before"]} for r in switch]
    less = {g.agent: g for g in feature_gains(plan, data + turned_less)}
    assert less[control].turn_over_untrained.verdict == "better"
    assert less[control].turn_over_untrained.difference.mean == pytest.approx(less[control].turn.difference.mean / 3 * 2)
    # the feature-only agent keeps the same rho toward both cues (turn 0) where its untrained net turns: less
    assert less[feature_only].turn_over_untrained.verdict == "worse"
    text = "\n".join(findings.what_we_found(plan, data + [{**r, "lesion": "untrained"} for r in switch]))
    assert ("the gains **turn with the cue**; the untrained net's turn 0.4" in text
            and "and trained minus untrained +0.000 [+0.000, +0.000]: **no more than untrained**: the turn comes "
                "with the architecture" in text)
    table = "\n".join(markdown._attention(data + turned_less))
    assert f"| CuedBerry-v0 | `cue_change` | `{control}` | 0.100 [0.100, 0.100] |" in table
    row = next(line for line in table.splitlines() if f"| `cue_change` | `{control}` |" in line).split(" | ")
    assert row[-2].startswith("0.42") and row[-1].startswith("0.14")  # the turn, trained and untrained
    # Above an untrained net whose rho is below 0 is not a signature: rho itself must be above 0.
    below = [{**r, "fs_rho": r["fs_rho"] - 0.3} if r["agent"] == control and r["lesion"] in ("none", "untrained") else r
             for r in data]
    assert feature_gains(plan, below)[0].verdict == ("**no feature-similarity signature**: different from "
                                                             "the untrained net's, but not from 0")
    # With fewer than 5 seeds nothing is called; with no untrained net there is no reference, so no finding.
    assert "not judged, too few seeds" in feature_gains(plan, [r for r in data if r["seed"] < 5])[0].verdict
    assert feature_gains(plan, [r for r in data if r["lesion"] != "untrained"]) == []


def test_reversal_section_only_where_the_evaluator_gives_a_curve():
    plan, _ = make_plan(CompareArgs(agents=("recurrent", "dopamine"), envs=("ReversalBerry-v0",)))
    rows = rows_of({"recurrent": [0.2] * 5, "dopamine": [0.4] * 5}, task="ReversalBerry-v0")
    assert findings.reversal(plan, rows) == []
    for row in rows:
        row.update(reversal_precision_0=0.3, reversal_precision_10=0.6 if row["agent"] == "dopamine" else 0.4,
                   reversal_eaten_0=3.0)
    text = "\n".join(findings.reversal(plan, rows))
    assert "## Reversal curve" in text and "| 0-9 | >= 10 |" in text
    assert "| ReversalBerry-v0 | `easy` | `dopamine` | 0.30 [0.30, 0.30] | 0.60 [0.60, 0.60] |" in text
    assert "Does reward steer the next choice?" not in text  # cells from before the measure: no table
    header = "| task | condition | agent | P(stay after win) | P(stay after loss) | win - loss |"  # no | inside a cell
    for i, row in enumerate(rows):  # dopamine stays after wins and shifts after losses; recurrent does not care
        learner = row["agent"] == "dopamine"
        row.update(stay_after_win=0.9 if learner else 0.5 + 0.02 * i, stay_after_loss=0.2 if learner else 0.5,
                   choices_after_win=10.0, choices_after_loss=10.0)
    rows[0]["stay_after_loss"] = math.nan  # a seed that never lost: left out of its agent's pairs
    text = "\n".join(findings.reversal(plan, rows))
    assert header in text
    assert "| ReversalBerry-v0 | `easy` | `dopamine` | 0.90 [0.90, 0.90] | 0.20 [0.20, 0.20] | +0.70 [+0.70, +0.70] |" \
        in text
    # recurrent: seeds 2-5 only (0.52, 0.54, 0.56, 0.58 after a win; 0.50 after a loss)
    curveless = [{k: v for k, v in row.items() if not k.startswith("reversal_")} for row in rows]
    alone = "\n".join(findings.reversal(plan, curveless))  # worlds that never switch: win-stay / lose-shift alone
    assert alone.startswith("## Win-stay / lose-shift") and header in alone and "## Reversal curve" not in alone
    assert re.search(r"\| `recurrent` \| 0\.55 \[0\.5\d, 0\.5\d\] \| 0\.50 \[0\.50, 0\.50\] \| \+0\.05 \[", text), text


def test_efficiency_and_reversal_plots_draw_from_their_selections():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from compare import plots

    plan, _ = make_plan(CompareArgs(agents=("recurrent", "dopamine"), envs=("ReversalBerry-v0",)))
    rows = rows_of({"recurrent": [0.2] * 5, "dopamine": [0.4] * 5}, task="ReversalBerry-v0")
    assert isinstance(plots._reversal(plt, plan, rows), str)  # no curve: says why, draws nothing
    for row in rows:
        row.update(reversal_precision_0=0.3, reversal_precision_10=0.5)
    efficiency = [{"task": "ReversalBerry-v0", "agent": "dopamine", "seed": s, "run_steps": 1000,
                   "precision": 400 if s < 3 else None, "normalized_score": math.nan} for s in range(1, 6)]
    reversal = plots._reversal(plt, plan, rows)
    curves = [(list(line.get_xdata()), list(line.get_ydata())) for ax in reversal.axes for line in ax.get_lines()]
    assert ([0, 10], [pytest.approx(0.3), pytest.approx(0.5)]) in curves  # the rows' curve, bin by bin
    figure = plots._efficiency(plt, plan, efficiency)
    shares = [max(line.get_ydata()) for ax in figure.axes for line in ax.get_lines() if len(line.get_ydata())]
    assert pytest.approx(0.4) in shares  # 2 of 5 dopamine seeds reached precision 0.75
    plt.close(reversal)
    plt.close(figure)


def test_spatial_index_section_shows_the_map_following_a_wrong_cue():
    from compare import markdown

    rows = []
    for seed in range(1, 6):
        for lesion, target, other in (("none", 1.3 + 0.01 * seed, 1.0), ("goal", 1.0, 1.2 + 0.01 * seed)):
            rows.append({"task": "CuedBerry-v0", "agent": "feedback", "seed": seed, "condition": "easy",
                         "lesion": lesion, "passes_as_trained": True, "spatial_index": target,
                         "spatial_index_distractor": other})
    rows.append({**rows[0], "lesion": "feedback", "spatial_index": 1.0})  # not a row of this table
    text = "\n".join(markdown._spatial(rows))
    assert "| CuedBerry-v0 | `easy` | `feedback` | intact | 1.33 [" in text
    assert "| CuedBerry-v0 | `easy` | `feedback` | wrong cue | 1.00 [1.00, 1.00] | 1.23 [" in text
    assert text.count("| CuedBerry-v0 |") == 2
    assert "No agent with feedback" in "\n".join(markdown._spatial([]))


def test_from_runs_plan_holds_the_task_agent_pairs_the_runs_hold(monkeypatch):
    def unit(task, agent, seed):
        return grid.Unit(task, agent, seed, agent == "feedback", agent == "dopamine", 1, "easy",
                         run_dir=f"runs/{task}__{agent}__s{seed}")

    runs = ([unit("CuedBerry-v0", a, s) for a in ("recurrent", "feedback") for s in (1, 2)]
            + [unit("ReversalBerry-v0", "dopamine", s) for s in (1, 2)])
    monkeypatch.setattr(compare.run, "load_runs", lambda paths: runs)
    plan, units = make_plan(CompareArgs(from_runs=("runs",), device="cpu"))
    assert plan.groups == (("CuedBerry-v0", ("recurrent", "feedback")), ("ReversalBerry-v0", ("dopamine",)))
    assert scales.cost(plan)["runs"] == 6 and len(units) == 6  # not the 3 x 2 x 2 = 12 of a product


def test_reversal_conditions_keep_the_old_form_and_the_harder_ones():
    cued = grid.preset_unit("CuedBerry-v0", "feedback", 1, "easy")
    env_id, kwargs = grid.world_kwargs_for(cued, grid.CONDITIONS["reversal"], 50)
    assert env_id == "ReversalBerry-v0" and kwargs["taste"] is False and kwargs["reversal_rate"] == 1 / 150
    reversal = grid.preset_unit("ReversalBerry-v0", "feedback", 1, "easy")
    names = [c.name for c in grid.CONDITIONS.values() if c.applies_to("ReversalBerry-v0")]
    assert "switches" in names and "no_taste" in names and "reversal" not in names
    assert "switches" not in [c.name for c in grid.CONDITIONS.values() if c.applies_to("CuedBerry-v0")]
    assert grid.world_kwargs_for(reversal, grid.CONDITIONS["switches"], 50)[1]["reversal_rate"] == 1 / 150
    assert grid.world_kwargs_for(reversal, grid.CONDITIONS["no_taste"], 50)[1]["taste"] is False
