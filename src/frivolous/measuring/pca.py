"""Redundancy by principal components: how many directions a layer's activity really spans.

The released analysis (``get_redundancy.py``) counted, per layer, the
principal components needed to explain 95% and 80% of the variance of the
activations: ``numpy.cov`` of the raw (centred, not standardised)
activations, ``numpy.linalg.eigh``, and components added largest first
*while* the explained fraction is at most the target, so the count is the
smallest k whose explained fraction is strictly above it. frivolous does the
same, on the very samples the similarity uses (a conv layer's rows are
(example, position) pairs, its units are channels), so PCA is on the
covariance, as the released code's was: a unit with a large variance weighs
more than a quiet one. A layer that spans k dimensions exactly needs k
components whatever the target below 1.

Only the eigenvalues are kept (one spectrum per sampling, ``units`` floats),
so any energy can be asked for afterwards.
"""

from __future__ import annotations

import numpy as np
import torch

PCA_ENERGIES = (0.95, 0.8)
"""The fractions of variance the released analysis (and every table here) reports."""

_ROW_CHUNK_BYTES = 32 * 2**20


def variance_spectrum(rows: torch.Tensor) -> np.ndarray:
    """Eigenvalues of the covariance of ``rows`` (samples x units), largest
    first, in float64 (negative rounding residues clipped to 0).

    The covariance is accumulated in float64 from centred chunks of rows, so
    a unit whose mean is large next to its spread loses no precision, and
    ``rows`` is never modified (the similarity standardises it afterwards)."""
    samples, units = rows.shape
    if samples < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {samples}")
    chunk = max(1, _ROW_CHUNK_BYTES // (8 * max(units, 1)))
    starts = range(0, samples, chunk)
    mean = sum(rows[s : s + chunk].double().sum(0) for s in starts) / samples
    covariance = torch.zeros(units, units, dtype=torch.float64, device=rows.device)
    for start in starts:
        centred = rows[start : start + chunk].double() - mean
        covariance.addmm_(centred.T, centred)
    covariance /= samples - 1
    eigenvalues = torch.linalg.eigvalsh(covariance).flip(0).clamp_(min=0.0)
    return eigenvalues.cpu().numpy()


def components(spectrum: np.ndarray, energy: float) -> int:
    """Principal components needed to explain more than ``energy`` of the
    variance (the released code's rule: the smallest k whose explained
    fraction exceeds ``energy``). A layer without variance needs none."""
    if not 0.0 < energy < 1.0:
        raise ValueError(f"energy must be a fraction of the variance in (0, 1), got {energy!r}")
    total = float(spectrum.sum())
    if total <= 0.0:
        return 0
    explained = np.cumsum(spectrum) / total
    return min(int(np.searchsorted(explained, energy, side="right")) + 1, spectrum.size)
