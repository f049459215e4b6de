"""What a consumer reads of its input: the values its weights multiply, and how often.

The fold replaces the removed units ``a_R`` by ``a_K B + c`` in every value
the consumer reads. A Linear layer reads each row of its input once. A
convolution reads its input *padded*: each output position reads one
patch, so a value is read once per kernel tap that covers it, and the
padding (zeros, or copies of the border for ``reflect``, ``replicate`` and
``circular``) is read too. There the removed units contribute what the
padding holds, not ``c``: with zero padding a channel that equals another
plus a constant is *not* that channel plus a constant where the kernel
overhangs the border, and ``c`` folded into the bias is added there all
the same. Fitting ``B`` and ``c`` on every value the consumer reads, each
weighted by the number of taps that read it (zero for positions a stride
skips), makes the fold the least-squares optimum of the error in what the
consumer multiplies, border taps included, for every padding mode
(:func:`read_rows`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from frivolous.measuring.samples import as_rows

CONVOLUTIONS = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def read_rows(module: nn.Module, inputs: torch.Tensor, positions: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(rows, weights)``: one row per value ``module`` reads of ``inputs``
    (channels as columns), and how many times each row is read (None: once
    each). ``positions`` > 1: a Linear layer reading a flattened map, whose
    columns are blocks of ``positions`` per channel."""
    if isinstance(module, nn.Linear):
        if positions > 1 or inputs.ndim == 2:
            inputs = inputs.reshape(inputs.shape[0], -1, positions)
        return as_rows(inputs), None
    assert isinstance(module, nn.modules.conv._ConvNd)  # consumers are Linear or Conv layers
    padded = padded_input(module, inputs)
    counts = read_counts(module, tuple(inputs.shape[2:]), padded.device)
    used = counts.flatten() > 0
    rows = as_rows(padded).reshape(padded.shape[0], -1, padded.shape[1])[:, used].reshape(-1, padded.shape[1])
    return rows, counts.flatten()[used].repeat(padded.shape[0])


def padded_input(module: nn.modules.conv._ConvNd, inputs: torch.Tensor) -> torch.Tensor:
    """``inputs`` padded as ``module`` pads them before its kernel slides over them."""
    pads = module._reversed_padding_repeated_twice
    if not any(pads):
        return inputs
    if module.padding_mode == "zeros":
        return F.pad(inputs, pads)
    return F.pad(inputs, pads, mode=module.padding_mode)


def read_counts(module: nn.modules.conv._ConvNd, spatial: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """How many kernel taps of ``module`` read each position of its padded
    input of size ``spatial`` (before padding): a transposed convolution of
    ones (one per output position) with a kernel of ones."""
    pads = module._reversed_padding_repeated_twice
    padded = [
        size + pads[2 * (len(spatial) - 1 - d)] + pads[2 * (len(spatial) - 1 - d) + 1] for d, size in enumerate(spatial)
    ]
    kernel, stride, dilation = module.kernel_size, module.stride, module.dilation
    outputs = [(size - dilation[d] * (kernel[d] - 1) - 1) // stride[d] + 1 for d, size in enumerate(padded)]
    ones = torch.ones(1, 1, *outputs, dtype=torch.float64, device=device)
    taps = torch.ones(1, 1, *kernel, dtype=torch.float64, device=device)
    counts = CONVOLUTIONS[len(spatial)](ones, taps, stride=stride, dilation=dilation)[0, 0]
    short = [size - got for size, got in zip(padded, counts.shape)]  # the last positions no tap reaches
    if any(short):
        counts = F.pad(counts, [pad for s in reversed(short) for pad in (0, s)])
    return counts
