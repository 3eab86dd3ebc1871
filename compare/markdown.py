"""results.md: the command and wall time, "What we found" (`compare.findings`), the setup and the
grid's cost, one table per task, sample efficiency, the lesions, the neuroscience measures, the
reversal curve (where the evaluator gives one), and the plots. Its claims are only what the paired
differences over seeds support (`compare.stats.Paired`), never CI overlap.

Each section is one function of the rows; the rows a table shows come from `compare.tables`'s
selection for it, the same one its plot draws.
"""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from typing import Optional

import numpy as np

from compare import findings, gains, stats
from compare.text import fmt, fmt_ci, table as _table
from compare.grid import CONDITIONS, SET_SIZE_TARGETS, SET_SIZES, Plan
from compare.measures import TUNING_METHOD
from compare.plots import PLOTS
from compare.scales import cost_text
from compare.store import INVOCATIONS_FILE, read_json
from compare.tables import (by_seed, cue_turn, feature_rows, group, index_in, lesion_effects, main_rows, pass_rows,
                            set_size_rows, spatial_rows)

RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"
RESULTS_MD = "results.md"


def markdown(out: str, plan: Plan, rows: list[dict], trained: dict, drawn: dict[str, Optional[str]]) -> str:
    """The text of results.md; `drawn` is `plots.draw_plots`'s {file: None if drawn, else why not}."""
    sections = (_head(out, plan, rows, trained) + findings.what_we_found(plan, rows) + _setup(plan, rows, trained)
                + _per_task(plan, rows) + findings.efficiency(out, plan, trained) + _lesions(rows) + _attention(rows)
                + _set_size(plan, rows) + _passes(plan, rows) + findings.reversal(plan, rows)
                + _plots_and_files(drawn))
    return "\n".join(sections)


# --- sections --------------------------------------------------------------------------------


def _wall_time(out: str) -> tuple[str, str]:
    """(command, wall-time sentence) from OUT/invocations.json."""
    path = os.path.join(out, INVOCATIONS_FILE)
    invocations = read_json(path) if os.path.isfile(path) else []
    runs = [i for i in invocations if i.get("kind") != "merge"]
    merges = [i for i in invocations if i.get("kind") == "merge"]
    if not runs:
        return "(unknown)", "unknown"
    command = runs[0]["command"]
    total = sum(i["seconds"] for i in runs)
    shards = sorted({tuple(i["shard"]) for i in runs})
    text = f"{total / 60:.1f} min"
    if len(shards) > 1:
        per_shard = defaultdict(float)
        for i in runs:
            per_shard[tuple(i["shard"])] += i["seconds"]
        text += (f" summed over {len(shards)} shards (the longest shard took "
                 f"{max(per_shard.values()) / 60:.1f} min)")
        command = merges[-1]["command"] if merges else command
    elif len(runs) > 1:
        text += f" over {len(runs)} invocations (the compare was interrupted and resumed)"
    devices = sorted({i.get("device", "?") for i in runs})
    launches = sorted({f"--jobs {i['jobs']}" for i in runs if i.get("jobs", 1) > 1}
                      | {"--launcher ray" for i in runs if i.get("launcher") == "ray"})
    return command, f"{text}, on {', '.join(devices)}" + (f" ({', '.join(launches)})" if launches else "")


def _head(out: str, plan: Plan, rows: list[dict], trained: dict) -> list[str]:
    command, wall = _wall_time(out)
    lines = ["# RedBerry compare: does feedback beat feedforward, where, and by how much?", "",
             f"Command: `{command}`", "", f"Wall time: {wall}.", "",
             f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {len(rows)} evaluation cells "
             f"and {len(trained)} trained agents.", ""]
    expected = set() if plan.from_runs else {f"{t}__{a}__s{s}" for t, a in plan.pairs()
                                             for s in range(1, plan.seeds + 1)}
    missing = sorted(expected - set(trained))
    if missing:
        lines += [f"**Incomplete:** {len(missing)} of {len(expected)} trained agents are missing "
                  f"({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}); the tables below hold "
                  "only what is finished.", ""]
    return lines


