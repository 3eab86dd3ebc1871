"""Two findings about gains, each paired by seed: whether the gain from passes is larger in hard
worlds than in clean ones (Spoerer et al. 2017), and whether an agent's top-down gains follow the
cued colour's tuning beyond an untrained net's (feature similarity, Treue & Martinez-Trujillo 1999).
`compare.findings` states them in "What we found"."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Optional

from compare import stats
from compare.grid import Plan
from compare.pairs import home_condition, matched_pairs
from compare.tables import by_seed, cue_turn, feature_rows, pass_rows
from compare.text import fmt_ci, fmt_difference
from compare.variants import parse_variant

# --- passes: is their gain larger where the worlds are hard? --------------------------------------

REFERENCE_WORLDS = ("clean", "easy")  # the worlds a gain from passes elsewhere is measured against, first found


@dataclasses.dataclass(frozen=True)
class PassesGain:
    """A gain from passes (`what`: more passes minus fewer, per seed) in `condition` against the same gain in
    `reference` worlds, paired by seed: Spoerer et al. 2017 predict a larger gain under occlusion and noise."""

    task: str
    what: str
    trained: bool  # two agents, each trained and evaluated at its own T; else one agent evaluated at two T
    metric: str
    condition: str
    reference: str
    here: stats.Summary
    at_reference: stats.Summary
    pair: stats.Paired  # (gain here) - (gain in the reference worlds)

    def sentence(self) -> str:
        verdict = {"better": f"**larger** under `{self.condition}`", "worse": f"**smaller** under `{self.condition}`",
                   "no difference": "**no different**"}.get(self.pair.verdict, f"not judged, {self.pair.verdict}")
        measure = "normalised score" if self.metric == "normalized_score" else self.metric
        return (f"{self.what}, in {measure}: {fmt_difference(self.here)} in `{self.condition}` worlds, "
                f"{fmt_difference(self.at_reference)} in `{self.reference}` ones; the gain is {verdict}: "
                f"{fmt_difference(self.pair.difference)} (paired, n = {self.pair.difference.n} seeds).")


def spoerer_heading(gain: PassesGain) -> str:
    return f"{gain.task}, passes under `{gain.condition}` against `{gain.reference}` (Spoerer et al. 2017)"


def passes_gains(plan: Plan, rows: list[dict]) -> list[PassesGain]:
    """The gain from passes in each T-sweep condition against the reference worlds, in normalised score and
    precision: between agents trained at more and at fewer passes (a matched pair differing only in T), and
    within each swept agent from its lowest to its highest evaluated T."""
    reference = next((c for c in REFERENCE_WORLDS if c in plan.passes_conditions), None)
    if reference is None:
        return []
    others = [c for c in plan.passes_conditions if c != reference]
    gains = []
    for metric in ("normalized_score", "precision"):
        trained = by_seed(rows, metric)
        for x, y, _ in matched_pairs(plan):
            vx, vy = parse_variant(x), parse_variant(y)
            if vx.passes == vy.passes or dataclasses.replace(vx, passes=None) != dataclasses.replace(vy, passes=None):
                continue
            for task in plan.envs:
                gains += _gains(task, f"`{x}` minus `{y}`, each trained and evaluated at its own T", True, metric,
                                reference, others, lambda c: _minus(trained.get((task, c, x)), trained.get((task, c, y))))
        swept: dict[tuple, dict[int, float]] = defaultdict(dict)
        for r in pass_rows(rows, plan):
            swept[(r["task"], r["agent"], r["condition"], r["passes"])][r["seed"]] = float(r[metric])
        for task, agent in sorted({key[:2] for key in swept}):
            ts = sorted({key[3] for key in swept if key[:2] == (task, agent)})
            low, high = ts[0], ts[-1]
            gains += _gains(task, f"`{agent}` evaluated at T = {high} minus T = {low}", False, metric, reference, others,
                            lambda c: _minus(swept.get((task, agent, c, high)), swept.get((task, agent, c, low))))
    return gains


def _minus(x: Optional[dict], y: Optional[dict]) -> Optional[dict]:
    """{seed: x - y} over the seeds both have; None where either is missing."""
    return None if not x or not y else {s: x[s] - y[s] for s in sorted(set(x) & set(y))} or None


def _gains(task, what, trained, metric, reference, others, gain_in) -> list[PassesGain]:
    at_reference = gain_in(reference)
    out = []
    for condition in others:
        here = gain_in(condition)
        if here and at_reference:
            out.append(PassesGain(task, what, trained, metric, condition, reference, stats.summarize(list(here.values())),
                                  stats.summarize(list(at_reference.values())),
                                  stats.compare_paired(here, at_reference, False)))
    return out


# --- feature attention: do the gains follow the cued colour's tuning? ------------------------------

CUE_SWITCH = "cue_change"  # the condition whose cue switches halfway (`compare.measures`, fs_rho_after*)


@dataclasses.dataclass(frozen=True)
class FeatureGain:
    """One agent's feature-similarity gain (`compare.measures`: rho over channels between the cue-centred gain and
    the colour-centred tuning) over seeds, against the untrained net of the same seeds (its gains depend on the cue
    too, through the goal template), and whether it turns with a mid-episode cue switch (`tables.cue_turn`: > 0
    where the gains follow the new cue, < 0 where they keep the old one), against 0 and, where the untrained net
    was switched too, against its turn: a net whose gains read the cue turns with it untrained."""

    task: str
    agent: str
    condition: str
    rho: stats.Summary
    above: int  # seeds whose channel-shuffle p < 0.05: rho above the shuffle null
    below: int  # seeds whose p > 0.95: rho below it
    untrained: stats.Summary  # the untrained nets' rho over the same seeds
    over_untrained: stats.Paired  # trained rho - untrained rho, paired by seed
    turn: Optional[stats.Paired]  # the turn (class doc) against 0, paired by seed
    untrained_turn: Optional[stats.Summary] = None  # the untrained nets' turn over the same seeds
    turn_over_untrained: Optional[stats.Paired] = None  # trained turn - untrained turn, paired by seed

    @property
    def verdict(self) -> str:
        versus = self.over_untrained.verdict
        if versus not in ("better", "worse", "no difference"):
            return f"not judged, {versus}"
        if versus == "no difference":
            return "**no feature-similarity signature** beyond the untrained net's"
        if self.rho.excludes_zero() and (self.rho.mean > 0) == (versus == "better"):
            return ("its gains **follow the cued colour's tuning**" if versus == "better" else
                    "its gains **run against the cued colour's tuning**: they damp the channels that prefer it")
        return "**no feature-similarity signature**: different from the untrained net's, but not from 0"

    def sentence(self) -> str:
        text = (f"rho {fmt_ci(self.rho, 3)} (seeds against the channel-shuffle null: {self.above}/{self.rho.n} "
                f"above it, {self.below}/{self.rho.n} below it, at p < 0.05); the untrained net's "
                f"{fmt_ci(self.untrained, 3)}, and trained minus untrained, paired by seed, "
                f"{fmt_difference(self.over_untrained.difference, 3)}: {self.verdict}.")
        if self.turn is not None:
            turned = {"better": "the gains **turn with the cue**", "worse": "the gains **keep the old cue**",
                      "no difference": "**no turn** detected"}.get(self.turn.verdict, f"not judged, {self.turn.verdict}")
            text += (f" After a mid-episode cue switch (`{CUE_SWITCH}`), rho toward the new cue minus toward the old "
                     f"one, signed as rho before the switch: {fmt_difference(self.turn.difference, 3)}, {turned}")
            if self.turn_over_untrained is None:
                return text + "."
            versus = {"better": "training made them turn **more**", "worse": "they turn **less** than untrained",
                      "no difference": "**no more than untrained**: the turn comes with the architecture, whose "
                                       "gains read the cue through the goal template"
                      }.get(self.turn_over_untrained.verdict, f"not judged, {self.turn_over_untrained.verdict}")
            text += (f"; the untrained net's turn {fmt_ci(self.untrained_turn, 3)}, and trained minus untrained "
                     f"{fmt_difference(self.turn_over_untrained.difference, 3)}: {versus}.")
        return text


def feature_gains(plan: Plan, rows: list[dict]) -> list[FeatureGain]:
    """Each agent's feature-similarity gain in the worlds it was trained on (else the first condition with its
    untrained net), against that net, with its cue-switch turn where the rows hold one. Agents measured with no
    untrained net are left to the table: without it, rho has no reference."""
    values: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for r in feature_rows(rows):
        values[(r["task"], r["agent"], r["condition"], r["lesion"])][r["seed"]] = r
    out = []
    for task, agent in dict.fromkeys((t, a) for t, a, _, lesion in values if lesion == "none"):
        home = home_condition(plan, agent)
        condition = next((c for c in (home, *plan.conditions)
                          if (task, agent, c, "none") in values and (task, agent, c, "untrained") in values), None)
        if condition is None:
            continue
        intact, untrained = values[(task, agent, condition, "none")], values[(task, agent, condition, "untrained")]
        turn, untrained_turn = ({s: t for s, r in values.get((task, agent, CUE_SWITCH, lesion), {}).items()
                                 for t in [cue_turn(r)] if not math.isnan(t)} for lesion in ("none", "untrained"))
        untrained_turn = {s: t for s, t in untrained_turn.items() if s in turn}
        rho = {s: r["fs_rho"] for s, r in intact.items()}
        reference = {s: r["fs_rho"] for s, r in untrained.items() if s in rho}
        out.append(FeatureGain(
            task, agent, condition, stats.summarize([rho[s] for s in sorted(rho)]),
            sum(r["fs_p"] < 0.05 for r in intact.values()), sum(r["fs_p"] > 0.95 for r in intact.values()),
            stats.summarize([reference[s] for s in sorted(reference)]),
            stats.compare_paired(rho, reference, False),
            stats.compare_paired(turn, dict.fromkeys(turn, 0.0), False) if turn else None,
            stats.summarize([untrained_turn[s] for s in sorted(untrained_turn)]) if untrained_turn else None,
            stats.compare_paired(turn, untrained_turn, False) if untrained_turn else None))
    return out
