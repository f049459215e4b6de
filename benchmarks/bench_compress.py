"""Compression without fine-tuning, side by side: frivolous' least-squares
folding against magnitude (L1) pruning and random removal.

Networks trained here, by frivolous' own loop: the 4x MLP on 10-dim teacher
data, the 4x cnn1d on MNIST-1D, and a small residual 1-D network (a stem and
two residual blocks with BatchNorm on one stream, then an inner layer per
block) on MNIST-1D. Each is compressed to about 1.5x, 2x and 4x fewer
parameters, keeping the same share of units in every compressible layer for
every method (``fv.compress(..., ratio=r, method=m)``): only *which* units go
and whether the rest compensate differs. Every method gets the same BatchNorm
recalibration; nobody gets a gradient step. Calibration: 2,000 training
examples; agreement (top-1, with the original) and accuracy on the test split.

Torch-Pruning is not installed here (no network), so its L1 importance is
stood in for by ``method="magnitude"`` (L1 norm of each unit's producer rows,
no compensation), its group/Taylor importances are not run.

    python benchmarks/bench_compress.py [--epochs-scale 1.0]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from torch import nn

import frivolous as fv
from frivolous import data as datasets
from frivolous import zoo
from frivolous.experiments.spec import TrainSpec
from frivolous.train import Trainer

RATIOS = (1.5, 2.0, 4.0)
METHODS = ("fold", "magnitude", "random")
CALIBRATION = 2000


class ResidualNet1d(nn.Module):
    """A small residual network for MNIST-1D: stem conv, two basic blocks on one
    stream (identity shortcuts), global average pooling, a linear layer."""

    def __init__(self, channels: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, channels, 5, padding=2, bias=False), nn.BatchNorm1d(channels), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm1d(channels), nn.ReLU(),
                          nn.Conv1d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm1d(channels))
            for _ in range(2)
        )  # fmt: skip
        self.out = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x.flatten(1).unsqueeze(1))
        for block in self.blocks:
            x = torch.relu(block(x) + x)
        return self.out(x.mean(2))


def trained(model: nn.Module, bundle, spec: TrainSpec) -> nn.Module:
    Trainer(model, bundle, spec, seed=0, device=torch.device("cpu"), progress=False).run()
    return model.eval()


def networks(scale: float) -> list[tuple[str, nn.Module, object]]:
    teacher = datasets.load("teacher", seed=0, input_dim=10, n_train=4000, n_val=0, n_test=1000)
    digits = datasets.load("mnist1d", seed=0, num_samples=5000)
    epochs = lambda n: max(1, round(n * scale))  # noqa: E731
    mlp = trained(zoo.create("mlp", 4.0, in_features=10, num_classes=2, init="he_normal", seed=0), teacher,
                  TrainSpec(optimizer="adam", lr=1e-3, batch_size=100, epochs=epochs(40)))  # fmt: skip
    cnn = trained(zoo.create("cnn1d", 4.0, num_classes=10, init="he_normal", seed=0), digits,
                  TrainSpec(optimizer="adam", lr=3e-3, batch_size=100, epochs=epochs(30)))  # fmt: skip
    torch.manual_seed(0)
    residual = trained(ResidualNet1d(), digits, TrainSpec(optimizer="adam", lr=3e-3, batch_size=100, epochs=epochs(20)))
    return [("MLP 4x, teacher 10-dim", mlp, teacher), ("cnn1d 4x, MNIST-1D", cnn, digits),
            ("residual 1-D net, MNIST-1D", residual, digits)]  # fmt: skip


def accuracy(model: nn.Module, split) -> float:
    with torch.no_grad():
        return float((model(split.inputs).argmax(1) == split.labels).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every training's epochs")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    started = time.perf_counter()
    rows = []
    for name, model, bundle in networks(args.epochs_scale):
        train, test = bundle.train, bundle.test
        chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:CALIBRATION]
        calibration = (train.inputs[chosen], train.labels[chosen])
        base = accuracy(model, test)
        print(f"\n{name}: {sum(p.numel() for p in model.parameters()):,} parameters, "
              f"test accuracy {base:.4f}")
        for ratio in RATIOS:
            cells = []
            for method in METHODS:
                tic = time.perf_counter()
                result = fv.compress(model, calibration, held_out=(test.inputs, test.labels), ratio=ratio,
                                     method=method, device="cpu", progress=False)  # fmt: skip
                cells.append((method, result, time.perf_counter() - tic))
            for method, result, seconds in cells:
                rows.append((name, ratio, method, result.params_before / result.params_after, result.agreement,
                             result.accuracy_after, base, seconds))  # fmt: skip
                print(f"  {ratio:>3}x  {method:<9} params {result.params_before / result.params_after:4.2f}x fewer  "
                      f"agreement {result.agreement:.4f}  accuracy {result.accuracy_after:.4f}  ({seconds:.1f} s)")
    print("\n| network | target | method | params fewer | agreement | accuracy (original) |")
    print("|---|---:|---|---:|---:|---:|")
    for name, ratio, method, fewer, agreement, acc, base, _ in rows:
        best = max(r[4] for r in rows if r[0] == name and r[1] == ratio)
        shown = f"**{agreement:.3f}**" if agreement == best else f"{agreement:.3f}"
        print(f"| {name} | {ratio}x | {method} | {fewer:.2f}x | {shown} | {acc:.3f} ({base:.3f}) |")
    print(f"\ntook {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
