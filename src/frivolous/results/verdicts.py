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

Each metric's trend with width, tested within seeds (x = log2 of the width
factor). A sweep's replicate r has seed r at every width, so its runs share
data, teacher, batch order and initialisation stream, and are paired across
widths: the tests compare a seed's runs only with each other
(:mod:`frivolous.results.paired` says how and why). A seed whose counted
runs all share one width is left out of a metric's tests (``unpaired``): it
says nothing about a change with width.

- ``n``, ``seeds``, ``unpaired``: the runs tested, the seeds they come from,
  and the runs left out because their seed has a single width left.
- ``rho`` and ``p``: Spearman's rank correlation between the metric and x
  within seeds (both ranked within each seed) and its two-sided stratified
  permutation p-value (values permuted among the widths of their own seed;
  ``permutations`` seeded resamples, or every arrangement when there are no
  more of them than that). Ranks make it blind to the metric's scale and to
  how evenly the widths are spaced; the permutation assumes no distribution,
  which matters with 15 points and bounded metrics such as AUC. A metric
  constant within every seed has no rho (NaN) and p = 1. Not computed (NaN)
  where no outcome could give p < alpha: within a seed of n_s runs the
  arrangements as extreme as the metric sorted along the widths are
  prod(k!) of its n_s!, k runs per width, and the seeds multiply (one seed
  at 4 widths, or 3 seeds at 2 widths, can never reach p < 0.05).
- ``slope``, ``se``, ``ci_low``, ``ci_high``: the least-squares change of the
  metric per doubling of width with one intercept per seed (seed fixed
  effects), in the metric's units, its standard error and its (1 - 2 alpha)
  t confidence interval (90% at the default alpha) on n - seeds - 1 degrees
  of freedom. Not computed (NaN) where no seed has runs at two widths or
  fewer than :data:`MIN_DF` degrees of freedom are left. The interval
  assumes that a seed shifts all its runs by one amount, that the metric's
  mean is linear in x, and that the scatter about that line is normal with
  the same spread at every width.
  Bounded metrics near a bound (AUC near 1) bend the last two, so the
  interval is approximate; a curved trend widens it (it is then harder to
  call flat), but a U-shape with no linear component can read as flat,
  which the figures would show.
- ``mde``: the minimum detectable effect, the smallest slope per doubling
  that the slope's two-sided t test at level alpha would detect with 80%
  power at this run count: (t_{1 - alpha/2, df} + t_{0.8, df}) * se
  (:func:`~frivolous.results.paired.minimum_detectable`). It is the slope
  test's; the rank test that decides "rises" may need a somewhat larger
  slope, and Holm's correction raises it further. A trend inconclusive with
  an ``mde`` above ``delta`` had too few runs to tell.
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
- ``trend``: ``rises`` (``falls``) if rho > 0 (< 0) with p_holm < alpha and
  the slope's size is beyond delta; ``rises, within the margin`` (``falls,
  within the margin``) for a significant trend whose slope lies inside
  +-delta: real, but smaller than what counts as a change; otherwise
  ``flat`` if p_flat_holm < alpha (equivalence shown); otherwise
  ``inconclusive``.

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

``hypothesis`` holds if AUC or similarity rises (beyond the margin), fails
if both are shown flat or falling, and is otherwise inconclusive; a rise
within the margin counts as flat where equivalence is shown too, and as
inconclusive where it is not (:func:`counted`). ``hypothesis_controlled``
applies the same rule to AUC beyond init and similarity fraction beyond
init. The accuracy part of the hypothesis ("as well or better") is the test
accuracy trend, shown beside it and not folded in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from scipy import stats

from frivolous.results.paired import Paired, minimum_detectable, pair, rank_test, smallest_p, within_slope
from frivolous.results.results_table import DIVERGED, DONE, FAILED

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

PARTS = (
    "n",
    "seeds",
    "unpaired",
    "rho",
    "p",
    "p_holm",
    "slope",
    "se",
    "ci_low",
    "ci_high",
    "mde",
    "delta",
    "margin",
    "p_flat",
    "p_flat_holm",
    "trend",
)

HYPOTHESES = MappingProxyType(
    {
        "hypothesis": ("auc", "similarity"),
        "hypothesis_controlled": ("auc_beyond_init", "similarity_fraction_beyond_init"),
    }
)
"""Verdict column -> the two trends it is decided from (holds if either rises)."""