def _setup(plan: Plan, rows: list[dict], trained: dict) -> list[str]:
    params = {}
    for record in trained.values():
        params.setdefault(record["unit"]["agent"], record.get("agent_params"))
    seeds = sorted({r["seed"] for r in rows})
    lines = ["## Setup", ""]
    lines += ["- Agents: " + ", ".join(f"`{a}` ({params.get(a, '?'):,} parameters)" if isinstance(params.get(a), int)
                                        else f"`{a}`" for a in plan.agents) + ". A name `PRESET_T<k>` is the preset "
              "trained with T = k feedback passes; `@hard`, trained on hard worlds.",
              "- Trained: " + "; ".join(f"{task}: {', '.join(f'`{a}`' for t, a in plan.pairs() if t == task)}"
                                        for task in plan.envs) + f"; seeds {seeds[0] if seeds else '-'} to "
              f"{seeds[-1] if seeds else '-'} ({len(seeds)} per agent and task).",
              (f"- Training: the runs in --from ({len(plan.from_runs)} given; their own settings and length, "
               "recorded in each run's config.json)." if plan.from_runs else
               f"- Cost of the grid: {cost_text(plan)}.\n"
               f"- Training: {plan.steps:,} env steps per run, recurrent PPO with the trainer's defaults "
               f"({plan.num_envs} worlds x {plan.num_steps} steps per update), on the {plan.train_difficulty} "
               "preset (an `@d` variant on d), every preset with the same settings and seeds."),
              f"- Episodes are {plan.episode_steps} steps long in training and evaluation (the worlds' default "
              "is 500): short episodes give the learning curves more points and keep each evaluation cell small. "
              "Returns are per episode of this length.",
              f"- Evaluation: each cell steps {plan.eval_worlds} worlds together, one episode each, from the "
              "condition's own seed, so every agent, lesion and T meets the same worlds. Actions are sampled from "
              "the policy.",
              "- Normalised score = (agent - random) / (scripted - random), with the random and the scripted "
              "forager run on the same worlds of the same condition: 0 is random, 1 is the scripted forager "
              "(which reads the true state).",
              f"- Statistics: over seeds, the mean with a {int(stats.CONFIDENCE * 100)}% percentile-bootstrap CI "
              f"({stats.RESAMPLES:,} resamples) and the interquartile mean (IQM). Two agents are called different "
              f"only where the CI of their paired difference over seeds excludes 0, with at least {stats.MIN_SEEDS} "
              "seeds.", ""]
    if rows:
        se = np.nanmedian([r["return_se"] for r in rows])
        spread = [s.high - s.low for s in group(main_rows(rows), ("task", "condition", "agent"), "return_mean").values()
                  if not math.isnan(s.low)]
        lines += [f"Each cell's mean return has a median standard error of {fmt(se)} over its "
                  f"{plan.eval_worlds} episodes" + (f", against a median between-seed CI width of "
                                                   f"{fmt(float(np.median(spread)))}." if spread else "."), ""]
    lines += ["## Conditions", ""]
    return lines + _table(["condition", "worlds"], [[f"`{c}`", CONDITIONS[c].description] for c in plan.conditions])


def _per_task(plan: Plan, rows: list[dict]) -> list[str]:
    """One table per task of the intact agents, each against the task's control by paired seeds."""
    main = main_rows(rows)
    norm = group(main, ("task", "condition", "agent"), "normalized_score")
    ret = group(main, ("task", "condition", "agent"), "return_mean")
    prec = group(main, ("task", "condition", "agent"), "precision")
    paired = by_seed(rows, "normalized_score")
    lines = []
    for task in plan.envs:
        control = findings.control_of(plan, task)
        body = [[f"`{condition}`", f"`{agent}`", fmt_ci(norm[key]), fmt(norm[key].iqm), fmt_ci(ret[key]),
                 fmt(prec[key].mean), str(norm[key].n), findings.versus(paired, task, condition, agent, control)]
                for condition in plan.conditions for agent in plan.agents
                for key in [(task, condition, agent)] if key in norm]
        if body:
            lines += [f"## {task}", ""]
            lines += _table(["condition", "agent", "normalised score [95% CI]", "IQM", "return [95% CI]",
                             "precision", "seeds", f"vs `{control}`: paired difference [95% CI]"], body)
    return lines


