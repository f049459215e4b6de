"""How far batched training moves a run's numbers from training it alone.

Batched training (``--batch-runs auto``, :mod:`frivolous.experiments.batching`)
computes every step as the run's own training would, but its products sum
in another order, so each step differs by float rounding. Whether those
differences stay at rounding size or grow into different final networks
depends on the training: this script measures it on runs of the quick
``mlp-sigma-10`` preset (10-dim teacher data, momentum, 20 epochs, the
paper's batch of 128). Each chosen set of runs (5 seeds) is trained alone
(``train_run``) and as one batch (``train_together``), both measured with
the run's own settings, and the largest difference over the set is printed
for test accuracy, AUC, similarity and the final weights (relative to the
largest weight).

    python benchmarks/batched_agreement.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from frivolous.experiments.batching import train_together
from frivolous.experiments.presets import PRESETS
from frivolous.experiments.run import measure_run, train_run
from frivolous.runs.spec import RunSpec

SETS = {
    "σ=1, lr 0.1, width 4": (1.0, 0.1, 4.0),
    "σ=1e-2, lr 0.1, width 4": (1e-2, 0.1, 4.0),
    "σ=1e-2, lr 0.01, width 4": (1e-2, 0.01, 4.0),
    "σ=1e-2, lr 0.01, width 1/4": (1e-2, 0.01, 0.25),
}
"""Label -> (hidden init σ, learning rate, width factor); the output layer's σ is ten times the hidden one."""


SEEDS = range(5)


def runs_of(sigma: float, lr: float, width: float) -> list[RunSpec]:
    """The preset's run at one learning rate and width, at init σ ``sigma``, for each of :data:`SEEDS`."""
    base = next(
        p.spec
        for p in PRESETS["mlp-sigma-10"].sweep("quick").expand()
        if p.spec.train.lr == lr and p.spec.model.width_factor == width
    ).to_dict()
    model = base["model"] | {"init_std": sigma, "output_init_std": 10 * sigma}
    return [RunSpec.from_dict(base | {"model": model, "seed": seed}) for seed in SEEDS]


def largest_differences(runs: list[RunSpec], root: Path) -> dict[str, float]:
    batched = {o.layout.root.name: o for o in train_together(runs, root / "batched", device="cpu", progress=False)}
    worst = dict.fromkeys(("test accuracy", "AUC", "similarity", "weights (relative)"), 0.0)
    for spec in runs:
        alone = train_run(spec, root / "alone", device="cpu", progress=False)
        together = batched[alone.layout.root.name]
        a, b = (measure_run(o.layout.root, device="cpu", progress=False) for o in (alone, together))
        worst["test accuracy"] = max(
            worst["test accuracy"], abs(alone.status["test_accuracy"] - together.status["test_accuracy"])
        )
        worst["AUC"] = max(worst["AUC"], abs(a.auc - b.auc))
        worst["similarity"] = max(worst["similarity"], abs(a.similarity - b.similarity))
        wa, wb = load_file(str(alone.layout.weights)), load_file(str(together.layout.weights))
        scale = max(float(t.abs().max()) for t in wa.values())
        gap = max(float((wa[k] - wb[k]).abs().max()) for k in wa) / scale
        worst["weights (relative)"] = max(worst["weights (relative)"], gap)
    return worst


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, one thread, CPU")
    print("| runs | n | test accuracy | AUC | similarity | weights (relative) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, chosen in SETS.items():
        runs = runs_of(*chosen)
        with tempfile.TemporaryDirectory() as folder:
            worst = largest_differences(runs, Path(folder))
        print(f"| {label} | {len(runs)} | " + " | ".join(f"{v:.2g}" for v in worst.values()) + " |", flush=True)


if __name__ == "__main__":
    main()
