"""The compare's output, made from its finished cells: results.csv, summary.csv, verdicts.csv,
results.md and the figures.

- `results.csv`: one row per (task, agent, seed, condition, lesion, T) with its metrics and the
  condition's reference foragers (random, scripted, turning in place) (`compare.rows`).
- `summary.csv`: the rows grouped over seeds: n, mean, 95% Student-t interval and IQM of each metric.
- `verdicts.csv`: every contrast the report judges, one row each, as data: the analysis, what
  against what, the verdict, primary or exploratory, p (and Holm's), the difference and its interval,
  and the paired differences by seed.
- `results.md`: the command and wall time, an overview of every verdict, then one section per
  analysis (`compare.analysis`), the setup and the figures.

Each analysis summarises the rows once; its section and its figures are drawn from that summary.
Everything here reads `OUT/cells` (train records included, which hold the learning curves); it
trains and evaluates nothing and opens no event file, so a report can be rebuilt (or merged from
shards) at any time. Every file is written atomically.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections import defaultdict
from typing import Optional

import numpy as np

from common.files import atomic_path, write_text
from compare import stats
from compare.analysis import ANALYSES, contrasts
from compare.analysis.common import Context
from compare.grid import CONDITIONS, Plan, Unit, eval_cells, preset_unit
from compare.references import stored_play_records
from compare.rows import build_rows, main_rows, summary_rows, write_csv
from compare.scales import cost_text
from compare.store import INVOCATIONS_FILE, PLAN_FILE, load_cells, read_json
from compare.text import code, fmt, fmt_difference, fmt_p, table

RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"
VERDICTS_CSV = "verdicts.csv"
RESULTS_MD = "results.md"


def analyse(out: str, plan: Plan) -> tuple[Context, dict]:
    """The context of `out`'s finished cells, and each analysis's summary: ({name: data})."""
    ctx = Context(plan, build_rows(out, plan), load_cells(out, "train"), tuple(stored_play_records(out)))
    return ctx, {module.NAME: module.summarise(ctx) for module in ANALYSES}


def verdicts_of(summaries: dict) -> list:
    """Every verdict the report states, once each (a contrast two analyses judge alike is kept once)."""
    seen, out = set(), []
    for data in summaries.values():
        for v in data.verdicts:
            key = (v.task, v.condition, v.x, v.y, v.metric)
            if key not in seen:
                seen.add(key)
                out.append(v)
    return out


def power_line(out: str) -> str:
    """The power analysis of a finished report's folder, for the terminal: the seeds a plan needs to
    detect a difference of 0.1 and of 0.2 with 80% power, from the spread of its paired differences."""
    plan = Plan.from_dict(read_json(os.path.join(out, PLAN_FILE)))
    ctx = Context(plan, build_rows(out, plan), {})
    return " ".join(contrasts.power_lines(contrasts.summarise(ctx).power)[2:]).strip()


def write_report(out: str, plan: Plan) -> str:
    """Write the CSVs, results.md and the figures into `out`; returns results.md's path."""
    ctx, summaries = analyse(out, plan)
    write_csv(ctx.rows, os.path.join(out, RESULTS_CSV))
    summary = summary_rows(ctx.rows)
    write_csv(summary, os.path.join(out, SUMMARY_CSV), list(summary[0]) if summary else ["task"])
    verdicts = verdicts_of(summaries)
    holm_all = stats.holm_adjust([v.pair.p for v in verdicts])
    records = [{**v.record(), "p_holm_report": p} for v, p in zip(verdicts, holm_all)]
    write_csv(records, os.path.join(out, VERDICTS_CSV), list(records[0]) if records else ["analysis"])
    drawn = _draw(out, ctx, summaries)
    sections = _head(out, ctx) + _overview(verdicts, holm_all)
    for module in ANALYSES:
        sections += module.section(summaries[module.NAME], ctx)
        if module.NAME == "contrasts":
            sections += _setup(ctx)
    path = os.path.join(out, RESULTS_MD)
    write_text(path, "\n".join(sections + _figures(drawn)))
    return path


def _draw(out: str, ctx: Context, summaries: dict) -> dict[str, Optional[str]]:
    """Draw every analysis's figures into `out`; returns {file: None if drawn, else why not}."""
    import matplotlib  # here, not at the top: the headless backend is chosen before pyplot loads, for this call only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result: dict[str, Optional[str]] = {}
    for module in ANALYSES:
        if not getattr(module, "FIGURES", None):
            continue
        for name, figure in module.draw(plt, summaries[module.NAME], ctx).items():
            path = os.path.join(out, name)
            if isinstance(figure, str):
                result[name] = figure
                if os.path.exists(path):
                    os.remove(path)
                continue
            with atomic_path(path) as tmp:
                figure.savefig(tmp, dpi=110, bbox_inches="tight")
            plt.close(figure)
            result[name] = None
    return result


