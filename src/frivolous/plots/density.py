"""Violin shapes from |r| histograms.

No raw pairs survive a measurement, only 1000-bin histograms of |r| per
layer, so a violin is the histogram's density (replicates averaged, each
normalised first so every replicate weighs the same), lightly smoothed with a
Gaussian so that small layers, with few pairs spread over many bins, still
give a readable shape. The smoothed density is renormalised to integrate to
1 over [0, 1]; the mean |r| is taken from the unsmoothed histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from frivolous.plots.select import attach

SMOOTHING = 0.01
"""Standard deviation of the smoothing kernel, in units of |r|: ten of the 1000 bins."""
CUT = 2.0
"""A violin extends this many kernel widths beyond the most extreme |r| observed (seaborn's ``cut``)."""


@dataclass(frozen=True)
class Violin:
    """The |r| distribution of one series at one width.

    ``density`` is per bin ``[low, high)``; ``support`` spans the bins that
    hold any pair, widened by :data:`CUT` kernel widths on each side."""

    series: str
    width_factor: float
    layer: str
    low: np.ndarray
    high: np.ndarray
    density: np.ndarray
    mean: float
    support: tuple[float, float]
    runs: int

    @property
    def centres(self) -> np.ndarray:
        return (self.low + self.high) / 2

    @property
    def shown(self) -> np.ndarray:
        """Bins within :attr:`support`: smoothing spreads density without end, the violin stops near the data."""
        return (self.high > self.support[0]) & (self.low < self.support[1])

    @property
    def integral(self) -> float:
        return float((self.density * (self.high - self.low)).sum())


def last_layers(histograms: pd.DataFrame) -> pd.Series:
    """Each run's last probed layer (in the order the table lists them), indexed by ``run_id``."""
    return histograms.groupby("run_id", sort=False)["layer"].agg(lambda names: pd.unique(names)[-1])


def smooth(density: np.ndarray, bin_widths: np.ndarray, sigma: float = SMOOTHING) -> np.ndarray:
    """``density`` convolved with a Gaussian of std ``sigma``, mirrored at the ends, integrating to 1."""
    if sigma > 0:
        spread = sigma / float(np.median(bin_widths))
        radius = min(int(np.ceil(4 * spread)), len(density) - 1)
        offsets = np.arange(-radius, radius + 1)
        kernel = np.exp(-0.5 * (offsets / spread) ** 2)
        padded = np.pad(density, radius, mode="symmetric")
        density = np.convolve(padded, kernel / kernel.sum(), mode="valid")
    return density / (density * bin_widths).sum()


def violins(
    runs: pd.DataFrame,
    histograms: pd.DataFrame,
    layer: str | None = None,
    stage: str = "trained",
    smoothing: float = SMOOTHING,
) -> list[Violin]:
    """One :class:`Violin` per series and width, of ``layer`` or, by default, each run's last probed layer."""
    table = attach(runs, histograms[histograms["stage"] == stage])
    chosen = table["run_id"].map(last_layers(table)) if layer is None else layer
    table = table[(table["layer"] == chosen) & table.groupby("run_id")["pairs"].transform("sum").gt(0)]
    result = []
    for (series, width), group in table.groupby(["series", "width_factor"]):
        pairs = group.pivot_table(index=["low", "high"], columns="run_id", values="pairs", aggfunc="sum", fill_value=0)
        low = pairs.index.get_level_values("low").to_numpy(float)
        high = pairs.index.get_level_values("high").to_numpy(float)
        counts = pairs.to_numpy(float)
        share = counts / counts.sum(0)
        mean = float(((low + high) / 2 @ share).mean())
        observed = np.flatnonzero(counts.sum(1))
        reach = CUT * smoothing
        density = share.mean(1) / (high - low)
        result.append(
            Violin(
                series=str(series),
                width_factor=float(width),
                layer=", ".join(pd.unique(group["layer"])),
                low=low,
                high=high,
                density=smooth(density, high - low, smoothing),
                mean=mean,
                support=(max(0.0, float(low[observed[0]]) - reach), min(1.0, float(high[observed[-1]]) + reach)),
                runs=counts.shape[1],
            )
        )
    return result
