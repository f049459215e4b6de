"""Everything a sweep does with one run: train it, measure it trained, at
initialisation (the control) and at its kept checkpoint epochs, and write
its record. Each step is skipped when its output exists, so an interrupted
run picks up where it stopped.

The record flags a collapsed network (:mod:`frivolous.measuring.collapse`):
``collapsed`` and ``collapse_reason`` for the trained one (one class, training
accuracy not above ``majority_rate``, or every probed unit dead), and
``collapsed_init`` for the one at initialisation (one class or all dead),
whose numbers then make no baseline. It also says how the run was trained,
alone or in a batch and with which runs (:data:`~frivolous.experiments.run.PROVENANCE`,
copied from its status: :func:`~frivolous.experiments.run.provenance`).
"""

from __future__ import annotations

import math
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from frivolous.common.files import read_json, write_json
from frivolous.data.sampling import split_labels
from frivolous.experiments.compress_run import effective_width
from frivolous.experiments.run import PROVENANCE, measure_run, train_run
from frivolous.measuring.collapse import collapse_reason, majority_rate
from frivolous.runs.folder import DIVERGED, damaged, load_data
from frivolous.runs.integrity import run_lock
from frivolous.runs.layout import RunLayout
from frivolous.runs.spec import RunSpec

RECORD_METRICS = (
    "auc",
    "auc_std",
    "similarity",
    "similarity_std",
    "similarity_fraction",
    "prunable",
    "non_prunable",
    "pca95",
    "pca80",
)
"""Network values copied from the measurement summaries into the record (NaN
where a summary predates a metric: such runs keep their other numbers)."""


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
    """Train and measure ``spec`` under ``root``; return (and write) its record.

    The run's lock is held throughout, so that another process completing
    the same run at the same time (a second sweep on the folder) waits, then
    finds it complete (see :mod:`frivolous.runs.integrity`)."""
    return _complete(spec, root, device=device, data_root=data_root, progress=progress)[0]


def _complete(
    spec: RunSpec, root: str | Path, *, device: str | torch.device, data_root: str | Path | None, progress: bool | None
) -> tuple[dict[str, Any], bool]:
    """:func:`complete_run`'s record, and whether this call completed the run
    (False: it was complete when the lock was taken, done by another process
    or an earlier call)."""
    layout = RunLayout.of(spec, root)
    with run_lock(layout):
        if complete(layout):
            return read_json(layout.record), False
        return _train_and_measure(spec, root, layout, device=device, data_root=data_root, progress=progress), True


def complete(layout: RunLayout) -> bool:
    """Whether the run has its record and the weights it came from are intact (this hashes them)."""
    return layout.record.is_file() and damaged(layout) is None


def _train_and_measure(
    spec: RunSpec,
    root: str | Path,
    layout: RunLayout,
    *,
    device: str | torch.device,
    data_root: str | Path | None,
    progress: bool | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    outcome = train_run(spec, root, device=device, data_root=data_root, progress=progress)
    if outcome.status["state"] == DIVERGED:  # nothing to measure: recorded, and left out of selections
        return _finish(
            layout,
            _identity(layout, spec)
            | _trained_how(outcome.status)
            | {
                "diverged": True,
                "diverged_reason": outcome.status["reason"],
                "epochs": outcome.status["epochs"],
                "train_seconds": outcome.status.get("seconds"),
                "seconds": time.perf_counter() - started,
            },
        )
    bundle = None
    for stage in stages(spec):
        if not layout.measure_summary(stage).is_file():
            bundle = bundle or load_data(spec, data_root)
            measure_run(layout.root, stage=stage, device=device, bundle=bundle, progress=progress)
    trained, init = (read_json(layout.measure_summary(s)) for s in ("trained", "init"))
    bundle = bundle or load_data(spec, data_root)  # once, for the majority rate and the effective width
    majority = majority_rate(split_labels(bundle.train))
    reason = collapse_reason(
        trained["predicted"],
        trained.get("all_dead", False),
        majority_rate=majority,
        train_accuracy=outcome.status.get("train_accuracy"),
    )
    record: dict[str, Any] = {
        **_identity(layout, spec),
        **{
            k: outcome.status.get(k)
            for k in ("params", "train_accuracy", "val_accuracy", "test_accuracy", "epochs", "best_epoch")
        },
        **_trained_how(outcome.status),
        **{k: trained.get(k, math.nan) for k in RECORD_METRICS},
        **{f"{k}_init": init.get(k, math.nan) for k in RECORD_METRICS},
        "collapsed": bool(reason),
        "collapse_reason": reason,
        "collapsed_init": bool(collapse_reason(init["predicted"], init.get("all_dead", False))),
        "majority_rate": majority,
        "predicted_classes": len(trained["predicted"]),
        "train_seconds": outcome.status.get("seconds"),
        "seconds": time.perf_counter() - started,
    }
    if spec.measure.effective_width is not None:  # the units of the smallest network that keeps this agreement
        record |= effective_width(
            layout.root, spec.measure.effective_width, device=device, data_root=data_root, bundle=bundle
        )
    return _finish(layout, record)


def _trained_how(status: dict[str, Any]) -> dict[str, Any]:
    """The run's provenance from its status (None where a status predates it)."""
    return {key: status.get(key) for key in PROVENANCE}


def _identity(layout: RunLayout, spec: RunSpec) -> dict[str, Any]:
    return {
        "run_id": layout.root.name,
        "family": spec.model.family,
        "width_factor": spec.model.width_factor,
        "seed": spec.seed,
    }


def _finish(layout: RunLayout, record: dict[str, Any]) -> dict[str, Any]:
    write_json(layout.record, record)  # last: the run is complete once this exists
    layout.failure.unlink(missing_ok=True)
    return record


def attempt(spec: RunSpec, root: str | Path, device: str, data_root: str | None) -> dict[str, Any]:
    """:func:`complete_run` that never raises: a failure is written to the
    run's ``failed.json`` and returned, so that a sweep goes on. ``here``
    says whether this call completed the run (False where another process
    had completed it by the time this one took its lock)."""
    layout = RunLayout.of(spec, root)
    try:
        record, here = _complete(spec, root, device=device, data_root=data_root, progress=False)
        return {"ok": True, "run_id": layout.root.name, "record": record, "here": here}
    except Exception as error:
        failure = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        if layout.root.is_dir():
            write_json(layout.failure, failure)
        return {"ok": False, "run_id": layout.root.name, **failure}
