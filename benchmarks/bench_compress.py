"""Compression without fine-tuning, side by side: frivolous' least-squares
folding against magnitude (L1) pruning, random removal and Torch-Pruning's
own pruner with its L1, group-norm and Taylor importances.

Networks trained here, by frivolous' own loop: the 4x MLP on 10-dim teacher
data, the 4x cnn1d on MNIST-1D, and a small residual 1-D network (a stem and
two residual blocks with BatchNorm on one stream, then an inner layer per
block) on MNIST-1D. Each is compressed to about 1.5x, 2x and 4x fewer
parameters. frivolous' methods keep the same share of units in every
compressible layer (``fv.compress(..., ratio=r, method=m)``): only *which*
units go and whether the rest compensate differs (``fold``: least-squares
folding; ``magnitude``: L1 norm of each unit's producer rows, no
compensation; ``random``). Torch-Pruning (``pip install 'frivolous[bench]'``)
prunes with ``tp.pruner.MetaPruner`` (one step, the same channel ratio in
every layer, the output layer ignored) and ``tp.importance.MagnitudeImportance(p=1)``
(``tp-l1``), ``GroupMagnitudeImportance(p=2)`` (``tp-group``, the group L2
norm of DepGraph) or ``TaylorImportance()`` (``tp-taylor``: the gradients of
one backward pass of the cross-entropy over the calibration examples, no
optimiser step); its ``pruning_ratio`` is bisected to the parameter count
nearest the target, and the ratio reached is printed for every method.

BatchNorm: the fold keeps the running statistics it was given, moved by
what its change moved on the calibration examples (``fv.compress``'s own
correction); the methods that remove units without compensating
(``magnitude``, ``random`` and Torch-Pruning's) get, after ``fv.compress``'s
correction where it applies, every norm's statistics recomputed on the
calibration examples, which is worth much more to them (on the residual
network at 1.5x: magnitude 0.818 agreement with it, 0.688 without) and less
to the fold (0.982 with it, 0.994 without); nobody gets a gradient step. Calibration: 2,000 training
examples; agreement (top-1, with the original) and accuracy on the test
split. Without torch-pruning installed the script runs frivolous' methods
and says which columns it skipped.

    python benchmarks/bench_compress.py [--epochs-scale 1.0]

``--resnet50`` instead times ``fv.compress`` on torchvision's ResNet-50
(random weights, seeded; 64 px; 256 calibration and 64 held-out images of
seeded noise; ``ratio=2``): seconds (wall and CPU), and the multiply-adds it executed
(``FlopCounterMode``) in units of one forward pass over the calibration
images, a count that does not move with the machine's load.

``--norms`` instead compares, on the residual network, ``fv.compress``'s own
BatchNorm correction with every norm's statistics recomputed on the
calibration examples afterwards, for the fold and for ``magnitude``.
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
from collections.abc import Callable
from importlib.metadata import version

import torch
from torch import nn

import frivolous as fv
from frivolous import data as datasets
from frivolous import zoo
from frivolous.common.parameters import parameter_count
from frivolous.runs.spec import TrainSpec
from frivolous.train import Trainer

try:
    import torch_pruning as tp
except ImportError:  # the benchmark's optional extra: frivolous' columns run without it
    tp = None

RATIOS = (1.5, 2.0, 4.0)
METHODS = ("fold", "magnitude", "random")
TP_METHODS = ("tp-l1", "tp-group", "tp-taylor")
CALIBRATION = 2000
BISECTIONS = 30
"""Steps of the bisection of Torch-Pruning's pruning_ratio (its parameter count is a step function of it)."""


class ResidualNet1d(nn.Module):
    """A small residual network for MNIST-1D: stem conv, two basic blocks on one
    stream (identity shortcuts), global average pooling, a linear layer."""

    def __init__(self, channels: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, channels, 5, padding=2, bias=False), nn.BatchNorm1d(channels), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm1d(channels),
                nn.ReLU(),
                nn.Conv1d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm1d(channels),
            )
            for _ in range(2)
        )
        self.out = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x.flatten(1).unsqueeze(1))
        for block in self.blocks:
            x = torch.relu(block(x) + x)
        return self.out(x.mean(2))


def trained(model: nn.Module, bundle, spec: TrainSpec) -> nn.Module:
    Trainer(model, bundle, spec, seed=0, device=torch.device("cpu"), progress=False).run()
    return model.eval()


MLP, CNN, RESIDUAL = "MLP 4x, teacher 10-dim", "cnn1d 4x, MNIST-1D", "residual 1-D net, MNIST-1D"


