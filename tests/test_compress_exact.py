"""fv.compress where real CNNs live: padded and strided convolutions read by the
fold as they read their input (brute-force least squares on every patch),
BatchNorm whose statistics are not the calibration data's, any dtype, any
calibration size, targets that cannot be met, and the work it executes."""

from __future__ import annotations

import copy
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import frivolous as fv
from conftest import seeded
from frivolous.compression import CompressionWarning
from frivolous.compression.folding import Moments, fold
from frivolous.compression.reads import read_rows

PADDINGS = ["zeros", "reflect", "replicate", "circular"]


def patches(conv: nn.Conv2d, inputs: torch.Tensor) -> torch.Tensor:
    """Brute force: every value ``conv`` multiplies, one row per (example, output position, tap)."""
    pads = conv._reversed_padding_repeated_twice
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    padded = F.pad(inputs, pads, mode=mode)
    unfolded = F.unfold(padded, conv.kernel_size, dilation=conv.dilation, stride=conv.stride)
    channels = inputs.shape[1]
    return unfolded.reshape(len(inputs), channels, -1).transpose(1, 2).reshape(-1, channels)


GEOMETRIES = [(3, 1, 1, 1), (3, 2, 1, 1), (1, 2, 0, 1), (3, 1, 2, 2), (5, 2, 2, 1)]
"""(kernel, stride, padding, dilation) of the convolutions read by brute force."""


@pytest.mark.parametrize(
    ("mode", "kernel", "stride", "padding", "dilation"),
    [(mode, *g) for mode in PADDINGS for g in GEOMETRIES if g[2] or mode == "zeros"],
)
def test_the_moments_are_those_of_every_value_the_convolution_reads(
    mode: str, kernel: int, stride: int, padding: int, dilation: int
) -> None:
    conv = nn.Conv2d(4, 3, kernel, stride=stride, padding=padding, dilation=dilation, padding_mode=mode)
    x = torch.randn(5, 4, 7, 9, generator=seeded(1), dtype=torch.float64)
    rows, weights = read_rows(conv, x)
    fast = Moments(4, torch.device("cpu"))
    fast.add(rows, weights)
    brute = Moments(4, torch.device("cpu"))
    brute.add(patches(conv, x))
    assert fast.count == brute.count == len(patches(conv, x))
    torch.testing.assert_close(fast.mean, brute.mean)
    torch.testing.assert_close(fast.covariance, brute.covariance)


def test_a_conv1d_reads_its_padded_border_too() -> None:
    conv = nn.Conv1d(2, 3, 3, padding=1)
    x = torch.arange(1.0, 7.0).reshape(1, 2, 3)  # channel 0: 1 2 3, channel 1: 4 5 6
    rows, weights = read_rows(conv, x)
    # padded: 0 1 2 3 0 read by taps 1, 2, 3, 2, 1 times
    assert weights.tolist() == [1, 2, 3, 2, 1]
    assert rows.tolist() == [[0, 0], [1, 4], [2, 5], [3, 6], [0, 0]]


