"""The trainer's curricula, as functions of the update: --distractor-ramp (the wrong colour's cost rises
from 0), --colour-prior-ramp (ReversalBerry's first colour pays in every episode at first, then in its
share) and --clutter-ramp (foliage discs and pixel noise grow to their full size). All are off at 0,
and none changes the worlds' rules, only what one update sees."""

from __future__ import annotations

from training.config import Config


def _rise(fraction: float, update: int, num_updates: int) -> float:
    """0 at the first update (1-based), rising linearly to 1 at ``fraction * num_updates``; 1 when off."""
    if fraction <= 0:
        return 1.0
    return min(1.0, (update - 1) / (fraction * num_updates))


def distractor_ramp(config: Config, update: int, num_updates: int) -> float:
    """The share w of the distractor reward charged in ``update`` (1-based) under --distractor-ramp: w rises
    linearly from 0 at the first update to 1 at ``distractor_ramp * num_updates``; 1 when the ramp is off."""
    return _rise(config.distractor_ramp, update, num_updates)


def clutter(config: Config, update: int, num_updates: int) -> float:
    """The share w of the worlds' foliage radius and noise amplitude drawn in ``update`` under
    --clutter-ramp, rising as `distractor_ramp`'s does; 1 when the ramp is off."""
    return _rise(config.clutter_ramp, update, num_updates)


def worlds_of_update(config: Config, update: int, num_updates: int, worlds) -> dict[str, float]:
    """The knobs the curricula set on the env for ``update`` (`ForagingVectorEnv.reconfigure`), from the
    worlds as configured; {} when no curriculum changes the worlds."""
    knobs = {}
    if config.prior_ramp:
        knobs["first_colour_share"] = colour_prior(config, update, num_updates, worlds.first_colour_share)
    if config.clutter_ramp:
        w = clutter(config, update, num_updates)
        knobs.update(noise=w * worlds.noise, foliage_radius=w * worlds.foliage_radius)
    return knobs


def colour_prior(config: Config, update: int, num_updates: int, share: float) -> float:
    """The chance the first colour pays in ``update`` (1-based) under --colour-prior-ramp: it falls linearly
    from 1 at the first update to the worlds' own ``share`` at ``prior_ramp * num_updates``."""
    if config.prior_ramp <= 0:
        return share
    return 1.0 - (1.0 - share) * min(1.0, (update - 1) / (config.prior_ramp * num_updates))
