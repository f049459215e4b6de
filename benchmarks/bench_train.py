"""Training throughput (examples per second) of the paper's networks at 1x.

MLP on 10,000-dimensional inputs (2 classes), the CIFAR-10 AlexNet and
ResNet56 on 32x32 images, trained by frivolous' own loop (momentum SGD,
the data as tensors on the device) on random data of the right shape. Each
network trains one warm-up epoch, then one timed epoch. On CPU, and on
CUDA (fp32, and bf16 autocast with channels-last) when a device is present.

    python benchmarks/bench_train.py [--examples-scale 1.0]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from frivolous import zoo
from frivolous.data.bundle import DataBundle, TensorSplit
from frivolous.runs.spec import TrainSpec
from frivolous.train import Trainer

CASES = (
    # name, family, options, input shape, classes, examples on CPU, batch size
    ("MLP 10k-dim", "mlp", {"in_features": 10_000}, (10_000,), 2, 8192, 128),
    ("AlexNet", "alexnet", {}, (3, 32, 32), 10, 1024, 128),
    ("ResNet56", "resnet56", {}, (3, 32, 32), 10, 512, 128),
)


def throughput(
    family: str,
    options: dict,
    shape: tuple,
    classes: int,
    examples: int,
    batch: int,
    device: torch.device,
    precision: str,
    channels_last: bool,
) -> float:
    g = torch.Generator().manual_seed(0)
    split = TensorSplit(torch.randn(examples, *shape, generator=g), torch.randint(0, classes, (examples,), generator=g))
    bundle = DataBundle("random", split.to(device), split.to(device), None, classes, shape)
    model = zoo.create(family, num_classes=classes, **options)
    spec = TrainSpec(lr=0.01, batch_size=batch, epochs=1, precision=precision, channels_last=channels_last)
    Trainer(model, bundle, spec, seed=0, device=device, progress=False).run()  # warm-up epoch
    trainer = Trainer(model, bundle, spec, seed=1, device=device, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return examples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples-scale", type=float, default=1.0, help="scale the examples per timed epoch")
    args = parser.parse_args()
    settings = [("cpu", torch.device("cpu"), "fp32", False)]
    if torch.cuda.is_available():
        settings += [
            ("cuda fp32", torch.device("cuda"), "fp32", False),
            ("cuda bf16 + channels_last", torch.device("cuda"), "bf16", True),
        ]
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} CPU threads, "
        f"torch {torch.__version__}"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA device")
    )
    print(f"{'network':<14}{'device':<28}{'examples':>10}{'examples/s':>14}")
    for label, device, precision, channels_last in settings:
        for name, family, options, shape, classes, examples, batch in CASES:
            n = max(batch, int(examples * args.examples_scale * (16 if device.type == "cuda" else 1)))
            rate = throughput(family, options, shape, classes, n, batch, device, precision, channels_last)
            print(f"{name:<14}{label:<28}{n:>10}{rate:>14,.0f}")


if __name__ == "__main__":
    main()