def networks(scale: float, names: tuple[str, ...] = (MLP, CNN, RESIDUAL)) -> list[tuple[str, nn.Module, object]]:
    """The networks ``names`` (all three by default), trained: each from its own seed, so one
    trained alone is the network trained beside the others."""
    epochs = lambda n: max(1, round(n * scale))  # noqa: E731
    built = []
    if MLP in names:
        teacher = datasets.load("teacher", seed=0, input_dim=10, n_train=4000, n_val=0, n_test=1000)
        mlp = trained(
            zoo.create("mlp", 4.0, in_features=10, num_classes=2, init="he_normal", seed=0),
            teacher,
            TrainSpec(optimizer="adam", lr=1e-3, batch_size=100, epochs=epochs(40)),
        )
        built.append((MLP, mlp, teacher))
    if CNN in names or RESIDUAL in names:
        digits = datasets.load("mnist1d", seed=0, num_samples=5000)
    if CNN in names:
        cnn = trained(
            zoo.create("cnn1d", 4.0, num_classes=10, init="he_normal", seed=0),
            digits,
            TrainSpec(optimizer="adam", lr=3e-3, batch_size=100, epochs=epochs(30)),
        )
        built.append((CNN, cnn, digits))
    if RESIDUAL in names:
        torch.manual_seed(0)
        spec = TrainSpec(optimizer="adam", lr=3e-3, batch_size=100, epochs=epochs(20))
        built.append((RESIDUAL, trained(ResidualNet1d(), digits, spec), digits))
    return built


def calibration_of(bundle) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded :data:`CALIBRATION` training examples every method is fitted on, with their labels."""
    train = bundle.train
    chosen = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:CALIBRATION]
    return train.inputs[chosen], train.labels[chosen]


def predictions(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(inputs).argmax(1)


def accuracy(model: nn.Module, split) -> float:
    return float((predictions(model, split.inputs) == split.labels).double().mean())


def importances() -> dict[str, Callable[[], object]]:
    return {
        "tp-l1": lambda: tp.importance.MagnitudeImportance(p=1),
        "tp-group": lambda: tp.importance.GroupMagnitudeImportance(p=2),
        "tp-taylor": lambda: tp.importance.TaylorImportance(),
    }


def tp_pruned(
    model: nn.Module,
    method: str,
    pruning_ratio: float,
    calibration: tuple[torch.Tensor, torch.Tensor],
    recalibrate: bool = True,
) -> nn.Module:
    """A copy of ``model`` pruned by Torch-Pruning: ``pruning_ratio`` of the channels of every layer but the output."""
    pruned = copy.deepcopy(model).eval()
    output = [m for m in pruned.modules() if isinstance(m, nn.Linear)][-1]
    inputs, labels = calibration
    pruner = tp.pruner.MetaPruner(
        pruned, inputs[:2], importance=importances()[method](), pruning_ratio=pruning_ratio, ignored_layers=[output]
    )
    if method == "tp-taylor":  # the importance reads the gradients of one backward pass; no step is taken
        pruned.zero_grad()
        nn.functional.cross_entropy(pruned(inputs), labels).backward()
    pruner.step()
    pruned.zero_grad(set_to_none=True)
    if recalibrate:
        recalibrate_norms(pruned, inputs)
    return pruned.eval()


def recalibrate_norms(model: nn.Module, inputs: torch.Tensor) -> None:
    """Every BatchNorm's running statistics recomputed on ``inputs`` (a cumulative average, no gradients)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    with torch.no_grad():
        for batch in inputs.split(256):
            model(batch)
    model.eval()


def tp_ratio_for(model: nn.Module, ratio: float, calibration: tuple[torch.Tensor, torch.Tensor]) -> float:
    """The ``pruning_ratio`` whose pruned network has the parameter count nearest ``1/ratio`` of ``model``'s."""
    goal = parameter_count(model) / ratio
    count = {}

    def parameters(share: float) -> int:
        if share not in count:
            count[share] = parameter_count(tp_pruned(model, "tp-l1", share, calibration, recalibrate=False))
        return count[share]

    low, high = 0.0, 0.99  # parameters(low) >= goal > parameters(high), the count falling as the ratio rises
    for _ in range(BISECTIONS):
        middle = (low + high) / 2
        low, high = (middle, high) if parameters(middle) >= goal else (low, middle)
    return min((low, high), key=lambda share: abs(parameters(share) - goal))


def resnet50_speed() -> None:
    """The cost of compressing a ResNet-50 at ratio 2: seconds and calibration passes executed."""
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    noise = torch.Generator().manual_seed(1)
    calibration, held = torch.randn(256, 3, 64, 64, generator=noise), torch.randn(64, 3, 64, 64, generator=noise)
    with torch.no_grad(), FlopCounterMode(display=False) as one_pass:
        model(calibration)
    tic, cpu = time.perf_counter(), time.process_time()
    with FlopCounterMode(display=False) as counted:
        result = fv.compress(model, calibration, held_out=held, ratio=2.0, device="cpu", progress=False)
    seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
    print(
        f"{fv.__file__}\nresnet50, 64 px, 256 calibration images, ratio 2: {seconds:.1f} s ({cpu:.1f} s of CPU), "
        f"{counted.get_total_flops() / one_pass.get_total_flops():.1f} calibration passes executed "
        f"({counted.get_total_flops():.3g} FLOPs)\n{result.summary()}"
    )


