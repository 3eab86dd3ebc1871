"""The presets, from plain to full, and the constructors.

``feedforward`` has no memory; ``recurrent`` adds a GRU core; ``feedback``, ``whatwhere`` and
``dopamine`` each add one mechanism to ``recurrent``; ``full`` has all of them. Widths differ
per preset so that parameter counts at the default observation (24x24, P=6, Discrete(5)) are
within 4% of each other (``python -m agents`` prints them: 3.6% at the 24x24 view).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import gymnasium as gym

from agents.actor_critic import Agent
from agents.config import FIELDS, AgentConfig

_BASE = AgentConfig()

PRESETS: dict[str, AgentConfig] = {
    "feedforward": dataclasses.replace(_BASE, core="none", embed=80),
    "recurrent": dataclasses.replace(_BASE, core="gru", embed=64, hidden=64),
    "early": dataclasses.replace(_BASE, core="gru", embed=64, hidden=64, goal_pathway="early"),
    "feedback": dataclasses.replace(_BASE, core="gru", embed=60, hidden=60, goal_pathway="topdown"),
    "whatwhere": dataclasses.replace(_BASE, core="gru", whatwhere=True, embed=112, hidden=120),
    "dopamine": dataclasses.replace(_BASE, core="gru", embed=64, hidden=60, plastic=True, plastic_size=32),
    "full": dataclasses.replace(
        _BASE, core="gru", goal_pathway="topdown", whatwhere=True, plastic=True, embed=112, hidden=108, plastic_size=32
    ),
}

DESCRIPTIONS: dict[str, str] = {
    "feedforward": "conv trunk -> MLP, goal concatenated after the trunk; no memory",
    "recurrent": "+ GRU core (lateral recurrence inside one layer)",
    "early": "recurrent + the goal as input planes at conv1 (additive early fusion, still feedforward vision)",
    "feedback": "recurrent + top-down channel/spatial gain on early conv layers (goal, h, T passes)",
    "whatwhere": "recurrent + what (pooled) / where (keypoints) streams with top-down gates",
    "dopamine": "recurrent + plastic layer, Hebbian traces written by the agent's own TD error",
    "full": "recurrent + feedback + what/where + dopamine plasticity",
}


def make_config(preset: str, **overrides: Any) -> AgentConfig:
    """The preset's config with ``overrides`` applied; unknown names raise ValueError."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if "gamma" in overrides:
        raise ValueError(f"gamma={overrides['gamma']!r} is not an AgentConfig field: the TD error's discount is the "
                         f"run's, the agent's own argument (make_agent(..., gamma=...); the trainer's --gamma)")
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown override(s) {unknown}; valid AgentConfig fields are {list(FIELDS)}")
    return dataclasses.replace(PRESETS[preset], **overrides)


def make_agent(preset: str, observation_space: gym.Space, action_space: gym.Space, gamma: float = 0.99,
               **overrides: Any) -> Agent:
    """Builds the agent of ``preset`` for the single-env spaces, with config ``overrides``. ``gamma``: the
    discount of the dopamine TD error; a run passes its own (`training.build.make_agent`), 0.99 is its default."""
    return Agent(make_config(preset, **overrides), observation_space, action_space, gamma)


def config_from_dict(values: Mapping[str, Any]) -> AgentConfig:
    """An AgentConfig from ``dataclasses.asdict(config)`` as a checkpoint stores it, older ones included (their
    ``gamma`` is not part of the config: `saved_gamma` reads it)."""
    if not isinstance(values, Mapping):
        raise TypeError(f"config must be a mapping of AgentConfig fields, got {type(values).__name__}")
    values = dict(values)
    values.pop("gamma", None)  # written while the agent's config held the TD error's discount
    if "feedback" in values:  # written before goal_pathway existed
        if values.pop("feedback"):
            raise ValueError("config has feedback=True, an agent from before goal_pathway: its top-down spatial gain "
                             "was not normalised, so this version cannot run it; retrain it (goal_pathway='topdown')")
        values.setdefault("goal_pathway", "late")
        values.pop("spatial_strength", None)  # its old default (1.0) is out of today's range; unused without feedback
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValueError(f"config has unknown field(s) {unknown}; valid AgentConfig fields are {list(FIELDS)}")
    for name in ("reward_input", "action_input"):  # written before the core read r(t-1), a(t-1): it did not
        values.setdefault(name, False)
    return AgentConfig(**values)


def saved_gamma(values: Mapping[str, Any] | AgentConfig) -> Optional[float]:
    """The ``gamma`` field of an agent config saved before the run owned gamma, or None (a config of today).

    Until then the trainer's --gamma fed only GAE, and the dopamine TD error used this field, so an agent of
    then computes its TD error with it to behave as it was trained (in every stored run it equals the run's
    own gamma; a run that set --gamma alone trained its TD error with this one)."""
    return values.get("gamma") if isinstance(values, Mapping) else None


def agent_from_config(config: Mapping[str, Any] | AgentConfig, observation_space: gym.Space, action_space: gym.Space,
                      gamma: Optional[float] = None) -> Agent:
    """Rebuilds an agent from ``dataclasses.asdict(agent.config)`` (e.g. read from a checkpoint), with the run's
    ``gamma`` (its training config's) as the TD error's discount; a config saved with a ``gamma`` field of old
    keeps that one (`saved_gamma`), and only such a config may leave ``gamma`` out."""
    old = saved_gamma(config)
    if not isinstance(config, AgentConfig):
        config = config_from_dict(config)
    if old is not None:
        gamma = old
    elif gamma is None:
        raise ValueError("gamma: got None for an agent config without a gamma field; allowed: the run's discount, "
                         "a number in [0, 1] (its training config's gamma)")
    return Agent(config, observation_space, action_space, gamma)
