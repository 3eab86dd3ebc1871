"""The sections of results.md that judge: "What we found" (each mechanism against its matched
control, by paired differences and the probability of improvement, and the two findings of
`compare.gains`), the task tables' verdicts, sample efficiency from the training curves, and the
reversal curve.

A verdict compares agent X with agent Y on one task and condition over the seeds both have: seed
k of each met the same worlds, so the paired difference x_k - y_k and its 95% bootstrap CI decide
(`compare.stats.Paired`): better or worse where the CI excludes 0, no difference where it does not.
"""
from __future__ import annotations

import math

from compare import stats
from compare.gains import feature_gains, passes_gains, spoerer_heading
from compare.grid import Plan
from compare.pairs import home_condition, matched_pairs
from compare.tables import THRESHOLDS, by_seed, censored_median, efficiency_rows, reversal_curves, win_stay_rows
from compare.text import fmt_ci, fmt_difference, fmt_improvement, fmt_steps, table

# --- what we found ---------------------------------------------------------------------------


def what_we_found(plan: Plan, rows: list[dict]) -> list[str]:
    """One finding per matched pair present in the data: at the training difficulty, which is better
    and by how much; then in which conditions the two differ and in how many they do not."""
    score, precision = by_seed(rows, "normalized_score"), by_seed(rows, "precision")
    lines = ["## What we found", "",
             "Each mechanism against its matched control, on each task where both were trained. The paired "
             "difference is X - Y over seeds (seed k of both met the same worlds) with its 95% bootstrap CI; X is "
             "called better or worse only where that CI excludes 0, and only with at least "
             f"{stats.MIN_SEEDS} seeds. P(X > Y) is rliable's probability of improvement (Agarwal et al. 2021) "
             "over every pair of seeds, with its bootstrap CI.", ""]
    found = 0
    for x, y, what in matched_pairs(plan):
        for task in plan.envs:
            home = home_condition(plan, x)
            # where the training difficulty is not evaluated (a plan of named worlds), the plan's first condition
            judged = next((c for c in (home, *plan.conditions) if (task, c, x) in score and (task, c, y) in score), None)
            if judged is None:
                continue
            found += 1
            pair = stats.compare_paired(score[(task, judged, x)], score[(task, judged, y)])
            prec = stats.compare_paired(precision[(task, judged, x)], precision[(task, judged, y)], False).difference
            verdict = pair.verdict
            head = (f"`{x}` is **{verdict}** than `{y}`" if verdict in ("better", "worse") else
                    f"`{x}` and `{y}` show **{verdict}**")
            lines.append(f"- **{task}, `{judged}` worlds{' (as trained)' if judged == home else ''}, {what}:** {head}: "
                         f"normalised score {fmt_difference(pair.difference)} (n = {pair.difference.n} seeds), "
                         f"{fmt_improvement(x, y, pair.improvement)}; precision {fmt_difference(prec)}. "
                         + _elsewhere(score, task, x, y, plan, judged))
    for gain in passes_gains(plan, rows):
        if gain.trained and gain.metric == "normalized_score":
            found += 1
            lines.append(f"- **{spoerer_heading(gain)}:** {gain.sentence()}")
    for gain in feature_gains(plan, rows):
        found += 1
        lines.append(f"- **{gain.task}, `{gain.condition}` worlds, feature-similarity gain of `{gain.agent}` "
                     f"(Treue & Martinez-Trujillo 1999):** {gain.sentence()}")
    if not found:
        lines.append("- No (mechanism, matched control) pair was trained on one task in this compare; the tables "
                     "below compare each agent with its task's control.")
    return lines + [""]


def _elsewhere(score: dict, task: str, x: str, y: str, plan: Plan, home: str) -> str:
    """'In the other K conditions: better in `a`; worse in `b`; no difference in N.'"""
    verdicts: dict[str, list[str]] = {}
    for condition in plan.conditions:
        if condition != home and (task, condition, x) in score and (task, condition, y) in score:
            pair = stats.compare_paired(score[(task, condition, x)], score[(task, condition, y)], False)
            verdicts.setdefault(pair.verdict, []).append(condition)
    if not verdicts:
        return ""
    total = sum(len(v) for v in verdicts.values())
    named = [f"{v} in {', '.join(f'`{c}`' for c in cs)}" for v, cs in verdicts.items() if v in ("better", "worse")]
    quiet = [f"{v} in {len(cs)}" for v, cs in verdicts.items() if v not in ("better", "worse")]
    return f"Other conditions ({total}): {'; '.join(named + quiet)}."


def control_of(plan: Plan, task: str) -> str:
    """The agent every other is compared with in a task's table: recurrent where trained, else the first."""
    trained = [a for t, a in plan.pairs() if t == task]
    return "recurrent" if "recurrent" in trained else (trained or plan.agents)[0]


def versus(score: dict, task: str, condition: str, agent: str, control: str) -> str:
    """A task table's verdict cell: the agent against the control over paired seeds."""
    if agent == control:
        return "(control)"
    if (task, condition, control) not in score:
        return "n/a"
    pair = stats.compare_paired(score[(task, condition, agent)], score[(task, condition, control)], False)
    return f"{pair.verdict}: {fmt_difference(pair.difference)}"


