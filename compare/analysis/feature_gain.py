"""Feature attention: do an agent's top-down gains follow the cued colour's bottom-up tuning (the
feature-similarity gain model, Treue & Martinez-Trujillo 1999; `compare.measures`), beyond what an
untrained net of the same seed gives, and do they turn with a mid-episode cue switch? And the spatial
attention index: is the spatial gain drawn to berries of the colour that pays?

Every judgement pairs each seed's trained net with its own untrained one (its gains depend on the cue
too, through the goal template), with the rank-correlation margin `FS_MARGIN` for "equivalent".
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

import numpy as np

from compare import stats
from compare.analysis.common import Context, Verdict, errorbar, subplots
from compare.analysis.contrasts import home_condition
from compare.measures import TUNING_METHOD
from compare.rows import index_in
from compare.text import fmt_ci, fmt_difference, fmt_p, table

NAME = "feature_gain"
FIGURES = {"feature_similarity.png": "Feature-similarity gain (rho) of agents with feedback, trained and untrained"}
CUE_SWITCH = "cue_change"  # the condition whose cue switches halfway (`compare.measures`, fs_rho_after*)
FS_MARGIN = 0.1  # rank correlations within +-0.1 of the untrained net's are "equivalent"
SWITCH_METRICS = ("fs_rho_before", "fs_rho_after", "fs_rho_after_old_cue", "fs_turn")


def cue_turn(row: dict) -> float:
    """How a row's feature-similarity gain turns at a mid-episode cue switch: sign(rho before the switch) *
    (rho toward the new cue - rho toward the old one, after it); nan where the row has no switch. Gains that
    follow the cue keep their sign toward the new cue and take the other toward the old one (the tuning is
    centred over colours), so the turn is > 0 whether they boost (rho > 0) or damp (rho < 0) the cued colour's
    channels; gains that keep the old cue give < 0."""
    values = [row.get(k, math.nan) for k in ("fs_rho_before", "fs_rho_after", "fs_rho_after_old_cue")]
    if any(math.isnan(v) for v in values):
        return math.nan
    return math.copysign(1.0, values[0]) * (values[1] - values[2])


def feature_rows(rows: list[dict]) -> list[dict]:
    """Rows with a feature-similarity gain, at the trained T, intact or as the untrained net, with their turn."""
    return [{**r, "fs_turn": cue_turn(r)} for r in rows if r["passes_as_trained"] and r["lesion"] in ("none", "untrained")
            and not math.isnan(r.get("fs_rho", math.nan))]


@dataclass(frozen=True)
class FeatureGain:
    """One agent's feature-similarity gain over seeds in one condition, against its untrained nets, and its
    turn at the cue switch against 0 and (where the untrained nets met the switch too) against theirs."""

    task: str
    agent: str
    condition: str
    rho: stats.Summary
    above: int  # seeds whose channel-shuffle p < 0.05: rho above the shuffle null
    below: int  # seeds whose p > 0.95: rho below it
    untrained: stats.Summary
    over_untrained: Verdict  # trained rho - untrained rho, paired by seed
    turn: Optional[Verdict] = None  # the turn against 0
    untrained_turn: Optional[stats.Summary] = None
    turn_over_untrained: Optional[Verdict] = None

    @property
    def finding(self) -> str:
        """What the rho says, from the paired verdict against the untrained net and rho's own interval."""
        word = self.over_untrained.word
        if word == "equivalent":
            return "no feature-similarity signature beyond the untrained net's (equivalent within +-0.1)"
        if word == "inconclusive":
            return "inconclusive against the untrained net"
        if word not in ("better", "worse"):
            return f"not judged, {word}"
        if self.rho.excludes_zero() and (self.rho.mean > 0) == (word == "better"):
            return ("its gains follow the cued colour's tuning beyond the untrained net's" if word == "better" else
                    "its gains run against the cued colour's tuning: they damp the channels that prefer it")
        return "no feature-similarity signature: different from the untrained net's, but not from 0"

    @property
    def verdicts(self) -> list:
        return [v for v in (self.over_untrained, self.turn, self.turn_over_untrained) if v is not None]


@dataclass(frozen=True)
class Spatial:
    """The spatial attention index on berries that pay and on the others, intact and with the wrong cue."""

    target: stats.Summary
    other: Optional[stats.Summary]


@dataclass(frozen=True)
class FeatureGains:
    gains: list  # [FeatureGain]
    table: dict  # {(task, condition, agent, lesion): {metric: Summary}} of every feature row
    seeds_vs_null: dict  # {(task, condition, agent, lesion): (above, below, n)}
    spatial: dict  # {(task, condition, agent, lesion): Spatial}

    @property
    def verdicts(self) -> list:
        return [v for g in self.gains for v in g.verdicts]