FAMILIES = (("test_accuracy",), ("similarity_fraction",), *HYPOTHESES.values(), (EFFECTIVE,))
"""Holm families: the tests of these keys over all rows of one table are adjusted together."""

SLOWER = "effective_width_slower"
"""Verdict column: does effective width grow more slowly than width? "yes" (its fraction falls beyond the
margin), "no" (shown flat, or falling within the margin with equivalence shown, or rising), or "inconclusive"
(including sweeps that did not measure it)."""
SLOWER_WORDS = MappingProxyType({"falls": "yes", "flat": "no", "rises": "no"})

PAIRING = "seed"
"""The run table's column that pairs runs across widths: a replicate's seed, shared by all its widths."""

WITHIN = ", within the margin"
"""Appended to "rises" or "falls" when the trend is significant but its slope lies inside +-delta."""

POWER = 0.8
"""The power at which ``<key>_mde``, the smallest detectable slope, is stated."""

MIN_DF = 2
"""Fewest residual degrees of freedom (runs - seeds - 1) a trend is tested on: with one, the interval rests on a
single residual, and exactly constant values would be called flat on 3 runs."""

LABELS = MappingProxyType(
    {
        "test_accuracy": "test accuracy",
        "auc": "AUC",
        "similarity": "similarity",
        "similarity_fraction": "similarity fraction",
        "auc_beyond_init": "AUC beyond init",
        "similarity_fraction_beyond_init": "similarity fraction beyond init",
        EFFECTIVE: "effective width fraction",
    }
)


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
MARGINS = MappingProxyType(
    {
        "test_accuracy": Margin(
            0.01,
            reason=(
                "one point of accuracy per doubling, 4 over the paper's 1/4x to 4x range: a smaller change still "
                "reads as the wider network generalising 'as well', the paper's words"
            ),
        ),
        "auc": Margin(
            0.01,
            reason=(
                "AUC lies in [0, 1]; 0.01 per doubling is 0.04 over the paper's 1/4x to 4x range, too small a "
                "change to read as more removable units"
            ),
        ),
        "similarity": Margin(
            0.05,
            relative=True,
            reason=(
                "the mean count of similar units has no fixed scale (it grows with the units of a layer), so the "
                "margin is 5% of its mean over the runs tested per doubling, about 22% over the 16-fold range"
            ),
        ),
        "similarity_fraction": Margin(
            0.01,
            reason=(
                "the fraction of a unit's peers it is similar to lies in [0, 1]; one percentage point of the peers "
                "per doubling"
            ),
        ),
        "auc_beyond_init": Margin(0.01, reason=_SAME_SCALE),
        "similarity_fraction_beyond_init": Margin(0.01, reason=_SAME_SCALE),
        EFFECTIVE: Margin(
            0.01,
            reason=(
                "the fraction of its units a network needs lies in [0, 1]; effective width growing in proportion to "
                "width keeps it flat, so one percentage point per doubling"
            ),
        ),
    }
)
"""The default equivalence margin of every tested key, with the reason for it."""

RULE = (
    "Over finished, non-collapsed, kept runs of each preset and variant (x = log2 width factor), each metric is "
    "tested within seeds: a replicate's seed is shared by all its widths, so its runs are paired, and each seed's "
    "runs are compared only with each other (a seed with a single width left says nothing about a change with "
    "width and is left out). A metric rises (falls) with width when Spearman's rho between it and x, both ranked "
    "within each seed, is positive (negative) with a two-sided stratified permutation p < alpha (0.05; values "
    "permuted among the widths of their own seed) after Holm's correction over the report, and its slope per "
    "doubling (least squares with one intercept per seed) is beyond the margin ±δ declared per metric; a "
    "significant trend whose slope lies inside ±δ 'rises (falls), within the margin'. It is flat only when "
    "equivalence is shown: the (1 - 2 alpha) = 90% t interval of the slope lies inside ±δ (two one-sided tests, "
    "Holm-corrected the same way). Otherwise it is inconclusive: a trend that is not significant is not shown to "
    "be absent. Each trend states its slope, interval and the smallest slope its runs could detect: "
    "(t_{1-alpha/2} + t_{0.8}) × the slope's standard error, 80% power. Holm families: test accuracy over the "
    "variants; the AUC and similarity tests of the hypothesis together over the variants; the same for the "
    "controlled hypothesis; similarity fraction. The hypothesis holds if AUC or similarity rises, fails if both "
    "are shown flat or falling (a rise within the margin counts as flat where equivalence is shown, else as "
    "inconclusive), and is otherwise inconclusive. The controlled verdict applies the same rule to AUC beyond "
    "init (each run's AUC minus its AUC at initialisation) and to the similarity fraction beyond init (the count "
    "of similar units grows with the number of units even when the |r| distribution does not), leaving out runs "
    "whose network collapsed at initialisation."
)

