"""Trend tests for runs that are paired across widths by their seed.

A sweep's replicate r has seed r at every width, so its runs share the data,
the teacher, the order of the batches and the stream the initial weights are
drawn from: whatever a seed does to a metric, it does at every width. Runs
of one seed are therefore not independent points, and a test that pools them
is fooled two ways: when some seeds' wide runs are missing (diverged or
collapsed, which depends on the seed) the seeds left at the wide end can be
the ones with high values, and a pooled test finds a rise no seed has; and a
real rise within every seed can be hidden by larger differences between
seeds. Both tests here compare a seed's runs only with each other.

**Which runs count.** Runs with a non-finite value are dropped. A seed whose
remaining runs all share one width is left out (counted as ``unpaired``):
within it width does not vary, so it says nothing about how the metric
changes with width (with seed fixed effects its runs would only fix their
own seed's level, the slope and its interval being the same without them).

**Slope.** The least-squares slope of the metric on x = log2(width factor)
with one intercept per seed (seed fixed effects): each seed's runs are
centred on their own means, x and the metric alike, and the slope is fitted
to the centred points. Its standard error uses the residual variance on
n - seeds - 1 degrees of freedom. Fixed rather than random seed effects (a
mixed model): a random-intercept model would also use the differences
between seeds' means, and when which runs are missing depends on the seed,
those differences are exactly what fakes a trend.

**Rank test.** ``rho`` is Spearman's correlation computed within seeds: the
metric and x are ranked within each seed, centred on the seed's mean rank,
and correlated over all runs (with every seed at every width this is the
mean of the seeds' own Spearman correlations, and a permutation version of
Page's trend test). Its two-sided p-value permutes the metric's values
among the widths of their own seed only (a stratified permutation test):
every one of the prod(n_s!) arrangements when there are no more than
``permutations`` of them, else ``permutations`` seeded random ones, counting
the observed statistic as one of them, p = (1 + as extreme) / (1 +
permutations); two-sided p = 2 min(p_greater, p_less), capped at 1.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

TIES = 1e-9
"""Relative tolerance under which two permutation statistics count as equal (their ranks are multiples of 1/2,
so rounding alone separates equal ones)."""


@dataclass(frozen=True)
class Paired:
    """The runs a within-seed test uses, ordered by (seed, x, value), so that a
    seeded resample does not depend on the order of the rows."""

    x: np.ndarray
    """log2 of the width factor."""
    y: np.ndarray
    seed: np.ndarray
    """Each run's seed, as an index 0..seeds-1."""
    unpaired: int
    """Runs with a finite value left out because their seed has no second width."""

    @property
    def n(self) -> int:
        return int(self.x.size)

    @property
    def seeds(self) -> int:
        return int(self.seed.max()) + 1 if self.n else 0

    @property
    def df(self) -> int:
        """Residual degrees of freedom of the slope with seed fixed effects."""
        return self.n - self.seeds - 1

    def strata(self) -> list[np.ndarray]:
        """The indices of each seed's runs (contiguous, by the canonical order)."""
        return np.split(np.arange(self.n), np.flatnonzero(np.diff(self.seed)) + 1) if self.n else []

    def centred(self, values: np.ndarray) -> np.ndarray:
        """``values`` minus their seed's mean."""
        means = np.bincount(self.seed, weights=values) / np.bincount(self.seed)
        return values - means[self.seed]


def pair(log2_width: np.ndarray, values: np.ndarray, seeds: np.ndarray) -> Paired:
    """The finite runs of seeds that have at least two widths, in canonical order."""
    log2_width, values, seeds = (np.asarray(a) for a in (log2_width, values, seeds))
    keep = np.isfinite(log2_width.astype(float)) & np.isfinite(values.astype(float))
    x, y, seed = log2_width[keep].astype(float), values[keep].astype(float), seeds[keep]
    codes = np.unique(seed, return_inverse=True)[1].reshape(-1)
    widths = [np.unique(x[codes == code]).size for code in range(codes.max() + 1)] if codes.size else []
    paired = np.isin(codes, np.flatnonzero(np.asarray(widths) >= 2))
    unpaired = int((~paired).sum())
    x, y, codes = x[paired], y[paired], codes[paired]
    codes = np.unique(codes, return_inverse=True)[1].reshape(-1)
    order = np.lexsort((y, x, codes))
    return Paired(x[order], y[order], codes[order], unpaired)


@dataclass(frozen=True)
class Slope:
    """The within-seed least-squares slope per doubling and its standard error."""

    slope: float
    se: float
    df: int