def norm_treatments(scale: float) -> None:
    """Agreement of the fold and of magnitude pruning on the residual network, with
    ``fv.compress``'s correction alone and with every norm recomputed after it."""
    [(name, model, bundle)] = networks(scale, (RESIDUAL,))
    test, calibration = bundle.test, calibration_of(bundle)
    reference = predictions(model, test.inputs)
    print(f"{name}: agreement with fv.compress's correction alone / with every norm recomputed after it")
    for ratio in RATIOS:
        for method in ("fold", "magnitude"):
            small = fv.compress(
                model,
                calibration,
                held_out=(test.inputs, test.labels),
                ratio=ratio,
                method=method,
                device="cpu",
                progress=False,
            ).model
            alone = float((predictions(small, test.inputs) == reference).double().mean())
            recalibrate_norms(small, calibration[0])
            recomputed = float((predictions(small.eval(), test.inputs) == reference).double().mean())
            print(f"  {ratio}x {method:<9} {alone:.3f} / {recomputed:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every training's epochs")
    parser.add_argument("--resnet50", action="store_true", help="time compress on ResNet-50 instead")
    parser.add_argument("--norms", action="store_true", help="compare BatchNorm treatments on the residual network")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.resnet50:
        resnet50_speed()
        return
    if args.norms:
        norm_treatments(args.epochs_scale)
        return
    pruning = f"torch-pruning {version('torch-pruning')}" if tp is not None else "torch-pruning not installed"
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {pruning}"
    )
    if tp is None:
        print(f"skipped: {', '.join(TP_METHODS)} (Torch-Pruning is not installed: pip install 'frivolous[bench]')")
    methods = METHODS + (TP_METHODS if tp is not None else ())
    started = time.perf_counter()
    rows = []
    for name, model, bundle in networks(args.epochs_scale):
        test, calibration = bundle.test, calibration_of(bundle)
        base, reference = accuracy(model, test), predictions(model, test.inputs)
        print(f"\n{name}: {parameter_count(model):,} parameters, test accuracy {base:.4f}")
        for ratio in RATIOS:
            share = tp_ratio_for(model, ratio, calibration) if tp is not None else None
            for method in methods:
                tic = time.perf_counter()
                if method in METHODS:
                    result = fv.compress(
                        model,
                        calibration,
                        held_out=(test.inputs, test.labels),
                        ratio=ratio,
                        method=method,
                        device="cpu",
                        progress=False,
                    )
                    small = result.model
                    if method != "fold":  # no compensation: a full recalibration is worth more to them
                        recalibrate_norms(small, calibration[0])
                else:
                    small = tp_pruned(model, method, share, calibration)
                seconds = time.perf_counter() - tic
                fewer = parameter_count(model) / parameter_count(small)
                agreement = float((predictions(small, test.inputs) == reference).double().mean())
                rows.append((name, ratio, method, fewer, agreement, accuracy(small, test), base))
                note = f"  pruning_ratio {share:.4f}" if method in TP_METHODS else ""
                print(
                    f"  {ratio:>3}x  {method:<9} params {fewer:4.2f}x fewer  agreement {agreement:.4f}  "
                    f"accuracy {rows[-1][5]:.4f}  ({seconds:.1f} s){note}"
                )
    print("\n| network | target | method | params fewer | agreement | accuracy (original) |")
    print("|---|---:|---|---:|---:|---:|")
    for name, ratio, method, fewer, agreement, acc, base in rows:
        best = max(r[4] for r in rows if r[0] == name and r[1] == ratio)
        shown = f"**{agreement:.3f}**" if agreement == best else f"{agreement:.3f}"
        print(f"| {name} | {ratio}x | {method} | {fewer:.2f}x | {shown} | {acc:.3f} ({base:.3f}) |")
    print(
        "\nagreement (accuracy) [params fewer], one row per network and target:\n\n| network | target | "
        + " | ".join(methods)
        + " |\n|---|---:|"
        + "---:|" * len(methods)
    )
    for name in dict.fromkeys(r[0] for r in rows):
        for ratio in RATIOS:
            cells = {r[2]: r for r in rows if r[0] == name and r[1] == ratio}
            best = max(r[4] for r in cells.values())
            shown = [
                (f"**{r[4]:.3f}**" if r[4] == best else f"{r[4]:.3f}") + f" ({r[5]:.3f}) [{r[3]:.2f}x]"
                for r in (cells[m] for m in methods)
            ]
            print(f"| {name} (acc. {cells[methods[0]][6]:.3f}) | {ratio}x | " + " | ".join(shown) + " |")
    print(f"\ntook {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
