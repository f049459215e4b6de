"""The sweep command: complete a sweep's runs, then rebuild its results tables.

Above both the sweep machinery (:mod:`frivolous.experiments.runner`) and the
results (:mod:`frivolous.results`): the machinery never imports what reads
its output (docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from frivolous.experiments.runner import RUNS, SweepSummary, complete_runs
from frivolous.experiments.sweep import SweepSpec
from frivolous.results.results_table import collect, save


def run_sweep(sweep: SweepSpec, out: str | Path, *, preset: str = "", **options: Any) -> SweepSummary:
    """Complete every run of ``sweep`` under ``out``
    (:func:`~frivolous.experiments.runner.complete_runs`, which takes the same
    options) and write the results tables, also when the runs stop on an error
    or an interrupt: the tables always say what the folder holds."""
    out = Path(out)
    try:
        completed = complete_runs(sweep, out, preset=preset, **options)
    finally:
        tables = collect(sweep, out / RUNS, preset)
        save(tables, out)
    return SweepSummary.of(completed, tables["runs"]["status"])
