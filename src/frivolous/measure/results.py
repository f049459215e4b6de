"""What a measurement returns: ablation curves, per-layer results, and the
network-level summary, each convertible to a tidy pandas DataFrame."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from frivolous.measure.repetition import SimilarityResult, histogram_edges

ALL_LAYERS = "<all layers>"
"""The layer name of the curve with every probed layer ablated at once."""


@dataclass(frozen=True)
class AblationCurve:
    """Fraction of examples whose predicted label survives random ablation.

    ``curves[s, i]`` is the fraction of examples whose label, with the first
    ``removed[i]`` units of sampling ``s``'s permutation set to zero, equals
    the label the unablated network predicts. ``levels`` are the fractions
    of units removed."""

    layer: str
    unit: str
    units: int
    levels: np.ndarray
    removed: np.ndarray
    curves: np.ndarray
    examples: int

    @property
    def curve(self) -> np.ndarray:
        """The mean curve over samplings."""
        return self.curves.mean(0)

    @property
    def aucs(self) -> np.ndarray:
        """Trapezoidal area under each sampling's curve (maximum 1)."""
        widths = np.diff(self.levels)
        return ((self.curves[:, 1:] + self.curves[:, :-1]) / 2 * widths).sum(1)

    @property
    def auc(self) -> float:
        return float(self.aucs.mean())

    @property
    def auc_std(self) -> float:
        """Standard deviation of the AUC over samplings (population, ddof=0)."""
        return float(self.aucs.std())

    def frame(self) -> pd.DataFrame:
        samplings, levels = self.curves.shape
        return pd.DataFrame(
            {
                "layer": self.layer,
                "sampling": np.repeat(np.arange(samplings), levels),
                "level": np.tile(self.levels, samplings),
                "removed": np.tile(self.removed, samplings),
                "unchanged": self.curves.reshape(-1),
            }
        )


@dataclass(frozen=True)
class LayerResult:
    """Both measurements of one probed layer.

    ``shape`` is one example's activation shape. ``ablation`` is None when
    removability was not measured; ``similarities`` holds one result per
    sampling (empty when repetition was not measured)."""

    name: str
    shape: tuple[int, ...]
    ablation: AblationCurve | None
    similarities: tuple[SimilarityResult, ...] = ()

    @property
    def channels(self) -> int:
        """Units of the repetition measurement (channels of a conv layer)."""
        return self.shape[0] if self.shape else 1

    @property
    def auc(self) -> float:
        return self.ablation.auc if self.ablation else math.nan

    @property
    def auc_std(self) -> float:
        return self.ablation.auc_std if self.ablation else math.nan

    def _over_samplings(self, values: list[float]) -> float:
        values = [v for v in values if not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan

    @property
    def similarity(self) -> float:
        """Mean count of similar units per unit, averaged over samplings."""
        return self._over_samplings([s.mean for s in self.similarities])

    @property
    def similarity_std(self) -> float:
        """Standard deviation of the counts over units, averaged over samplings
        (the paper's "average standard deviation within trials")."""
        return self._over_samplings([s.std for s in self.similarities])

    @property
    def similarity_fraction(self) -> float:
        """Similarity divided by (units - 1): comparable across widths."""
        return self._over_samplings([s.fraction for s in self.similarities])

    @property
    def dead(self) -> int:
        """Units dead (zero variance) in every sampling."""
        if not self.similarities:
            return 0
        return int(np.logical_and.reduce([s.dead_mask for s in self.similarities]).sum())

    @property
    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """|r| pair counts per bin, summed over samplings, and the bin edges."""
        if not self.similarities:
            return np.zeros(len(histogram_edges()) - 1, dtype=np.int64), histogram_edges()
        return sum(s.histogram_counts for s in self.similarities), histogram_edges()


@dataclass(frozen=True)
class MeasureResult:
    """Removability and repetition of a network's probed layers.

    Network-level values are means over the probed layers: ``auc`` and
    ``auc_std`` (the std over samplings), ``similarity`` and
    ``similarity_std`` (the std over units)."""

    layers: dict[str, LayerResult]
    all_layers: AblationCurve | None
    examples: int
    settings: dict[str, Any] = field(default_factory=dict)
    predicted: dict[int, int] = field(default_factory=dict)
    """How many examples the unablated network assigns to each label. A
    network that predicts one class for every example changes no label when
    units are removed, so its AUC reads 1 without meaning anything."""

    @property
    def collapsed(self) -> bool:
        """One class predicted for every example, or every probed unit dead."""
        all_dead = bool(self.layers) and all(
            layer.similarities and layer.dead == layer.channels for layer in self.layers.values()
        )
        return len(self.predicted) == 1 or all_dead

    def _mean(self, attribute: str) -> float:
        values = {name: getattr(layer, attribute) for name, layer in self.layers.items()}
        defined = [v for v in values.values() if not math.isnan(v)]
        undefined = [name for name, v in values.items() if math.isnan(v)]
        if undefined and defined and attribute == "similarity":
            warnings.warn(
                f"similarity is undefined for layers {undefined} (no live units); "
                "the network value is the mean over the other layers",
                RuntimeWarning,
                stacklevel=3,
            )
        return float(np.mean(defined)) if defined else math.nan

    @property
    def auc(self) -> float:
        return self._mean("auc")

    @property
    def auc_std(self) -> float:
        return self._mean("auc_std")

    @property
    def similarity(self) -> float:
        return self._mean("similarity")

    @property
    def similarity_std(self) -> float:
        return self._mean("similarity_std")

    @property
    def similarity_fraction(self) -> float:
        return self._mean("similarity_fraction")

    def frame(self, kind: Literal["layers", "curves", "histograms"] = "layers") -> pd.DataFrame:
        """A tidy DataFrame.

        - ``"layers"``: one row per (layer, sampling): AUC, similarity (mean
          count), its std over units, fraction, dead units, sizes.
        - ``"curves"``: one row per (layer, sampling, level) of every ablation
          curve, the all-layers curve included (layer ``"<all layers>"``).
        - ``"histograms"``: one row per (layer, |r| bin), pairs summed over samplings.
        """
        if kind == "layers":
            return self._layers_frame()
        if kind == "curves":
            curves = [layer.ablation for layer in self.layers.values() if layer.ablation]
            curves += [self.all_layers] if self.all_layers else []
            return pd.concat([c.frame() for c in curves], ignore_index=True) if curves else pd.DataFrame()
        if kind == "histograms":
            rows = []
            for name, layer in self.layers.items():
                counts, edges = layer.histogram
                rows.append(pd.DataFrame({"layer": name, "low": edges[:-1], "high": edges[1:], "pairs": counts}))
            return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
        raise ValueError(f"kind must be one of ['layers', 'curves', 'histograms'], got {kind!r}")

    def _layers_frame(self) -> pd.DataFrame:
        rows = []
        samplings = int(self.settings.get("samplings", 1))
        for name, layer in self.layers.items():
            aucs = layer.ablation.aucs if layer.ablation else [math.nan] * samplings
            for s in range(samplings):
                sim = layer.similarities[s] if layer.similarities else None
                rows.append(
                    {
                        "layer": name,
                        "sampling": s,
                        "units": layer.ablation.units if layer.ablation else math.nan,
                        "channels": layer.channels,
                        "auc": float(aucs[s]),
                        "similarity": sim.mean if sim else math.nan,
                        "similarity_std": sim.std if sim else math.nan,
                        "similarity_fraction": sim.fraction if sim else math.nan,
                        "dead": sim.dead if sim else math.nan,
                        "samples": sim.samples if sim else math.nan,
                    }
                )
        return pd.DataFrame(rows)