class Chain(nn.Module):
    """conv (the group) -> conv (its consumer, any padding and stride) -> ReLU -> linear."""

    def __init__(self, mode: str, stride: int = 1, size: int = 8) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 6, 3, padding=1)
        self.second = nn.Conv2d(6, 5, 3, padding=1, stride=stride, padding_mode=mode)
        self.out = nn.Linear(5 * ((size - 1) // stride + 1) ** 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.second(self.first(x))).flatten(1))


def offset_copy(mode: str, stride: int = 1, constant: float = 0.7) -> tuple[Chain, torch.Tensor]:
    """Channel 5 of the group is channel 0 plus ``constant``: exact in the interior."""
    torch.manual_seed(0)
    model = Chain(mode, stride).double().eval()
    with torch.no_grad():
        model.first.weight[5] = model.first.weight[0]
        model.first.bias[5] = model.first.bias[0] + constant
    return model, torch.randn(300, 3, 8, 8, generator=seeded(2), dtype=torch.float64)


def consumer_error(model: Chain, small: Chain, x: torch.Tensor) -> float:
    """Mean squared error of what the consumer computes (the compressed against the original)."""
    with torch.no_grad():
        return float((small.second(small.first(x)) - model.second(model.first(x))).square().mean())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("stride", [1, 2])
def test_a_copy_plus_a_constant_folds_exactly_where_the_padding_copies_the_map(mode: str, stride: int) -> None:
    model, x = offset_copy(mode, stride)
    result = fv.compress(model, x, units={"first": 5}, device="cpu")
    assert result.model.first.out_channels == 5
    with torch.no_grad():
        torch.testing.assert_close(result.model(x), model(x), rtol=0, atol=1e-7)


@pytest.mark.parametrize("stride", [1, 2])
def test_with_zero_padding_the_fold_is_the_least_squares_optimum_of_every_read(stride: int) -> None:
    """Zeros at the border break ``a_R = a_K B + c`` there, so no fold is exact:
    the fold's ``B`` and ``c`` are brute-force least squares over every value the
    consumer reads (padding included), its error in the consumer's output is
    within 3% of the best any ``(B, c)`` can do (the joint least squares of the
    output, brute force), and below the fit on the unpadded map."""
    model, x = offset_copy("zeros", stride)
    calibration, held = x[:240], x[240:]
    result = fv.compress(model, calibration, held_out=held, units={"first": 5}, device="cpu")
    small = result.model.first
    kept = [
        i
        for i in range(6)
        if any(
            torch.equal(model.first.weight[i], w) and model.first.bias[i] == b for w, b in zip(small.weight, small.bias)
        )
    ]
    removed = [i for i in range(6) if i not in kept]
    assert len(kept) == 5 and len(removed) == 1
    with torch.no_grad():
        reads = patches(model.second, model.first(calibration))
    design = torch.cat([reads[:, kept], torch.ones(len(reads), 1, dtype=reads.dtype)], 1)
    solution = torch.linalg.lstsq(design, reads[:, removed]).solution
    brute_b, brute_c = solution[:-1], solution[-1]
    weights = model.second.weight.detach()
    expected = weights[:, kept] + torch.einsum("or...,kr->ok...", weights[:, removed], brute_b)
    torch.testing.assert_close(result.model.second.weight, expected, rtol=1e-6, atol=1e-8)
    expected_bias = model.second.bias.detach() + torch.einsum("or...,r->o", weights[:, removed], brute_c)
    torch.testing.assert_close(result.model.second.bias, expected_bias, rtol=1e-6, atol=1e-8)
    assert float(brute_c.abs()) > 0.1  # c != 0: the case the border breaks

    joint = joint_optimum(model, calibration, kept, removed)
    interior = copy.deepcopy(model)
    with torch.no_grad():
        rows = model.first(calibration).permute(0, 2, 3, 1).reshape(-1, 6)
        moments = Moments(6, torch.device("cpu"))
        moments.add(rows)
        mask = torch.tensor([i in kept for i in range(6)])
        b, c = fold(moments.covariance, moments.mean, mask, 0.0)
        interior.second.weight.data[:, kept] += torch.einsum("or...,kr->ok...", weights[:, removed], b)
        interior.second.weight.data[:, removed] = 0
        interior.second.bias.data += torch.einsum("or...,r->o", weights[:, removed], c)
    ours = consumer_error(model, result.model, calibration)
    assert ours <= 1.03 * joint  # measured: 2.1% above it at stride 1
    assert ours < consumer_error(model, interior, calibration)


def joint_optimum(model: Chain, x: torch.Tensor, kept: list[int], removed: list[int]) -> float:
    """The smallest mean squared error of the consumer's output any ``(B, c)`` reaches (brute-force least squares)."""
    conv = model.second
    with torch.no_grad():
        a = model.first(x)
        part = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=False).double()
        part.weight.copy_(conv.weight[:, removed])
        target = part(a[:, removed]).flatten()
        columns = [part(a[:, [k]]).flatten() for k in kept]
        constant = (
            conv.weight[:, removed].sum((1, 2, 3))[None, :, None, None].expand(len(x), -1, *part(a[:, :1]).shape[2:])
        )
        design = torch.stack([*columns, constant.flatten()], 1)
        solution = torch.linalg.lstsq(design, target.unsqueeze(1)).solution
        return float((design @ solution - target.unsqueeze(1)).square().sum() / target.numel())


def test_a_grouped_convolution_keeps_what_it_reads_whole() -> None:
    model = (
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=2),
            nn.ReLU(),
            nn.Conv2d(8, 6, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(6 * 36, 2),
        )
        .double()
        .eval()
    )
    x = torch.randn(100, 3, 6, 6, generator=seeded(3), dtype=torch.float64)
    result = fv.compress(model, x, units=4, device="cpu")
    layers = result.layers.set_index("layer")
    assert layers.loc["0", "units_after"] == 8 and "(Conv2d), which compress cannot follow" in layers.loc["0", "note"]
    assert layers.loc["4", "units_after"] == 4
    assert result.model[2].weight.shape == model[2].weight.shape


