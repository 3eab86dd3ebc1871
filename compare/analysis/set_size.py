"""Set size: how search time grows with the number of distractors, from the `setsize_D` conditions (two
targets among D distractors).

Search time counts the steps to the first target eaten *before any distractor*: an episode whose
first berry was a distractor, or that ate no target, counts as its full length (censored), and the
share of episodes where a distractor came first is reported beside it. The plain steps to the first
target, whatever came before, are shortest for a forager that eats everything, so they are shown only
where the cells predate the clean measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compare import stats
from compare.analysis.common import Context, colours, draw_summaries, label, subplots
from compare.grid import CONDITIONS, SET_SIZE_TARGETS
from compare.rows import main_rows
from compare.text import fmt, fmt_ci, table

NAME = "set_size"
FIGURES = {"set_size.png": "Set-size curve: steps to the first target eaten before any distractor, against the "
                           "number of distractors"}
NOT_MEASURED = ("not measured: these cells were evaluated before search time counted only targets reached before "
                "any distractor, and their checkpoints are gone, so they cannot be evaluated again")


@dataclass(frozen=True)
class SearchTime:
    clean: stats.Summary  # steps to the first target before any distractor (censored)
    distractor_first: stats.Summary  # share of episodes whose first berry eaten was a distractor
    plain: stats.Summary  # steps to the first target, whatever came before


@dataclass(frozen=True)
class SetSize:
    agents: dict  # {(task, agent, D): SearchTime} over seeds
    scripted: dict  # {(task, D): (clean, distractor-first share, plain)} of the scripted forager
    measured: bool  # whether the cells hold the clean measure

    @property
    def verdicts(self) -> list:
        return []


def summarise(ctx: Context) -> SetSize:
    rows = [r for r in main_rows(ctx.rows) if CONDITIONS[r["condition"]].distractors is not None]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["task"], r["agent"], CONDITIONS[r["condition"]].distractors), []).append(r)
    agents = {key: SearchTime(*(stats.summarize([r[m] for r in members]) for m in (
        "clean_steps_to_first_target", "distractor_first_share", "steps_to_first_target")))
        for key, members in sorted(groups.items())}
    scripted = {(r["task"], CONDITIONS[r["condition"]].distractors): (
        r["scripted_clean_steps_to_first_target"], r["scripted_distractor_first_share"],
        r["scripted_steps_to_first_target"]) for r in rows}
    measured = any(t.clean.n for t in agents.values())
    return SetSize(agents, dict(sorted(scripted.items())), measured)


def section(data: SetSize, ctx: Context) -> list[str]:
    lines = ["## Set-size curve", "",
             f"{SET_SIZE_TARGETS} targets among D distractors (easy worlds otherwise). Search time: the steps to the "
             "first target eaten before any distractor, an episode with none counting as its full length; beside it "
             "the share of episodes whose first berry eaten was a distractor. The scripted forager is on the same "
             "worlds.", ""]
    if not data.agents:
        return lines + ["No set-size conditions in this compare.", ""]
    sizes = sorted({d for _, _, d in data.agents})
    tasks = list(dict.fromkeys(t for t, _, _ in data.agents))
    agents = [a for a in ctx.plan.agents if any(k[1] == a for k in data.agents)]
    if not data.measured:
        lines += [f"Search time and the distractor-first share are {NOT_MEASURED}. The plain steps to the first "
                  "target, whatever was eaten before it, follow; they reward a forager that eats through "
                  "distractors, so read them beside the precision in the score tables, not as search time.", ""]
    body = []
    for task in tasks:
        for agent in agents:
            cells = [data.agents.get((task, agent, d)) for d in sizes]
            if not any(cells):
                continue
            if data.measured:
                body.append([task, f"`{agent}`"] + [f"{fmt_ci(c.clean, 1)}; {fmt(c.distractor_first.mean)}" if c else "-"
                                                    for c in cells])
            else:
                body.append([task, f"`{agent}`"] + [fmt_ci(c.plain, 1) if c else "-" for c in cells])
        scripted = [data.scripted.get((task, d)) for d in sizes]
        index = 2 if not data.measured else 0
        body.append([task, "scripted"] + ["-" if s is None else (
            fmt(s[index], 1) + ("" if not data.measured else f"; {fmt(s[1])}")) for s in scripted])
    header = [f"D = {d}" + ("" if not data.measured else ": steps; distractor first") for d in sizes]
    return lines + table(["task", "agent"] + header, body)


def draw(plt, data: SetSize, ctx: Context) -> dict:
    if not data.agents:
        return {"set_size.png": "no set-size conditions in this compare"}
    if not data.measured:
        return {"set_size.png": NOT_MEASURED}
    tasks = list(dict.fromkeys(t for t, _, _ in data.agents))
    figure, axes = subplots(plt, len(tasks))
    palette = colours(ctx.plan)
    for ax, task in zip(axes, tasks):
        for agent in ctx.plan.agents:
            points = sorted((d, t.clean) for (tk, a, d), t in data.agents.items() if (tk, a) == (task, agent))
            if points:
                draw_summaries(ax, [d for d, _ in points], [s for _, s in points], fmt="o-", color=palette[agent],
                               label=agent)
        scripted = sorted((d, s[0]) for (tk, d), s in data.scripted.items() if tk == task and not math.isnan(s[0]))
        ax.plot([d for d, _ in scripted], [v for _, v in scripted], "k--", label="scripted")
        label(ax, f"distractors ({SET_SIZE_TARGETS} targets)", "steps to a target before any distractor", task)
    return {"set_size.png": figure}
