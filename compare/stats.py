"""Statistics over seeds: the mean with a 95% percentile-bootstrap CI, and the interquartile mean.

The unit of replication is the training seed: each seed's agent gives one number per condition
(the mean over that cell's episodes), and the CI says how much the mean over seeds could move
with other seeds.

Two agents are compared by their *paired* difference: seed k of one and seed k of the other met
the same worlds (same training seed, same evaluation worlds), so the differences x_k - y_k cancel
what the worlds share, and the bootstrap CI of their mean says whether the difference is real
(DESIGN.md: overlapping CIs are a weak test). Beside it, the probability of improvement
P(X > Y) of rliable (Agarwal et al. 2021): over every pair of seeds (i, j), the share where
x_i > y_j, ties counting a half (the Mann-Whitney U over n m), with a bootstrap CI that resamples
each agent's seeds on their own, as rliable does.
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

    def excludes_zero(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high)) and (self.low > 0 or self.high < 0)


def summarize(values: Sequence[float], seed: int = 0) -> Summary:
    x = [float(v) for v in values if not math.isnan(float(v))]
    mean = float(np.mean(x)) if x else math.nan
    low, high = bootstrap_ci(x, seed=seed)
    return Summary(len(x), mean, low, high, iqm(x))


def paired_difference(x: Sequence[float], y: Sequence[float], seed: int = 0) -> Summary:
    """The mean of x_k - y_k over the pairs where both are numbers, with its bootstrap CI."""
    if len(x) != len(y):
        raise ValueError(f"paired values need equal lengths, got {len(x)} and {len(y)}")
    return summarize([a - b for a, b in zip(x, y) if not (math.isnan(a) or math.isnan(b))], seed=seed)


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) of each resample: x (R, n), y (R, m) -> (R,)."""
    greater = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
    ties = (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
    return greater + 0.5 * ties


@dataclass(frozen=True)
class Improvement:
    """P(X > Y) with its bootstrap CI [low, high] (nan where a side has fewer than two values)."""

    p: float
    low: float
    high: float


def probability_of_improvement(x: Sequence[float], y: Sequence[float], confidence: float = CONFIDENCE,
                               resamples: int = RESAMPLES, seed: int = 0) -> Improvement:
    """rliable's P(X > Y): the mean over all (i, j) of 1[x_i > y_j] + 0.5 1[x_i = y_j]; the CI
    resamples x and y with replacement, each on its own. NaNs are dropped."""
    a = np.asarray([v for v in x if not math.isnan(v)], dtype=np.float64)
    b = np.asarray([v for v in y if not math.isnan(v)], dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return Improvement(math.nan, math.nan, math.nan)
    p = float(_improvement(a[None], b[None])[0])
    if min(a.size, b.size) < 2:
        return Improvement(p, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = _improvement(a[rng.integers(0, a.size, (resamples, a.size))],
                          b[rng.integers(0, b.size, (resamples, b.size))])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Improvement(p, float(low), float(high))


@dataclass(frozen=True)
class Paired:
    """X against Y over matched seeds: the paired difference, P(X > Y), and the verdict."""

    difference: Summary
    improvement: Improvement

    @property
    def verdict(self) -> str:
        """'better', 'worse', 'no difference' (the CI includes 0) or 'too few seeds (n < 5)'."""
        if self.difference.n < MIN_SEEDS:
            return f"too few seeds (n < {MIN_SEEDS})"
        if not self.difference.excludes_zero():
            return "no difference"
        return "better" if self.difference.mean > 0 else "worse"


def compare_paired(x_by_seed: dict, y_by_seed: dict, improvement: bool = True) -> Paired:
    """X ({seed: value}) against Y over the seeds both have (improvement=False: P(X > Y) left nan)."""
    seeds = sorted(set(x_by_seed) & set(y_by_seed))
    x, y = [float(x_by_seed[s]) for s in seeds], [float(y_by_seed[s]) for s in seeds]
    return Paired(paired_difference(x, y), probability_of_improvement(x, y) if improvement else
                  Improvement(math.nan, math.nan, math.nan))
