"""Statistics over seeds whose error rates hold at 5-10 seeds.

The unit of replication is the training seed: each seed's agent gives one number per condition (the
mean over that cell's episodes).

- **A mean over seeds** gets a Student-t 95% interval, whose coverage holds at small n where the
  percentile bootstrap's does not (about 83% at 5 seeds), and the interquartile mean (IQM).
- **Two agents** are compared by their *paired* difference: seed k of one and seed k of the other
  met the same worlds, so d_k = x_k - y_k cancels what the worlds share. A two-sided paired t-test
  asks whether the mean of d is 0; a TOST (two one-sided t-tests, Schuirmann 1987) asks whether it
  lies within +-margin. The verdict is one of four words:
  **better** / **worse** (the t-test rejects 0 at `ALPHA`), **equivalent** (it does not, and TOST
  puts the difference inside +-margin at `ALPHA`: the 90% interval lies inside the margin) or
  **inconclusive** (neither: the data cannot tell); with fewer than `MIN_SEEDS` seeds, "too few
  seeds". "No difference" is never a verdict: it needs the equivalence test.
- **Families.** A plan's primary contrasts are judged together: Holm's step-down correction
  (`holm`) adjusts their p-values, so that the chance of any false call among them stays at ALPHA.
  Every other contrast is exploratory and keeps its uncorrected p.
- **Power** (`seeds_for_power`): the seeds a paired t-test needs to detect a difference delta with
  80% power, from the seed-to-seed standard deviation of paired differences (noncentral t).
- Beside each difference, rliable's probability of improvement P(X > Y) (Agarwal et al. 2021) as
  its effect size: over every pair of seeds (i, j), the share where x_i > y_j, ties a half, with a
  bootstrap CI that resamples each agent's seeds on their own, as rliable does.

The error rates are measured, not assumed (tests/test_stats.py, through `compare_paired` itself):
null paired differences drawn at 5 and 10 seeds call an effect in about 5% of draws when they are
normal, heavy-tailed (t, 3 df) or moderately skewed (skewness 0.5). The t-test grows liberal as the
skew grows: about 6.5% at skewness 1 and 10-12% at 2 (centred gamma draws), and a collapse that
strikes one seed in five cannot be seen at 5 seeds by any test. The percentile bootstrap that this
module used before called an effect in 17% of normal null draws at 5 seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np
from scipy import stats as _scipy

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE  # a two-sided test's false-positive rate, and each TOST side's
MARGIN = 0.1  # the equivalence margin of a normalised score where a plan declares none
POWER = 0.8
RESAMPLES = 10_000  # the probability of improvement's bootstrap
MIN_SEEDS = 5  # DESIGN.md: at least 5 seeds; fewer and nothing is called
VERDICTS = ("better", "worse", "equivalent", "inconclusive")
TOO_FEW = f"too few seeds (n < {MIN_SEEDS})"


def _numbers(values: Sequence[float]) -> np.ndarray:
    return np.asarray([float(v) for v in values if not math.isnan(float(v))], dtype=np.float64)


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Student-t interval of the mean: mean -+ t_{n-1} s / sqrt(n). NaNs are dropped first; fewer
    than two values give (nan, nan); values that are all equal give (mean, mean)."""
    x = _numbers(values)
    if x.size < 2:
        return math.nan, math.nan
    mean, se = float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))
    half = float(_scipy.t.ppf(0.5 + confidence / 2.0, x.size - 1)) * se
    return mean - half, mean + half


def iqm(values: Sequence[float]) -> float:
    """The interquartile mean: the mean of the values left after the lowest and the highest
    floor(n / 4) are dropped (scipy's trim_mean(x, 0.25), as rliable uses). NaNs are dropped."""
    x = np.sort(_numbers(values))
    if x.size == 0:
        return math.nan
    cut = int(0.25 * x.size)
    return float(x[cut: x.size - cut].mean())


@dataclass(frozen=True)
class Summary:
    """n values summarised: mean, its Student-t 95% interval [low, high], the standard deviation and the IQM."""

    n: int
    mean: float
    low: float
    high: float
    iqm: float
    sd: float = math.nan

    def excludes_zero(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high)) and (self.low > 0 or self.high < 0)


def summarize(values: Sequence[float]) -> Summary:
    x = _numbers(values)
    mean = float(x.mean()) if x.size else math.nan
    low, high = t_interval(x)
    return Summary(int(x.size), mean, low, high, iqm(x), float(x.std(ddof=1)) if x.size > 1 else math.nan)


def t_test(d: Sequence[float], null: float = 0.0, alternative: str = "two-sided") -> float:
    """The one-sample t-test's p of mean(d) against `null` ("two-sided", "greater": mean > null, or
    "less"); nan with fewer than two values. Differences with no spread give p 0 or 1 by their side."""
    x = _numbers(d)
    if x.size < 2:
        return math.nan
    mean, se = float(x.mean()) - null, float(x.std(ddof=1) / math.sqrt(x.size))
    if se == 0.0:
        side = {"two-sided": mean != 0.0, "greater": mean > 0.0, "less": mean < 0.0}[alternative]
        return 0.0 if side else 1.0
    t = mean / se
    if alternative == "greater":
        return float(_scipy.t.sf(t, x.size - 1))
    if alternative == "less":
        return float(_scipy.t.cdf(t, x.size - 1))
    return float(2.0 * _scipy.t.sf(abs(t), x.size - 1))


def tost(d: Sequence[float], margin: float) -> float:
    """The TOST p of |mean(d)| < margin: the larger of the two one-sided p's (mean > -margin, mean < margin)."""
    if not margin > 0:
        raise ValueError(f"margin={margin!r}: an equivalence margin must be a number > 0")
    return max(t_test(d, -margin, "greater"), t_test(d, margin, "less"))


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


