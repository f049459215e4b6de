"""Verdicts on the paper's hypothesis, one per (preset, variant) of a sweep,
and one per layer as well for the per-layer presets.

The paper (section 2.4) claims that a wider network of the same family
develops more removable units and/or more repeated units than a narrower one,
while generalising as well or better. Its figures show means per width by eye;
a verdict puts a test behind that reading, and says "inconclusive" when the
runs cannot tell: a trend that is not significant is not shown to be absent.

Which runs count. Only runs with status ``done`` that did not collapse and
were kept. A network that predicts one class for everything has AUC 1 without
meaning anything, so collapsed runs would fake removability. Left-out runs are
counted, each once, under the first reason that applies: ``failed`` (status
``failed``), ``diverged`` (status ``diverged``: the training loss became
non-finite, so the run has no metrics), ``pending`` (any other status but
``done``: a sweep still running), ``collapsed``, ``not_kept`` (for example a
candidate that lost the sweep's hyperparameter selection). ``lost_groups``
counts the selection groups (column ``group``) none of whose candidates
could be used because every one diverged or collapsed. A run missing one
metric (NaN) is dropped from that metric's test only.

Each metric's trend with width, over the counted runs with each replicate a
separate point (x = log2 of the width factor):

- ``rho`` and ``p``: Spearman's rank correlation between the metric and x,
  and its two-sided permutation p-value (metric values shuffled across runs;
  ``permutations`` seeded resamples, or every permutation when there are no
  more of them than that). Ranks make it blind to the metric's scale and to
  how evenly the widths are spaced; the permutation assumes no distribution,
  which matters with 15 points and bounded metrics such as AUC. A constant
  metric has no rho (NaN) and p = 1. Not computed (NaN) for fewer than 4 runs
  or 2 widths, or for runs so few that no outcome could give p < alpha (the
  orderings as extreme as the metric sorted along the widths are prod(k!) of
  the n!, k runs per width: 4 runs at 4 widths, or 6 runs at 2 widths, can
  never reach p < 0.05).
- ``slope``, ``ci_low``, ``ci_high``: the least-squares change of the metric
  per doubling of width and its (1 - 2 alpha) t confidence interval (90% at
  the default alpha). The interval assumes that the runs are independent
  given their width (each has its own seed), that the metric's mean is linear
  in x, and that the scatter about that line is normal with the same spread
  at every width. Bounded metrics near a bound (AUC near 1) bend the last
  two, so the interval is approximate; a curved trend widens it (it is then
  harder to call flat), but a U-shape with no linear component can read as
  flat, which the figures would show.
- ``delta`` (``margin`` in words): the equivalence margin, the largest change
  per doubling that counts as no change; see :data:`MARGINS` for each
  metric's margin and why. ``p_flat``: the p-value of the two one-sided tests
  (TOST) that the slope lies inside +-delta; p_flat < alpha exactly when the
  (1 - 2 alpha) interval lies inside +-delta.
- ``p_holm`` and ``p_flat_holm``: the same p-values Holm-Bonferroni adjusted
  over one report, within each family of :data:`FAMILIES` (every variant of
  the table, and for the hypothesis both of its metrics), so that the chance
  of any false "rises"/"falls", or of any false "flat", across the whole
  report stays below alpha, however many variants it holds. Untested metrics
  are not members of the family. The adjustment makes a row's verdict depend
  on the other rows of the table: the raw p-values do not.
- ``trend``: ``rises`` (``falls``) if rho > 0 (< 0) with p_holm < alpha;
  otherwise ``flat`` if p_flat_holm < alpha (equivalence shown); otherwise
  ``inconclusive``. A significant trend smaller than delta still rises or
  falls: the hypothesis asks for more, not for much more.

Two verdicts per row. The raw verdict uses the paper's metrics. The
controlled one (DESIGN.md, "Controls") allows for two effects the paper's
metrics confound with width: a wide untrained network already resists random
ablation, and the mean count of similar units grows with the number of units
even when the |r| distribution does not change. It tests ``auc_beyond_init``
(AUC minus the same run's AUC at initialisation) and
``similarity_fraction_beyond_init`` (the similarity fraction, count / (units
- 1), minus its value at initialisation). Runs whose network already
collapsed at initialisation (``collapsed_init``; a missing column reads as
False) have no meaningful baseline: they are left out of the controlled tests
only, and counted. ``<metric>_init_slope`` gives the untrained slope for
context.

``hypothesis`` holds if AUC or similarity rises, fails if both are shown flat
or falling, and is otherwise inconclusive; ``hypothesis_controlled`` applies
the same rule to AUC beyond init and similarity fraction beyond init. The
accuracy part of the hypothesis ("as well or better") is the test accuracy
trend, shown beside it and not folded in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from frivolous.results.table import DIVERGED, DONE, FAILED

BEYOND = "_beyond_init"
"""Suffix of a metric tested as its value minus the same run's value at initialisation."""

