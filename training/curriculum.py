"""The trainer's curricula, as functions of the update: --distractor-ramp (the wrong colour's cost rises
from 0) and --colour-prior-ramp (ReversalBerry's first colour pays in every episode at first, then in
its share). Both are off at 0, and neither changes the worlds' rules, only what one update sees."""

from __future__ import annotations

from training.config import Config


def distractor_ramp(config: Config, update: int, num_updates: int) -> float:
    """The share w of the distractor reward charged in ``update`` (1-based) under --distractor-ramp: w rises
    linearly from 0 at the first update to 1 at ``distractor_ramp * num_updates``; 1 when the ramp is off."""
    if config.distractor_ramp <= 0:
        return 1.0
    return min(1.0, (update - 1) / (config.distractor_ramp * num_updates))


def colour_prior(config: Config, update: int, num_updates: int, share: float) -> float:
    """The chance the first colour pays in ``update`` (1-based) under --colour-prior-ramp: it falls linearly
    from 1 at the first update to the worlds' own ``share`` at ``prior_ramp * num_updates``."""
    if config.prior_ramp <= 0:
        return share
    return 1.0 - (1.0 - share) * min(1.0, (update - 1) / (config.prior_ramp * num_updates))
