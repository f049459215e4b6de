"""frivolous: find the units a trained neural network could do without.

    import frivolous as fv
    result = fv.measure(model, data)      # removable and repeated units
    print(result.auc, result.similarity)
    small = fv.compress(model, data)      # the smaller network, same function
"""

from importlib.metadata import PackageNotFoundError, version

from frivolous import data, zoo
from frivolous.compress import Compressed, compress
from frivolous.measure import (
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
from frivolous.results.table import load_results

try:
    __version__ = version("frivolous")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

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