RAW = ("test_accuracy", "auc", "similarity", "similarity_fraction")
"""The paper's metrics, tested for the raw verdict (similarity fraction for context)."""

CONTROLLED = ("auc", "similarity_fraction")
"""Metrics tested beyond initialisation (column ``<metric>_init``) for the controlled verdict."""

EFFECTIVE = "effective_width_fraction"
"""Units of the smallest equivalent network (``measure.effective_width``) over the run's units: tested
where a sweep measured it. It falls with width exactly when effective width grows more slowly than width
(the AAAI version's claim, "wider networks are not really that wide")."""

KEYS = (*RAW, *(f"{m}{BEYOND}" for m in CONTROLLED), EFFECTIVE)
"""Every tested quantity of a verdict row; each has columns ``<key>_<part>`` for :data:`PARTS`."""

LAYER_KEYS = ("auc", "similarity", *(f"{m}{BEYOND}" for m in CONTROLLED))
"""The tested quantities of a per-layer verdict row."""

PARTS = ("n", "rho", "p", "p_holm", "slope", "ci_low", "ci_high", "delta", "margin", "p_flat", "p_flat_holm", "trend")

HYPOTHESES = MappingProxyType(
    {"hypothesis": ("auc", "similarity"),
     "hypothesis_controlled": ("auc_beyond_init", "similarity_fraction_beyond_init")}
)  # fmt: skip
"""Verdict column -> the two trends it is decided from (holds if either rises)."""

FAMILIES = (("test_accuracy",), ("similarity_fraction",), *HYPOTHESES.values(), (EFFECTIVE,))
"""Holm families: the tests of these keys over all rows of one table are adjusted together."""

SLOWER = "effective_width_slower"
"""Verdict column: does effective width grow more slowly than width? "yes" (its fraction falls), "no" (shown
flat or rising), or "inconclusive" (including sweeps that did not measure it)."""
SLOWER_WORDS = MappingProxyType({"falls": "yes", "flat": "no", "rises": "no"})

MIN_RUNS = 4
"""Fewest runs a trend is tested on: with 3 the smallest exact p-value is 1/3."""

MIN_WIDTHS = 2
"""Fewest distinct widths a trend is tested on: one width has no trend."""

LABELS = MappingProxyType(
    {"test_accuracy": "test accuracy", "auc": "AUC", "similarity": "similarity",
     "similarity_fraction": "similarity fraction", "auc_beyond_init": "AUC beyond init",
     "similarity_fraction_beyond_init": "similarity fraction beyond init",
     EFFECTIVE: "effective width fraction"}
)  # fmt: skip


@dataclass(frozen=True)
class Margin:
    """The equivalence margin of one metric: the largest change per doubling
    of width that counts as no change. ``relative``: ``value`` is a fraction
    of the metric's mean magnitude over the runs tested, for a metric with no
    fixed scale."""

    value: float
    relative: bool = False
    reason: str = "set by the caller"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and self.value >= 0):
            raise ValueError(f"an equivalence margin must be finite and >= 0, got {self.value}")

    def of(self, values: np.ndarray) -> float:
        """The margin in the metric's units for these values."""
        return self.value * abs(float(np.mean(values))) if self.relative else self.value

    def __str__(self) -> str:
        return f"±{self.value:.0%} of the mean" if self.relative else f"±{self.value:g}"


