"""``frivolous analyze``'s measurement on ResNet-50 at 224 px, every probed layer:
multiply-adds executed against the floor, seconds per image, and what
bfloat16 and channels last change.

The model is torchvision's ResNet-50, untrained (no download, seeded), on
random images of 224 x 224 pixels, measured exactly as ``frivolous analyze
torchvision:resnet50 --data random:3,224,224`` measures it
(:func:`frivolous.analysis.measure_by_layer`: every probed layer, its 49
ReLU calls; the tables, figures and report written afterwards are left out).

* **FLOPs against the floor**, counted with
  ``torch.utils.flop_counter.FlopCounterMode`` around the whole measurement
  (a count that does not move with the machine's load). The floor: one
  unablated pass of every image, plus, for each probed layer and each
  distinct mask, the re-run of the layers after it, each counted on one
  image through the public :class:`~frivolous.measuring.network.ProbedNetwork`
  interface.
* **Seconds per image** in the paper-exact mode (the default), and
  extrapolated to the paper's 7 levels and 3 samplings (16 masks a layer):
  time grows with the examples and with ``1 + masks x (share of a pass each
  re-run takes)``, which the floor gives.
* **bfloat16 and channels last** (``--dtype bfloat16 --channels-last``):
  seconds, and the change of each layer's AUC and similarity against float32.
* **The sampled estimator** (``--estimator sampled``, the paper's 7 levels):
  multiply-adds and seconds per image, counted the same way, against the
  paper-exact floor at 7 levels and 3 samplings; and the images each layer
  needs for ``--precision 0.02`` at a given spread of one image's AUC
  (``--auc-spread``; benchmarks/bench_estimator.py measured about 0.2 on a
  trained CNN). The untrained ResNet-50 gives every random image the same
  label, so no mask changes one: its own intervals would shrink at once and
  say nothing about a trained model's; the examples needed are therefore
  computed from the spread, not measured here.

    python benchmarks/bench_analyze.py [--examples 2] [--samplings 1] [--levels 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from typing import Any

import numpy as np
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from frivolous.analysis import measure_by_layer
from frivolous.measuring.cost import distinct_masks
from frivolous.measuring.graph import GraphNetwork
from frivolous.measuring.inputs import resolve_device

PAPER = {"levels": 7, "samplings": 3}
PRECISION = 0.02
Z95 = 1.959964


def resnet50() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet50().eval()


def floor_flops(model: torch.nn.Module, inputs: torch.Tensor, masks: int) -> tuple[float, float, list[float]]:
    """One pass's multiply-adds (per image), the floor of the measurement (per
    image), and each probed layer's re-run as a share of one pass."""
    with FlopCounterMode(display=False) as one, torch.inference_mode():
        model(inputs[:1])
    network = GraphNetwork(model)
    shares = []
    with torch.inference_mode():
        network.select(network.default_layers)
        capture = network.capture(inputs[:1])
        for name in network.default_layers:
            keep = torch.ones(1, *capture.activations[name].shape[1:], dtype=torch.bool, device=inputs.device)
            with FlopCounterMode(display=False) as counter:
                network.ablate(capture, {name: keep})
            shares.append(counter.get_total_flops() / one.get_total_flops())
    full = float(one.get_total_flops())
    return full, full * (1 + masks * sum(shares)), shares


def timed(model: torch.nn.Module, inputs: torch.Tensor, device: torch.device, **options: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = measure_by_layer(model, inputs, None, device=device, progress=False, **options)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2)
    parser.add_argument("--samplings", type=int, default=1)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--side", type=int, default=224, help="image side in pixels")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--auc-spread", type=float, default=0.2, help="standard deviation of one image's AUC")
    args = parser.parse_args()
    device = resolve_device(args.device)
    model = resnet50().to(device)
    inputs = torch.randn(args.examples, 3, args.side, args.side, generator=torch.Generator().manual_seed(1))
    inputs = inputs.to(device)
    settings = {"levels": args.levels, "samplings": args.samplings}
    masks = distinct_masks(args.levels, args.samplings)
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} CPU threads, "
        f"torch {torch.__version__}, device {device}; resnet50, {args.side} px, {args.examples} images, "
        f"{args.levels} levels, {args.samplings} samplings ({masks} masks a layer)\n"
    )
    one, floor, shares = floor_flops(model, inputs, masks)
    with FlopCounterMode(display=False) as counter:
        exact, seconds = timed(model, inputs, device, **settings)
    executed = counter.get_total_flops() / args.examples
    print(f"layers: {len(shares)}; one pass: {one / 1e9:.2f} GFLOP per image; re-runs: {sum(shares):.1f} passes a mask")
    print(f"executed {executed / 1e9:.1f} GFLOP per image, floor {floor / 1e9:.1f}: ratio {executed / floor:.3f}\n")

    runs: list[tuple[str, dict[str, Any]]] = [
        ("bfloat16", {"dtype": "bfloat16"}),
        ("bfloat16, channels last", {"dtype": "bfloat16", "channels_last": True}),
        ("channels last", {"channels_last": True}),
    ]
    paper_passes = 1 + distinct_masks(PAPER["levels"], PAPER["samplings"]) * sum(shares)
    ours_passes = 1 + masks * sum(shares)
    print(
        "| run | s per image | s per image at 7 levels, 3 samplings | max abs AUC change | max abs similarity change |"
    )
    print("|---|---:|---:|---:|---:|")
    per_image = seconds / args.examples
    extrapolated = per_image * paper_passes / ours_passes
    print(f"| float32 (paper-exact, FLOPs counted) | {per_image:.1f} | {extrapolated:.0f} | - | - |")
    for label, options in runs:
        result, took = timed(model, inputs, device, **settings, **options)
        auc = max(abs(result.layers[n].auc - layer.auc) for n, layer in exact.layers.items())
        similarity = np.nanmax(
            [abs(result.layers[n].similarity - layer.similarity) for n, layer in exact.layers.items()]
        )
        extrapolated = took / args.examples * paper_passes / ours_passes
        print(f"| {label} | {took / args.examples:.1f} | {extrapolated:.0f} | {auc:.3f} | {similarity:.3f} |")
    sampled(model, inputs, device, one, paper_passes, args.auc_spread)


def sampled(
    model: torch.nn.Module, inputs: torch.Tensor, device: torch.device, one: float, paper_passes: float, spread: float
) -> None:
    """The sampled estimator's work per image, against the paper-exact floor at
    7 levels and 3 samplings, and the images ``--precision 0.02`` needs."""
    with FlopCounterMode(display=False) as counter:
        _, took = timed(model, inputs, device, estimator="sampled", levels=PAPER["levels"])
    passes = counter.get_total_flops() / len(inputs) / one
    needed = math.ceil((Z95 * spread / PRECISION) ** 2)
    print(
        f"\nsampled estimator, {PAPER['levels']} levels: {passes:.1f} passes per image executed "
        f"({took / len(inputs):.1f} s per image here), the paper-exact floor at {PAPER['levels']} levels and "
        f"{PAPER['samplings']} samplings {paper_passes:.1f}: {paper_passes / passes:.1f}x less work per image"
    )
    print(
        f"--precision {PRECISION} at a per-image AUC spread of {spread}: about {needed} images a layer, "
        f"{needed * passes:,.0f} passes in all against {1000 * paper_passes:,.0f} for the paper's 1,000 images "
        f"({1000 * paper_passes / (needed * passes):.1f}x less)"
    )


if __name__ == "__main__":
    main()
