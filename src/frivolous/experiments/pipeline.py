"""Everything a sweep does with one run: train it, measure it trained, at
initialisation (the control) and at its kept checkpoint epochs, and write
its record. Each step is skipped when its output exists, so an interrupted
run picks up where it stopped.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

import torch

from frivolous.experiments.layout import RunLayout, read_json, write_json
from frivolous.experiments.run import load_data, measure_run, train_run
from frivolous.experiments.spec import RunSpec

RECORD_METRICS = ("auc", "auc_std", "similarity", "similarity_std", "similarity_fraction")


def stages(spec: RunSpec) -> list[str]:
    """The measured stages of a run: trained, init, and each kept epoch after 0."""
    return ["trained", "init", *(f"epoch-{e}" for e in sorted(spec.train.checkpoints) if e > 0)]


def complete_run(
    spec: RunSpec,
    root: str | Path,
    *,
    device: str | torch.device = "auto",
    data_root: str | Path | None = None,
    progress: bool | None = False,
) -> dict[str, Any]:
    """Train and measure ``spec`` under ``root``; return (and write) its record."""
    layout = RunLayout.of(spec, root)
    if layout.record.is_file():
        return read_json(layout.record)
    started = time.perf_counter()
    outcome = train_run(spec, root, device=device, data_root=data_root, progress=progress)
    bundle = None
    for stage in stages(spec):
        if not layout.measure_summary(stage).is_file():
            bundle = bundle or load_data(spec, data_root)
            measure_run(layout.root, stage=stage, device=device, bundle=bundle, progress=progress)
    trained, init = (read_json(layout.measure_summary(s)) for s in ("trained", "init"))
    record: dict[str, Any] = {
        "run_id": layout.root.name,
        "family": spec.model.family,
        "width_factor": spec.model.width_factor,
        "seed": spec.seed,
        **{k: outcome.status.get(k) for k in ("params", "train_accuracy", "val_accuracy", "test_accuracy",
                                             "epochs", "best_epoch")},  # fmt: skip
        **{k: trained[k] for k in RECORD_METRICS},
        **{f"{k}_init": init[k] for k in RECORD_METRICS},
        "collapsed": bool(trained["collapsed"]),
        "predicted_classes": len(trained["predicted"]),
        "train_seconds": outcome.status.get("seconds"),
        "seconds": time.perf_counter() - started,
    }
    write_json(layout.record, record)  # last: the run is complete once this exists
    layout.failure.unlink(missing_ok=True)
    return record


def attempt(spec: RunSpec, root: str | Path, device: str, data_root: str | None) -> dict[str, Any]:
    """:func:`complete_run` that never raises: a failure is written to the
    run's ``failed.json`` and returned, so that a sweep goes on."""
    layout = RunLayout.of(spec, root)
    try:
        return {"ok": True, "run_id": layout.root.name, "record": complete_run(spec, root, device=device,
                                                                             data_root=data_root)}  # fmt: skip
    except Exception as error:  # noqa: BLE001 - any error of one run is that run's failure
        failure = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        if layout.root.is_dir():
            write_json(layout.failure, failure)
        return {"ok": False, "run_id": layout.root.name, **failure}
