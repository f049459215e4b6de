"""The building blocks of frivolous' self-contained HTML pages: one style, lists, tables, embedded figures.

The sweep report (:mod:`frivolous.results.sweep_report`) and the report of one
analysed model (:mod:`frivolous.analysis.model_report`) are built from these, so
that both read alike. Every page is a single file: figures are embedded as
base64 PNG, and each image marks itself ``data-loaded`` or ``data-broken``
once the browser has decoded it (the tests in headless Chromium read that).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } th.group { text-align: center; } td.verdict { white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; } figure { margin: 0; flex: 1 1 480px; max-width: 540px; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
.wide { overflow-x: auto; } details { margin: 1em 0; } summary { cursor: pointer; font-weight: 600; }
.legend, .flagged { color: #444; font-size: 0.9em; }
.rises, .holds { color: #1a7f37; font-weight: 600; } .falls, .fails { color: #b42318; font-weight: 600; }
.flat { color: #1f4e99; } .inconclusive { color: #777; font-style: italic; }
.within { font-weight: normal; }
"""
"""The CSS of every page (the verdict classes are the sweep report's)."""


def html_list(items: list[str], escape: bool = True) -> str:
    """A ``<ul>`` of ``items`` ("" for none); ``escape=False`` for items that are HTML already."""
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{html.escape(item) if escape else item}</li>" for item in items) + "</ul>"


def html_table(table: pd.DataFrame, head: str | None = None, cell_class: Callable[[str], str] | None = None) -> str:
    """``table`` as an HTML table that scrolls sideways when wide.

    ``head``: the ``<tr>`` rows of the header (default: one row of the column
    names); ``cell_class``: the CSS class of a cell given its text ("" for none)."""
    if table.empty:
        return "<p>(no rows)</p>"
    head = head or "<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns) + "</tr>"
    rows = []
    for row in table.itertuples(index=False):
        cells = []
        for value in row:
            css = cell_class(str(value)) if cell_class else ""
            opening = f"<td class='{css}'>" if css else "<td>"
            cells.append(f"{opening}{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='wide'><table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"


def html_figure(path: Path) -> str:
    """The PNG at ``path`` embedded in a ``<figure>``, captioned with its file name's stem."""
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f"<figure><img alt='{html.escape(path.stem)}' src='data:image/png;base64,{data}' "
        "onload=\"this.dataset.loaded='1'\" onerror=\"this.dataset.broken='1'\">"
        f"<figcaption>{html.escape(path.stem)}</figcaption></figure>"
    )
