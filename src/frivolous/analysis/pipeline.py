"""``frivolous analyze``: a model and data from the sources, measured layer by layer, then the report.

source -> :func:`~frivolous.analysis.by_layer.measure_by_layer` (that is,
:func:`frivolous.measuring`) -> for a transformer, what compress keeps of
its MLP blocks (:mod:`frivolous.analysis.compress_hint`) -> tables,
figures, ``report.html`` (file names in :mod:`frivolous.analysis.output_files`).
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from frivolous.analysis import figures
from frivolous.analysis import model_report as report
from frivolous.analysis.by_layer import in_memory, measure_by_layer
from frivolous.analysis.compress_hint import AGREEMENT, CompressHint, compress_hint
from frivolous.analysis.layer_table import layer_frame, width_metrics
from frivolous.analysis.output_files import AnalysisLayout
from frivolous.common.version import __version__
from frivolous.measuring import MeasureResult
from frivolous.measuring.collapse import ONE_CLASS_SHARE
from frivolous.measuring.sampled import unreached
from frivolous.sources.base import DataSource, ModelSource, SourceError
from frivolous.sources.fit import check_fits

MEAN_LABELS = {
    "auc": "AUC",
    "auc_std": "AUC, std over samplings",
    "similarity": "similarity",
    "similarity_std": "similarity, std over units",
    "similarity_fraction": "similarity fraction",
    "prunable": "prunable units",
    "non_prunable": "non-prunable units",
    "pca95": "principal components (95%)",
    "pca80": "principal components (80%)",
}
"""How the network-level means read in the report (each a mean over the probed layers)."""


@dataclass(frozen=True)
class Measured:
    """A model measured on data: the measurement, its per-layer table, and what to read first."""

    result: MeasureResult
    table: pd.DataFrame
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Analysis(Measured):
    """A measured model whose tables, figures and report are written in ``layout``;
    ``hint``: what compress keeps of its MLP blocks (None: not a transformer, or skipped)."""

    layout: AnalysisLayout
    seconds: float
    hint: CompressHint | None = None


def analyze(
    model: ModelSource,
    data: DataSource,
    out: str | Path,
    *,
    layers: Sequence[str] | None = None,
    device: str | torch.device = "auto",
    progress: bool | None = None,
    compress: bool = True,
    command: str | None = None,
    **options: Any,
) -> Analysis:
    """Measure ``model`` on ``data`` (:func:`measure_source`), with ``compress``
    what compress keeps of a transformer's MLP blocks (:func:`~frivolous.analysis.compress_hint.compress_hint`;
    ``command``: the compress command the report suggests, default from the
    sources' labels), and write the tables, figures and report into ``out`` (:func:`write_analysis`)."""
    started = time.perf_counter()
    measured = measure_source(model, data, layers=layers, device=device, progress=progress, **options)
    hint = None
    if compress:
        hint = compress_hint(
            model,
            data,
            list(measured.table["layer"]),
            command=command,
            device=device,
            seed=options.get("seed") or 0,
            progress=progress,
        )
    if hint is not None:
        measured = replace(measured, table=hint.with_column(measured.table))
    layout = write_analysis(measured, model, data, out, time.perf_counter() - started, hint)
    return Analysis(measured.result, measured.table, measured.warnings, layout, time.perf_counter() - started, hint)


def measure_source(
    model: ModelSource,
    data: DataSource,
    *,
    layers: Sequence[str] | None = None,
    device: str | torch.device = "auto",
    progress: bool | None = None,
    **options: Any,
) -> Measured:
    """Measure ``model`` on ``data``, layer by layer.

    ``options`` are keyword arguments of :func:`frivolous.measuring` (None: the
    model source's default, else frivolous.measuring's own); ``layers`` None
    likewise. A layer whose features are its last axis (a transformer's) has
    them as its units, as :func:`frivolous.measuring` detects. Data in batches
    of different lengths is measured with channel units."""
    settings = dict(model.measure_defaults) | {key: value for key, value in options.items() if value is not None}
    own_layers = settings.pop("layers", None)
    if data.positions_vary:
        if settings.get("unit", "channel") != "channel":
            raise SourceError(
                f"data {data.label} comes in batches of different lengths (nothing padded), which only "
                "channel units can measure; drop --unit element"
            )
        settings["unit"] = "channel"
    data = replace(data, inputs=in_memory(data.inputs))
    check_fits(model, data, device)
    result = measure_by_layer(
        model.model, data.inputs, layers or own_layers, device=device, progress=progress, **settings
    )
    table = layer_frame(result, [batch.shape[-1] for batch in data.inputs] if data.positions_vary else ())
    cautions = tuple(
        w
        for w in (
            data.meaningless,
            one_class_warning(result, model.categories),
            "every unit of every probed layer is dead: no correlation is defined" if result.all_dead else "",
            unreached(result),
        )
        if w
    )
    return Measured(result, table, cautions)


