"""What is judged against what: each mechanism's matched control (MATCHED), the pairs a plan holds,
and the worlds an agent was trained in."""

from __future__ import annotations

import dataclasses

from compare.grid import Plan
from compare.variants import format_setting, parse_variant

# (X, its matched control Y, what the pair tests), on every task where both were trained.
MATCHED = (
    ("feedback", "feedforward", "top-down goal-driven gain against the feedforward controller (goal after the trunk)"),
    ("feedback@hard", "feedback", "trained on hard worlds against trained on easy ones, tested on hard"),
    ("feedback", "early", "multiplicative top-down gain against additive early fusion of the goal"),
    ("feedback", "recurrent", "top-down gain against late fusion (goal after the trunk)"),
    ("early", "recurrent", "early fusion (goal planes at conv1) against late fusion"),
    ("feedback_T3", "feedback", "three feedback passes against one, each trained at its T"),
    ("feedback_T3@hard", "feedback@hard", "three passes against one, trained and tested on hard worlds"),
    ("whatwhere", "recurrent", "what/where streams with top-down gates against none"),
    ("dopamine", "recurrent", "dopamine-modulated plasticity against none"),
    ("full", "recurrent", "every mechanism against none"),
    ("feedforward", "recurrent", "no memory against a GRU core"),
)


def matched_pairs(plan: Plan) -> list[tuple[str, str, str]]:
    """The (X, Y, what) pairs judged in this plan: MATCHED, also between variants with the same settings
    (`feedback+taste=True` against `feedforward+taste=True`), and every variant with agent settings
    against the same preset without them in the same worlds (`feedback+plastic=True` against
    `feedback`). Agents trained in other worlds are evaluated in other worlds, so they are not paired."""
    variants = {a: parse_variant(a) for a in plan.agents}
    suffixes = sorted({(v.agent, v.world) for v in variants.values()})
    pairs = []
    for x, y, what in MATCHED:
        for agent, world in suffixes:
            with_settings = [dataclasses.replace(parse_variant(n), agent=agent, world=world).name for n in (x, y)]
            if all(n in variants for n in with_settings):
                pairs.append((*with_settings, what))
    for name, v in variants.items():  # its agent settings against none, in the same worlds (paired)
        base = dataclasses.replace(v, agent=()).name
        if v.agent and base in variants:
            settings = ", ".join(f"{k}={format_setting(value)}" for k, value in v.agent)
            pairs.append((name, base, f"{settings} against the preset's own agent"))
    return list(dict.fromkeys(pairs))


def home_condition(plan: Plan, agent: str) -> str:
    """The condition an agent was trained on: its variant's difficulty, else the plan's."""
    return parse_variant(agent).difficulty or plan.train_difficulty