class Normalised(nn.Module):
    """conv -> BN -> ReLU -> conv -> BN -> ReLU -> pool -> linear, channel 3 of the first a copy of channel 0."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        return self.fc(x.mean((2, 3)))


def normalised_with_a_copy() -> Normalised:
    torch.manual_seed(4)
    model = Normalised()
    with torch.no_grad():
        for norm in (model.bn1, model.bn2):  # statistics of some other data: not the calibration data's
            norm.running_mean.uniform_(-2, 2)
            norm.running_var.uniform_(0.2, 3)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
        model.conv1.weight[3] = model.conv1.weight[0]
        for name in ("running_mean", "running_var", "weight", "bias"):
            getattr(model.bn1, name)[3] = getattr(model.bn1, name)[0]
    return model.eval()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_an_exact_copy_behind_batchnorm_folds_exactly_whatever_its_statistics(dtype: torch.dtype) -> None:
    model = normalised_with_a_copy().to(dtype)
    x = torch.randn(200, 3, 8, 8, generator=seeded(5))
    result = fv.compress(model, x, units={"conv1": 5}, device="cpu")
    assert result.model.conv1.out_channels == 5 and result.model.bn1.num_features == 5
    with torch.no_grad():
        expected, got = model(x.to(dtype)), result.model(x.to(dtype))
    tolerance = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got, expected, rtol=0, atol=tolerance * float(expected.abs().max()))
    torch.testing.assert_close(result.model.bn2.running_mean, model.bn2.running_mean, rtol=0, atol=10 * tolerance)


@pytest.mark.parametrize("calibration", [65, 2, 3])
def test_any_calibration_size_works_even_a_batch_of_one_behind_batchnorm1d(calibration: int) -> None:
    model = nn.Sequential(
        nn.Linear(4, 10), nn.BatchNorm1d(10), nn.ReLU(), nn.Linear(10, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)
    ).eval()
    x = torch.randn(calibration + 4, 4, generator=seeded(6))
    with pytest.warns(RuntimeWarning, match="calibration samples") if calibration < 20 else nullcontext():
        result = fv.compress(model, x[:calibration], held_out=x[calibration:], units=3, batch_size=64, device="cpu")
    assert result.widths == {"0": 3, "3": 3, "6": 2}  # the output is kept whole


def dtype_works_here(dtype: torch.dtype) -> bool:
    try:
        nn.Conv2d(2, 2, 3).to(dtype)(torch.randn(1, 2, 4, 4, dtype=dtype))
        nn.BatchNorm2d(2).to(dtype).eval()(torch.randn(1, 2, 4, 4, dtype=dtype))
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_the_model_keeps_its_dtype(dtype: torch.dtype) -> None:
    if not dtype_works_here(dtype):
        pytest.skip(f"this CPU's torch has no {dtype} convolutions")
    model = normalised_with_a_copy().to(dtype)
    x = torch.randn(120, 3, 8, 8, generator=seeded(7))  # float32 inputs: cast to the model's dtype
    result = fv.compress(model, x, ratio=1.5, device="cpu")
    assert {t.dtype for t in result.model.parameters()} == {dtype}
    assert {b.dtype for n, b in result.model.named_buffers() if "num_batches" not in n} == {dtype}
    assert result.params_after < result.params_before


def test_targets_that_cannot_be_met_are_said() -> None:
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    x = torch.randn(200, 4, generator=seeded(8))
    with pytest.warns(CompressionWarning, match="units=500 keeps every layer whole"):
        result = fv.compress(model, x, units=500, device="cpu")
    assert result.params_after == result.params_before
    with pytest.warns(CompressionWarning, match="ratio=1000.0 cannot be reached"):
        fv.compress(model, x, ratio=1000.0, device="cpu")
    with pytest.raises(ValueError, match="not agreement and units"):
        fv.compress(model, x, agreement=0.9, units=4, device="cpu")


class Residual(nn.Module):
    """A stem and four BatchNorm basic blocks on one stream, then a linear layer."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
            )
            for _ in range(4)
        )
        self.fc = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = torch.relu(block(x) + x)
        return self.fc(x.mean((2, 3)))