def _lesions(rows: list[dict]) -> list[str]:
    effects = lesion_effects(rows)
    lines = ["## Lesions", "",
             "A lesion is applied at evaluation only, to agents that have the mechanism: `feedback` fixes every "
             "top-down gain at 1, `goal` shows a wrong cue (a colour present in the field that does not pay), "
             "`plasticity` freezes the Hebbian trace, `what` / `where` hold that stream's gate at 0. The drop is intact minus lesioned normalised score, paired by seed; a "
             "mechanism is *used* where the drop's CI lies above 0.", ""]
    if not effects:
        return lines + ["No lesion cells in this compare.", ""]
    body = []
    for e in effects:
        effect = ("used: the lesion lowers the score" if e["drop"].excludes_zero() and e["drop"].mean > 0 else
                  "the lesion raises the score" if e["drop"].excludes_zero() else "no detectable effect (CI includes 0)")
        body.append([e["task"], f"`{e['condition']}`", f"`{e['agent']}`", e["lesion"], fmt_ci(e["intact"]),
                     fmt_ci(e["lesioned"]), fmt_ci(e["drop"]), effect])
    return lines + _table(["task", "condition", "agent", "lesion", "intact", "lesioned", "drop [95% CI]", "effect"],
                          body)


def _attention(rows: list[dict]) -> list[str]:
    lines = ["## Measures from neuroscience", "", "### Feature-similarity gain", "",
             "The feature-similarity gain model (Treue & Martinez-Trujillo 1999) predicts that attending to a colour "
             "scales each channel's gain by how much the channel prefers that colour: g = 1 + beta * tuning. Per "
             "gain-modulated layer and cued colour, each channel's mean gain under that cue minus its mean over the "
             "cues is rank-correlated over all channels with its colour-centred tuning to the cued colour (rho), "
             "and regressed on it (the slope estimates beta); both are averaged over the cued colours and the "
             "layers. p is a channel-shuffle null (500 permutations): the share of shuffles whose rho reaches the "
             "observed one; the column counts the seeds above the null (p < 0.05) and below it (p > 0.95). "
             "The untrained net (same architecture, its initial weights) is the reference: its gains depend on "
             "the cue too, through the goal template. Where the cue switches mid-episode, rho after the switch is "
             "measured toward the new cue and toward the old one; the turn is sign(rho before) * (toward the new - "
             "toward the old): above 0 where the gains follow the new cue, below where they keep the old one.", "", TUNING_METHOD, ""]
    selected = feature_rows(rows)
    keys = ("task", "condition", "agent", "lesion")
    rho, beta = group(selected, keys, "fs_rho"), group(selected, keys, "fs_beta")
    if not rho:
        return lines + ["No agent with feedback in this compare.", ""] + _spatial(rows)
    significant = defaultdict(lambda: [0, 0, 0])  # above the null, below it, seeds
    for r in selected:
        counts = significant[tuple(r[k] for k in keys)]
        counts[0] += r["fs_p"] < 0.05
        counts[1] += r["fs_p"] > 0.95
        counts[2] += 1
    switch = {name: group([r for r in selected if not math.isnan(r.get(name, math.nan))], keys, name)
              for name in ("fs_rho_before", "fs_rho_after", "fs_rho_after_old_cue")}
    switch["fs_turn"] = group([{**r, "fs_turn": t} for r in selected for t in [cue_turn(r)] if not math.isnan(t)],
                              keys, "fs_turn")

    def untrained(values: dict, key: tuple) -> str:
        return fmt_ci(values[(*key[:3], "untrained")], 3) if (*key[:3], "untrained") in values else "-"

    body = [[t, f"`{c}`", f"`{a}`", fmt_ci(rho[key], 3), fmt_ci(beta[key], 3),
             "{0}/{2}, {1}/{2}".format(*significant[key]), untrained(rho, key)]
            + [fmt_ci(switch[name][key], 3) if key in switch[name] else "-" for name in switch]
            + [untrained(switch["fs_turn"], key)]
            for key in rho for (t, c, a, lesion) in [key] if lesion == "none"]
    lines += _table(["task", "condition", "agent", "rho [95% CI]", "beta [95% CI]", "seeds above, below the null",
                     "rho, untrained", "before the cue switch", "after, toward the new cue",
                     "after, toward the old cue", "turn", "turn, untrained"], body)
    return lines + _spatial(rows)


def _spatial(rows: list[dict]) -> list[str]:
    lines = ["### Spatial attention index", "",
             "Mean spatial gain (a map with mean 1 over the agent's conv1 map) on pixels showing a berry of the "
             "colour that pays, over the mean elsewhere; the same for berries of other colours. Above 1 means the "
             "spatial gain is drawn to those berries. With the `goal` lesion the cue names a distractor colour "
             "present in the field: if the map follows the cue, the two indices trade places.", ""]
    keys = ("task", "condition", "agent", "lesion")
    target, other = (group(spatial_rows(rows), keys, name) for name in ("spatial_index", "spatial_index_distractor"))
    if not target:
        return lines + ["No agent with feedback in this compare.", ""]
    body = [[t, f"`{c}`", f"`{a}`", "wrong cue" if lesion == "goal" else "intact", fmt_ci(target[key]),
             fmt_ci(other[key]) if key in other else "-"] for key in target for (t, c, a, lesion) in [key]]
    return lines + _table(["task", "condition", "agent", "cue", "target berries [95% CI]", "other berries"], body)


