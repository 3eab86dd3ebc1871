"""Scores: one table per task of the intact agents in every condition, beside the condition's three
reference foragers (random, scripted, and one that turns in place), with targets and distractors
eaten per episode, and each agent against the task's control by paired seeds.

A score must beat doing nothing. In dense worlds the random forager loses so much to distractors
that a forager which never moves scores well above 0, so every agent whose score is not above the
turning forager's (a one-sided t-test over seeds at 5%) is flagged in its table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from compare import stats
from compare.analysis.common import Context, Verdict, colours, draw_summaries, subplots
from compare.grid import LADDER, Plan
from compare.references import Human, human_references
from compare.rows import REFERENCES, by_seed, main_rows
from compare.text import fmt, fmt_ci, fmt_difference, fmt_p, table

NAME = "scores"
FIGURES = {
    "score_vs_difficulty.png": "Normalised score against difficulty (easy to beyond), mean over seeds with 95% "
                               "intervals; x: the forager that turns in place",
    "conditions.png": "Normalised score in every condition, mean over seeds with 95% intervals; x: the forager that "
                      "turns in place",
}
NOT_RUN = "not run on these worlds"


@dataclass(frozen=True)
class Cell:
    """One agent in one condition over its seeds."""

    score: stats.Summary
    returns: stats.Summary
    precision: stats.Summary
    targets: stats.Summary
    distractors: stats.Summary
    still: float  # the turning forager's normalised score on the same worlds (nan where it was not run)
    above_still: Optional[bool]  # the one-sided t-test of score > still at 5%; None where still was not run
    versus: Optional[Verdict]  # against the task's control


@dataclass(frozen=True)
class Reference:
    """A reference forager in one condition: normalised score, return, targets and distractors eaten."""

    score: float
    returns: float
    targets: float
    distractors: float


@dataclass(frozen=True)
class Scores:
    controls: dict  # {task: the agent every other is compared with}
    cells: dict  # {(task, condition, agent): Cell}
    references: dict  # {(task, condition): {kind: Reference}}
    # {(task, condition): (Human, its normalised score)}: a person's episodes (`watch.py --play`)
    human: dict = field(default_factory=dict)

    @property
    def verdicts(self) -> list:
        return [c.versus for c in self.cells.values() if c.versus is not None]

    @property
    def below_still(self) -> list:
        """(task, condition, agent) whose score is not above the turning forager's."""
        return [key for key, c in self.cells.items() if c.above_still is False]


def control_of(plan: Plan, task: str) -> str:
    """The agent every other is compared with in a task's table: recurrent where trained, else the first."""
    trained = [a for t, a in plan.pairs() if t == task]
    return "recurrent" if "recurrent" in trained else (trained or plan.agents)[0]


def summarise(ctx: Context) -> Scores:
    plan, main = ctx.plan, main_rows(ctx.rows)
    paired = by_seed(ctx.rows, "normalized_score")
    controls = {task: control_of(plan, task) for task in plan.envs}
    members: dict = {}
    for r in main:
        members.setdefault((r["task"], r["condition"], r["agent"]), []).append(r)
    cells, references = {}, {}
    for key, group in members.items():
        task, condition, agent = key

        def summary(metric: str) -> stats.Summary:
            return stats.summarize([float(r.get(metric, math.nan)) for r in group])

        score = summary("normalized_score")
        still = float(np.nanmean([r["still_score"] for r in group])) if any(
            not math.isnan(r["still_score"]) for r in group) else math.nan
        above = None if math.isnan(still) or score.n < 2 else stats.t_test(
            [float(r["normalized_score"]) - still for r in group], 0.0, "greater") < stats.ALPHA
        control = controls[task]
        versus = None
        if agent != control and (task, condition, control) in paired:
            versus = Verdict(NAME, task, condition, agent, control, "against the task's control", "normalized_score",
                             stats.compare_paired(paired[key], paired[(task, condition, control)], False,
                                                  margin=plan.margin))
        cells[key] = Cell(score, summary("return_mean"), summary("precision"), summary("target_eaten"),
                          summary("distractor_eaten"), still, above, versus)
        first = group[0]
        span = first["scripted_return_mean"] - first["random_return_mean"]
        references.setdefault((task, condition), {
            kind: Reference((first[f"{kind}_return_mean"] - first["random_return_mean"]) / span if span else math.nan,
                            first[f"{kind}_return_mean"], first[f"{kind}_target_eaten"],
                            first[f"{kind}_distractor_eaten"]) for kind in REFERENCES})
    human = {}
    for key, person in human_references(list(ctx.human), ctx.trained, plan).items():
        if key in references:  # scored against the condition's random and scripted foragers
            random, scripted = references[key]["random"].returns, references[key]["scripted"].returns
            span = scripted - random
            human[key] = (person, (person.returns - random) / span if span else math.nan)
    return Scores(controls, cells, references, human)


def human_label(person: Human) -> str:
    """The human row's name in a score table: a reference, with its episodes and what the person saw."""
    return (f"human (a person, {person.episodes} episode{'s' if person.episodes != 1 else ''}, "
            f"{' and '.join(person.views)} view)")


