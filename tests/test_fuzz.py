"""Fuzzing the input boundaries: whatever a config file, a flag or a world keyword holds, the answer is
a clean error naming what was wrong (ConfigError / ValueError / TypeError) or a working object, never
another exception."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import envs
from envs.config import WorldConfig
from training.checks import validate
from training.config import Config, ConfigError, from_dict, parse_config

FIELDS = [f.name for f in dataclasses.fields(Config)]
KNOBS = [f.name for f in dataclasses.fields(WorldConfig)]

anything = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELDS + ["agnet", "lr"]), anything, max_size=4))
def test_config_files_end_in_a_config_or_a_named_error(values):
    try:
        config = from_dict(values, "--config c.json")
    except ConfigError as exc:
        assert "c.json" in str(exc) and "\n" not in str(exc)
        return
    try:
        validate(config)
    except ConfigError as exc:
        assert str(exc).startswith("--") and "\n" not in str(exc)


@FUZZ
@given(st.sampled_from(["--num-envs", "--learning-rate", "--gamma", "--seed", "--population", "--total-steps",
                        "--anneal-lr", "--device", "--difficulty", "--env-kwargs", "--agent-overrides",
                        "--target-kl", "--distractor-ramp"]),
       st.lists(st.sampled_from(["nan", "inf", "-1", "0", "1e309", "true", "x", "[1, 2]", "3.5", "noise", "0.1"]),
                min_size=0, max_size=3))
def test_flags_end_in_a_config_or_a_named_error(flag, values):
    try:
        config = parse_config([flag, *values])
    except ConfigError as exc:  # tyro's parse errors too, as one line naming the flag
        assert "\n" not in str(exc) and "--" in str(exc), str(exc)
        return
    try:
        validate(config)
    except ConfigError as exc:
        assert str(exc).startswith("--")


@FUZZ
@given(st.dictionaries(st.sampled_from(KNOBS + ["difficulty", "windy"]), anything, min_size=1, max_size=2))
def test_world_keywords_end_in_a_world_or_a_named_error(kwargs):
    try:
        env = gym.make_vec("CuedBerry-v1", num_envs=1, **kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert message and any(name in message for name in kwargs), message
        return
    env.reset(seed=0)
    env.step(env.action_space.sample())


@pytest.mark.parametrize("env_id", sorted(envs.TASK_IDS))
def test_every_task_id_builds_with_defaults(env_id):
    gym.make_vec(env_id, num_envs=1).reset(seed=0)