def test_compressing_runs_only_what_each_group_changes() -> None:
    """At a fixed ratio, every group costs one pass over its own part of the
    network for its moments and one for its norms' statistics: a few full
    calibration passes in all, where running the whole network twice per
    group would cost 2 x 5 groups."""
    torch.manual_seed(9)
    model = Residual().eval()
    x = torch.randn(96, 3, 12, 12, generator=seeded(9))
    with torch.no_grad(), FlopCounterMode(display=False) as one:
        model(x[:72])
    with FlopCounterMode(display=False) as counted:
        fv.compress(model, x[:72], held_out=x[72:], ratio=2.0, device="cpu")
    passes = counted.get_total_flops() / one.get_total_flops()
    assert passes < 6.0, passes


class WritesIntoTheCut(nn.Module):
    """``t.add_(...)``: the part after the cut writes into a value computed before
    it; with ``keep_result=False`` the sum reaches the output only through ``t``."""

    def __init__(self, keep_result: bool = True) -> None:
        super().__init__()
        self.stem, self.c1, self.c2, self.c3 = (
            nn.Conv2d(3, 4, 3, padding=1),
            nn.Conv2d(4, 4, 1),
            nn.Conv2d(4, 4, 1),
            nn.Conv2d(4, 4, 1),
        )
        self.fc = nn.Linear(4, 2)
        self.keep_result = keep_result

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        t = self.c3(s)
        if self.keep_result:
            t = t.add_(self.c2(torch.relu(self.c1(s))))
        else:
            t.add_(self.c2(torch.relu(self.c1(s))))
        return self.fc(t.mean((2, 3)))


@pytest.mark.parametrize("keep_result", [True, False])
def test_the_cached_cut_survives_writes_into_it(keep_result: bool) -> None:
    from frivolous.compression.regions import Cache, descendants, node_sizes
    from frivolous.compression.unit_graph import UnitGraph

    model = WritesIntoTheCut(keep_result).eval()
    x = torch.randn(10, 3, 5, 5, generator=seeded(10))
    graph = UnitGraph(model, x[:2])
    cache = Cache(model, graph.module, lambda: x.split(4), node_sizes(graph.module, 2), len(x))
    cache.advance(descendants(graph.module.graph, {"c1", "c2"}))
    cut = {n.name for n in cache.frontier}
    assert cut == ({"stem", "c3"} if keep_result else {"x"})  # the whole network when edges miss the write
    with torch.no_grad():
        expected = model(x)
        for _ in range(3):
            torch.testing.assert_close(torch.cat(list(cache.run())), expected)
