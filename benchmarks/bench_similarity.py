"""Similarity: frivolous against numpy.corrcoef + threshold count.

The baseline is the released code's method: ``numpy.corrcoef`` over all units
(a full float64 units x units matrix), ``|r| >= threshold``, minus the unit
itself (``frivolous.measuring.reference.similarity_counts``). The floor is one
float32 matrix product of the same shape (``X.T @ X``). frivolous
standardises the samples once and computes only the upper triangle of the
correlation matrix, one panel of rows at a time, in float32, recomputing
pairs near the threshold in float64.

Data: ReLU units driven by 8 shared latent factors plus noise, so that |r|
spreads widely around the threshold, and a few dead units. Counts are
compared with ``dead="legacy"`` (the released code's convention).

The large case runs frivolous alone on 16,384 units in a fresh process and
prints its peak RSS next to what the baseline's matrices alone would need.

    python benchmarks/bench_similarity.py [--samples 20000] [--units 2048] [--large-units 16384]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import time

import numpy as np
import torch


def planted(samples: int, units: int, seed: int = 0, chunk: int = 2048) -> torch.Tensor:
    """Made a chunk of samples at a time, so that making it costs little beyond the data."""
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(8, units, generator=g) * torch.rand(units, generator=g) * 2.0
    x = torch.empty(samples, units)
    for start in range(0, samples, chunk):
        rows = min(chunk, samples - start)
        latent = torch.randn(rows, 8, generator=g)
        x[start : start + rows] = torch.relu(latent @ mixing + torch.randn(rows, units, generator=g))
    x[:, :: max(units // 8, 1)] = 0.0  # a few dead units
    return x


def best_of(repeats: int, run) -> tuple[float, object]:
    run()  # warm-up: page faults, thread pools
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def _large(samples: int, units: int, queue: mp.Queue) -> None:
    import frivolous as fv

    x = planted(samples, units)
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = fv.similarity(x)
    seconds = time.perf_counter() - start
    queue.put((seconds, data_rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, result.mean))


def main() -> None:
    import frivolous as fv
    from frivolous.measuring.reference import similarity_counts

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--units", type=int, default=2_048)
    parser.add_argument("--large-units", type=int, default=16_384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()

    x = planted(args.samples, args.units)
    numpy_x = x.numpy()
    base_s, released = best_of(args.repeats, lambda: similarity_counts(numpy_x, args.threshold))
    floor_s, _ = best_of(args.repeats, lambda: x.T @ x)
    fast_s, result = best_of(args.repeats, lambda: fv.similarity(x, args.threshold, dead="legacy"))

    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(np.corrcoef(numpy_x.astype(np.float64), rowvar=False))
    near = np.abs(r - args.threshold) < 1e-5
    np.fill_diagonal(near, False)
    differing = np.flatnonzero(result.counts != released)
    explained = all(near[u].any() for u in differing)

    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, numpy {np.__version__}"
    )
    print(f"{args.samples:,} samples x {args.units:,} units, threshold {args.threshold}, best of {args.repeats}")
    print(f"{'method':<40}{'seconds':>10}{'vs numpy':>10}{'vs floor':>10}")
    print(f"{'numpy.corrcoef + count (released code)':<40}{base_s:>10.3f}{1:>10.2f}{floor_s / base_s:>10.2f}")
    print(f"{'one float32 product X.T @ X (floor)':<40}{floor_s:>10.3f}{base_s / floor_s:>10.2f}{1:>10.2f}")
    print(f"{'frivolous.similarity':<40}{fast_s:>10.3f}{base_s / fast_s:>10.2f}{floor_s / fast_s:>10.2f}")
    print(
        f"counts: {len(differing)} of {args.units} units differ from numpy "
        f"({'all' if explained else 'NOT all'} of them have a pair within 1e-5 of the threshold); "
        f"{int(near.sum()) // 2} pairs lie within 1e-5 of it; {result.refined_pairs} entries refined in float64; "
        f"similarity {result.mean:.4f}, {result.dead} dead units"
    )

    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_large, args=(args.samples, args.large_units, queue))
    process.start()
    seconds, data_rss, peak_rss, mean = queue.get()
    process.join()
    data_gib = args.samples * args.large_units * 4 / 2**30
    matrix_gib = args.large_units**2 * 8 / 2**30
    copy_gib = args.samples * args.large_units * 8 / 2**30
    print(
        f"\n{args.samples:,} samples x {args.large_units:,} units (fresh process): {seconds:.1f} s, "
        f"similarity {mean:.4f}"
    )
    print(
        f"  peak RSS {peak_rss / 1024:.2f} GiB (after making the data: {data_rss / 1024:.2f} GiB; "
        f"the float32 data alone is {data_gib:.2f} GiB)"
    )
    print(
        f"  numpy.corrcoef would hold a {matrix_gib:.2f} GiB float64 matrix and a {copy_gib:.2f} GiB "
        f"float64 copy of the data, {matrix_gib + copy_gib:.2f} GiB beyond the data"
    )


if __name__ == "__main__":
    main()
