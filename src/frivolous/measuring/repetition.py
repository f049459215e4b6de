"""Repeated units: pairwise |Pearson r| between units, by blocks.

The similarity of a layer is the mean, over units, of the number of *other*
units whose activity correlates with it at ``|r| >= threshold`` (the released
code's ``>=``). The full units x units correlation matrix is never held in
memory: the activations are standardised once, and the matrix is produced
one panel of ``block`` rows at a time as a float32 matrix product, from
which counts and a fine |r| histogram are accumulated. Each panel covers
only the columns from its own diagonal rightwards: the matrix is symmetric,
so about half of it is never computed.

Float32 products carry rounding errors of order 1e-6 (measured here: at most
2e-6 off the diagonal at 2,000 to 50,000 samples). Each panel measures its
own error on the diagonal, where every |r| must be exactly 1, and pairs
whose float32 |r| lies within ``max(REFINE_BAND, REFINE_MARGIN x that
error)`` of the threshold are recomputed from the standardised samples with
float64 sums. The counts therefore equal those of a float64 computation
(such as ``numpy.corrcoef``) except for pairs within about 4e-7 of the
threshold, where the float32 standardisation itself decides.

*Dead* units have zero variance over the samples, so their r is undefined.
``dead="exclude"`` (the default) reports how many there are and leaves them
out of every pair statistic. ``dead="legacy"`` reproduces the released code,
where ``numpy.corrcoef`` gave dead units NaN rows: a dead unit then counts
-1, and it stays in the mean and the standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from frivolous.common.validation import check_choice, check_threshold

DeadMode = Literal["exclude", "legacy"]
DEAD_MODES: tuple[str, ...] = ("exclude", "legacy")

HISTOGRAM_BINS = 1000
"""|r| histograms use ``HISTOGRAM_BINS`` equal bins on [0, 1] (width 0.001)."""

REFINE_BAND = 1e-5
"""Float32 |r| values at least this close to the threshold are recomputed in float64."""

REFINE_MARGIN = 4.0
"""The band is widened to this multiple of the panel's observed float32 error."""

_REFINE_CHUNK_BYTES = 64 * 2**20


def histogram_edges() -> np.ndarray:
    """The fixed bin edges of every |r| histogram."""
    return np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)


@dataclass(frozen=True)
class SimilarityResult:
    """Pairwise |r| statistics of one set of units.

    ``counts`` holds one value per unit: the number of other units with
    ``|r| >= threshold``. Dead units hold NaN under ``dead="exclude"`` and -1
    under ``dead="legacy"``; ``dead_mask`` marks them.
    """

    counts: np.ndarray
    dead_mask: np.ndarray
    histogram_counts: np.ndarray
    threshold: float
    dead_mode: str
    samples: int
    refined_pairs: int = field(default=0, compare=False)

    @property
    def units(self) -> int:
        return int(self.counts.size)

    @property
    def dead(self) -> int:
        """Number of dead units (zero variance over the samples)."""
        return int(self.dead_mask.sum())

    @property
    def live(self) -> int:
        return self.units - self.dead

    @property
    def _counted(self) -> np.ndarray:
        return self.counts[~self.dead_mask] if self.dead_mode == "exclude" else self.counts

    @property
    def mean(self) -> float:
        """The similarity: the mean count over units (NaN if no unit is counted)."""
        counted = self._counted
        return float(counted.mean()) if counted.size else float("nan")

    @property
    def std(self) -> float:
        """Standard deviation of the counts over units (population, ddof=0)."""
        counted = self._counted
        return float(counted.std()) if counted.size else float("nan")

    @property
    def fraction(self) -> float:
        """The mean count divided by the largest possible count (counted units - 1),
        so that layers of different widths can be compared."""
        others = self._counted.size - 1
        return self.mean / others if others > 0 else float("nan")

    @property
    def pairs(self) -> int:
        """Number of unit pairs in the histogram (pairs of live units)."""
        return self.live * (self.live - 1) // 2

    @property
    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(pair counts per bin, bin edges) of |r| over all pairs of live units."""
        return self.histogram_counts, histogram_edges()


def similarity(
    activations: torch.Tensor | np.ndarray,
    threshold: float = 0.5,
    *,
    dead: DeadMode = "exclude",
    block: int | None = None,
) -> SimilarityResult:
    """Pairwise |Pearson r| statistics of a ``(samples x units)`` matrix.

    Args:
        activations: one row per sample, one column per unit (a tensor on any
            device, or an array).
        threshold: a pair counts as repeated when ``|r| >= threshold``; in (0, 1].
        dead: ``"exclude"`` leaves dead units out of every statistic;
            ``"legacy"`` reproduces the released code (a dead unit counts -1).
        block: rows of the correlation matrix computed at once (default: 512
            on CPU, 4096 on CUDA); memory grows as ``block x units``.
    """
    check_threshold(threshold)
    check_choice("dead", dead, DEAD_MODES)
    x = torch.as_tensor(activations)
    if x.ndim != 2:
        raise ValueError(
            f"activations must be a 2-D (samples x units) matrix, got shape {tuple(x.shape)}; "
            "for a conv layer use fv.measure, which treats channels as units and "
            "(example, position) pairs as samples"
        )
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 samples to correlate units, got {x.shape[0]}")
    if not x.is_floating_point():
        x = x.float()
    return pair_statistics(x, threshold, dead, block)


def pair_statistics(
    x: torch.Tensor, threshold: float, dead: DeadMode, block: int | None = None, *, overwrite: bool = False
) -> SimilarityResult:
    """:func:`similarity` without argument checks, for callers that checked them.

    With ``overwrite=True`` the float32 matrix ``x`` is standardised in place
    (no second copy of the samples is made); it is garbage afterwards."""
    samples, units = x.shape
    block = block or (4096 if x.device.type == "cuda" else 512)
    z, dead_mask = _standardise(x, overwrite)
    live = z.shape[1]
    counts = torch.full((units,), float("nan") if dead == "exclude" else -1.0, dtype=torch.float64)
    histogram = torch.zeros(HISTOGRAM_BINS, dtype=torch.int64, device=x.device)
    refined = 0
    if live >= 2:
        with _exact_float32_matmul():
            live_counts, histogram, refined = _panels(z, threshold, block)
        counts[~dead_mask] = live_counts.double().cpu()
    elif live == 1:
        counts[~dead_mask] = 0.0
    return SimilarityResult(
        counts=counts.numpy(),
        dead_mask=dead_mask.numpy(),
        histogram_counts=histogram.cpu().numpy(),
        threshold=float(threshold),
        dead_mode=dead,
        samples=int(samples),
        refined_pairs=refined,
    )


def _standardise(x: torch.Tensor, overwrite: bool, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The live columns of ``x``, centred and scaled to unit norm (float32),
    so that the dot product of two columns is their Pearson r; and the mask
    of dead columns (max == min, exactly).

    Works through ``chunk`` columns at a time so that each step runs in cache:
    the samples are read once and written once."""
    samples, units = x.shape
    overwrite = overwrite and x.dtype == torch.float32 and x.is_contiguous()
    z = x if overwrite else torch.empty(samples, units, dtype=torch.float32, device=x.device)
    dead = torch.empty(units, dtype=torch.bool, device=x.device)
    filled = 0
    for start in range(0, units, chunk):
        columns = x[:, start : start + chunk].to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        high, low = columns.amax(0), columns.amin(0)  # NaN and inf show in the extremes
        if not bool(torch.isfinite(high).all() and torch.isfinite(low).all()):
            raise ValueError("activations contain NaN or infinite values; correlations would be meaningless")
        flat = high == low
        dead[start : start + chunk] = flat
        if bool(flat.any()):
            columns = columns[:, ~flat]
        columns -= columns.mean(0)
        columns *= columns.square().sum(0).rsqrt()
        z[:, filled : filled + columns.shape[1]] = columns
        filled += columns.shape[1]
    return z[:, :filled], dead.cpu()


