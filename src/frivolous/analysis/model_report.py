"""The report of one analysed model: ``report.html``, a single self-contained page.

It opens with what must be read before any number: the warnings (numbers
measured on noise mean nothing; a network that answers one class for
nearly every input changes no answer when units are removed, so its AUC
reads as "very removable" without meaning it). Then the network-level
means, the per-layer table, the figures (embedded), and what was run. The
page is built from the sweep report's blocks (:mod:`frivolous.results.page`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from frivolous.analysis.layer_table import display_frame
from frivolous.results.page import STYLE, html_figure, html_list, html_table

WARNING_STYLE = ".warning { background: #fff4e5; border-left: 4px solid #b54708; padding: 0.6em 1em; margin: 1em 0; }"


def write_html(
    path: Path,
    *,
    title: str,
    warnings: list[str],
    summary: list[tuple[str, str]],
    table: pd.DataFrame,
    figures: list[Path],
    run: Mapping[str, Any],
) -> None:
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}{WARNING_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p class='warning'><b>Warning</b>: {html.escape(warning)}</p>" for warning in warnings]
    parts += [
        "<h2>Summary</h2><p>Network values are means over the probed layers.</p>",
        html_list([f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in summary], escape=False),
        "<h2>Layers</h2><p>One row per probed layer, in network order. AUC: area under the random-ablation "
        "curve (1: every unit can go without changing an answer), ± its std over samplings; similarity: "
        "other units each unit correlates with at |r| at or above the threshold, ± its std over units; "
        "fraction: similarity / (channels − 1); features: the axis that holds a layer's units (the last "
        "for transformers and MLPs on tokens, where every position is a sample). All columns, unrounded, "
        "are in layers.csv and layers.parquet.</p>",
        html_table(display_frame(table)),
        "<h2>Figures</h2>",
    ]
    parts += [html_figure(figure) for figure in figures]
    parts += [
        "<h2>What was run</h2>",
        html_list([f"<b>{html.escape(k)}</b>: {html.escape(str(v))}" for k, v in run.items()], escape=False),
        "</body></html>",
    ]
    path.write_text("\n".join(parts))
