"""frivolous: find the units a trained neural network could do without.

import frivolous as fv
result = fv.measure(model, data)      # removable and repeated units
print(result.auc, result.similarity)
small = fv.compress(model, data)      # the smaller network, same function
"""

from frivolous import data, zoo
from frivolous.common.version import __version__
from frivolous.compression import Compressed, compress
from frivolous.measuring import (
    ALL_LAYERS,
    AblationCurve,
    LayerResult,
    MeasureResult,
    SimilarityResult,
    ablation_curve,
    measure,
    probes,
    similarity,
)
from frivolous.results.results_table import load_results

__all__ = [
    "ALL_LAYERS",
    "AblationCurve",
    "Compressed",
    "LayerResult",
    "MeasureResult",
    "SimilarityResult",
    "__version__",
    "ablation_curve",
    "compress",
    "data",
    "load_results",
    "measure",
    "probes",
    "similarity",
    "zoo",
]
