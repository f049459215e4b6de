"""Ablation curves: frivolous against a full forward pass per mask.

The baseline is the released code's method: for every layer, sampling and
level, re-run the whole network once with a forward hook that zeroes the
removed units (``frivolous.measuring.reference.ablation_curves``). frivolous
re-runs only the part of the network after the ablated layer, for many
masks per pass, and skips masks that need no pass. Both use the very same
masks, so their curves must be identical.

Model: the paper's CIFAR-10 AlexNet at 1x, random Glorot-normal weights and
zero biases (so that predictions vary across inputs), 256 random images,
layers conv1, conv2, fc1, fc2, 7 levels, 3 samplings, element units.
Each method runs in a fresh process so that its peak RSS is its own.

    python benchmarks/bench_ablation.py [--images 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import time

import numpy as np
import torch
from torch import nn

LAYERS = ("conv1", "conv2", "fc1", "fc2")


def _setup(images: int, device: str):
    from frivolous.zoo import create

    model = create("alexnet", seed=0)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(module.weight, generator=torch.Generator().manual_seed(1))
            nn.init.zeros_(module.bias)
    inputs = torch.randn(images, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    return model.to(device), inputs.to(device)


def _frivolous(model, inputs, args):
    from frivolous.measuring.engine import Settings, run
    from frivolous.measuring.masks import resolve_levels

    settings = Settings(
        levels=resolve_levels(args.levels),
        samplings=args.samplings,
        unit="element",
        threshold=0.5,
        max_samples=2,
        seed=0,
        dead="exclude",
        repetition=False,
        all_layers=False,
    )
    result = run(model, inputs, list(LAYERS), settings, device=inputs.device, batch_size=len(inputs), progress=False)
    return {name: result.layers[name].ablation.curves for name in LAYERS}


def _baseline(model, inputs, args):
    from frivolous.measuring.reference import ablation_curves

    return {
        name: ablation_curves(model, inputs, name, levels=args.levels, samplings=args.samplings, unit="element")
        for name in LAYERS
    }


def _worker(method: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    model, inputs = _setup(args.images, args.device)
    run = {"frivolous": _frivolous, "baseline": _baseline}[method]
    run(model, inputs[:8], args)  # warm-up: allocator, kernels, tracing paths
    if inputs.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    curves = run(model, inputs, args)
    if inputs.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    gpu = torch.cuda.max_memory_allocated() / 2**20 if inputs.device.type == "cuda" else float("nan")
    queue.put((seconds, curves, peak, gpu))


def _measure(method: str, args: argparse.Namespace):
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_worker, args=(method, args, queue))
    process.start()
    out = queue.get()
    process.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--levels", type=int, default=7)
    parser.add_argument("--samplings", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    fast_s, fast_curves, fast_rss, fast_gpu = _measure("frivolous", args)
    base_s, base_curves, base_rss, base_gpu = _measure("baseline", args)
    diff = max(float(np.abs(fast_curves[n] - base_curves[n]).max()) for n in LAYERS)
    differing = sum(int((fast_curves[n] != base_curves[n]).sum()) for n in LAYERS)
    points = sum(c.size for c in base_curves.values())

    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, device {args.device}"
    )
    print(
        f"AlexNet 1x, {args.images} images, layers {', '.join(LAYERS)}, {args.levels} levels, "
        f"{args.samplings} samplings, element units"
    )
    print(f"{'method':<34}{'seconds':>10}{'ratio':>8}{'peak RSS MiB':>14}{'peak GPU MiB':>14}")
    print(f"{'full forward + hook per mask':<34}{base_s:>10.2f}{1.0:>8.2f}{base_rss:>14.0f}{base_gpu:>14.0f}")
    print(
        f"{'frivolous (suffix, batched masks)':<34}{fast_s:>10.2f}{base_s / fast_s:>8.2f}{fast_rss:>14.0f}"
        f"{fast_gpu:>14.0f}"
    )
    print(f"curves: {differing} of {points} points differ, max |difference| {diff:.3g}")
    for name in LAYERS:
        print(
            f"  {name}: AUC {np.mean(((fast_curves[name][:, 1:] + fast_curves[name][:, :-1]) / 2).mean(1)):.4f}, "
            f"curve {np.round(fast_curves[name].mean(0), 3).tolist()}"
        )


if __name__ == "__main__":
    main()
