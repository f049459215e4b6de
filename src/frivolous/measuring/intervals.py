"""Confidence intervals of a sampled ablation curve, from what each example contributed.

The sampled estimator (:mod:`frivolous.measuring.sampled`) draws its own
random permutation of units for every input, so given the model the inputs'
contributions are independent and identically distributed (as far as the
inputs themselves are draws from one distribution; ``analyze`` draws them
at random). An input ``k`` contributes ``survived[k, j]``, how many of its
predictions (one for a classifier, one per position for a causal language
model) keep their unablated label at level ``j``, out of ``rows[k]``.

The curve is the ratio ``sum_k survived[k] / sum_k rows[k]`` (every
prediction weighs the same, as in the paper's curve), and its AUC, a linear
function of the curve, the ratio of the inputs' trapezoid areas to their
rows. Two kinds of interval, each for what it suits:

- **AUC: a normal interval** from the linearised ratio (the delta method;
  with one row per input, the textbook ``mean ± z * s / sqrt(n)``). A
  per-input AUC is a mean of bounded indicators, so its variance is finite
  and the central limit theorem applies from a few dozen inputs on; its
  half-width is a closed form, cheap enough to test after every input
  against a precision target, which a bootstrap is not.
- **Prunable units: a percentile bootstrap** over inputs. They are read
  where the curve crosses an agreement, by interpolation between levels: not
  a smooth function of the curve (it jumps between level intervals), where
  no delta method holds and resampling the inputs does.

These intervals are for the expectation over the data's distribution as well
as over permutations; for the expected curve on exactly the inputs measured
(what the paper's samplings vary around) they are conservative, since the
spread between inputs, which that target does not vary, is counted in.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
"""The confidence of every interval of the sampled estimator."""
BOOTSTRAP_RESAMPLES = 1000
"""Resamples of the inputs for the prunable units' percentile interval."""
BOOTSTRAP_BLOCK = 64
"""Resamples drawn at once, bounding the memory of a resampling to 64 x inputs x levels."""


def z_value(confidence: float = CONFIDENCE) -> float:
    """The standard normal quantile of a two-sided interval: 1.96 at 0.95."""
    return NormalDist().inv_cdf((1 + confidence) / 2)


def trapezoid(levels: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """The trapezoidal area under each row of ``curves`` (the last axis follows ``levels``)."""
    return ((curves[..., 1:] + curves[..., :-1]) / 2 * np.diff(levels)).sum(-1)


class RatioMoments:
    """Running sums of one AUC's per-input contributions: the estimate and its
    interval after every input, in constant time (the precision target is
    tested after each).

    The interval adds, as Agresti and Coull do for a proportion, ``z^2 / 2``
    pseudo-inputs of AUC 0 and as many of AUC 1 (each with the mean number of
    rows) before it takes the variance and centre. Without them, a layer that
    is nearly always removable gives a run of identical contributions, a
    variance of zero and an interval of width zero, which a precision target
    would take at its word after the first examples; with them, ``n`` inputs
    that all survive give a half-width of about ``2.7 / n`` at 95%, the
    "rule of three", and many inputs give the plain normal interval."""

    def __init__(self) -> None:
        self.inputs = 0
        self.area = 0.0  # sum of a_k: an input's trapezoid area over its rows' survival counts
        self.rows = 0.0  # sum of r_k
        self.area2 = 0.0  # sum of a_k^2
        self.area_rows = 0.0  # sum of a_k r_k
        self.rows2 = 0.0  # sum of r_k^2

    def add(self, area: float, rows: float) -> None:
        self.inputs += 1
        self.area += area
        self.rows += rows
        self.area2 += area * area
        self.area_rows += area * rows
        self.rows2 += rows * rows

    @property
    def estimate(self) -> float:
        """The AUC: every prediction's curve weighs the same, pseudo-inputs left out."""
        return self.area / self.rows if self.rows else math.nan

    def _centre_and_error(self, confidence: float) -> tuple[float, float]:
        """The interval's centre and the delta-method standard error of the
        ratio, pseudo-inputs included: the residuals ``d_k = (a_k - AUC * r_k)
        / mean(r)`` have mean 0, and the error is ``sqrt(sum d_k^2 / (n (n - 1)))``."""
        if self.inputs < 2:
            return math.nan, math.nan
        weight, rows = z_value(confidence) ** 2 / 2, self.rows / self.inputs
        n = self.inputs + 2 * weight
        area, total = self.area + weight * rows, self.rows + 2 * weight * rows
        theta = area / total
        squares = (
            self.area2
            + weight * rows**2
            - 2 * theta * (self.area_rows + weight * rows**2)
            + theta**2 * (self.rows2 + 2 * weight * rows**2)
        )
        return theta, math.sqrt(max(squares, 0.0) / (n * (n - 1))) / (total / n)

    def half_width(self, confidence: float = CONFIDENCE) -> float:
        """Half the interval's width before clipping (NaN below two inputs)."""
        return z_value(confidence) * self._centre_and_error(confidence)[1]

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The normal interval, clipped to the AUC's range [0, 1]."""
        centre, error = self._centre_and_error(confidence)
        half = z_value(confidence) * error
        return max(centre - half, 0.0), min(centre + half, 1.0)


def bootstrap_curves(
    survived: np.ndarray, rows: np.ndarray, rng: np.random.Generator, resamples: int = BOOTSTRAP_RESAMPLES
) -> np.ndarray:
    """``resamples`` curves, each of the inputs drawn with replacement:
    ``(resamples, levels)``, in blocks of :data:`BOOTSTRAP_BLOCK`."""
    n = len(rows)
    out = np.empty((resamples, survived.shape[1]))
    for start in range(0, resamples, BOOTSTRAP_BLOCK):
        stop = min(start + BOOTSTRAP_BLOCK, resamples)
        drawn = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = survived[drawn].sum(1) / rows[drawn].sum(1, keepdims=True)
    return out


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