def summarise(ctx: Context) -> FeatureGains:
    plan, selected = ctx.plan, feature_rows(ctx.rows)
    values: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for r in selected:
        values[(r["task"], r["agent"], r["condition"], r["lesion"])][r["seed"]] = r
    gains = []
    for task, agent in dict.fromkeys((t, a) for t, a, _, lesion in values if lesion == "none"):
        home = home_condition(plan, agent)
        condition = next((c for c in (home, *plan.conditions)
                          if (task, agent, c, "none") in values and (task, agent, c, "untrained") in values), None)
        if condition is not None:
            gains.append(_gain(values, task, agent, condition))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in selected:
        groups[(r["task"], r["condition"], r["agent"], r["lesion"])].append(r)
    summaries = {key: {m: stats.summarize([r.get(m, math.nan) for r in members])
                       for m in ("fs_rho", "fs_beta") + SWITCH_METRICS} for key, members in groups.items()}
    null = {key: (sum(r["fs_p"] < 0.05 for r in members), sum(r["fs_p"] > 0.95 for r in members), len(members))
            for key, members in groups.items()}
    spatial_groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in ctx.rows:
        if r["passes_as_trained"] and r["lesion"] in ("none", "goal") and not math.isnan(r.get("spatial_index", math.nan)):
            spatial_groups[(r["task"], r["condition"], r["agent"], r["lesion"])].append(r)
    spatial = {key: Spatial(stats.summarize([r["spatial_index"] for r in members]),
                            stats.summarize([r.get("spatial_index_distractor", math.nan) for r in members]))
               for key, members in spatial_groups.items()}
    return FeatureGains(gains, summaries, null, spatial)


def _gain(values: dict, task: str, agent: str, condition: str) -> FeatureGain:
    intact, untrained = values[(task, agent, condition, "none")], values[(task, agent, condition, "untrained")]
    turn, untrained_turn = ({s: t for s, r in values.get((task, agent, CUE_SWITCH, lesion), {}).items()
                             for t in [cue_turn(r)] if not math.isnan(t)} for lesion in ("none", "untrained"))
    untrained_turn = {s: t for s, t in untrained_turn.items() if s in turn}
    rho = {s: r["fs_rho"] for s, r in intact.items()}
    reference = {s: r["fs_rho"] for s, r in untrained.items() if s in rho}

    def verdict(x, y, xs, ys, what, metric) -> Verdict:
        return Verdict(NAME, task, condition if metric == "fs_rho" else CUE_SWITCH, x, y, what, metric,
                       stats.compare_paired(xs, ys, False, margin=FS_MARGIN))

    return FeatureGain(
        task, agent, condition, stats.summarize([rho[s] for s in sorted(rho)]),
        sum(r["fs_p"] < 0.05 for r in intact.values()), sum(r["fs_p"] > 0.95 for r in intact.values()),
        stats.summarize([reference[s] for s in sorted(reference)]),
        verdict(agent, "untrained net", rho, reference, "feature-similarity gain beyond the untrained net's", "fs_rho"),
        verdict(agent, "no turn", turn, dict.fromkeys(turn, 0.0), "the gains turn with a cue switch", "fs_turn")
        if turn else None,
        stats.summarize([untrained_turn[s] for s in sorted(untrained_turn)]) if untrained_turn else None,
        verdict(agent, "untrained net", turn, untrained_turn, "the turn beyond the untrained net's", "fs_turn")
        if untrained_turn else None)