def write_analysis(
    measured: Measured,
    model: ModelSource,
    data: DataSource,
    out: str | Path,
    seconds: float,
    hint: CompressHint | None = None,
) -> AnalysisLayout:
    """The tables, figures, summary and report of ``measured``, with what
    compress keeps of a transformer's MLPs (``hint``; file names in
    :mod:`frivolous.analysis.output_files`)."""
    result, table = measured.result, measured.table
    layout = AnalysisLayout(Path(out))
    layout.root.mkdir(parents=True, exist_ok=True)
    curves, histograms = result.frame("curves"), result.frame("histograms")
    table.to_parquet(layout.layers_parquet, index=False)
    table.to_csv(layout.layers_csv, index=False)
    curves.to_parquet(layout.curves, index=False)
    histograms.to_parquet(layout.histograms, index=False)
    drawn = figures.draw_all(table, curves, histograms, result.settings["threshold"], layout.figures)
    run = _what_was_run(model, data, result, seconds)
    means = network_means(result, table)
    layout.summary.write_text(
        json.dumps(
            {
                "network": means,
                "warnings": list(measured.warnings),
                "predicted": {str(k): v for k, v in result.predicted.items()},
                "compress_hint": hint.record() if hint is not None else None,
                **run,
            },
            indent=2,
            default=str,
        )
    )
    summary = [
        ("model", model.description),
        ("data", data.description),
        *((MEAN_LABELS[name], _format(value)) for name, value in means.items()),
        *([(f"compress at {AGREEMENT:g} agreement", hint.line())] if hint is not None else []),
    ]
    report.write_html(
        layout.report,
        title=f"frivolous analyze: {model.label}",
        warnings=list(measured.warnings),
        summary=summary,
        table=table,
        figures=drawn,
        run=run,
        pointer=hint.sentence() if hint is not None else "",
        command=hint.command if hint is not None else "",
    )
    return layout


def one_class_warning(result: MeasureResult, categories: Sequence[str] = ()) -> str:
    """A warning when one class takes at least 99% of the predictions ("" otherwise)."""
    total = sum(result.predicted.values())
    if not total:
        return ""
    label, count = max(result.predicted.items(), key=lambda item: item[1])
    if count / total < ONE_CLASS_SHARE:
        return ""
    name = f" ({categories[label]})" if 0 <= label < len(categories) else ""
    return (
        f"the network predicts class {label}{name} for {count / total:.1%} of the {total} inputs: removing units "
        "can hardly change an answer, so every AUC reads near 1 without meaning it (an untrained network often "
        "does this: ViT's head starts at zero, ConvNeXt's layer scale at 1e-6)"
    )


def network_means(result: MeasureResult, table: pd.DataFrame) -> dict[str, float]:
    """Means over the probed layers (AUC and similarity as ``fv.measure`` reports them)."""
    means = {
        "auc": result.auc,
        "auc_std": result.auc_std,
        "similarity": result.similarity,
        "similarity_std": result.similarity_std,
        "similarity_fraction": result.similarity_fraction,
    }
    return means | {metric: float(table[metric].mean()) for metric in width_metrics(table)}


def _what_was_run(model: ModelSource, data: DataSource, result: MeasureResult, seconds: float) -> dict[str, Any]:
    return {
        "model": model.label,
        "model_description": model.description,
        "data": data.label,
        "data_description": data.description,
        "examples": data.examples,
        "predictions": result.examples,
        "layers": len(result.layers),
        "settings": result.settings,
        "seconds": round(seconds, 2),
        "frivolous": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _format(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4g}"
