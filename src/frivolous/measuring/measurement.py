"""What a measurement returns: ablation curves, per-layer results, and the
network-level summary, each convertible to a tidy pandas DataFrame."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from frivolous.measuring.collapse import collapse_reason
from frivolous.measuring.pca import components
from frivolous.measuring.repetition import SimilarityResult, histogram_edges

ALL_LAYERS = "<all layers>"
"""The layer name of the curve with every probed layer ablated at once."""

PRUNE_AGREEMENT = 0.8
"""The agreement at which the AAAI analysis reads a layer's prunable units off its ablation curve."""


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

    def crossings(self, agreement: float = PRUNE_AGREEMENT) -> np.ndarray:
        """Per sampling, the removed fraction at which the curve falls below ``agreement``.

        As the released notebooks (``get_threshold``): the first pair of
        levels with ``curve >= agreement`` then ``curve < agreement``, and
        linear interpolation between them. A curve that never falls below
        ``agreement`` gives the last level (1: every unit can go); one that
        starts below it gives the first."""
        if not 0.0 < agreement <= 1.0:
            raise ValueError(f"agreement must be in (0, 1], got {agreement!r}")
        out = np.empty(len(self.curves))
        for s, curve in enumerate(self.curves):
            above = curve >= agreement
            falls = np.flatnonzero(above[:-1] & ~above[1:])
            if not above[0]:
                out[s] = self.levels[0]
            elif falls.size == 0:
                out[s] = self.levels[-1]
            else:
                i = falls[0]
                x1, x2, y1, y2 = self.levels[i], self.levels[i + 1], curve[i], curve[i + 1]
                out[s] = x1 + (agreement - y1) * (x2 - x1) / (y2 - y1)
        return out

    def prunable(self, agreement: float = PRUNE_AGREEMENT) -> float:
        """Units that can go at ``agreement``: the layer's units times the
        largest crossing over samplings (the released notebooks' max over
        their three "crosses")."""
        return float(self.crossings(agreement).max() * self.units)

    def interval_columns(self) -> dict[str, float]:
        """Columns a sampled estimate adds to the layer tables (its confidence
        intervals, :class:`SampledCurve`); the paper's samplings add none."""
        return {}

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
class SampledCurve(AblationCurve):
    """An ablation curve estimated with random nested masks drawn for every
    example (``estimator="sampled"``, :mod:`frivolous.measuring.sampled`).

    ``curves`` holds one row: the estimate of the paper's curve averaged over
    permutations, so :attr:`auc` is the estimated AUC and :meth:`prunable`
    reads the estimated curve. Its spread is not a std over samplings (there
    are none: :attr:`auc_std` is NaN) but a confidence interval.
    ``examples`` counts the predictions this curve used, which with a
    precision target can be fewer than the data holds."""

    auc_interval: tuple[float, float]
    """The AUC's interval at ``confidence``: a normal interval from the per-example contributions."""
    prunable_interval: tuple[float, float]
    """The prunable units' interval at ``confidence``: a percentile bootstrap over examples."""
    half_width: float
    """Half the width of the AUC's interval before it is clipped to [0, 1]; what ``precision`` bounds."""
    confidence: float

    @property
    def auc_std(self) -> float:
        return math.nan

    def interval_columns(self) -> dict[str, float]:
        return {
            "auc_low": self.auc_interval[0],
            "auc_high": self.auc_interval[1],
            "auc_half_width": self.half_width,
            "prunable_low": self.prunable_interval[0],
            "prunable_high": self.prunable_interval[1],
            "ablation_examples": float(self.examples),
        }


@dataclass(frozen=True)
class LayerResult:
    """Both measurements of one probed layer.

    ``shape`` is one example's activation shape as measured, units first.
    ``ablation`` is None when removability was not measured; ``similarities``
    holds one result per sampling (empty when repetition was not measured).
    ``features_last``: the activation holds its units in its last axis (a
    transformer's ``(tokens, features)``), so ``shape`` is its shape with
    that axis moved first (``(features, tokens)``): see
    :mod:`frivolous.measuring.axes`."""

    name: str
    shape: tuple[int, ...]
    ablation: AblationCurve | None
    similarities: tuple[SimilarityResult, ...] = ()
    spectra: tuple[np.ndarray, ...] = ()
    """Per sampling, the variances along the principal components of the
    similarity's samples, largest first (:mod:`frivolous.measuring.pca`)."""
    features_last: bool = False

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
        """Similarity divided by (counted units - 1), per sampling, then averaged: the counted units are the
        live ones (units less dead) under ``dead="exclude"``, all of them under ``"legacy"``. Comparable across
        widths."""
        return self._over_samplings([s.fraction for s in self.similarities])

    @property
    def prunable(self) -> float:
        """Units removable at 0.8 agreement (the AAAI paper's prunable units; NaN
        without an ablation curve): see :meth:`AblationCurve.prunable`."""
        return self.ablation.prunable() if self.ablation else math.nan

    @property
    def non_prunable(self) -> float:
        """Units minus prunable units: how wide the layer really is by removability."""
        return self.ablation.units - self.prunable if self.ablation else math.nan

    def pca_components(self, energy: float) -> float:
        """Principal components explaining more than ``energy`` of the
        variance, averaged over samplings (NaN when repetition was not measured)."""
        return self._over_samplings([float(components(s, energy)) for s in self.spectra])

    @property
    def pca95(self) -> float:
        return self.pca_components(0.95)

    @property
    def pca80(self) -> float:
        return self.pca_components(0.8)

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
        counts = sum(s.histogram_counts for s in self.similarities)
        assert isinstance(counts, np.ndarray)  # at least one sampling, so not sum's start value 0
        return counts, histogram_edges()


