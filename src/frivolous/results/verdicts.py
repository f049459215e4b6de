"""Verdicts on the paper's hypothesis, one per (preset, variant) of a sweep.

The paper (section 2.4) claims that a wider network of the same family
develops more removable units and/or more repeated units than a narrower one,
while generalising as well or better. Its figures show means per width by eye;
a verdict puts a test behind that reading.

Which runs count. Only runs with status ``done`` that did not collapse and
were kept. A network that predicts one class for everything has AUC 1 without
meaning anything, so collapsed runs would fake removability. Left-out runs are
counted, each once, under the first reason that applies: ``failed`` (status
``failed``), ``pending`` (any other status but ``done``: a sweep still
running), ``collapsed``, ``not_kept`` (for example a candidate that lost the
sweep's hyperparameter selection). A run missing one metric (NaN) is dropped
from that metric's test only.

The trend of a metric with width. Over all counted runs, each replicate a
separate point:

- ``rho``: Spearman's rank correlation between the metric and log2(width
  factor). Ranks make it blind to the metric's scale and to how evenly the
  widths are spaced, and replicates at one width are tied in width.
- ``p``: two-sided permutation p-value of rho (metric values shuffled across
  runs; ``permutations`` seeded resamples, or every permutation when there are
  no more of them than that). It assumes no distribution, which matters with
  15 points and bounded metrics such as AUC.
- ``slope``: the effect size, the least-squares change of the metric per
  doubling of width (slope of the metric on log2 width).
- ``trend``: ``rises`` if rho > 0 and p < alpha, ``falls`` if rho < 0 and
  p < alpha, else ``flat``. A constant metric has no rho (NaN): it is flat with
  p = 1 and slope 0.
- Not tested (rho and p NaN, trend flat): fewer than 4 runs or fewer than 2
  widths (slope NaN too), or runs so few that no outcome could give p < alpha
  (the most extreme orderings, the metric sorted along the widths, are
  prod(k!) of the n! orderings for k runs per width: 4 runs at 4 widths, or
  6 runs at 2 widths, can never reach p < 0.05). Such a test could not have
  found a trend, so it decides nothing.

Controls (DESIGN.md, "Controls"). A wide untrained network already resists
random ablation, and the count of similar units grows with the number of units
even when the |r| distribution does not change. Every run is also measured at
initialisation, so for AUC, similarity and similarity fraction the same test
is applied to the per-run difference metric - metric at initialisation:
``<metric>_beyond_init`` says whether training adds a trend beyond the one the
untrained network already has; ``<metric>_init_slope`` gives the untrained
slope for context.

The verdict. ``accuracy_holds`` is True unless test accuracy falls (the
hypothesis presumes the wide network generalises as well). ``hypothesis``
holds if AUC or similarity rises, fails if neither rises, and is undecided
when neither rises and one of them was not tested. ``hypothesis_beyond_init``
applies the same rule to the beyond-init trends. Each metric is tested at ``alpha`` separately, with no correction for
testing two: under no trend at all, "holds" comes out with probability up to
about 2 alpha.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

RULE = (
    "Over finished, non-collapsed, kept runs of each preset and variant (replicates as separate points), "
    "a metric rises (falls) with width when Spearman's rho between it and log2(width factor) is positive "
    "(negative) with a two-sided permutation p < alpha (0.05 by default); otherwise it is flat. "
    "The hypothesis, removability and/or repetition increases with width, holds if AUC or similarity rises; "
    "otherwise it fails, or is undecided if either could not be tested (fewer than 4 runs, fewer than 2 widths, "
    "or too few runs for any outcome to reach p < alpha). 'Beyond init' applies the same test to each run's "
    "metric minus its value at initialisation. Accuracy holds unless test accuracy falls."
)

METRICS = ("test_accuracy", "auc", "similarity", "similarity_fraction")
"""Metrics whose trend with width is tested."""

CONTROLLED = ("auc", "similarity", "similarity_fraction")
"""Metrics also measured at initialisation (column ``<metric>_init``)."""

MIN_RUNS = 4
"""Fewest runs a trend is tested on: with 3 the smallest exact p-value is 1/3."""

MIN_WIDTHS = 2
"""Fewest distinct widths a trend is tested on: one width has no trend."""

_LABELS = MappingProxyType(
    {"test_accuracy": "test accuracy", "auc": "AUC", "similarity": "similarity",
     "similarity_fraction": "similarity fraction"}
)  # fmt: skip

_REQUIRED = ("preset", "variant", "width_factor", "status", "collapsed", "kept",
             *METRICS, *(f"{m}_init" for m in CONTROLLED))  # fmt: skip


@dataclass(frozen=True)
class Trend:
    """The test of one metric against log2(width factor)."""

    n: int
    rho: float
    p: float
    slope: float
    trend: str

    @property
    def tested(self) -> bool:
        """False when the runs were too few, or at too few widths, for any
        outcome to reach alpha."""
        return not math.isnan(self.p)


def trend(log2_width: np.ndarray, values: np.ndarray, *, alpha: float, permutations: int, seed: int) -> Trend:
    """Spearman's rho of ``values`` with ``log2_width``, its permutation p-value
    and the least-squares slope per doubling; non-finite points are dropped."""
    x, y = _points(log2_width, values)
    n, slope = int(x.size), slope_per_doubling(x, y)
    if not _testable(x) or _smallest_p(x, permutations) >= alpha:
        return Trend(n, math.nan, math.nan, slope, "flat")
    if np.unique(y).size == 1:
        return Trend(n, math.nan, 1.0, slope, "flat")
    # Spearman's rho is Pearson's r of the ranks, the mean product of their
    # z-scores. Shuffling keeps the z-scores' mean and spread, so scoring once
    # makes each resample's rho one dot product (pearsonr would also compute a
    # p-value per resample, 6 times the cost).
    x_scores, y_scores = stats.zscore(stats.rankdata(x)), stats.zscore(stats.rankdata(y))
    result = stats.permutation_test(
        (y_scores,),
        lambda scores, axis: np.mean(np.moveaxis(scores, axis, -1) * x_scores, axis=-1),
        permutation_type="pairings",
        vectorized=True,
        n_resamples=permutations,
        rng=seed,
    )
    rho, p = float(result.statistic), float(result.pvalue)
    if p >= alpha or rho == 0:
        return Trend(n, rho, p, slope, "flat")
    return Trend(n, rho, p, slope, "rises" if rho > 0 else "falls")


def slope_per_doubling(log2_width: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` on ``log2_width`` over finite points;
    NaN where too few runs or widths leave no trend to test."""
    x, y = _points(log2_width, values)
    if not _testable(x):
        return math.nan
    if np.unique(y).size == 1:
        return 0.0  # exactly, where the fit would leave rounding noise
    return float(np.polyfit(x, y, 1)[0])


