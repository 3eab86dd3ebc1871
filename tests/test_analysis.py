"""The report's analyses (`compare.analysis`), each judged on synthetic rows and train records whose
answer is known: verdicts are asserted as data, not as sentences. Fast: no training, no worlds."""

from __future__ import annotations

import dataclasses
import math

import pytest

from compare import grid, scales, stats
from compare.analysis import contrasts, efficiency, feature_gain, lesions, passes, reversal, scores, set_size
from compare.analysis.common import Context
from compare.cli import CompareArgs
from compare.rows import REFERENCE_METRICS, REFERENCES
from compare.run import make_plan

TASK = "CuedBerry-v1"
BASE = [0.1, 0.5, 0.9, 0.3, 0.7]


def rows_of(scores_by_agent: dict, condition: str = "easy", task: str = TASK, still: float = 0.2, **extra) -> list:
    """Intact rows, seed k of each agent scoring values[k]; references: random 0, scripted 10, still 10 * still."""
    references = {f"{kind}_{m}": math.nan for kind in REFERENCES for m in REFERENCE_METRICS}
    references.update(random_return_mean=0.0, scripted_return_mean=10.0, still_return_mean=10.0 * still,
                      random_target_eaten=3.0, random_distractor_eaten=3.0, scripted_target_eaten=10.0,
                      scripted_distractor_eaten=0.0, still_target_eaten=0.5, still_distractor_eaten=0.3)
    return [{"task": task, "agent": agent, "seed": seed + 1, "condition": condition, "lesion": "none", "passes": 1,
             "passes_as_trained": True, "normalized_score": v, "return_mean": 10 * v, "precision": 0.5 + v / 4,
             "target_eaten": 5 + v, "distractor_eaten": 1.0, "still_score": still, **references, **extra}
            for agent, values in scores_by_agent.items() for seed, v in enumerate(values)]


def context(plan, rows, trained=None) -> Context:
    return Context(plan, rows, trained or {})


# --- contrasts: primary under Holm, the rest exploratory, power ---------------------------------


def test_contrasts_judge_matched_pairs_and_a_declared_family():
    rows = rows_of({"recurrent": BASE, "feedback": [v + 0.3 for v in BASE], "early": BASE})
    noisy = [v + d for v, d in zip(BASE, [0.4, -0.35, 0.3, -0.3, 0.02])]
    rows += rows_of({"recurrent": BASE, "feedback": noisy, "early": BASE}, condition="hard")
    plan, _ = make_plan(CompareArgs(agents=("recurrent", "early", "feedback"), envs=(TASK,),
                                    conditions=("easy", "hard")))
    found = contrasts.summarise(context(plan, rows))
    assert found.primary == []
    judged = {(v.condition, v.x, v.y): v for v in found.exploratory}
    assert judged[("easy", "feedback", "recurrent")].word == "better"
    assert judged[("easy", "feedback", "recurrent")].pair.difference.mean == pytest.approx(0.3)
    assert judged[("easy", "feedback", "recurrent")].pair.improvement.p == pytest.approx(19 / 25)  # no ties
    assert judged[("easy", "early", "recurrent")].word == "equivalent"  # identical seeds: inside +-0.1
    assert judged[("hard", "feedback", "recurrent")].word == "inconclusive"  # wide, holding 0 and +-0.3
    assert not any(v.pair.primary for v in found.exploratory)
    assert {v.x for v in found.exploratory} <= {"feedback", "early"}  # only pairs present in the data
    assert found.precision[(TASK, "easy", "feedback", "recurrent")].mean == pytest.approx(0.3 / 4)

    # Declared before the runs: judged as one Holm family, with whether each prediction held.
    declared = dataclasses.replace(plan, primary=((TASK, "feedback", "recurrent", "easy", "better"),
                                                  (TASK, "feedback", "early", "hard", "better")))
    grid.check_plan(declared)
    found = contrasts.summarise(context(declared, rows))
    first, second = found.primary
    assert first.pair.primary and first.word == "better" and first.held is True
    assert second.word == "inconclusive" and second.held is False
    assert [first.pair.p_holm, second.pair.p_holm] == stats.holm_adjust([first.pair.p, second.pair.p])
    assert second.pair.p_holm >= second.pair.p
    assert ("easy", "feedback", "recurrent") not in {(v.condition, v.x, v.y) for v in found.exploratory}
    with pytest.raises(grid.CompareError, match="prediction 'no difference'"):
        grid.check_plan(dataclasses.replace(plan, primary=((TASK, "feedback", "recurrent", "easy", "no difference"),)))
    with pytest.raises(grid.CompareError, match="must be trained"):
        grid.check_plan(dataclasses.replace(plan, primary=((TASK, "dopamine", "recurrent", "easy", "better"),)))