_SAME_SCALE = "the scale of the metric itself: training must add more than that per doubling"
MARGINS = MappingProxyType({
    "test_accuracy": Margin(0.01, reason=(
        "one point of accuracy per doubling, 4 over the paper's 1/4x to 4x range: a smaller change still reads as "
        "the wider network generalising 'as well', the paper's words")),
    "auc": Margin(0.01, reason=(
        "AUC lies in [0, 1]; 0.01 per doubling is 0.04 over the paper's 1/4x to 4x range, too small a change to "
        "read as more removable units")),
    "similarity": Margin(0.05, relative=True, reason=(
        "the mean count of similar units has no fixed scale (it grows with the units of a layer), so the margin "
        "is 5% of its mean over the runs tested per doubling, about 22% over the 16-fold range")),
    "similarity_fraction": Margin(0.01, reason=(
        "the fraction of a unit's peers it is similar to lies in [0, 1]; one percentage point of the peers "
        "per doubling")),
    "auc_beyond_init": Margin(0.01, reason=_SAME_SCALE),
    "similarity_fraction_beyond_init": Margin(0.01, reason=_SAME_SCALE),
    EFFECTIVE: Margin(0.01, reason=(
        "the fraction of its units a network needs lies in [0, 1]; effective width growing in proportion to width "
        "keeps it flat, so one percentage point per doubling")),
})  # fmt: skip
"""The default equivalence margin of every tested key, with the reason for it."""

RULE = (
    "Over finished, non-collapsed, kept runs of each preset and variant (replicates as separate points; x = log2 "
    "width factor), a metric rises (falls) with width when Spearman's rho between it and x is positive (negative) "
    "with a two-sided permutation p < alpha (0.05) after Holm's correction over the report. It is flat only when "
    "equivalence is shown: the (1 - 2 alpha) = 90% t interval of its least-squares slope per doubling lies inside "
    "±δ, the margin declared per metric (two one-sided tests, Holm-corrected the same way). Otherwise it is "
    "inconclusive: a trend that is not significant is not shown to be absent. Holm families: test accuracy over "
    "the variants; the AUC and similarity tests of the hypothesis together over the variants; the same for the "
    "controlled hypothesis; similarity fraction. The hypothesis holds if AUC or similarity rises, fails if both "
    "are shown flat or falling, and is otherwise inconclusive. The controlled verdict applies the same rule to "
    "AUC beyond init (each run's AUC minus its AUC at initialisation) and to the similarity fraction beyond init "
    "(the count of similar units grows with the number of units even when the |r| distribution does not), "
    "leaving out runs whose network collapsed at initialisation."
)

_REQUIRED = ("preset", "variant", "width_factor", "status", "collapsed", "kept",
             *RAW, *(f"{m}_init" for m in CONTROLLED))  # fmt: skip


@dataclass(frozen=True)
class Trend:
    """The tests of one metric against log2(width factor), before the Holm
    adjustment (which needs the other rows of the report)."""

    n: int
    rho: float
    p: float
    slope: float
    ci_low: float
    ci_high: float
    delta: float
    margin: str
    p_flat: float


def trend(
    log2_width: np.ndarray, values: np.ndarray, *, margin: Margin, alpha: float, permutations: int, seed: int
) -> Trend:
    """Spearman's rho of ``values`` with ``log2_width`` and its permutation
    p-value; the least-squares slope per doubling, its (1 - 2 alpha)
    confidence interval and the TOST p-value against +-``margin``.
    Non-finite points are dropped."""
    x, y = _points(log2_width, values)
    n = int(x.size)
    if not _testable(x):
        return Trend(n, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, str(margin), math.nan)
    delta = margin.of(y)
    slope, low, high, p_flat = _equivalence(x, y, delta, alpha)
    rho, p = _rank_test(x, y, permutations=permutations, seed=seed, alpha=alpha)
    return Trend(n, rho, p, slope, low, high, delta, str(margin), p_flat)