def _set_size(plan: Plan, rows: list[dict]) -> list[str]:
    lines = ["### Set-size curve", "",
             f"Steps to the first target eaten, with {SET_SIZE_TARGETS} targets among D distractors (easy worlds "
             "otherwise); an episode with no target counts as its full length. The scripted forager is on the same "
             "worlds.", ""]
    size_rows = set_size_rows(rows)
    if not size_rows:
        return lines + ["No set-size conditions in this compare.", ""]
    sizes = [d for d in SET_SIZES if f"setsize_{d}" in plan.conditions]
    steps = group(size_rows, ("task", "agent", "condition"), "steps_to_first_target")
    body = []
    for task in plan.envs:
        for agent in plan.agents:
            cells = [steps.get((task, agent, f"setsize_{d}")) for d in sizes]
            if any(cells):
                body.append([task, f"`{agent}`"] + [fmt_ci(s, 1) if s else "-" for s in cells])
        scripted = {r["condition"]: r["scripted_steps_to_first_target"] for r in size_rows if r["task"] == task}
        if scripted:
            body.append([task, "scripted"] + [fmt(scripted.get(f"setsize_{d}", math.nan), 1) for d in sizes])
    return lines + _table(["task", "agent"] + [f"D = {d}" for d in sizes], body)


def _passes(plan: Plan, rows: list[dict]) -> list[str]:
    lines = ["### Accuracy against the number of feedback passes T", "",
             "Precision (targets / berries eaten) of agents with feedback, evaluated with T passes per step. "
             "Each agent was trained at its preset's T, or at k where its name ends in `_Tk` (so `feedback_T3` "
             "is trained at T = 3); other T are evaluated without retraining. If "
             "processing is iterative, hard worlds should gain more from extra passes than easy ones.", ""]
    swept = pass_rows(rows, plan)
    if not swept:
        return lines + ["No T sweep in this compare (it needs an agent with feedback).", ""]
    precision = group(swept, ("task", "agent", "condition", "passes"), "precision")
    score = group(swept, ("task", "agent", "condition", "passes"), "normalized_score")
    ts = sorted({k[3] for k in precision})
    body = [[t, f"`{a}`", f"`{c}`"] + [f"{fmt_ci(precision[(t, a, c, p)])}; score {fmt(score[(t, a, c, p)].mean)}"
                                       if (t, a, c, p) in precision else "-" for p in ts]
            for (t, a, c) in sorted({k[:3] for k in precision}, key=lambda k: (k[0], k[1], index_in(plan.conditions, k[2])))]
    lines += _table(["task", "agent", "condition"] + [f"T = {p}" for p in ts], body)
    found = gains.passes_gains(plan, rows)
    if found:
        lines += [f"Is the gain from passes larger where the worlds are hard? Each gain is per seed (more passes minus "
                  f"fewer, in the same worlds), and its difference between a sweep condition and `{found[0].reference}` "
                  "worlds is paired by seed; recurrent processing should gain more under occlusion and noise "
                  "(Spoerer et al. 2017).", ""]
        lines += [f"- {gain.sentence()}" for gain in found] + [""]
    return lines


def _plots_and_files(drawn: dict[str, Optional[str]]) -> list[str]:
    lines = ["## Plots", ""]
    for name, caption in PLOTS.items():
        if drawn.get(name) is None:
            lines += [f"![{caption}]({name})", "", f"*{caption}.*", ""]
        else:
            lines += [f"- `{name}` not drawn: {drawn[name]}.", ""]
    return lines + ["## Files", "",
                    f"- `{RESULTS_CSV}`: one row per (task, agent, seed, condition, lesion, T); `{SUMMARY_CSV}`: the "
                    "same grouped over seeds (n, mean, CI, IQM of each metric).",
                    "- `runs/`: one TensorBoard run per trained agent, with an hparams summary: "
                    "`tensorboard --logdir runs` (HParams tab compares them).",
                    "- `cells/`: one JSON file per finished cell; a compare resumes from them.", ""]
