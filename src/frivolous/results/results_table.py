"""A sweep's results tables, rebuilt from its run folders.

The tables are never appended to: they are assembled from what each run
folder holds and written whole (atomically), so a sweep killed at any moment
and run again ends with the same tables as an uninterrupted one, with no
lost or duplicated rows.

Tables (Parquet files in the sweep's folder, all joined on ``run_id``):

- ``results`` (``runs``): one row per run of the sweep, done or not;
- ``layers``: per probed layer and sampling (stages ``trained`` and ``init``);
- ``curves``: every ablation curve point (both stages);
- ``histograms``: |r| histograms (both stages);
- ``epochs``: measurements at the kept checkpoint epochs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from frivolous.common.files import read_json, write_atomically
from frivolous.experiments.run_pipeline import stages
from frivolous.experiments.sweep import PlannedRun, SweepSpec
from frivolous.runs.layout import RunLayout

TABLES = {"runs": "results", "layers": "layers", "curves": "curves", "histograms": "histograms", "epochs": "epochs"}
"""Table kind -> file stem in the sweep folder."""

DONE, FAILED, PENDING, DIVERGED = "done", "failed", "pending", "diverged"
"""Run statuses: measured; raised (retried on a rerun); not run yet; training
loss became non-finite (final: recorded, never measured, never selected)."""

LEADING_COLUMNS = (
    "run_id",
    "preset",
    "variant",
    "family",
    "width_factor",
    "replicate",
    "seed",
    "status",
    "kept",
    "collapsed",
    "collapse_reason",
    "collapsed_init",
    "params",
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "auc",
    "auc_std",
    "similarity",
    "similarity_std",
    "similarity_fraction",
    "auc_init",
    "auc_std_init",
    "similarity_init",
    "similarity_std_init",
    "similarity_fraction_init",
    "prunable",
    "non_prunable",
    "pca95",
    "pca80",
)
"""The run table's first columns, in this order; the varied fields and the rest follow."""


def table_path(folder: str | Path, kind: str) -> Path:
    if kind not in TABLES:
        raise ValueError(f"unknown table {kind!r}; choose one of {list(TABLES)}")
    return Path(folder) / f"{TABLES[kind]}.parquet"


def _setting(run: PlannedRun, path: str) -> Any:
    section, name = path.split(".")
    return run.spec.to_dict()[section].get(name)


def collect(sweep: SweepSpec, runs_root: Path, preset: str = "") -> dict[str, pd.DataFrame]:
    """Every table of ``sweep``, from the run folders under ``runs_root``."""
    rows: list[dict[str, Any]] = []
    companions: dict[str, list[pa.Table]] = {kind: [] for kind in ("layers", "curves", "histograms")}
    epochs = []
    for run in sweep.expand():
        layout = RunLayout.of(run.spec, runs_root)
        row: dict[str, Any] = {
            "run_id": layout.root.name,
            "preset": preset,
            "variant": run.variant,
            "family": run.spec.model.family,
            "width_factor": run.spec.model.width_factor,
            "replicate": run.replicate,
            "seed": run.spec.seed,
            "group": run.group,
            "status": PENDING,
            "error": "",
            "collapsed": False,
            "collapse_reason": "",
            "collapsed_init": False,  # also what a record written before these flags reads as
        }
        row |= {path: _setting(run, path) for path in sweep.varied}
        record = read_json(layout.record) if layout.record.is_file() else None
        if record is not None and record.get("diverged"):
            row |= record | {"status": DIVERGED}
        elif record is not None:
            row |= record | {"status": DONE}
            for stage in ("trained", "init"):
                for kind, frames in companions.items():
                    frames.append(_companion(layout, kind, stage))
            epochs += [_epoch(layout, stage) for stage in stages(run.spec) if stage.startswith("epoch-")]
        elif layout.failure.is_file():
            row |= {"status": FAILED, "error": read_json(layout.failure)["error"]}
        rows.append(row)
    runs = _keep(pd.DataFrame(rows), sweep)
    leading = [c for c in LEADING_COLUMNS if c in runs]
    varied = [c for c in sweep.varied if c in runs and c not in leading]
    runs = runs[leading + varied + sorted(set(runs) - set(leading) - set(varied))]
    tables = {"runs": runs}
    for kind, frames in companions.items():  # one conversion to pandas, not one per file: 4x faster
        tables[kind] = pa.concat_tables(frames, promote_options="permissive").to_pandas() if frames else pd.DataFrame()
    tables["epochs"] = pd.DataFrame(epochs)
    return tables


def _companion(layout: RunLayout, kind: str, stage: str) -> pa.Table:
    table = pq.read_table(layout.measure_table(kind, stage)).replace_schema_metadata(None)
    table = table.add_column(0, "stage", pa.array([stage] * table.num_rows, pa.string()))
    return table.add_column(0, "run_id", pa.array([layout.root.name] * table.num_rows, pa.string()))


def _epoch(layout: RunLayout, stage: str) -> dict[str, Any]:
    summary = read_json(layout.measure_summary(stage))
    return {
        "run_id": layout.root.name,
        "epoch": int(stage.removeprefix("epoch-")),
        **{k: summary[k] for k in ("test_accuracy", "auc", "similarity", "similarity_fraction")},
    }


def _keep(runs: pd.DataFrame, sweep: SweepSpec) -> pd.DataFrame:
    """Mark the kept run of each selection group: the best healthy candidate
    by ``select.by`` (the first in sweep order on a tie).

    Healthy: done and not collapsed. A diverged or collapsed candidate is never
    "Best": with two balanced classes, a network that predicts one class can
    have the best validation accuracy of a poor learning-rate grid, and its
    AUC of 1 would fake removability. ``healthy_candidates`` counts a group's
    healthy runs, so that a group with none (every candidate diverged or
    collapsed) can say so."""
    runs["candidates"] = runs.groupby("group")["run_id"].transform("size")
    healthy = (runs["status"] == DONE) & ~runs["collapsed"].fillna(False).astype(bool)
    runs["healthy_candidates"] = healthy.groupby(runs["group"]).transform("sum").astype(int)
    if sweep.select is None:
        runs["kept"] = runs["status"] == DONE
        return runs
    runs["kept"] = False
    done = runs[healthy]
    if not done.empty:
        best = done.sort_values(sweep.select.by, ascending=False, kind="stable").groupby("group").head(1).index
        runs.loc[best, "kept"] = True
    return runs


def save(tables: dict[str, pd.DataFrame], folder: str | Path) -> None:
    for kind, table in tables.items():
        write_atomically(table_path(folder, kind), lambda path, table=table: table.to_parquet(path, index=False))


def load_results(folder: str | Path, kind: str = "runs") -> pd.DataFrame:
    """A sweep's table: ``runs`` (one row per run; the default), ``layers``,
    ``curves``, ``histograms`` or ``epochs``."""
    path = table_path(folder, kind)
    if not path.is_file():
        raise FileNotFoundError(f"no {kind} table in {folder}: run `frivolous sweep` or `frivolous reproduce` first")
    return pd.read_parquet(path)