_REQUIRED = (
    "preset",
    "variant",
    "width_factor",
    PAIRING,
    "status",
    "collapsed",
    "kept",
    *RAW,
    *(f"{m}_init" for m in CONTROLLED),
)


@dataclass(frozen=True)
class Trend:
    """The tests of one metric against log2(width factor), within seeds,
    before the Holm adjustment (which needs the other rows of the report)."""

    n: int
    seeds: int
    unpaired: int
    rho: float
    p: float
    slope: float
    se: float
    ci_low: float
    ci_high: float
    mde: float
    delta: float
    margin: str
    p_flat: float


class _TestSettings(TypedDict):
    """The keywords of :func:`trend` that every trend of a table shares."""

    alpha: float
    permutations: int
    seed: int


def trend(
    log2_width: np.ndarray,
    values: np.ndarray,
    seeds: np.ndarray,
    *,
    margin: Margin,
    alpha: float,
    permutations: int,
    seed: int,
) -> Trend:
    """The within-seed Spearman rho of ``values`` with ``log2_width`` and its
    stratified permutation p-value; the slope per doubling with seed fixed
    effects, its (1 - 2 alpha) confidence interval, the smallest slope
    detectable at :data:`POWER`, and the TOST p-value against +-``margin``.
    ``seeds`` pairs the runs; non-finite points are dropped, and so are seeds
    left with a single width."""
    runs = pair(log2_width, values, seeds)
    if not _testable(runs):
        nan = math.nan
        return Trend(runs.n, runs.seeds, runs.unpaired, nan, nan, nan, nan, nan, nan, nan, nan, str(margin), nan)
    delta = margin.of(runs.y)
    fit = within_slope(runs)
    low, high, p_flat = _equivalence(fit.slope, fit.se, fit.df, delta, alpha)
    if smallest_p(runs, permutations) >= alpha:
        rho, p = math.nan, math.nan
    else:
        rho, p = rank_test(runs, permutations=permutations, seed=seed)
    mde = minimum_detectable(fit.se, fit.df, alpha=alpha, power=POWER)
    return Trend(
        runs.n, runs.seeds, runs.unpaired, rho, p, fit.slope, fit.se, low, high, mde, delta, str(margin), p_flat
    )


def _equivalence(slope: float, se: float, df: int, delta: float, alpha: float) -> tuple[float, float, float]:
    """The slope's (1 - 2 alpha) t interval and the TOST p-value for |slope| < delta."""
    if se == 0:
        return slope, slope, 0.0 if abs(slope) <= delta else 1.0
    half = float(stats.t.ppf(1 - alpha, df)) * se
    p_flat = max(float(stats.t.sf((slope + delta) / se, df)), float(stats.t.cdf((slope - delta) / se, df)))
    return slope - half, slope + half, p_flat


def slope_per_doubling(log2_width: np.ndarray, values: np.ndarray, seeds: np.ndarray) -> float:
    """The within-seed least-squares slope of ``values`` on ``log2_width``
    over finite points; NaN where the runs leave no trend to fit."""
    runs = pair(log2_width, values, seeds)
    return within_slope(runs).slope if _testable(runs) else math.nan


def _testable(runs: Paired) -> bool:
    """Some seed has runs at two widths, and the fit with one intercept per
    seed has :data:`MIN_DF` degrees of freedom left."""
    return runs.seeds >= 1 and runs.df >= MIN_DF


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


def decide(rho: float, p_holm: float, p_flat_holm: float, slope: float, delta: float, alpha: float) -> str:
    """The trend word from the Holm-adjusted p-values and the slope: "rises",
    "falls", either with :data:`WITHIN` when the slope lies inside +-delta,
    "flat" or "inconclusive"."""
    if p_holm < alpha and rho != 0:  # False for NaN
        word = "rises" if rho > 0 else "falls"
        return word + WITHIN if abs(slope) <= delta else word
    return "flat" if p_flat_holm < alpha else "inconclusive"