def test_power_is_planned_from_the_spread_of_paired_differences():
    spread = [0.2, -0.2, 0.1, -0.1, 0.0]  # sd 0.158
    rows = rows_of({"recurrent": BASE, "feedback": [v + d for v, d in zip(BASE, spread)]})
    plan, _ = make_plan(CompareArgs(agents=("recurrent", "feedback"), envs=(TASK,)))
    power = contrasts.summarise(context(plan, rows)).power
    assert power.sd == pytest.approx(0.1581, abs=1e-4) and power.df == 4 and power.seeds_at_hand == 5
    assert power.needed[0.1] > power.needed[0.2] >= 5
    assert stats.power(power.needed[0.2], 0.2, power.sd) >= 0.8 > stats.power(power.needed[0.2] - 1, 0.2, power.sd)
    assert stats.power(5, power.detectable, power.sd) >= 0.8


# --- scores: beside random, scripted and the forager that turns in place ----------------------


def test_scores_flag_agents_that_do_not_beat_turning_in_place():
    rows = rows_of({"recurrent": [0.24, 0.26, 0.25, 0.23, 0.27], "feedback": [0.6, 0.7, 0.65, 0.62, 0.68]},
                   condition="hard", still=0.25)
    plan, _ = make_plan(CompareArgs(agents=("recurrent", "feedback"), envs=(TASK,), conditions=("hard",)))
    data = scores.summarise(context(plan, rows))
    assert data.below_still == [(TASK, "hard", "recurrent")]  # its 0.25 is the still forager's 0.25
    cell = data.cells[(TASK, "hard", "feedback")]
    assert cell.above_still is True and cell.still == pytest.approx(0.25)
    assert cell.targets.mean == pytest.approx(5.65) and cell.distractors.mean == 1.0
    refs = data.references[(TASK, "hard")]
    assert (refs["random"].score, refs["scripted"].score, refs["still"].score) == (0.0, 1.0, pytest.approx(0.25))
    assert (refs["still"].targets, refs["still"].distractors) == (0.5, 0.3)
    assert cell.versus.word == "better" and data.cells[(TASK, "hard", "recurrent")].versus is None  # the control
    text = "\n".join(scores.section(data, context(plan, rows)))
    assert "| `hard` | still | 0.25 |" in text and "targets eaten | distractors eaten" in text
    # cells whose references predate the still forager: nothing is flagged, and the table says it was not run
    old = [{**r, "still_score": math.nan, "still_return_mean": math.nan} for r in rows]
    data = scores.summarise(context(plan, old))
    assert data.below_still == [] and data.cells[(TASK, "hard", "recurrent")].above_still is None
    assert scores.NOT_RUN in "\n".join(scores.section(data, context(plan, old)))


# --- lesions -------------------------------------------------------------------------------------


def test_lesions_are_used_equivalent_or_inconclusive_and_untrained_is_not_one():
    plan, _ = make_plan(CompareArgs(agents=("feedback",), envs=(TASK,)))
    rows = rows_of({"feedback": BASE})
    rows += [{**r, "lesion": "feedback", "normalized_score": r["normalized_score"] - 0.4} for r in rows_of({"feedback": BASE})]
    rows += [{**r, "lesion": "goal", "normalized_score": r["normalized_score"] + d}
             for r, d in zip(rows_of({"feedback": BASE}), [0.01, -0.02, 0.015, -0.01, 0.0])]
    rows += [{**r, "lesion": "untrained", "normalized_score": 0.0} for r in rows_of({"feedback": BASE})]
    data = lesions.summarise(context(plan, rows))
    effects = {k[3]: e for k, e in data.effects.items()}
    assert set(effects) == {"feedback", "goal"}  # the untrained net is a reference, not a lesion
    assert effects["feedback"].verdict.word == "better" and effects["feedback"].effect.startswith("used")
    assert effects["feedback"].verdict.pair.difference.mean == pytest.approx(0.4)
    assert effects["goal"].verdict.word == "equivalent"


# --- efficiency: from the train records alone ------------------------------------------------------