def _figures(drawn: dict[str, Optional[str]]) -> list[str]:
    captions = {name: caption for module in ANALYSES for name, caption in getattr(module, "FIGURES", {}).items()}
    lines = ["## Figures", ""]
    for name, caption in captions.items():
        if drawn.get(name) is None:
            lines += [f"![{caption}]({name})", "", f"*{caption}.*", ""]
        else:
            lines += [f"- `{name}` not drawn: {drawn[name]}.", ""]
    return lines + ["## Files", "",
                    f"- `{RESULTS_CSV}`: one row per (task, agent, seed, condition, lesion, T); `{SUMMARY_CSV}`: the "
                    f"same grouped over seeds (n, mean, interval, IQM of each metric); `{VERDICTS_CSV}`: every "
                    "verdict as data, with the paired differences by seed.",
                    "- `runs/`: one TensorBoard run per trained agent, with an hparams summary: "
                    "`tensorboard --logdir runs` (HParams tab compares them).",
                    "- `cells/`: one JSON file per finished cell; a compare resumes from them.", ""]


# --- the sections that are not an analysis ----------------------------------------------------


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


def _head(out: str, ctx: Context) -> list[str]:
    plan = ctx.plan
    command, wall = _wall_time(out)
    lines = ["# RedBerry compare: does feedback beat feedforward, where, and by how much?", "",
             f"Command: `{command}`", "", f"Wall time: {wall}.", "",
             f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {len(ctx.rows)} evaluation cells "
             f"and {len(ctx.trained)} trained agents.", ""]
    text = incomplete_text(plan, ctx.trained, {row_key(r) for r in ctx.rows})
    if text:
        lines += [f"**Incomplete:** {text}; the tables below hold only what is finished.", ""]
    if plan.calibrated:
        lines += [f"**Calibrated on few seeds before the runs:** {plan.calibrated}", ""]
    return lines


def row_key(row: dict) -> str:
    """The key of the evaluation cell a row of results.csv was made from."""
    passes = "trained" if row["passes_as_trained"] else row["passes"]
    return f"{row['task']}__{row['agent']}__s{row['seed']}__{row['condition']}__{row['lesion']}__T{passes}"


def expected_cells(plan: Plan, trained: dict) -> tuple[list[str], list[str]]:
    """(trained agents, evaluation cells) the plan makes, by key. A --from compare's agents are its runs (by
    run directory), and its cells those of the runs it has read."""
    if plan.from_runs:
        names = {f.name for f in dataclasses.fields(Unit)}
        units = [Unit(**{k: tuple(map(tuple, v)) if k == "world_kwargs" else v for k, v in record["unit"].items()
                         if k in names}) for record in trained.values()]
        agents = list(plan.from_runs)
    else:
        units = [preset_unit(t, a, s, plan.train_difficulty) for t, a in plan.pairs() for s in range(1, plan.seeds + 1)]
        agents = [u.key for u in units]
    return agents, [cell.key for unit in units for cell in eval_cells(unit, plan)]


def incomplete_text(plan: Plan, trained: dict, evaluated: set, most: Optional[int] = None) -> str:
    """What a report of the train records ``trained`` and the evaluation cells ``evaluated`` (keys) lacks, every
    piece named, or the first ``most`` of each kind and how many more ("" where nothing is missing)."""
    agents, cells = expected_cells(plan, trained)
    have = {record["run_dir"] for record in trained.values()} if plan.from_runs else set(trained)
    missing_agents = [a for a in agents if a not in have]
    missing_cells = [c for c in cells if c not in evaluated]

    def named(keys: list) -> str:
        if most is None or len(keys) <= most:
            return ", ".join(keys)
        return f"{', '.join(keys[:most])} and {len(keys) - most} more, every one named in results.md"

    parts = [f"{len(missing)} of {len(every)} {what} missing ({named(missing)})"
             for missing, every, what in ((missing_agents, agents, "trained agents"),
                                          (missing_cells, cells, "evaluation cells")) if missing]
    cut = [f"{key} ({', '.join(record['cut_event_files'])})" for key, record in trained.items()
           if record.get("cut_event_files")]
    if cut:
        parts.append(f"{len(cut)} learning curve{'s' if len(cut) > 1 else ''} read from an event file cut short, "
                     f"which may lack its end ({', '.join(cut)})")
    return "; ".join(parts)