def _points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The finite (x, y) pairs in a canonical order, so that the seeded
    resamples, hence p, and the fit do not depend on the order of the rows."""
    keep = np.isfinite(x) & np.isfinite(y)
    order = np.lexsort((y[keep], x[keep]))
    return x[keep][order], y[keep][order]


def _testable(log2_width: np.ndarray) -> bool:
    return log2_width.size >= MIN_RUNS and np.unique(log2_width).size >= MIN_WIDTHS


def _smallest_p(log2_width: np.ndarray, permutations: int) -> float:
    """The smallest two-sided p-value any outcome could give: the orderings as
    extreme as the metric sorted along the widths are prod(k!) of the n!, k
    runs per width; resampling adds 1 to the count out of permutations + 1."""
    _, per_width = np.unique(log2_width, return_counts=True)
    extreme = math.exp(special.gammaln(per_width + 1).sum() - special.gammaln(log2_width.size + 1))
    return min(1.0, 2 * max(extreme, 1 / (permutations + 1)))


def hypothesis(auc: Trend, similarity: Trend) -> str:
    """The paper's hypothesis from the AUC and similarity trends: "holds",
    "fails" or "undecided"."""
    if "rises" in (auc.trend, similarity.trend):
        return "holds"
    return "fails" if auc.tested and similarity.tested else "undecided"


def verdicts(runs: pd.DataFrame, *, alpha: float = 0.05, permutations: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """One row per (preset, variant) of a sweep's run table: the trend of
    each metric with width, the same beyond initialisation, and the verdict on
    the hypothesis. The rule is in this module's docstring. Every test uses
    ``seed`` on points in a canonical order, so the p-values depend neither on
    the order of the rows nor on which other groups are in the table."""
    missing = [column for column in _REQUIRED if column not in runs.columns]
    if missing:
        raise ValueError(f"run table lacks columns {missing}")
    runs = runs.assign(variant=runs["variant"].fillna(""))
    rows = [
        _verdict(str(preset), str(variant), group, alpha=alpha, permutations=permutations, seed=seed)
        for (preset, variant), group in runs.groupby(["preset", "variant"], sort=True)
    ]
    return pd.DataFrame(rows, columns=_columns())


def _columns() -> list[str]:
    columns = ["preset", "variant", "n", "widths", "failed", "pending", "collapsed", "not_kept"]
    for metric in METRICS:
        columns += [f"{metric}_{part}" for part in ("n", "rho", "p", "slope", "trend")]
    for metric in CONTROLLED:
        columns += [f"{metric}_excess_{part}" for part in ("n", "rho", "p", "slope")]
        columns += [f"{metric}_beyond_init", f"{metric}_init_slope"]
    return columns + ["accuracy_holds", "hypothesis", "hypothesis_beyond_init"]


def _verdict(preset: str, variant: str, group: pd.DataFrame, **test: Any) -> dict[str, Any]:
    failed = group["status"].eq("failed")
    pending = ~failed & group["status"].ne("done")
    collapsed = ~failed & ~pending & group["collapsed"].eq(True)
    not_kept = ~failed & ~pending & ~collapsed & ~group["kept"].eq(True)
    used = group[~(failed | pending | collapsed | not_kept)]
    width = used["width_factor"].to_numpy(float)
    if (width <= 0).any():
        raise ValueError(f"{preset} {variant!r}: width factors must be positive, got {sorted(set(width))}")
    log2_width = np.log2(width)
    row: dict[str, Any] = {
        "preset": preset, "variant": variant, "n": len(used),
        "widths": tuple(float(w) for w in sorted(set(width[np.isfinite(width)]))),
        "failed": int(failed.sum()), "pending": int(pending.sum()), "collapsed": int(collapsed.sum()),
        "not_kept": int(not_kept.sum()),
    }  # fmt: skip
    raw = {metric: trend(log2_width, used[metric].to_numpy(float), **test) for metric in METRICS}
    excess = {
        metric: trend(log2_width, used[metric].to_numpy(float) - used[f"{metric}_init"].to_numpy(float), **test)
        for metric in CONTROLLED
    }
    for metric, result in raw.items():
        row |= {f"{metric}_n": result.n, f"{metric}_rho": result.rho, f"{metric}_p": result.p,
                f"{metric}_slope": result.slope, f"{metric}_trend": result.trend}  # fmt: skip
    for metric, result in excess.items():
        row |= {f"{metric}_excess_n": result.n, f"{metric}_excess_rho": result.rho,
                f"{metric}_excess_p": result.p, f"{metric}_excess_slope": result.slope,
                f"{metric}_beyond_init": result.trend}  # fmt: skip
        row[f"{metric}_init_slope"] = slope_per_doubling(log2_width, used[f"{metric}_init"].to_numpy(float))
    row["accuracy_holds"] = raw["test_accuracy"].trend != "falls"
    row["hypothesis"] = hypothesis(raw["auc"], raw["similarity"])
    row["hypothesis_beyond_init"] = hypothesis(excess["auc"], excess["similarity"])
    return row


def describe_verdict(row: pd.Series | Mapping[str, Any]) -> str:
    """One sentence for a row of :func:`verdicts`, e.g. "test accuracy flat
    (...), AUC rises (rho 0.82, p 0.001, +0.031 per doubling), ...;
    hypothesis holds (beyond init: fails)"."""
    counts = {reason: row[reason] for reason in ("failed", "pending", "collapsed", "not_kept")}
    left_out = "; left out: " + ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in counts.items())
    if row["n"] == 0:
        return f"no usable runs{left_out}; hypothesis undecided"
    raw = ", ".join(_describe(_LABELS[m], row, m, f"{m}_trend") for m in METRICS)
    beyond = ", ".join(_describe(_LABELS[m], row, f"{m}_excess", f"{m}_beyond_init") for m in CONTROLLED)
    widths = "/".join(f"{w:g}" for w in row["widths"])
    skipped = left_out if any(counts.values()) else ""
    return (
        f"{raw}; beyond init: {beyond}; hypothesis {row['hypothesis']} "
        f"(beyond init: {row['hypothesis_beyond_init']}); {row['n']} runs at widths {widths}{skipped}"
    )


def _describe(label: str, row: pd.Series | Mapping[str, Any], prefix: str, trend_column: str) -> str:
    p = row[f"{prefix}_p"]
    if math.isnan(p):
        return f"{label} not tested ({row[f'{prefix}_n']} runs)"
    if math.isnan(row[f"{prefix}_rho"]):
        return f"{label} {row[trend_column]} (constant)"
    return (
        f"{label} {row[trend_column]} (rho {row[f'{prefix}_rho']:.2f}, p {p:.2g}, "
        f"{row[f'{prefix}_slope']:+.3g} per doubling)"
    )