@dataclass(frozen=True)
class MeasureResult:
    """Removability and repetition of a network's probed layers.

    Network-level values are means over the probed layers: ``auc`` and
    ``auc_std`` (the std over samplings), ``similarity`` and
    ``similarity_std`` (the std over units), ``prunable`` and
    ``non_prunable`` units, principal components ``pca95`` and ``pca80``."""

    layers: dict[str, LayerResult]
    all_layers: AblationCurve | None
    examples: int
    settings: dict[str, Any] = field(default_factory=dict)
    predicted: dict[int, int] = field(default_factory=dict)
    """How many examples the unablated network assigns to each label. A
    network that predicts one class for every example changes no label when
    units are removed, so its AUC reads 1 without meaning anything."""

    @property
    def all_dead(self) -> bool:
        """Every unit of every probed layer dead (repetition measured on each)."""
        return bool(self.layers) and all(
            layer.similarities and layer.dead == layer.channels for layer in self.layers.values()
        )

    @property
    def collapse_reason(self) -> str:
        """Why the network is collapsed by what a measurement sees ("" if it
        is not): see :mod:`frivolous.measuring.collapse` (a run adds the
        training-accuracy criterion)."""
        return collapse_reason(self.predicted, self.all_dead)

    @property
    def collapsed(self) -> bool:
        return bool(self.collapse_reason)

    def only(self, names: tuple[str, ...] | list[str]) -> MeasureResult:
        """The result restricted to the probed layers ``names`` (for a network
        value over some layers, as the paper's Inception-v3-layer curves); the
        all-layers curve and the predictions stay those of every probed layer."""
        missing = [name for name in names if name not in self.layers]
        if missing:
            raise ValueError(f"layers {missing} were not probed; probed: {list(self.layers)}")
        return replace(self, layers={name: self.layers[name] for name in names})

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

    @property
    def prunable(self) -> float:
        return self._mean("prunable")

    @property
    def non_prunable(self) -> float:
        return self._mean("non_prunable")

    @property
    def pca95(self) -> float:
        return self._mean("pca95")

    @property
    def pca80(self) -> float:
        return self._mean("pca80")

    def frame(self, kind: Literal["layers", "curves", "histograms"] = "layers") -> pd.DataFrame:
        """A tidy DataFrame.

        - ``"layers"``: one row per (layer, sampling): AUC, similarity (mean
          count), its std over units, fraction, dead units, sizes; that
          sampling's prunable and non-prunable units (the layer's value is
          the max of ``prunable`` over samplings) and principal components
          ``pca95``, ``pca80``. With the sampled estimator every sampling's
          row repeats the layer's one estimate, beside its intervals
          (:meth:`SampledCurve.interval_columns`).
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
            # A sampled estimate has one curve: every sampling's row repeats it, with its intervals.
            aucs = np.resize(layer.ablation.aucs, samplings) if layer.ablation else [math.nan] * samplings
            prunable = (
                np.resize(layer.ablation.crossings() * layer.ablation.units, samplings)
                if layer.ablation
                else [math.nan] * samplings
            )
            intervals = layer.ablation.interval_columns() if layer.ablation else {}
            for s in range(samplings):
                sim = layer.similarities[s] if layer.similarities else None
                spectrum = layer.spectra[s] if layer.spectra else None
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
                        "prunable": float(prunable[s]),
                        "non_prunable": layer.ablation.units - float(prunable[s]) if layer.ablation else math.nan,
                        "pca95": float(components(spectrum, 0.95)) if spectrum is not None else math.nan,
                        "pca80": float(components(spectrum, 0.8)) if spectrum is not None else math.nan,
                    }
                    | intervals
                )
        return pd.DataFrame(rows)