CONSOLE_NAMES = 12  # missing pieces of each kind the closing line names


def incomplete_line(out: str) -> str:
    """The command's closing line about a finished report's folder: what it lacks, up to `CONSOLE_NAMES` pieces
    of each kind named (a shard of a large grid lacks hundreds; the report names them all); "" where nothing is
    missing."""
    plan = Plan.from_dict(read_json(os.path.join(out, PLAN_FILE)))
    trained = load_cells(out, "train")
    text = incomplete_text(plan, trained, set(load_cells(out, "eval")), most=CONSOLE_NAMES)
    return f"Incomplete: {text}." if text else ""


def _overview(verdicts: list, holm_all: list) -> list[str]:
    """Every verdict in one table: primary ones first, then the exploratory ones whose uncorrected p
    called something; beside each, Holm's p over every contrast the report judges."""
    lines = ["## Every verdict at a glance", ""]
    if not verdicts:
        return lines + ["No contrast was judged (fewer than two agents or conditions with seeds in common).", ""]
    counts = defaultdict(int)
    for v in verdicts:
        counts[v.word] += 1
    primary = [(v, p) for v, p in zip(verdicts, holm_all) if v.pair.primary]
    called = [(v, p) for v, p in zip(verdicts, holm_all) if not v.pair.primary and v.word in ("better", "worse")]
    survive = sum(1 for v, p in called if p < stats.ALPHA)
    lines += [f"{len(verdicts)} contrasts judged ({len(primary)} primary): "
              + ", ".join(f"{n} {word}" for word, n in sorted(counts.items())) + ". "
              f"Of the {len(called)} exploratory differences called at an uncorrected 5%, {survive} survive Holm's "
              f"correction over all {len(verdicts)} contrasts (p Holm, report). Verdicts: better / worse (a paired "
              "t-test rejects 0), equivalent (a TOST within the margin), inconclusive (neither).", ""]
    body = [[("primary" if v.pair.primary else "exploratory"), v.analysis, v.task, f"`{v.condition}`",
             f"{code(v.x)} vs {code(v.y)}", v.metric, f"**{v.word}**", fmt_difference(v.pair.difference, 3),
             fmt_p(v.pair.p_used), fmt_p(p)] for v, p in primary + called]
    if body:
        lines += table(["kind", "analysis", "task", "condition", "contrast", "measure", "verdict", "difference [95% CI]",
                        "p", "p Holm, report"], body)
    return lines + [f"Every other contrast is equivalent, inconclusive or has too few seeds; all are in `{VERDICTS_CSV}` "
                    "and in their sections below.", ""]


def _setup(ctx: Context) -> list[str]:
    plan, rows, trained = ctx.plan, ctx.rows, ctx.trained
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
              f"- Episodes are {plan.episode_steps} steps long in training and evaluation. Returns are per episode "
              "of this length.",
              f"- Evaluation: each cell steps {plan.eval_worlds} worlds together, one episode each, from the "
              "condition's own seed, so every agent, lesion and T meets the same worlds. Actions are sampled from "
              "the policy.",
              "- Reference foragers on the same worlds of the same condition: random, scripted (reads the true "
              "state) and `still` (turns in place, never moves). Normalised score = (agent - random) / (scripted - "
              "random).",
              f"- Statistics: over seeds, the mean with a {int(stats.CONFIDENCE * 100)}% Student-t interval and the "
              f"interquartile mean (IQM). Two agents are compared by their paired difference over seeds: a paired "
              f"t-test, and a TOST for equivalence within +-{fmt(plan.margin)}; nothing is called with fewer than "
              f"{stats.MIN_SEEDS} seeds.", ""]
    if rows:
        se = np.nanmedian([r["return_se"] for r in rows])
        spread = []
        for key in {(r["task"], r["condition"], r["agent"]) for r in main_rows(rows)}:
            s = stats.summarize([r["return_mean"] for r in main_rows(rows) if (r["task"], r["condition"], r["agent"]) == key])
            if not math.isnan(s.low):
                spread.append(s.high - s.low)
        lines += [f"Each cell's mean return has a median standard error of {fmt(se)} over its "
                  f"{plan.eval_worlds} episodes" + (f", against a median between-seed interval width of "
                                                   f"{fmt(float(np.median(spread)))}." if spread else "."), ""]
    lines += ["## Conditions", ""]
    return lines + table(["condition", "worlds"], [[f"`{c}`", CONDITIONS[c].description] for c in plan.conditions])
