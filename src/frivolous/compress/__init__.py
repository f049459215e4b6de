"""The physically smaller network: remove the units a network does not need and
fold the repeated ones into the rest, without a gradient step.

    import frivolous as fv
    small = fv.compress(model, data, agreement=0.99)
    print(small.summary()); small.model  # a real, smaller nn.Module

Modules, one job each: :mod:`~frivolous.compress.graph` (who produces and
who consumes each unit), :mod:`~frivolous.compress.reads` (what a consumer
reads: a convolution's padded input, tap by tap),
:mod:`~frivolous.compress.folding` (the least squares),
:mod:`~frivolous.compress.regions` (running only what a layer's change can
reach), :mod:`~frivolous.compress.surgery` (smaller modules),
:mod:`~frivolous.compress.costs` (parameters and multiply-adds),
:mod:`~frivolous.compress.api` (the layer-by-layer driver and the search),
:mod:`~frivolous.compress.saved` (a compressed network on disk),
:mod:`~frivolous.compress.rebuild` (its original architecture, rebuilt
without running or fetching what the caller did not ask for),
:mod:`~frivolous.compress.named` (a model and data named as ``frivolous
analyze`` names them, compressed: ``frivolous compress MODEL --data ...``).
"""

from frivolous.compress.api import Compressed, compress
from frivolous.compress.graph import CompressionError, CompressionWarning
from frivolous.compress.saved import load_compressed, save_compressed
from frivolous.compress.surgery import resize_like

__all__ = ["Compressed", "CompressionError", "CompressionWarning", "compress", "load_compressed", "resize_like", "save_compressed"]