def record(agent: str, seed: int, score: list, precision, steps: int = 1_000_000) -> dict:
    out = {"unit": {"task": TASK, "agent": agent, "seed": seed}, "run_dir": "/nonexistent", "global_step": steps,
           "curve": score}
    if precision is not None:
        out["precision_curve"] = precision
    return out


def test_steps_to_threshold_is_censored_where_never_reached_and_curves_come_from_the_records():
    assert efficiency.steps_to([[50, 0.2], [100, 0.8], [150, 0.7], [200, 0.9]], 0.75) == 100
    assert efficiency.steps_to([[50, 0.2], [100, 0.5]], 0.75) is None
    assert efficiency.censored_median([100, 300, 200], 1000) == (200, False)
    assert efficiency.censored_median([100, None, None], 1000) == (1000, True)
    assert efficiency.censored_median([100, 200, None, None], 1000) == (1000, True)
    assert efficiency.censored_median([100, 200, 300, None], 1000) == (250, False)
    trained = {f"k{s}": record("feedback", s, [[s * 100_000, 0.9]], [[50_000, 0.5], [s * 200_000, 0.8]])
               for s in (1, 2, 3)}
    trained["k4"] = record("feedback", 4, [[500_000, 0.1]], [[500_000, 0.5]])
    trained["k5"] = record("feedback", 5, [[500_000, 0.9]], None)  # written before records kept the precision
    plan, _ = make_plan(CompareArgs(agents=("feedback",), envs=(TASK,)))
    data = efficiency.summarise(context(plan, [], trained))
    got = sorted((r["seed"], r["precision"], r["normalized_score"]) for r in data.runs)
    assert got[:4] == [(1, 200_000, 100_000), (2, 400_000, 200_000), (3, 600_000, 300_000), (4, None, None)]
    assert math.isnan(got[4][1]) and got[4][2] == 500_000  # no curve: unknown, not "never reached"
    assert data.unrecorded == ["k5"] and len(data.curves[(TASK, "feedback")]) == 5


# --- feature gain ----------------------------------------------------------------------------------


def test_feature_gain_is_judged_against_the_untrained_net_and_the_cue_switch_by_seed():
    plan, _ = make_plan(CompareArgs(scale="attention"))
    control, feature_only = scales.ATTENTION_AGENTS
    untrained = [0.05, 0.03, 0.08, 0.04, 0.06]  # the goal template alone gives each seed a small rho

    def cells(agent, shift, offsets, p, old_cue):
        """Seed k: rho = its untrained net's + shift + offsets[k]; after the switch, rho toward the new cue is
        the rho it had before, and toward the old one `old_cue` times that."""
        out = []
        for seed, (base, offset) in enumerate(zip(untrained, offsets), 1):
            cell = {"task": TASK, "agent": agent, "seed": seed, "passes_as_trained": True, "fs_beta": 0.0}
            rho = base + shift + offset
            out += [{**cell, "condition": "easy", "lesion": "none", "fs_rho": rho, "fs_beta": rho / 2, "fs_p": p},
                    {**cell, "condition": "easy", "lesion": "untrained", "fs_rho": base, "fs_p": 0.5},
                    {**cell, "condition": "easy", "lesion": "goal", "fs_rho": -0.3, "fs_p": 1.0},  # not a reference
                    {**cell, "condition": "cue_change", "lesion": "none", "fs_rho": 0.1, "fs_p": p,
                     "fs_rho_before": rho, "fs_rho_after": rho, "fs_rho_after_old_cue": old_cue * rho}]
        return out

    data = (cells(control, 0.2, [0.01, 0.02, 0.03, 0.04, 0.05], 0.01, -0.5)
            + cells(feature_only, 0.0, [0.01, -0.01, 0.02, -0.02, 0.0], 0.7, 1.0))
    gains = {g.agent: g for g in feature_gain.summarise(context(plan, data)).gains}
    assert set(gains) == {control, feature_only} and {g.condition for g in gains.values()} == {"easy"}
    assert gains[control].over_untrained.word == "better"
    assert gains[control].over_untrained.pair.difference.mean == pytest.approx(0.23)
    assert gains[control].finding == "its gains follow the cued colour's tuning beyond the untrained net's"
    assert gains[control].turn.word == "better" and gains[control].turn.pair.difference.mean == pytest.approx(1.5 * 0.282)
    assert (gains[control].above, gains[control].below) == (5, 0)
    # The feature-only agent's rho is above 0 but within 0.1 of its untrained net's: equivalent, no signature.
    assert gains[feature_only].rho.excludes_zero() and gains[feature_only].over_untrained.word == "equivalent"
    assert gains[feature_only].finding.startswith("no feature-similarity signature beyond")
    assert gains[feature_only].turn.word == "equivalent"  # the same rho toward both cues: turn 0 within the margin
    # Gains that damp the cued colour's channels run against its tuning, and still turn with the cue.
    damped = feature_gain.summarise(context(plan, cells(control, -0.4, [0.01, 0.02, 0.03, 0.04, 0.05], 0.99, -0.5)))
    assert damped.gains[0].finding.startswith("its gains run against") and damped.gains[0].turn.word == "better"
    # Where the untrained net met the switch too, the turn is judged against its turn.
    switch = [r for r in data if r["condition"] == "cue_change" and r["lesion"] == "none"]
    same = {g.agent: g for g in feature_gain.summarise(
        context(plan, data + [{**r, "lesion": "untrained"} for r in switch])).gains}
    assert same[control].turn_over_untrained.word == "equivalent"
    less = [{**r, "lesion": "untrained", "fs_rho_after_old_cue": 0.5 * r["fs_rho_before"]} for r in switch]
    less = {g.agent: g for g in feature_gain.summarise(context(plan, data + less)).gains}
    assert less[control].turn_over_untrained.word == "better"
    # Fewer than 5 seeds are not called; with no untrained net there is no reference, so no finding.
    few = feature_gain.summarise(context(plan, [r for r in data if r["seed"] < 5]))
    assert few.gains[0].finding.startswith("not judged, too few seeds")
    assert feature_gain.summarise(context(plan, [r for r in data if r["lesion"] != "untrained"])).gains == []
    table = feature_gain.summarise(context(plan, data)).table
    assert table[(TASK, "easy", control, "none")]["fs_rho"].mean == pytest.approx(0.282)