# --- sample efficiency -----------------------------------------------------------------------


def efficiency(out: str, plan: Plan, trained: dict) -> list[str]:
    levels = " and ".join(f"{name.replace('normalized_score', 'normalised score')} {level}" for name, level in THRESHOLDS)
    lines = ["## Sample efficiency", "",
             f"Env steps until the training curve first reaches {levels} (the true-reward curves the trainer logs "
             "to TensorBoard, one point per ~50k steps, each the mean over the episodes that ended since the last; "
             "a run trained with `--colour-prior-ramp` counts only episodes after its ramp, in the task's own worlds). "
             "A run that never gets there is censored at its length: `>N`. The median over seeds is `>N` where at "
             "least half never got there.", ""]
    rows = efficiency_rows(out, plan, trained)
    if not rows:
        return lines + ["No training run logged a learning curve.", ""]
    for task in plan.envs:
        body = []
        for agent in plan.agents:
            mine = sorted((r for r in rows if (r["task"], r["agent"]) == (task, agent)), key=lambda r: r["seed"])
            if not mine:
                continue
            cells = [f"`{agent}`", str(len(mine))]
            for name, _ in THRESHOLDS:
                values = [r[name] for r in mine]
                known = [v for v in values if v is None or not math.isnan(v)]
                run = max(r["run_steps"] for r in mine)
                median, censored = censored_median(values, run)
                cells += [f"{sum(v is not None for v in known)}/{len(known)}", fmt_steps(median, censored),
                          ", ".join(fmt_steps(r["run_steps"], True) if r[name] is None else fmt_steps(r[name])
                                    for r in mine)]
            body.append(cells)
        if body:
            header = ["agent", "seeds"]
            for name, level in THRESHOLDS:
                label = f"{name.replace('normalized_score', 'score')} {level}"
                header += [f"reached {label}", f"median steps to {label}", "per seed"]
            lines += [f"### {task}", ""] + table(header, body)
    return lines


# --- the reversal curve ----------------------------------------------------------------------


def reversal_conditions(plan: Plan) -> tuple[str, ...]:
    """Where the reversal curve and win-stay / lose-shift are read: ReversalBerry agents at their training
    difficulty and in its harder forms (`switches`, `no_taste`), the others in the `reversal` condition."""
    return (plan.train_difficulty, "switches", "no_taste", "reversal")


def reversal(plan: Plan, rows: list[dict]) -> list[str]:
    """The reversal-curve section with win-stay / lose-shift under it; nothing where no row holds either
    (worlds whose colour never switches, `reversal_rate=0`, have win-stay / lose-shift alone)."""
    curves = reversal_curves(rows, reversal_conditions(plan))
    if not curves:
        win_stay = _win_stay(plan, rows)
        return ["## Win-stay / lose-shift", ""] + win_stay if win_stay else []
    bins = sorted({b for curve in curves.values() for b in curve})
    body = [[task, f"`{condition}`", f"`{agent}`"] + [fmt_ci(stats.summarize(curve[b])) if b in curve else "-"
                                                       for b in bins]
            for (task, condition, agent), curve in curves.items()]
    step = bins[1] - bins[0] if len(bins) > 1 else 0
    header = ["task", "condition", "agent"] + [f"{b}-{b + step - 1}" if b != bins[-1] else f">= {b}" for b in bins]
    return ["## Reversal curve", "",
            "Precision (targets / berries eaten) against the steps since the paying colour last switched, mean "
            "over seeds with 95% CIs, on ReversalBerry worlds. An agent that re-learns the colour within an "
            "episode climbs back after each switch; berries eaten before an episode's first switch are left out.",
            ""] + table(header, body) + _win_stay(plan, rows)


def _win_stay(plan: Plan, rows: list[dict]) -> list[str]:
    """Win-stay / lose-shift: does the last berry's reward steer the colour of the next?"""
    pairs = win_stay_rows(rows, reversal_conditions(plan))
    if not pairs:
        return []
    body = []
    for (task, condition, agent), seeds in pairs.items():
        win, loss = [w for w, _ in seeds], [lo for _, lo in seeds]
        body.append([task, f"`{condition}`", f"`{agent}`", fmt_ci(stats.summarize(win)), fmt_ci(stats.summarize(loss)),
                     fmt_difference(stats.summarize([w - lo for w, lo in seeds]))])
    return ["Does reward steer the next choice? After eating a berry of one colour of the pair, the chance that "
            "the next berry eaten is the same colour, after one that paid (win) and after one that cost (loss); "
            "mean over seeds with 95% CIs, and the paired difference. An agent that infers the paying colour from "
            "its rewards stays after a win and shifts after a loss (a difference near +1); one that eats whatever "
            "is near stays at the same rate either way (near 0).", ""] + table(
        ["task", "condition", "agent", "P(stay after win)", "P(stay after loss)", "win - loss"], body)
