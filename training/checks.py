"""The checks of a run's settings: `validate` raises ConfigError naming the flag, what was given and what
is allowed, before anything is built."""

from __future__ import annotations

import math
from typing import Optional

import envs
from envs.config import MAX_WORLDS
from training.config import MAX_EPISODE_STEPS, MAX_LEARNING_RATE, MAX_SEED, Config, ConfigError


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate(config: Config, recurrent: Optional[bool] = None) -> None:
    """Raise ConfigError naming the first bad flag. ``recurrent`` (the agent keeps state) decides
    what the minibatches split, when known."""
    for flag, most in (("num_envs", MAX_WORLDS), ("num_steps", 1 << 16), ("num_minibatches", MAX_WORLDS),
                       ("update_epochs", 1000), ("total_steps", 10 ** 15)):
        v = getattr(config, flag)
        _need(flag.replace("_", "-"), v, _is_int(v) and 1 <= v <= most, f"an integer from 1 to {most:,}")
    for flag in ("checkpoint_interval", "image_interval", "video_interval"):
        v = getattr(config, flag)
        _need(flag.replace("_", "-"), v, _is_int(v) and v >= 0, "an integer >= 0 (0 turns it off)")
    steps = config.max_episode_steps
    _need("max-episode-steps", steps, steps is None or (_is_int(steps) and 1 <= steps <= MAX_EPISODE_STEPS),
         f"an integer from 1 to {MAX_EPISODE_STEPS:,} (the reference foragers play whole episodes before training "
         f"starts, and the first returns come after one)")
    check_population(config)
    _need("learning-rate", config.learning_rate, _is_real(config.learning_rate) and 0 < config.learning_rate <= MAX_LEARNING_RATE,
         f"a number > 0 whose Adam step a float32 holds (<= {MAX_LEARNING_RATE:.3g})")
    _need("gamma", config.gamma, _is_real(config.gamma) and 0 < config.gamma <= 1, "a number in (0, 1]")
    _need("gae-lambda", config.gae_lambda, _is_real(config.gae_lambda) and 0 <= config.gae_lambda <= 1, "a number in [0, 1]")
    _need("clip-coef", config.clip_coef, _is_real(config.clip_coef) and config.clip_coef > 0, "a number > 0")
    for flag in ("ent_coef", "vf_coef"):
        v = getattr(config, flag)
        _need(flag.replace("_", "-"), v, _is_real(v) and v >= 0, "a number >= 0")
    _need("distractor-ramp", config.distractor_ramp,
         _is_real(config.distractor_ramp) and 0 <= config.distractor_ramp <= 1, "a number in [0, 1] (0 = off)")
    _need("colour-prior-ramp", config.colour_prior_ramp, config.colour_prior_ramp is None or (
         _is_real(config.colour_prior_ramp) and 0 <= config.colour_prior_ramp <= 1), "a number in [0, 1] (0 = off)")
    if config.colour_prior_ramp and envs.TASK_IDS.get(config.env) != "reversal":
        raise ConfigError(f"--colour-prior-ramp: got {config.colour_prior_ramp} with --env {config.env}, which has "
                          f"no pair of colours; allowed: 0 (off), or --env ReversalBerry-v1")
    _need("clutter-ramp", config.clutter_ramp,
         _is_real(config.clutter_ramp) and 0 <= config.clutter_ramp <= 1, "a number in [0, 1] (0 = off)")
    _need("max-grad-norm", config.max_grad_norm, _is_real(config.max_grad_norm) and config.max_grad_norm > 0, "a number > 0")
    if config.target_kl is not None:
        _need("target-kl", config.target_kl, _is_real(config.target_kl) and config.target_kl > 0, "a number > 0, or None")
    if recurrent is not None:
        check_minibatches(config, recurrent)
    config.env_make_kwargs()
    config.agent_make_overrides()


def _need(flag: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"--{flag}: got {value!r}; allowed: {allowed}")


def check_population(config: Config) -> None:
    """--seed and --population: the bounds a population's K seeds must keep (part of `validate`)."""
    last = MAX_SEED - (config.population - 1 if _is_int(config.population) and config.population > 1 else 0)
    _need("seed", config.seed, _is_int(config.seed) and 0 <= config.seed <= last,
          f"an integer from 0 to {last:,} (a population's seeds run to --seed + --population - 1 <= {MAX_SEED:,})")
    _need("population", config.population, _is_int(config.population) and 1 <= config.population <= 256,
          "an integer from 1 to 256")


def check_minibatches(config: Config, recurrent: bool) -> None:
    """--num-minibatches must divide what the minibatches split: the worlds for an agent that keeps state
    (``recurrent``), else the steps (part of `validate` when ``recurrent`` is known)."""
    units = config.num_envs if recurrent else config.num_envs * config.num_steps
    what = ("--num-envs, since recurrent agents' minibatches are groups of worlds" if recurrent
            else "--num-envs x --num-steps")
    _need("num-minibatches", config.num_minibatches, units % config.num_minibatches == 0,
          f"a divisor of {units}, the value of {what}")