# --- passes ------------------------------------------------------------------------------------------


def test_the_gain_from_passes_under_occlusion_is_judged_against_clean_worlds_paired_by_seed():
    plan, _ = make_plan(CompareArgs(scale="passes"))
    one, three = scales.PASSES_AGENTS
    wobble = [0.01, -0.01, 0.02, -0.02, 0.0]

    def rows(agent, condition, t, values, trained):
        return [{**r, "passes": t, "passes_as_trained": trained} for r in rows_of({agent: values}, condition=condition)]

    data = []
    for condition, t3_gain, sweep in (("occluded", 0.3, 0.1), ("clean", 0.05, -0.1)):
        data += rows(one, condition, 1, BASE, True) + rows(three, condition, 3, [v + t3_gain for v in BASE], True)
        for t in (2, 3, 4):  # T = 1's agent: extra passes change nothing, give or take its wobble
            data += rows(one, condition, t, [v + w for v, w in zip(BASE, wobble)], False)
        for t in (1, 2, 4):  # T = 3's: T = 4 gains 0.1 over T = 1 under occlusion, loses 0.1 in clean worlds
            data += rows(three, condition, t, [v + t3_gain + (sweep if t == 4 else 0.0) for v in BASE], False)
    found = passes.summarise(context(plan, data))
    gains = {(g.what.split(",")[0], g.metric): g for g in found.gains}
    trained = gains[(f"`{three}` minus `{one}`", "normalized_score")]
    assert (trained.trained, trained.condition, trained.reference) == (True, "occluded", "clean")
    assert trained.verdict.word == "better" and trained.word == "larger"
    assert trained.verdict.pair.difference.mean == pytest.approx(0.25)
    assert trained.here.mean == pytest.approx(0.3) and trained.at_reference.mean == pytest.approx(0.05)
    assert gains[(f"`{one}` evaluated at T = 4 minus T = 1", "normalized_score")].verdict.word == "equivalent"
    swept = gains[(f"`{three}` evaluated at T = 4 minus T = 1", "normalized_score")]
    assert swept.verdict.pair.difference.mean == pytest.approx(0.2) and not swept.trained
    assert gains[(f"`{three}` minus `{one}`", "precision")].verdict.pair.difference.mean == pytest.approx(0.25 / 4)
    assert found.table[(TASK, one, "occluded", 4)][0].n == 5
    # Without clean or easy worlds in the sweep there is nothing to measure a gain against.
    only = dataclasses.replace(plan, passes_conditions=("occluded",))
    assert passes.summarise(context(only, data)).gains == []


# --- set size and reversal -------------------------------------------------------------------------


