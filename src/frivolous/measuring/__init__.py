"""The two measurements of the paper, for any PyTorch model: how removable
units are (random-ablation curves and their AUC) and how repeated they are
(pairwise |Pearson r| between units)."""

from frivolous.measuring.api import ablation_curve, measure, probes
from frivolous.measuring.measurement import ALL_LAYERS, AblationCurve, LayerResult, MeasureResult
from frivolous.measuring.repetition import SimilarityResult, similarity

__all__ = [
    "ALL_LAYERS",
    "AblationCurve",
    "LayerResult",
    "MeasureResult",
    "SimilarityResult",
    "ablation_curve",
    "measure",
    "probes",
    "similarity",
]
