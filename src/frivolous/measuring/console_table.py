"""A readable per-layer table of a measurement, for the command line."""

from __future__ import annotations

from rich.table import Table

from frivolous.measuring.measurement import MeasureResult


def layer_table(result: MeasureResult, title: str | None = None) -> Table:
    table = Table(title=title)
    table.add_column("layer", no_wrap=True)
    for column in ("shape", "units", "AUC", "similarity", "fraction", "dead"):
        table.add_column(column, justify="right", no_wrap=True)
    rows = list(result.layers.values())
    for layer in rows:
        table.add_row(
            layer.name,
            "x".join(map(str, layer.shape)),
            "-" if layer.ablation is None else str(layer.ablation.units),
            f"{layer.auc:.3f} ± {layer.auc_std:.3f}",
            f"{layer.similarity:.2f} ± {layer.similarity_std:.2f}",
            f"{layer.similarity_fraction:.4f}",
            str(layer.dead),
        )
    table.add_section()
    table.add_row(
        "mean over layers",
        "",
        "",
        f"{result.auc:.3f} ± {result.auc_std:.3f}",
        f"{result.similarity:.2f} ± {result.similarity_std:.2f}",
        f"{result.similarity_fraction:.4f}",
        "",
    )
    if result.all_layers is not None:
        table.add_row(
            "all layers at once",
            "",
            str(result.all_layers.units),
            f"{result.all_layers.auc:.3f} ± {result.all_layers.auc_std:.3f}",
            "",
            "",
            "",
        )
    return table