def section(data: Scores, ctx: Context) -> list[str]:
    plan = ctx.plan
    lines = ["## Scores", "",
             "Normalised score = (agent - random) / (scripted - random) on the same worlds: 0 is the random forager, "
             "1 the scripted one (which reads the true state). Beside every condition, the forager that turns in "
             "place and never moves (`still`): an agent must beat it, and one whose score is not above it (a "
             "one-sided t-test over seeds at 5%) is marked **not above still**. Targets and distractors are eaten per "
             "episode. The verdict column is exploratory (uncorrected).", ""]
    if data.human:
        lines += ["`human` rows: a person foraging with `scripts/watch.py --play` in worlds of the condition's exact "
                  "settings (the same env id and world config, their own seeds, not the compare's worlds), scored "
                  "against the same random and scripted foragers. A reference, like the foragers above, not an agent; "
                  "partial episodes (the player quit mid-episode) are left out.", ""]
    if data.below_still:
        lines += [f"**{len(data.below_still)} agent(s) in some condition do not beat the forager that turns in "
                  f"place:** " + ", ".join(f"`{a}` in `{c}` ({t})" for t, c, a in data.below_still) + ".", ""]
    for task in plan.envs:
        control = data.controls[task]
        body = []
        for condition in plan.conditions:
            refs = data.references.get((task, condition))
            if refs is None:
                continue
            for kind in REFERENCES:
                ref = refs[kind]
                if math.isnan(ref.returns):
                    body.append([f"`{condition}`", kind, NOT_RUN, "", "", "", "", "", "", ""])
                    continue
                body.append([f"`{condition}`", kind, fmt(ref.score), "", fmt(ref.returns), "", fmt(ref.targets, 1),
                             fmt(ref.distractors, 1), "", "(reference)"])
            if (task, condition) in data.human:
                person, score = data.human[(task, condition)]
                body.append([f"`{condition}`", human_label(person), fmt(score), "", fmt(person.returns),
                             fmt(person.precision), fmt(person.target_eaten, 1), fmt(person.distractor_eaten, 1), "",
                             "(reference: a person, not an agent)"])
            for agent in plan.agents:
                cell = data.cells.get((task, condition, agent))
                if cell is None:
                    continue
                flag = " **not above still**" if cell.above_still is False else ""
                versus = "(control)" if agent == control else (
                    "n/a" if cell.versus is None else
                    f"{cell.versus.word}: {fmt_difference(cell.versus.pair.difference)}, p {fmt_p(cell.versus.pair.p)}")
                body.append([f"`{condition}`", f"`{agent}`", fmt_ci(cell.score) + flag, fmt(cell.score.iqm),
                             fmt_ci(cell.returns), fmt(cell.precision.mean), fmt(cell.targets.mean, 1),
                             fmt(cell.distractors.mean, 1), str(cell.score.n), versus])
        if body:
            lines += [f"### {task}", ""]
            lines += table(["condition", "agent", "normalised score [95% CI]", "IQM", "return [95% CI]", "precision",
                            "targets eaten", "distractors eaten", "seeds", f"vs `{control}` (exploratory)"], body)
    if any(math.isnan(r["still"].returns) for r in data.references.values()):
        lines += ["Where the `still` forager says *not run*, the reference cells predate it; rerun the merge, which "
                  "adds it on the same worlds where they can be rebuilt.", ""]
    return lines


def draw(plt, data: Scores, ctx: Context) -> dict:
    ladder = [c for c in LADDER if c in ctx.plan.conditions]
    return {"score_vs_difficulty.png": _by_condition(plt, data, ctx.plan, ladder, "o-") if ladder else
            "no difficulty conditions (easy, medium, hard, beyond) were evaluated",
            "conditions.png": _by_condition(plt, data, ctx.plan, list(ctx.plan.conditions), "o")}


def _by_condition(plt, data: Scores, plan: Plan, conditions: list, style: str):
    tasks = [t for t in plan.envs if any(k[0] == t and k[1] in conditions for k in data.cells)]
    if not tasks:
        return "no evaluation cell is finished in these conditions"
    figure, axes = subplots(plt, len(tasks), width=max(5.5, 0.9 * len(conditions) + 2))
    palette = colours(plan)
    width = 0.8 / len(plan.agents)
    for ax, task in zip(axes, tasks):
        present = [c for c in conditions if any((task, c, a) in data.cells for a in plan.agents)]
        x = np.arange(len(present))
        for i, agent in enumerate(plan.agents):
            points = [(j, data.cells[(task, c, agent)].score) for j, c in enumerate(present)
                      if (task, c, agent) in data.cells]
            if points:
                xs = [x[j] + (i - (len(plan.agents) - 1) / 2) * width for j, _ in points]
                draw_summaries(ax, xs, [s for _, s in points], fmt=style, color=palette[agent], label=agent)
        still = [(j, data.references[(task, c)]["still"].score) for j, c in enumerate(present)]
        still = [(j, s) for j, s in still if not math.isnan(s)]
        if still:
            ax.plot([j for j, _ in still], [s for _, s in still], "kx", label="still (turns in place)")
        ax.set_xticks(x, present, rotation=30 if len(present) > 4 else 0, ha="right" if len(present) > 4 else "center")
        ax.set_title(task)
        ax.set_ylabel("normalised score")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axhline(1, color="grey", lw=0.5, ls="--")
        ax.legend(fontsize=8)
    return figure