def test_set_size_counts_search_only_until_a_distractor_is_eaten_and_says_when_it_was_not_measured():
    plan, _ = make_plan(CompareArgs(agents=("feedback",), envs=(TASK,), conditions=("setsize_2", "setsize_30")))
    rows = []
    for condition, clean in (("setsize_2", 20.0), ("setsize_30", 150.0)):
        rows += rows_of({"feedback": BASE}, condition=condition, steps_to_first_target=10.0,
                        clean_steps_to_first_target=clean, distractor_first_share=0.1 if clean < 100 else 0.6,
                        scripted_clean_steps_to_first_target=30.0, scripted_distractor_first_share=0.0,
                        scripted_steps_to_first_target=30.0)
    data = set_size.summarise(context(plan, rows))
    assert data.measured
    assert data.agents[(TASK, "feedback", 30)].clean.mean == 150.0
    assert data.agents[(TASK, "feedback", 30)].distractor_first.mean == pytest.approx(0.6)
    assert data.scripted[(TASK, 2)][0] == 30.0
    old = [{**r, "clean_steps_to_first_target": math.nan, "distractor_first_share": math.nan} for r in rows]
    data = set_size.summarise(context(plan, old))
    assert not data.measured and set_size.NOT_MEASURED in "\n".join(set_size.section(data, context(plan, old)))


def test_reversal_summarises_curves_and_win_stay_only_where_measured():
    plan, _ = make_plan(CompareArgs(agents=("recurrent", "dopamine"), envs=("ReversalBerry-v1",)))
    rows = rows_of({"recurrent": [0.2] * 5, "dopamine": [0.4] * 5}, task="ReversalBerry-v1")
    empty = reversal.summarise(context(plan, rows))
    assert empty.curves == {} and empty.win_stay == {} and reversal.section(empty, context(plan, rows)) == []
    for i, row in enumerate(rows):
        learner = row["agent"] == "dopamine"
        row.update(reversal_precision_0=0.3, reversal_precision_10=0.6 if learner else 0.4,
                   stay_after_win=0.9 if learner else 0.5 + 0.02 * i, stay_after_loss=0.2 if learner else 0.5)
    rows[5]["stay_after_loss"] = math.nan  # a seed that never lost: left out of its agent's pairs
    data = reversal.summarise(context(plan, rows))
    key = ("ReversalBerry-v1", "easy", "dopamine")
    assert data.curves[key][10].mean == pytest.approx(0.6) and data.curves[key][0].mean == pytest.approx(0.3)
    win, loss, diff = data.win_stay[key]
    assert (win.mean, loss.mean, diff.mean) == (pytest.approx(0.9), pytest.approx(0.2), pytest.approx(0.7))
    assert data.win_stay[("ReversalBerry-v1", "easy", "recurrent")][0].n == 5
    assert data.win_stay[key][0].n == 4  # seed 1 of dopamine has no loss


def test_figures_draw_from_their_analysis_data():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plan, _ = make_plan(CompareArgs(agents=("recurrent", "dopamine"), envs=("ReversalBerry-v1",)))
    rows = rows_of({"recurrent": [0.2] * 5, "dopamine": [0.4] * 5}, task="ReversalBerry-v1")
    ctx = context(plan, rows)
    assert isinstance(reversal.draw(plt, reversal.summarise(ctx), ctx)["reversal_curve.png"], str)  # says why not
    for row in rows:
        row.update(reversal_precision_0=0.3, reversal_precision_10=0.5)
    figure = reversal.draw(plt, reversal.summarise(ctx), ctx)["reversal_curve.png"]
    curves = [(list(line.get_xdata()), list(line.get_ydata())) for ax in figure.axes for line in ax.get_lines()]
    assert ([0, 10], [pytest.approx(0.3), pytest.approx(0.5)]) in curves
    plt.close(figure)
    trained = {f"k{s}": {"unit": {"task": "ReversalBerry-v1", "agent": "dopamine", "seed": s}, "global_step": 1000,
                         "curve": [[500, 0.1]], "precision_curve": [[400, 0.8 if s < 3 else 0.1]]} for s in range(1, 6)}
    ctx = context(plan, rows, trained)
    figure = efficiency.draw(plt, efficiency.summarise(ctx), ctx)["sample_efficiency.png"]
    shares = [max(line.get_ydata()) for ax in figure.axes for line in ax.get_lines() if len(line.get_ydata())]
    assert pytest.approx(0.4) in shares  # 2 of 5 seeds reached precision 0.75
    plt.close("all")
