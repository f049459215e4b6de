"""``frivolous analyze`` on ResNet-50 at 224 px: wall time and peak memory, every probed layer.

The model is torchvision's ResNet-50, untrained (no download), analysed on
random images of 224 x 224 pixels (the time does not depend on what the
images show) exactly as ``frivolous analyze torchvision:resnet50 --data
random:3,224,224`` does: every probed layer (its 49 ReLU calls), tables,
figures and report. Baseline, in the same process: one plain forward pass
of the model over the same images, so the ratio says how many forward
passes an analysis costs. Peak memory: the process's peak resident set
(which includes the images as one tensor: 602 MB at 1,000 of them), and
CUDA's peak allocation on a GPU.

    python benchmarks/bench_analyze.py [--examples 1000] [--samplings 3] [--levels 7] [--device auto]

The defaults are the issue's: 1,000 images, 3 samplings, 7 levels. Time
grows in proportion to the examples and to the ablation masks (about
``(levels - 2) x samplings + 1`` per layer), so a smaller run on a slow CPU
extrapolates; the script prints the extrapolation to the defaults (an upper
estimate: it scales the per-layer tracing and checks too).
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time

import torch

from frivolous.analysis import analyze
from frivolous.measuring.inputs import resolve_device
from frivolous.sources import resolve_data, resolve_model

DEFAULTS = {"examples": 1000, "samplings": 3, "levels": 7}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def masks(levels: int, samplings: int) -> int:
    """Distinct ablated passes per layer: level 0 needs none, removing everything is the same in every sampling."""
    return (levels - 2) * samplings + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=DEFAULTS["examples"])
    parser.add_argument("--samplings", type=int, default=DEFAULTS["samplings"])
    parser.add_argument("--levels", type=int, default=DEFAULTS["levels"])
    parser.add_argument("--side", type=int, default=224, help="image side in pixels")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    source = resolve_model("torchvision:resnet50")
    data = resolve_data(f"random:3,{args.side},{args.side}", source, examples=args.examples)
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} CPU threads, "
        f"torch {torch.__version__}, device {device}"
    )

    model = source.model.to(device).eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in data.inputs.split(64):
            model(batch.to(device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    forward = time.perf_counter() - start
    forward_rss = peak_rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        analysis = analyze(source, data, out, device=device, samplings=args.samplings, levels=args.levels)
        seconds = time.perf_counter() - start
    layers = len(analysis.table)
    cuda = f", CUDA peak {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB" if device.type == "cuda" else ""
    print(
        f"\nresnet50, {args.side} px, {args.examples} images, {layers} layers, {args.samplings} samplings, "
        f"{args.levels} levels\n"
    )
    print("| step | seconds | ratio | peak RSS |")
    print("|---|---:|---:|---:|")
    print(f"| one forward pass (baseline) | {forward:.1f} | 1.00 | {forward_rss:.0f} MiB |")
    print(f"| frivolous analyze | {seconds:.1f} | {seconds / forward:.1f} | {peak_rss_mib():.0f} MiB{cuda} |")
    scale = (
        (DEFAULTS["examples"] / args.examples)
        * (masks(DEFAULTS["levels"], DEFAULTS["samplings"]) + 1)
        / (masks(args.levels, args.samplings) + 1)
    )
    if scale != 1:
        print(
            f"\nextrapolated to {DEFAULTS['examples']} images, {DEFAULTS['samplings']} samplings, "
            f"{DEFAULTS['levels']} levels: at most about {seconds * scale / 3600:.1f} hours (an upper estimate: "
            f"the per-layer fixed costs, tracing and checks, are scaled too; {seconds / layers:.1f} s per layer now)"
        )


if __name__ == "__main__":
    main()