def counted(word: str, flat_shown: bool, asked: str = "rises") -> str:
    """How a question that asks whether a metric ``asked`` (rises, or falls)
    reads a trend word. A significant trend within the margin in the asked
    direction is smaller than what counts as a change: flat where equivalence
    is shown too (``flat_shown``), inconclusive where it is not. One in the
    other direction still goes that way. Other words are read as they are."""
    if not word.endswith(WITHIN):
        return word
    direction = word.removesuffix(WITHIN)
    if direction != asked:
        return direction
    return "flat" if flat_shown else "inconclusive"


def hypothesis(first: str, second: str) -> str:
    """The paper's hypothesis from two trend words as :func:`counted` reads
    them (AUC and similarity, or their controlled forms): "holds", "fails" or
    "inconclusive"."""
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
    an absolute margin per doubling). Runs are paired by their column
    :data:`PAIRING`. Every test uses ``seed`` on points in a canonical order,
    so the raw p-values depend neither on the order of the rows nor on the
    other groups in the table (the Holm-adjusted ones do)."""
    missing = [column for column in _REQUIRED if column not in runs.columns]
    if missing:
        raise ValueError(f"run table lacks columns {missing}")
    chosen = margins(deltas)
    test: _TestSettings = {"alpha": alpha, "permutations": permutations, "seed": seed}
    runs = runs.assign(variant=runs["variant"].fillna(""))
    rows = []
    for (preset, variant), group in runs.groupby(["preset", "variant"], sort=True):
        used, counts = _select(group)
        width = used["width_factor"].to_numpy(float)
        if (width <= 0).any():
            raise ValueError(f"{preset} {variant!r}: width factors must be positive, got {sorted(set(width))}")
        log2_width, seeds = np.log2(width), used[PAIRING].to_numpy()
        row: dict[str, Any] = {
            "preset": str(preset),
            "variant": str(variant),
            "alpha": alpha,
            "n": len(used),
            "widths": tuple(float(w) for w in sorted(set(width[np.isfinite(width)]))),
            **counts,
        }
        for key in KEYS:
            row |= _trend_columns(key, trend(log2_width, _values(used, key), seeds, margin=chosen[key], **test))
        for metric in CONTROLLED:
            init = used[f"{metric}_init"].where(~used["collapsed_init"]).to_numpy(float)
            row[f"{metric}_init_slope"] = slope_per_doubling(log2_width, init, seeds)
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
    missing += [
        f"layers.{c}"
        for c in ("run_id", "stage", "layer", "auc", "similarity", "similarity_fraction")
        if c not in layers.columns
    ]
    if "run_id" not in runs.columns:
        missing.append("run_id")
    if missing and not layers.empty:
        raise ValueError(f"run or layers table lacks columns {missing}")
    columns = ["preset", "variant", "layer", "alpha", "n", *_key_columns(LAYER_KEYS), *HYPOTHESES]
    if layers.empty or runs.empty:
        return pd.DataFrame(columns=columns)
    chosen = margins(deltas)
    test: _TestSettings = {"alpha": alpha, "permutations": permutations, "seed": seed}
    order = {name: i for i, name in enumerate(pd.unique(layers["layer"]))}
    layers = layers[layers["stage"].isin(["trained", "init"])]
    per_run = (
        layers.groupby(["run_id", "layer", "stage"], sort=False)[["auc", "similarity", "similarity_fraction"]]
        .mean()
        .unstack("stage")
    )
    per_run.columns = [metric if stage == "trained" else f"{metric}_{stage}" for metric, stage in per_run.columns]
    per_run = per_run.reindex(columns=[*RAW[1:], *(f"{m}_init" for m in CONTROLLED)])  # a stage may be missing
    runs = runs.assign(variant=runs["variant"].fillna(""))
    rows = []
    for (preset, variant), group in runs.groupby(["preset", "variant"], sort=True):
        used = _select(group)[0][["run_id", "width_factor", PAIRING, "collapsed_init"]]
        measured = used.merge(per_run.reset_index(), on="run_id")
        for layer, runs_of_layer in sorted(measured.groupby("layer"), key=lambda item: order[item[0]]):
            log2_width = np.log2(runs_of_layer["width_factor"].to_numpy(float))
            seeds = runs_of_layer[PAIRING].to_numpy()
            row = {
                "preset": str(preset),
                "variant": str(variant),
                "layer": layer,
                "alpha": alpha,
                "n": len(runs_of_layer),
            }
            for key in LAYER_KEYS:
                values = _values(runs_of_layer, key)
                row |= _trend_columns(key, trend(log2_width, values, seeds, margin=chosen[key], **test))
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
    counts = {"failed": failed, "diverged": diverged, "pending": pending, "collapsed": collapsed, "not_kept": not_kept}
    return used, {reason: int(mask.sum()) for reason, mask in counts.items()} | {
        "collapsed_init": int(init.sum()),
        "lost_groups": len(lost_groups(group)),
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
    columns = [
        "preset",
        "variant",
        "alpha",
        "n",
        "widths",
        "failed",
        "diverged",
        "pending",
        "collapsed",
        "not_kept",
        "collapsed_init",
        "lost_groups",
        *_key_columns(KEYS),
    ]
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
        parts = [table[f"{key}_{part}"] for part in ("rho", "p_holm", "p_flat_holm", "slope", "delta")]
        table[f"{key}_trend"] = [
            decide(rho, p_holm, p_flat, slope, delta, alpha) for rho, p_holm, p_flat, slope, delta in zip(*parts)
        ]

    def read(key: str, asked: str = "rises") -> list[str]:
        return [
            counted(word, p_flat < alpha, asked)
            for word, p_flat in zip(table[f"{key}_trend"], table[f"{key}_p_flat_holm"])
        ]

    for column, (first, second) in HYPOTHESES.items():
        table[column] = [hypothesis(a, b) for a, b in zip(read(first), read(second))]
    if f"{EFFECTIVE}_trend" in table:
        table[SLOWER] = [SLOWER_WORDS.get(word, "inconclusive") for word in read(EFFECTIVE, "falls")]
    return table


def describe_verdict(row: pd.Series | Mapping[str, Any]) -> str:
    """A few sentences for a row of :func:`verdicts`, e.g. "test accuracy
    flat (...); AUC rises (within-seed rho +0.82, p 0.001, Holm p 0.004;
    slope +0.031 per doubling, 90% CI [+0.025, +0.037], δ ±0.01, ...;
    smallest detectable slope ±0.0071 per doubling at 80% power; 15 runs
    of 3 seeds); ... Hypothesis holds (controlled: inconclusive); 15 runs at
    widths 0.25/0.5/1/2/4"."""
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
    """One metric's trend in words, with the numbers behind it: the effect
    size (slope per doubling and its interval, in the metric's units), the
    smallest slope the test could have detected, and the runs and seeds."""
    label, word = LABELS[key], row[f"{key}_trend"]
    runs = f"{row[f'{key}_n']} runs of {row[f'{key}_seeds']} seeds"
    if row[f"{key}_unpaired"]:
        runs += f"; {row[f'{key}_unpaired']} left out, their seed with a single width left"
    if math.isnan(row[f"{key}_slope"]):
        return (
            f"{label} {word} (not tested: no seed with runs at two widths, or fewer than {MIN_DF} degrees of "
            f"freedom left after one intercept per seed; {runs})"
        )
    p = row[f"{key}_p"]
    if math.isnan(p):
        ranks = "too few runs for the rank test to reach p < alpha"
    elif math.isnan(row[f"{key}_rho"]):
        ranks = "constant within every seed"
    else:
        ranks = f"within-seed rho {row[f'{key}_rho']:+.2f}, p {p:.2g}, Holm p {row[f'{key}_p_holm']:.2g}"
    level, margin, delta = 1 - 2 * float(row["alpha"]), row[f"{key}_margin"], f"±{row[f'{key}_delta']:.3g}"
    return (
        f"{label} {word} ({ranks}; slope {row[f'{key}_slope']:+.3g} per doubling, {level:.0%} CI "
        f"[{row[f'{key}_ci_low']:+.3g}, {row[f'{key}_ci_high']:+.3g}], δ {margin}"
        f"{'' if margin == delta else f' = {delta}'}, equivalence Holm p {row[f'{key}_p_flat_holm']:.2g}; "
        f"smallest detectable slope ±{row[f'{key}_mde']:.2g} per doubling at {POWER:.0%} power; {runs})"
    )
