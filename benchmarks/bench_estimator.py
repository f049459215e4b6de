"""The sampled estimator against the paper's 3 samplings, at equal forward-pass work.

What both estimate: a layer's ablation curve averaged over random
permutations of its units, on a fixed set of examples. The paper draws 3
permutations, each shared by every example; the sampled estimator
(``estimator="sampled"``) draws one per example. Reference: the mean of
many paper-style samplings (``--reference`` of them) on the same examples,
whose own error is printed beside it.

Equal work: the multiply-adds of one ``ablation_curve`` call of each
estimator are counted with ``torch.utils.flop_counter.FlopCounterMode``
(the whole call: trace checks, unablated passes, masked re-runs). The
sampled estimator costs less per example (one permutation per example:
``levels - 1`` masked re-runs where the paper's three samplings take
``3 x (levels - 2) + 1``), so it is given the example set repeated ``k``
times, ``k`` the largest whole number of copies whose multiply-adds do not
exceed the paper's (``k`` times one copy's count, which counts the one-time
trace checks ``k`` times: an upper bound); whole copies, so that every
example weighs the same and the target stays the fixed set's curve; each
copy of an example gets permutations of its own. Then the AUC's RMSE against the reference, over
``--seeds`` seeds and the layers, for each estimator.

Model: the project's 1-D CNN (``frivolous.zoo.cnn1d``, 1x, layers conv1,
conv2, conv3 with element units) trained briefly on MNIST-1D, generated
locally; examples: the first ``--examples`` of its test split.

    python benchmarks/bench_estimator.py [--examples 300] [--seeds 20] [--reference 400] [--epochs 15]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from frivolous.data import mnist1d
from frivolous.measuring import ablation_curve
from frivolous.measuring.measurement import SampledCurve
from frivolous.zoo import cnn1d

LAYERS = ("conv1", "conv2", "conv3")


def trained(epochs: int) -> tuple[nn.Module, torch.Tensor, float]:
    """The 1x 1-D CNN after ``epochs`` of Adam on MNIST-1D's training split; the test inputs; test accuracy."""
    bundle = mnist1d.load(seed=0)
    train, test = bundle.train, bundle.test
    assert isinstance(train, mnist1d.TensorSplit) and isinstance(test, mnist1d.TensorSplit)
    torch.manual_seed(0)
    model = cnn1d.build()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(train.inputs)).split(128):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(train.inputs[batch]), train.labels[batch]).backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(test.inputs).argmax(1) == test.labels).float().mean())
    return model, test.inputs, accuracy


def flops(call) -> int:
    with FlopCounterMode(display=False) as counter:
        call()
    return int(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--reference", type=int, default=400, help="paper-style samplings of the reference")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared 2-core machine: one thread per process runs the small re-runs fastest
    started = time.perf_counter()
    model, test, accuracy = trained(args.epochs)
    data = test[: args.examples]
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; 1-D CNN 1x, test accuracy {accuracy:.3f}; {len(data)} examples, "
        f"{args.seeds} seeds, reference of {args.reference} samplings"
    )

    def paper(layer: str, seed: int, samplings: int = 3) -> float:
        return ablation_curve(model, data, layer, samplings=samplings, seed=seed, device="cpu", progress=False).auc

    def sampled(layer: str, seed: int, copies: int) -> SampledCurve:
        curve = ablation_curve(
            model, data.repeat(copies, 1, 1), layer, estimator="sampled", seed=seed, device="cpu", progress=False
        )
        assert isinstance(curve, SampledCurve)
        return curve

    print(
        "| layer | units | reference AUC (its std. error) | paper MFLOPs | sampled MFLOPs (copies) "
        "| paper RMSE | sampled RMSE | ratio | interval covers reference |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    squares: dict[str, list[float]] = {"paper": [], "sampled": []}
    for layer in LAYERS:
        reference = ablation_curve(
            model, data, layer, samplings=args.reference, seed=10_000, device="cpu", progress=False
        )
        truth, truth_error = reference.auc, float(reference.aucs.std(ddof=1) / np.sqrt(args.reference))
        paper_flops = flops(lambda layer=layer: paper(layer, 0))
        one_copy = flops(lambda layer=layer: sampled(layer, 0, 1))
        copies = max(paper_flops // one_copy, 1)
        sampled_flops = copies * one_copy  # an upper bound: the one-time trace checks counted in every copy
        paper_errors = [paper(layer, seed) - truth for seed in range(args.seeds)]
        estimates = [sampled(layer, seed, copies) for seed in range(args.seeds)]
        sampled_errors = [e.auc - truth for e in estimates]
        covered = np.mean([e.auc_interval[0] <= truth <= e.auc_interval[1] for e in estimates])
        rmse = {
            name: float(np.sqrt(np.mean(np.square(e))))
            for name, e in (("paper", paper_errors), ("sampled", sampled_errors))
        }
        squares["paper"] += [e * e for e in paper_errors]
        squares["sampled"] += [e * e for e in sampled_errors]
        print(
            f"| {layer} | {reference.units} | {truth:.4f} ({truth_error:.4f}) | {paper_flops / 1e6:.0f} "
            f"| {sampled_flops / 1e6:.0f} ({copies}) | {rmse['paper']:.4f} | {rmse['sampled']:.4f} "
            f"| {rmse['paper'] / rmse['sampled']:.1f}x | {covered:.2f} |"
        )
    overall = {name: float(np.sqrt(np.mean(values))) for name, values in squares.items()}
    print(
        f"all layers: paper RMSE {overall['paper']:.4f}, sampled RMSE {overall['sampled']:.4f} "
        f"({overall['paper'] / overall['sampled']:.1f}x smaller); {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