def _exact(z: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """|r| of the column pairs (first[k], second[k]) of ``z``, summed in float64."""
    out = torch.empty(first.numel(), dtype=torch.float64, device=z.device)
    chunk = max(1, _REFINE_CHUNK_BYTES // (16 * z.shape[0]))
    columns = z.T  # rows of the transposed view gather fast even when z is a column slice
    for start in range(0, first.numel(), chunk):
        a = columns[first[start : start + chunk]].double()
        b = columns[second[start : start + chunk]].double()
        out[start : start + chunk] = (a * b).sum(1).abs()
    return out


def _panels(z: torch.Tensor, threshold: float, block: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Counts and histogram from the upper triangle of ``z.T @ z``, one panel
    of ``block`` rows (by all columns to their right) at a time."""
    units = z.shape[1]
    counts = torch.zeros(units, dtype=torch.int64, device=z.device)
    histogram = torch.zeros(HISTOGRAM_BINS, dtype=torch.int64, device=z.device)
    refined = 0
    for i0 in range(0, units, block):
        i1 = min(i0 + block, units)
        rows = i1 - i0
        r = torch.mm(z[:, i0:i1].T, z[:, i0:]).abs_()
        error = float((r.diagonal() - 1.0).abs_().max())  # every |r| of a unit with itself is 1
        r.fill_diagonal_(-1.0)  # a unit is not its own neighbour, whatever the threshold
        band = torch.nonzero((r - threshold).abs_() < max(REFINE_BAND, REFINE_MARGIN * error))
        if band.numel():
            exact = _exact(z, band[:, 0] + i0, band[:, 1] + i0)
            r[band[:, 0], band[:, 1]] = exact.float()
            refined += band.shape[0]
        similar = r >= threshold
        if band.numel():
            similar[band[:, 0], band[:, 1]] = exact >= threshold
        counts[i0:i1] += similar.sum(1)
        counts[i1:] += similar[:, rows:].sum(0)
        upper = torch.triu_indices(rows, rows, offset=1, device=z.device)
        for values in (r[upper[0], upper[1]], r[:, rows:].flatten()):
            bins = (values * HISTOGRAM_BINS).long().clamp_(0, HISTOGRAM_BINS - 1)
            histogram += torch.bincount(bins, minlength=HISTOGRAM_BINS)
    return counts, histogram, refined


class _exact_float32_matmul:
    """Run float32 products at full precision, even if the caller allowed
    TF32 (whose 10-bit mantissa would misplace pairs near the threshold)."""

    def __enter__(self) -> None:
        self._saved = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")

    def __exit__(self, *exc: object) -> None:
        torch.set_float32_matmul_precision(self._saved)
