"""Statistics over seeds: the mean with a 95% percentile-bootstrap CI, and the interquartile mean.

The unit of replication is the training seed: each seed's agent gives one number per condition
(the mean over that cell's episodes), and the CI says how much the mean over seeds could move
with other seeds. Two agents are called different only where their CIs do not overlap; where
they overlap, the report says there is no difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 10_000
MIN_SEEDS = 5  # DESIGN.md: at least 5 seeds; fewer and no difference is called


def bootstrap_ci(values: Sequence[float], confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                 seed: int = 0) -> tuple[float, float]:
    """The percentile-bootstrap CI of the mean: resample the values with replacement `resamples`
    times and take the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of the resampled
    means. NaNs are dropped first; fewer than two values give (nan, nan). Deterministic in `seed`."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if x.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def iqm(values: Sequence[float]) -> float:
    """The interquartile mean: the mean of the values left after the lowest and the highest
    floor(n / 4) are dropped (scipy's trim_mean(x, 0.25), as rliable uses). NaNs are dropped."""
    x = np.sort(np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64))
    if x.size == 0:
        return math.nan
    cut = int(0.25 * x.size)
    return float(x[cut: x.size - cut].mean())


@dataclass(frozen=True)
class Summary:
    """n values summarised: mean, its bootstrap CI [low, high], and the IQM."""

    n: int
    mean: float
    low: float
    high: float
    iqm: float

    def overlaps(self, other: "Summary") -> bool:
        """Whether the two CIs share a point (a missing CI overlaps everything)."""
        if any(math.isnan(v) for v in (self.low, self.high, other.low, other.high)):
            return True
        return self.low <= other.high and other.low <= self.high

    def excludes_zero(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high)) and (self.low > 0 or self.high < 0)


def summarize(values: Sequence[float], seed: int = 0) -> Summary:
    x = [float(v) for v in values if not math.isnan(float(v))]
    mean = float(np.mean(x)) if x else math.nan
    low, high = bootstrap_ci(x, seed=seed)
    return Summary(len(x), mean, low, high, iqm(x))


def verdict(agent: Summary, baseline: Summary, min_seeds: int = MIN_SEEDS) -> str:
    """'higher', 'lower' or 'no difference (CIs overlap)': the agent's CI against the baseline's.
    With fewer than `min_seeds` values on either side no difference is called: a percentile
    bootstrap of 2 or 3 values is little more than their range, far too narrow a CI."""
    if min(agent.n, baseline.n) < min_seeds:
        return f"too few seeds to tell (n < {min_seeds})"
    if agent.overlaps(baseline):
        return "no difference (CIs overlap)"
    return "higher" if agent.mean > baseline.mean else "lower"