def _rank_test(x: np.ndarray, y: np.ndarray, *, permutations: int, seed: int, alpha: float) -> tuple[float, float]:
    if _smallest_p(x, permutations) >= alpha:
        return math.nan, math.nan
    if np.unique(y).size == 1:
        return math.nan, 1.0
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
    return float(result.statistic), float(result.pvalue)


def _equivalence(x: np.ndarray, y: np.ndarray, delta: float, alpha: float) -> tuple[float, float, float, float]:
    """Slope, its (1 - 2 alpha) t interval, and the TOST p-value for |slope| < delta."""
    if np.unique(y).size == 1:
        return 0.0, 0.0, 0.0, 0.0  # exactly, where the fit would leave rounding noise
    centred = x - x.mean()
    slope = float(centred @ (y - y.mean()) / (centred @ centred))
    residuals = y - y.mean() - slope * centred
    df = x.size - 2
    se = math.sqrt(residuals @ residuals / df / (centred @ centred))
    if se == 0:
        return slope, slope, slope, 0.0 if abs(slope) <= delta else 1.0
    half = float(stats.t.ppf(1 - alpha, df)) * se
    p_flat = max(float(stats.t.sf((slope + delta) / se, df)), float(stats.t.cdf((slope - delta) / se, df)))
    return slope, slope - half, slope + half, p_flat


