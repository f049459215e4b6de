"""The physically smaller network: remove the units a network does not need and
fold the repeated ones into the rest, without a gradient step.

    import frivolous as fv
    small = fv.compress(model, data, agreement=0.99)
    print(small.summary()); small.model  # a real, smaller nn.Module

Modules, one job each: :mod:`~frivolous.compression.unit_graph` (who produces and
who consumes each unit), :mod:`~frivolous.compression.reads` (what a consumer
reads: a convolution's padded input, tap by tap),
:mod:`~frivolous.compression.folding` (the least squares),
:mod:`~frivolous.compression.regions` (running only what a layer's change can
reach), :mod:`~frivolous.compression.surgery` (smaller modules),
:mod:`~frivolous.compression.model_costs` (parameters and multiply-adds),
:mod:`~frivolous.compression.api` (the layer-by-layer driver and the search),
:mod:`~frivolous.compression.saved` (a compressed network on disk),
:mod:`~frivolous.compression.rebuild` (its original architecture, rebuilt
without running or fetching what the caller did not ask for),
:mod:`~frivolous.compression.named` (a model and data named as ``frivolous
analyze`` names them, compressed: ``frivolous compress MODEL --data ...``),
:mod:`~frivolous.compression.result` (what a compression returns).
Transformers, whose MLP units no trace follows: :mod:`~frivolous.compression.transformer_mlp`
(the MLP blocks, their producers and down-projection, and their surgery),
:mod:`~frivolous.compression.dense` (``nn.Linear`` and GPT-2's ``Conv1D`` seen
one way), :mod:`~frivolous.compression.token_batches` (samples as (example,
token) pairs, padding excluded; predictions and perplexity),
:mod:`~frivolous.compression.token_compress` (the block-by-block driver).
"""

from frivolous.compression.api import Compressed, compress
from frivolous.compression.saved import load_compressed, save_compressed
from frivolous.compression.surgery import resize_like
from frivolous.compression.unit_graph import CompressionError, CompressionWarning

__all__ = [
    "Compressed",
    "CompressionError",
    "CompressionWarning",
    "compress",
    "load_compressed",
    "resize_like",
    "save_compressed",
]
