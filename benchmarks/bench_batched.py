"""Batched training: the same runs trained one by one and as batches.

In one process, each set of runs is trained twice into fresh run folders:
separately (``frivolous.experiments.run.train_run``, as a sweep with
``--batch-runs off`` does) and in the batches a sweep forms with
``--batch-runs auto`` (``frivolous.experiments.batching``), the folders
then holding the same files. Printed per set: wall time of each, the
ratio, peak RSS during each, and the FLOP floor: the runs' multiply-adds
(training examples forward and for the weight gradients, validation
examples forward every epoch) at the float32 GEMM throughput measured here
on a 128 x 10000 @ 10000 x 512 product.

Sets (the paper-scale presets' runs): ``b5``, the 10-dim B5 grid (5 init
sigmas x 5 learning rates x 5 widths x 3 replicates, 50 epochs of batch
128); ``b4``, a slice of the 10,000-dim B4 grid (replicate 0, widths 1/4
and 1, the same sigmas and learning rates). ``--runs N`` keeps every
k-th run so that N remain (a smaller, still representative set).

    python benchmarks/bench_batched.py [--set b5 b4] [--runs N] [--threads T] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time
from itertools import pairwise
from pathlib import Path

import torch

from frivolous.experiments.batching import BatchRuns, plan, train_together
from frivolous.experiments.presets import PRESETS
from frivolous.experiments.run import train_run
from frivolous.runs.folder import load_data
from frivolous.runs.spec import RunSpec
from frivolous.train.optim import make_optimizer


def runs_of(name: str) -> list[RunSpec]:
    if name == "b5":
        return [run.spec for run in PRESETS["mlp-sigma-10"].sweep("paper").expand()]
    runs = [run.spec for run in PRESETS["mlp-sigma-10k"].sweep("paper").expand()]
    return [s for s in runs if s.seed == runs[0].seed and s.model.width_factor in (0.25, 1)]


def multiply_adds(specs: list[RunSpec]) -> float:
    """Forward and weight-gradient products of every training example, and a
    forward pass of every validation example, each epoch."""
    total = 0.0
    for spec in specs:
        data, widths = spec.data.options, _mlp_widths(spec)
        per_example = sum(a * b for a, b in pairwise(widths))
        total += spec.train.epochs * (2 * data.get("n_train", 1000) + data.get("n_val", 1000)) * per_example
    return total


def _mlp_widths(spec: RunSpec) -> list[int]:
    from frivolous import zoo

    model = zoo.create(
        "mlp",
        spec.model.width_factor,
        num_classes=2,
        in_features=spec.data.options["input_dim"],
        **{k: v for k, v in spec.model.options.items() if k != "in_features"},
    )
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return [linears[0].in_features, *(m.out_features for m in linears)]


def gemm_throughput(device: torch.device) -> float:
    """Float32 FLOP/s of a 128 x 10000 @ 10000 x 512 product (best of 10)."""
    a = torch.randn(128, 10_000, device=device)
    b = torch.randn(10_000, 512, device=device)
    best = float("inf")
    for _ in range(12):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * 128 * 10_000 * 512 / best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class PeakRSS:
    """The process's largest resident set while the block runs (sampled every 20 ms)."""

    def __enter__(self) -> PeakRSS:
        self.peak, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def separately(specs: list[RunSpec], root: Path, device: str) -> None:
    for spec in specs:
        train_run(spec, root, device=device, progress=False)


def batched(specs: list[RunSpec], root: Path, device: str) -> int:
    batches = plan(specs, BatchRuns.parse("auto"))
    for batch in batches:
        train_together(batch, root, device=device, progress=False)
    return len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", nargs="+", default=["b5", "b4"], choices=["b5", "b4"])
    parser.add_argument("--runs", type=int, default=None, help="keep every k-th run so that about this many remain")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    throughput = gemm_throughput(device)
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} CPU threads, "
        f"torch {torch.__version__}, {device}; float32 GEMM 128x10000 @ 10000x512: {throughput / 1e9:.0f} GFLOP/s"
    )
    print(
        f"{'set':<6}{'runs':>6}{'batches':>9}{'separately s':>14}{'batched s':>11}{'ratio':>8}"
        f"{'floor s':>9}{'RSS sep.':>10}{'RSS bat.':>10}",
        flush=True,
    )
    for name in args.set:
        specs = runs_of(name)
        if args.runs and args.runs < len(specs):
            specs = specs[:: max(1, len(specs) // args.runs)][: args.runs]
        for spec in {(s.data.options["input_dim"], s.seed): s for s in specs}.values():
            load_data(spec)  # warm the teacher's balanced draw and the imports before timing
        make_optimizer(torch.nn.Linear(1, 1), specs[0].train)  # the first optimiser imports torch._dynamo (seconds)
        floor = 2 * multiply_adds(specs) / throughput
        times, peaks = [], []
        for train in (separately, batched):
            root = Path(tempfile.mkdtemp(prefix=f"bench-batched-{name}-"))
            try:
                with PeakRSS() as rss:
                    _sync(device)
                    start = time.perf_counter()
                    result = train(specs, root, args.device)
                    _sync(device)
                times.append(time.perf_counter() - start)
                peaks.append(rss.peak)
            finally:
                shutil.rmtree(root, ignore_errors=True)
        print(
            f"{name:<6}{len(specs):>6}{result:>9}{times[0]:>14.1f}{times[1]:>11.1f}{times[0] / times[1]:>8.1f}"
            f"{floor:>9.1f}{peaks[0] / 2**20:>9.0f}M{peaks[1] / 2**20:>9.0f}M",
            flush=True,
        )


if __name__ == "__main__":
    main()