def within_slope(runs: Paired) -> Slope:
    """The slope with seed fixed effects (see the module's docstring); exactly 0
    with standard error 0 where every seed's values are constant."""
    if all(np.ptp(runs.y[stratum]) == 0 for stratum in runs.strata()):
        return Slope(0.0, 0.0, runs.df)  # exactly, where the fit would leave rounding noise
    x, y = runs.centred(runs.x), runs.centred(runs.y)
    sxx = float(x @ x)
    slope = float(x @ y) / sxx
    residuals = y - slope * x
    return Slope(slope, math.sqrt(float(residuals @ residuals) / runs.df / sxx), runs.df)


def within_ranks(runs: Paired) -> tuple[np.ndarray, np.ndarray]:
    """x and the values ranked within each seed (ties get their mean rank), centred on the seed's mean rank."""
    x, y = np.empty(runs.n), np.empty(runs.n)
    for stratum in runs.strata():
        x[stratum] = stats.rankdata(runs.x[stratum]) - (stratum.size + 1) / 2
        y[stratum] = stats.rankdata(runs.y[stratum]) - (stratum.size + 1) / 2
    return x, y


def smallest_p(runs: Paired, permutations: int) -> float:
    """The smallest two-sided p-value any values could give these runs: within
    a seed of n_s runs, the arrangements as extreme as the values sorted along
    the widths are prod(k!) of its n_s!, k runs per width; resampling adds 1
    to the count out of permutations + 1."""
    log_extreme = 0.0
    for stratum in runs.strata():
        _, per_width = np.unique(runs.x[stratum], return_counts=True)
        log_extreme += special.gammaln(per_width + 1).sum() - special.gammaln(stratum.size + 1)
    return min(1.0, 2 * max(math.exp(log_extreme), 1 / (permutations + 1)))


def arrangements(runs: Paired) -> float:
    """How many ways the values can be permuted within their seeds: prod(n_s!)."""
    return math.exp(sum(special.gammaln(stratum.size + 1) for stratum in runs.strata()))


def rank_test(runs: Paired, *, permutations: int, seed: int) -> tuple[float, float]:
    """The within-seed Spearman rho and its two-sided stratified permutation
    p-value (exact when there are at most ``permutations`` arrangements).
    Values constant within every seed have no rho (NaN) and p = 1."""
    x, y = within_ranks(runs)
    spread = float(y @ y)
    if spread == 0:
        return math.nan, 1.0
    observed = float(x @ y)
    rho = observed / math.sqrt(float(x @ x) * spread)
    exact = arrangements(runs) <= permutations
    statistics = _every_arrangement(runs, x, y) if exact else _resampled(runs, x, y, permutations, seed)
    tolerance = TIES * max(1.0, abs(observed))
    greater, less = (statistics >= observed - tolerance).sum(), (statistics <= observed + tolerance).sum()
    if exact:
        p_greater, p_less = greater / statistics.size, less / statistics.size
    else:  # the observed arrangement counts as one of the resamples
        p_greater, p_less = (greater + 1) / (permutations + 1), (less + 1) / (permutations + 1)
    return rho, float(min(1.0, 2 * min(p_greater, p_less)))


def _every_arrangement(runs: Paired, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The statistic sum(x * y) for every within-seed arrangement of y: the
    sum over seeds of each seed's own statistics, all combinations."""
    total = np.zeros(1)
    for stratum in runs.strata():
        orders = np.array(list(itertools.permutations(range(stratum.size))))
        total = np.add.outer(total, y[stratum][orders] @ x[stratum]).ravel()
    return total


def _resampled(runs: Paired, x: np.ndarray, y: np.ndarray, permutations: int, seed: int) -> np.ndarray:
    """The statistic for ``permutations`` random within-seed arrangements of y."""
    rng = np.random.default_rng(seed)
    total = np.zeros(permutations)
    for stratum in runs.strata():
        shuffled = rng.permuted(np.tile(y[stratum], (permutations, 1)), axis=1)
        total += shuffled @ x[stratum]
    return total


def minimum_detectable(se: float, df: int, *, alpha: float, power: float) -> float:
    """The smallest slope a two-sided test at level ``alpha`` detects with
    probability ``power``, given the slope's standard error on ``df`` degrees
    of freedom: (t_{1 - alpha/2, df} + t_{power, df}) * se. With t rather than
    normal quantiles the power at this slope stays within 2 points of the
    target from 3 degrees of freedom on (the noncentral t gives 0.784 at 3,
    0.800 at 11); normal quantiles would give 0.48 at 3 and 0.72 at 11."""
    return (float(stats.t.ppf(1 - alpha / 2, df)) + float(stats.t.ppf(power, df))) * se
