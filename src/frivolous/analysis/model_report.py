"""The report of one analysed model: ``report.html``, a single self-contained page.

It opens with what must be read before any number: the warnings (numbers
measured on noise mean nothing; a network that answers one class for
nearly every input changes no answer when units are removed, so its AUC
reads as "very removable" without meaning it). Then the network-level
means (and, for a transformer whose MLPs could lose many units, a pointer
to ``frivolous compress``: :mod:`frivolous.analysis.compress_hint`), the
per-layer table, the figures (embedded, each a link to its
full-size file beside the page), and what was run, the settings as a table.
The page is built from the sweep report's blocks (:mod:`frivolous.results.page`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from frivolous.analysis.figures import CAPTIONS
from frivolous.analysis.layer_table import display_frame
from frivolous.results.page import STYLE, html_figure, html_pairs, html_table

WARNING_STYLE = ".warning { background: #fff4e5; border-left: 4px solid #b54708; padding: 0.6em 1em; margin: 1em 0; }"
POINTER_STYLE = ".pointer { background: #ecf7ee; border-left: 4px solid #2f7d3b; padding: 0.6em 1em; margin: 1em 0; }"
COMPRESS_TEXT = (
    " compress keeps: the units of the layer's MLP block that frivolous compress keeps at 0.99 agreement with "
    "the original (the removed ones folded into the kept ones), measured on the analysed examples; - for a "
    "layer that is not an MLP's hidden units."
)
"""What the ``compress keeps`` column means, said where the table has it."""

FRACTION_TEXT = {
    "exclude": "fraction: similarity / (live units − 1), the live units being the channels less the dead ones "
    "(dead units are left out of every repetition statistic), so the share of the other live units that "
    "each live unit repeats",
    "legacy": "fraction: similarity / (channels − 1), dead units included (each counted as −1, as the "
    "released code did)",
}
"""How the fraction column is computed, per ``dead`` setting (:attr:`SimilarityResult.fraction
<frivolous.measuring.repetition.SimilarityResult.fraction>`: the mean count over the counted units - 1)."""


SPREAD_TEXT = {
    "paper": "± its std over samplings",
    "sampled": "[its 95% confidence interval], estimated with random masks drawn for every example (the "
    "sampled estimator; prunable units with their 95% interval too)",
}
"""How the AUC's spread reads, per estimator."""


def layers_text(dead: str, estimator: str = "paper") -> str:
    """The paragraph above the layer table, its fraction in the words of the ``dead`` setting."""
    return (
        "One row per probed layer, in network order. AUC: area under the random-ablation curve (1: every unit "
        f"can go without changing an answer), {SPREAD_TEXT.get(estimator, SPREAD_TEXT['paper'])}; similarity: the "
        "number of other units "
        "each unit correlates with at |r| at or above the threshold, averaged over units, ± its std over "
        f"units; {FRACTION_TEXT.get(dead, FRACTION_TEXT['exclude'])}; dead: channels with no variance over the "
        "samples; units: what the ablation removes (elements or channels), channels: what is correlated. "
        "All columns, unrounded, are in layers.csv and layers.parquet."
    )


def layer_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The layer table as shown, and a sentence for what was left out of it: the features column
    when every layer has its units on the same axis."""
    shown = display_frame(table)
    if "features" in shown and shown["features"].nunique() == 1:
        axis = shown["features"].iloc[0]
        note = (
            " Every layer's units are its last axis (transformers and MLPs on tokens: every position is a sample)."
            if axis == "last axis"
            else " Every layer's units are its first axis (channels)."
        )
        return shown.drop(columns="features"), note
    return shown, (
        " features: the axis that holds a layer's units (the last for transformers and MLPs on tokens, where "
        "every position is a sample)."
    )


def run_rows(run: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """What was run, and the measurement's settings, as (name, value) rows."""
    general = [(name.replace("_", " "), _text(value)) for name, value in run.items() if name != "settings"]
    settings = run.get("settings") or {}
    return general, [(name.replace("_", " "), _text(value)) for name, value in settings.items()]


def write_html(
    path: Path,
    *,
    title: str,
    warnings: list[str],
    summary: list[tuple[str, str]],
    table: pd.DataFrame,
    figures: list[Path],
    run: Mapping[str, Any],
    pointer: str = "",
    command: str = "",
) -> None:
    """The page; ``pointer``: a sentence pointing to ``command`` (shown as code), "" for none."""
    shown, note = layer_rows(table)
    if "compress_keeps" in table:
        note += COMPRESS_TEXT
    general, settings = run_rows(run)
    dead = str((run.get("settings") or {}).get("dead", "exclude"))
    estimator = str((run.get("settings") or {}).get("estimator", "paper"))
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}{WARNING_STYLE}{POINTER_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p class='warning'><b>Warning</b>: {html.escape(warning)}</p>" for warning in warnings]
    parts += ["<h2>Summary</h2>"]
    if pointer:
        text = html.escape(pointer)
        if command:
            text = text.replace(html.escape(command), f"<code>{html.escape(command)}</code>")
        parts.append(f"<p class='pointer'><b>Compress</b>: {text}</p>")
    parts += [
        "<p>Network values are means over the probed layers.</p>",
        html_pairs(summary),
        f"<h2>Layers</h2><p>{html.escape(layers_text(dead, estimator) + note)}</p>",
        html_table(shown, table_class="compact"),
        "<h2>Figures</h2><p>Each figure opens at full size when clicked.</p><div class='figures'>",
    ]
    parts += [html_figure(figure, page=path, caption=CAPTIONS.get(figure.stem, "")) for figure in figures]
    parts += [
        "</div><h2>What was run</h2>",
        html_pairs(general),
        "<h3>Settings</h3>",
        html_pairs(settings),
        "</body></html>",
    ]
    path.write_text("\n".join(parts))


def _text(value: Any) -> str:
    """A setting as read: lists joined by commas, floats without trailing zeros, None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value) if value else "(none)"
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_text(item)}" for key, item in value.items())
    return str(value)