NO_IMPROVEMENT = Improvement(math.nan, math.nan, math.nan)


def probability_of_improvement(x: Sequence[float], y: Sequence[float], confidence: float = CONFIDENCE,
                               resamples: int = RESAMPLES, seed: int = 0) -> Improvement:
    """rliable's P(X > Y): the mean over all (i, j) of 1[x_i > y_j] + 0.5 1[x_i = y_j]; the CI
    resamples x and y with replacement, each on its own. NaNs are dropped."""
    a, b = _numbers(x), _numbers(y)
    if a.size == 0 or b.size == 0:
        return NO_IMPROVEMENT
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
    """X against Y over matched seeds: the paired difference with its t interval, the t-test's p, the
    TOST p within +-margin, P(X > Y), and whether the contrast is primary (its p's then Holm-adjusted
    within the plan's family: `holm`)."""

    difference: Summary
    improvement: Improvement
    p: float  # two-sided paired t-test, uncorrected
    p_equivalence: float  # TOST within +-margin, uncorrected
    margin: float
    primary: bool = False
    p_holm: Optional[float] = None  # primary contrasts: p adjusted over the family
    p_equivalence_holm: Optional[float] = None
    differences: tuple = ()  # the paired differences x_k - y_k, by seed

    @property
    def p_used(self) -> float:
        return self.p if self.p_holm is None else self.p_holm

    @property
    def p_equivalence_used(self) -> float:
        return self.p_equivalence if self.p_equivalence_holm is None else self.p_equivalence_holm

    @property
    def verdict(self) -> str:
        """'better', 'worse', 'equivalent', 'inconclusive' (`VERDICTS`) or 'too few seeds (n < 5)'."""
        if self.difference.n < MIN_SEEDS:
            return TOO_FEW
        if self.p_used < ALPHA:
            return "better" if self.difference.mean > 0 else "worse"
        if self.p_equivalence_used < ALPHA:
            return "equivalent"
        return "inconclusive"

    @property
    def called(self) -> bool:
        """Whether the verdict says something (better, worse or equivalent)."""
        return self.verdict in ("better", "worse", "equivalent")


def compare_paired(x_by_seed: dict, y_by_seed: dict, improvement: bool = True, margin: float = MARGIN) -> Paired:
    """X ({seed: value}) against Y over the seeds both have, where both are numbers; `margin`: the
    equivalence margin (+-0.1, the normalised score's, where none is given). improvement=False leaves
    P(X > Y) nan (its bootstrap is the slow part)."""
    seeds = [s for s in sorted(set(x_by_seed) & set(y_by_seed))
             if not (math.isnan(float(x_by_seed[s])) or math.isnan(float(y_by_seed[s])))]
    x, y = [float(x_by_seed[s]) for s in seeds], [float(y_by_seed[s]) for s in seeds]
    d = [a - b for a, b in zip(x, y)]
    return Paired(summarize(d), probability_of_improvement(x, y) if improvement else NO_IMPROVEMENT,
                  t_test(d), tost(d, margin), margin, differences=tuple(d))


def holm_adjust(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979): sort ascending, p_(i) * (m - i + 1), running
    maximum, capped at 1. NaN p's are left out of the family and stay NaN."""
    known = [(value, i) for i, value in enumerate(p) if not math.isnan(value)]
    out = [math.nan] * len(p)
    running = 0.0
    for rank, (value, i) in enumerate(sorted(known)):
        running = max(running, min(1.0, value * (len(known) - rank)))
        out[i] = running
    return out


def holm(family: Sequence[Paired]) -> list[Paired]:
    """The family's contrasts marked primary, with their difference p's and (separately) their
    equivalence p's Holm-adjusted over the family."""
    p, p_eq = holm_adjust([c.p for c in family]), holm_adjust([c.p_equivalence for c in family])
    return [replace(c, primary=True, p_holm=a, p_equivalence_holm=b) for c, a, b in zip(family, p, p_eq)]


def power(n: int, delta: float, sd: float, alpha: float = ALPHA) -> float:
    """The two-sided paired t-test's power at n seeds against a true mean difference delta, where
    paired differences have standard deviation sd (noncentral t with n - 1 df)."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0
    df, nc = n - 1, delta / sd * math.sqrt(n)
    crit = float(_scipy.t.ppf(1.0 - alpha / 2.0, df))
    return float(_scipy.nct.sf(crit, df, nc) + _scipy.nct.cdf(-crit, df, nc))


def seeds_for_power(delta: float, sd: float, target: float = POWER, alpha: float = ALPHA, most: int = 1000) -> int:
    """The fewest seeds (at least MIN_SEEDS) at which the paired t-test detects delta with `target`
    power, where paired differences have standard deviation sd; `most` + 1 where even `most` do not."""
    if not (delta > 0 and sd >= 0 and not math.isnan(sd)):
        raise ValueError(f"delta={delta!r}, sd={sd!r}: power needs delta > 0 and a standard deviation >= 0")
    n = MIN_SEEDS
    while n <= most and power(n, delta, sd, alpha) < target:
        n += 1
    return n


def pooled_sd(differences: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The pooled standard deviation of several contrasts' paired differences (each centred on its own
    mean), and its degrees of freedom: the seed-to-seed spread a power analysis plans with."""
    squares, df = 0.0, 0
    for d in differences:
        x = _numbers(d)
        if x.size > 1:
            squares += float(((x - x.mean()) ** 2).sum())
            df += x.size - 1
    return (math.sqrt(squares / df) if df else math.nan), df