def section(data: FeatureGains, ctx: Context) -> list[str]:
    lines = ["## Feature attention", "", "### Feature-similarity gain", "",
             "The feature-similarity gain model (Treue & Martinez-Trujillo 1999) predicts that attending to a colour "
             "scales each channel's gain by how much the channel prefers that colour: g = 1 + beta * tuning. Per "
             "gain-modulated layer and cued colour, each channel's mean gain under that cue minus its mean over the "
             "cues is rank-correlated over all channels with its colour-centred tuning to the cued colour (rho), "
             "and regressed on it (the slope estimates beta); both are averaged over the cued colours and the "
             "layers. p is a channel-shuffle null (500 permutations); the column counts the seeds above the null "
             "(p < 0.05) and below it (p > 0.95). The untrained net (same architecture and seed, initial weights) is "
             "the reference, not a lesion: its gains depend on the cue too, through the goal template. Where the cue "
             "switches mid-episode, the turn is sign(rho before) * (rho toward the new cue - toward the old one): "
             "above 0 where the gains follow the new cue. Verdicts pair each seed with its untrained net "
             f"(equivalent: within +-{FS_MARGIN} in rho); all are exploratory (uncorrected p).", "", TUNING_METHOD, ""]
    if not data.table:
        return lines + ["No agent with feedback in this compare.", ""] + _spatial(data)
    if data.gains:
        body = []
        for g in data.gains:
            row = [g.task, f"`{g.condition}`", f"`{g.agent}`", fmt_ci(g.rho, 3), fmt_ci(g.untrained, 3),
                   fmt_difference(g.over_untrained.pair.difference, 3), fmt_p(g.over_untrained.pair.p), g.finding]
            turn = g.turn
            row += ["-", "-"] if turn is None else [fmt_difference(turn.pair.difference, 3), turn.word]
            vs = g.turn_over_untrained
            row += ["-"] if vs is None else [f"{vs.word}: {fmt_difference(vs.pair.difference, 3)}, p {fmt_p(vs.pair.p)}"]
            body.append(row)
        lines += table(["task", "condition", "agent", "rho [95% CI]", "untrained rho", "trained - untrained", "p",
                        "finding", "turn at the cue switch", "turn vs 0", "turn vs the untrained net's"], body)
    body = []
    for key, s in data.table.items():
        task, condition, agent, lesion = key
        if lesion != "none":
            continue
        untrained = data.table.get((task, condition, agent, "untrained"))
        row = [task, f"`{condition}`", f"`{agent}`", fmt_ci(s["fs_rho"], 3), fmt_ci(s["fs_beta"], 3),
               "{0}/{2}, {1}/{2}".format(*data.seeds_vs_null[key]), fmt_ci(untrained["fs_rho"], 3) if untrained else "-"]
        row += [fmt_ci(s[m], 3) if s[m].n else "-" for m in SWITCH_METRICS]
        row += [fmt_ci(untrained["fs_turn"], 3) if untrained and untrained["fs_turn"].n else "-"]
        body.append(row)
    lines += ["Every condition:", ""] + table(
        ["task", "condition", "agent", "rho [95% CI]", "beta [95% CI]", "seeds above, below the null", "rho, untrained",
         "before the cue switch", "after, toward the new cue", "after, toward the old cue", "turn", "turn, untrained"],
        body)
    return lines + _spatial(data)


def _spatial(data: FeatureGains) -> list[str]:
    lines = ["### Spatial attention index", "",
             "Mean spatial gain (a map divided by its own mean over the agent's conv1 map) on pixels showing a berry "
             "of the colour that pays, over the mean elsewhere; the same for berries of other colours. Above 1 means "
             "the spatial gain is drawn to those berries. With the `goal` lesion the cue names a distractor colour "
             "present in the field: if the map follows the cue, the two indices trade places.", ""]
    if not data.spatial:
        return lines + ["No agent with feedback in this compare.", ""]
    body = [[t, f"`{c}`", f"`{a}`", "wrong cue" if lesion == "goal" else "intact", fmt_ci(s.target),
             fmt_ci(s.other) if s.other is not None and s.other.n else "-"]
            for (t, c, a, lesion), s in data.spatial.items()]
    return lines + table(["task", "condition", "agent", "cue", "target berries [95% CI]", "other berries"], body)


def draw(plt, data: FeatureGains, ctx: Context) -> dict:
    rho = {(t, a, c, lesion): s["fs_rho"] for (t, c, a, lesion), s in data.table.items()}
    if not rho:
        return {"feature_similarity.png": "no agent with feedback"}
    plan = ctx.plan
    labels = sorted({k[:3] for k in rho}, key=lambda k: (index_in(plan.envs, k[0]), index_in(plan.agents, k[1]),
                                                         index_in(plan.conditions, k[2])))
    figure, (ax,) = subplots(plt, 1, width=max(6.0, 0.45 * len(labels) + 2), height=4.6)
    for i, lesion in enumerate(("none", "untrained")):
        points = [(j, rho[(*k, lesion)]) for j, k in enumerate(labels) if (*k, lesion) in rho]
        if points:
            ax.bar([j + (i - 0.5) * 0.4 for j, _ in points], [s.mean for _, s in points], 0.4,
                   yerr=np.array([errorbar(s) for _, s in points]).T, capsize=3,
                   label="trained" if lesion == "none" else "untrained", color="#d62728" if i == 0 else "#999999")
    one_task = len({t for t, _, _ in labels}) == 1
    ax.set_xticks(range(len(labels)), [f"{a}, {c}" + ("" if one_task else f" ({t.split('-')[0]})")
                                       for t, a, c in labels], rotation=40, ha="right", fontsize=8)
    if one_task:
        ax.set_title(labels[0][0], fontsize=10)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("feature-similarity gain (rank correlation)")
    ax.legend(fontsize=8)
    return {"feature_similarity.png": figure}