def slope_per_doubling(log2_width: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` on ``log2_width`` over finite points;
    NaN where too few runs or widths leave no trend to test."""
    x, y = _points(log2_width, values)
    if not _testable(x):
        return math.nan
    return _equivalence(x, y, 0.0, 0.05)[0]


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


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values. NaN (untested) values are not
    members of the family and stay NaN. The k-th smallest of m p-values is
    multiplied by m - k + 1, made non-decreasing, and capped at 1."""
    p = np.asarray(p_values, float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(np.isfinite(p))
    running = 0.0
    for rank, index in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (tested.size - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def decide(rho: float, p_holm: float, p_flat_holm: float, alpha: float) -> str:
    """The trend word from the Holm-adjusted p-values: "rises", "falls", "flat" or "inconclusive"."""
    if p_holm < alpha and rho != 0:  # False for NaN
        return "rises" if rho > 0 else "falls"
    return "flat" if p_flat_holm < alpha else "inconclusive"


def hypothesis(first: str, second: str) -> str:
    """The paper's hypothesis from two trend words (AUC and similarity, or
    their controlled forms): "holds", "fails" or "inconclusive"."""
    if "rises" in (first, second):
        return "holds"
    return "fails" if {first, second} <= {"flat", "falls"} else "inconclusive"


def margins(overrides: Mapping[str, float | Margin] | None = None) -> dict[str, Margin]:
    """:data:`MARGINS` with some replaced: a number is an absolute margin."""
    chosen = dict(MARGINS)
    for key, value in (overrides or {}).items():
        if key not in MARGINS:
            raise ValueError(f"no equivalence margin for {key!r}; choose among {list(MARGINS)}")
        chosen[key] = value if isinstance(value, Margin) else Margin(float(value))
    return chosen


def verdicts(
    runs: pd.DataFrame,
    *,
    alpha: float = 0.05,
    permutations: int = 10_000,
    seed: int = 0,
    deltas: Mapping[str, float | Margin] | None = None,
) -> pd.DataFrame:
    """One row per (preset, variant) of a sweep's run table: the trend of
    each metric with width, the same beyond initialisation, and both verdicts
    on the hypothesis. The rule is in this module's docstring; ``deltas``
    replaces some of the equivalence margins of :data:`MARGINS` (a number is
    an absolute margin per doubling). Every test uses ``seed`` on points in a
    canonical order, so the raw p-values depend neither on the order of the
    rows nor on the other groups in the table (the Holm-adjusted ones do)."""
    missing = [column for column in _REQUIRED if column not in runs.columns]
    if missing:
        raise ValueError(f"run table lacks columns {missing}")
    chosen = margins(deltas)
    test = {"alpha": alpha, "permutations": permutations, "seed": seed}
    runs = runs.assign(variant=runs["variant"].fillna(""))
    rows = []
    for (preset, variant), group in runs.groupby(["preset", "variant"], sort=True):
        used, counts = _select(group)
        width = used["width_factor"].to_numpy(float)
        if (width <= 0).any():
            raise ValueError(f"{preset} {variant!r}: width factors must be positive, got {sorted(set(width))}")
        log2_width = np.log2(width)
        row: dict[str, Any] = {
            "preset": str(preset), "variant": str(variant), "alpha": alpha, "n": len(used),
            "widths": tuple(float(w) for w in sorted(set(width[np.isfinite(width)]))), **counts,
        }  # fmt: skip
        for key in KEYS:
            row |= _trend_columns(key, trend(log2_width, _values(used, key), margin=chosen[key], **test))
        for metric in CONTROLLED:
            init = used[f"{metric}_init"].where(~used["collapsed_init"]).to_numpy(float)
            row[f"{metric}_init_slope"] = slope_per_doubling(log2_width, init)
        rows.append(row)
    table = pd.DataFrame(rows, columns=_columns())
    return _decide(table, KEYS, alpha)


def layer_verdicts(
    runs: pd.DataFrame,
    layers: pd.DataFrame,
    *,
    alpha: float = 0.05,
    permutations: int = 10_000,
    seed: int = 0,
    deltas: Mapping[str, float | Margin] | None = None,
) -> pd.DataFrame:
    """One row per (preset, variant, layer): the trends of the layer's AUC and
    similarity with width, raw and beyond initialisation, and both verdicts,
    by the rule of :func:`verdicts` over the same runs. ``layers`` is a
    sweep's layers table (one row per run, stage, layer and sampling; stages
    ``trained`` and ``init``); a run's value for a layer is its mean over
    samplings. Holm families span every row of this table: each layer is one
    more test. Layers keep the order in which the table first lists them (the
    network's order)."""
    missing = [column for column in _REQUIRED if column not in runs.columns]
    missing += [f"layers.{c}" for c in ("run_id", "stage", "layer", "auc", "similarity", "similarity_fraction")
                if c not in layers.columns]  # fmt: skip
    if "run_id" not in runs.columns:
        missing.append("run_id")
    if missing and not layers.empty:
        raise ValueError(f"run or layers table lacks columns {missing}")
    columns = ["preset", "variant", "layer", "alpha", "n", *_key_columns(LAYER_KEYS), *HYPOTHESES]
    if layers.empty or runs.empty:
        return pd.DataFrame(columns=columns)
    chosen = margins(deltas)
    test = {"alpha": alpha, "permutations": permutations, "seed": seed}
    order = {name: i for i, name in enumerate(pd.unique(layers["layer"]))}
    layers = layers[layers["stage"].isin(["trained", "init"])]
    per_run = (layers.groupby(["run_id", "layer", "stage"], sort=False)[["auc", "similarity", "similarity_fraction"]]
               .mean().unstack("stage"))  # fmt: skip
    per_run.columns = [metric if stage == "trained" else f"{metric}_{stage}" for metric, stage in per_run.columns]
    per_run = per_run.reindex(columns=[*RAW[1:], *(f"{m}_init" for m in CONTROLLED)])  # a stage may be missing
    runs = runs.assign(variant=runs["variant"].fillna(""))
    rows = []
    for (preset, variant), group in runs.groupby(["preset", "variant"], sort=True):
        used = _select(group)[0][["run_id", "width_factor", "collapsed_init"]]
        measured = used.merge(per_run.reset_index(), on="run_id")
        for layer, runs_of_layer in sorted(measured.groupby("layer"), key=lambda item: order[item[0]]):
            log2_width = np.log2(runs_of_layer["width_factor"].to_numpy(float))
            row = {"preset": str(preset), "variant": str(variant), "layer": layer, "alpha": alpha,
                   "n": len(runs_of_layer)}  # fmt: skip
            for key in LAYER_KEYS:
                values = _values(runs_of_layer, key)
                row |= _trend_columns(key, trend(log2_width, values, margin=chosen[key], **test))
            rows.append(row)
    return _decide(pd.DataFrame(rows, columns=columns), LAYER_KEYS, alpha)


def _select(group: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The runs a verdict uses (with ``collapsed_init`` filled in) and the
    counts of those left out, each under its first reason."""
    status = group["status"]
    failed = status.eq(FAILED)
    diverged = status.eq(DIVERGED)
    pending = ~failed & ~diverged & status.ne(DONE)
    collapsed = status.eq(DONE) & group["collapsed"].eq(True)
    not_kept = status.eq(DONE) & ~collapsed & ~group["kept"].eq(True)
    used = group[status.eq(DONE) & ~collapsed & ~not_kept]
    init = used["collapsed_init"].eq(True) if "collapsed_init" in used else pd.Series(False, index=used.index)
    used = used.assign(collapsed_init=init)
    counts = {"failed": failed, "diverged": diverged, "pending": pending, "collapsed": collapsed,
              "not_kept": not_kept}  # fmt: skip
    return used, {reason: int(mask.sum()) for reason, mask in counts.items()} | {
        "collapsed_init": int(init.sum()), "lost_groups": len(lost_groups(group))
    }


def lost_groups(runs: pd.DataFrame) -> list[str]:
    """The selection groups (column ``group``; none without it) every one of
    whose candidates diverged or collapsed, so that no run stands for them."""
    if "group" not in runs.columns or runs.empty:
        return []
    lost = runs["status"].eq(DIVERGED) | (runs["status"].eq(DONE) & runs["collapsed"].eq(True))
    every = lost.groupby(runs["group"], sort=True).all()
    return [str(group) for group in every.index[every]]


def _values(runs: pd.DataFrame, key: str) -> np.ndarray:
    """The values tested for ``key``: a metric, or (``<metric>_beyond_init``)
    the metric minus its value at initialisation, NaN where the network
    collapsed at initialisation."""
    if key not in runs and key == EFFECTIVE:  # measured only where the sweep asked for it
        return np.full(len(runs), np.nan)
    if not key.endswith(BEYOND):
        return runs[key].to_numpy(float)
    metric = key.removesuffix(BEYOND)
    excess = runs[metric] - runs[f"{metric}_init"]
    return excess.where(~runs["collapsed_init"]).to_numpy(float)


def _trend_columns(key: str, result: Trend) -> dict[str, Any]:
    return {f"{key}_{field.name}": getattr(result, field.name) for field in fields(result)}


def _key_columns(keys: tuple[str, ...]) -> list[str]:
    return [f"{key}_{part}" for key in keys for part in PARTS]


def _columns() -> list[str]:
    columns = ["preset", "variant", "alpha", "n", "widths", "failed", "diverged", "pending", "collapsed", "not_kept",
               "collapsed_init", "lost_groups", *_key_columns(KEYS)]  # fmt: skip
    return columns + [f"{m}_init_slope" for m in CONTROLLED] + list(HYPOTHESES) + [SLOWER]


def _decide(table: pd.DataFrame, keys: tuple[str, ...], alpha: float) -> pd.DataFrame:
    """Holm-adjust each family's p-values over the table, then give every
    trend and hypothesis its word."""
    for family in FAMILIES:
        members = [key for key in family if key in keys]
        for p in ("p", "p_flat") if members else ():
            stacked = np.concatenate([table[f"{key}_{p}"].to_numpy(float) for key in members])
            for key, adjusted in zip(members, np.split(holm(stacked), len(members))):
                table[f"{key}_{p}_holm"] = adjusted
    for key in keys:
        table[f"{key}_trend"] = [
            decide(rho, p, p_flat, alpha)
            for rho, p, p_flat in zip(table[f"{key}_rho"], table[f"{key}_p_holm"], table[f"{key}_p_flat_holm"])
        ]
    for column, (first, second) in HYPOTHESES.items():
        table[column] = [hypothesis(a, b) for a, b in zip(table[f"{first}_trend"], table[f"{second}_trend"])]
    if f"{EFFECTIVE}_trend" in table:
        table[SLOWER] = [SLOWER_WORDS.get(word, "inconclusive") for word in table[f"{EFFECTIVE}_trend"]]
    return table


def describe_verdict(row: pd.Series | Mapping[str, Any]) -> str:
    """A few sentences for a row of :func:`verdicts`, e.g. "test accuracy
    flat (...); AUC rises (rho +0.82, p 0.001, Holm p 0.004; slope +0.031 per
    doubling, 90% CI [+0.025, +0.037], δ ±0.01, ...); ... Hypothesis holds
    (controlled: inconclusive); 15 runs at widths 0.25/0.5/1/2/4"."""
    if row["n"] == 0:
        return describe_runs(row)
    raw = "; ".join(describe_trend(row, key) for key in RAW)
    controlled = "; ".join(describe_trend(row, f"{m}{BEYOND}") for m in CONTROLLED)
    return f"{raw}. Controlled: {controlled}. {describe_runs(row)}"


def describe_runs(row: pd.Series | Mapping[str, Any]) -> str:
    """Both verdicts of a row of :func:`verdicts` and the runs behind them:
    how many, at which widths, and those left out and why."""
    counts = {reason: int(row[reason]) for reason in ("failed", "diverged", "pending", "collapsed", "not_kept")}
    left_out = ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in counts.items() if count)
    notes = [f"left out: {left_out}"] if left_out else []
    if row["collapsed_init"]:
        notes.append(f"{row['collapsed_init']} collapsed at initialisation (left out of the controlled tests)")
    if row["lost_groups"]:
        notes.append(f"{row['lost_groups']} groups with every candidate diverged or collapsed")
    if row["n"] == 0:
        return "; ".join(["no usable runs", *notes, "hypothesis inconclusive"])
    widths = "/".join(f"{w:g}" for w in row["widths"])
    verdict = f"Hypothesis {row['hypothesis']} (controlled: {row['hypothesis_controlled']})"
    return "; ".join([verdict, f"{row['n']} runs at widths {widths}", *notes])


def describe_trend(row: pd.Series | Mapping[str, Any], key: str) -> str:
    """One metric's trend in words, with the numbers behind it."""
    label, word = LABELS[key], row[f"{key}_trend"]
    if math.isnan(row[f"{key}_slope"]):
        return f"{label} {word} (not tested: {row[f'{key}_n']} runs, or fewer than {MIN_WIDTHS} widths)"
    p = row[f"{key}_p"]
    if math.isnan(p):
        ranks = "too few runs for the rank test to reach p < alpha"
    elif math.isnan(row[f"{key}_rho"]):
        ranks = "constant"
    else:
        ranks = f"rho {row[f'{key}_rho']:+.2f}, p {p:.2g}, Holm p {row[f'{key}_p_holm']:.2g}"
    level, margin, delta = 1 - 2 * float(row["alpha"]), row[f"{key}_margin"], f"±{row[f'{key}_delta']:.3g}"
    return (
        f"{label} {word} ({ranks}; slope {row[f'{key}_slope']:+.3g} per doubling, {level:.0%} CI "
        f"[{row[f'{key}_ci_low']:+.3g}, {row[f'{key}_ci_high']:+.3g}], δ {margin}"
        f"{'' if margin == delta else f' = {delta}'}, equivalence Holm p {row[f'{key}_p_flat_holm']:.2g})"
    )
