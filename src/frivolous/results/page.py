"""The building blocks of frivolous' self-contained HTML pages: one style, lists, tables, embedded figures.

The sweep report (:mod:`frivolous.results.sweep_report`) and the report of one
analysed model (:mod:`frivolous.analysis.model_report`) are built from these, so
that both read alike. Every page is a single file: figures are embedded as
base64 PNG, and each image marks itself ``data-loaded`` or ``data-broken``
once the browser has decoded it (the tests in headless Chromium read that),
and links to its full-size file beside the page.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1320px; margin: 2em auto; padding: 0 1.5em; color: #222;
  line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } th.group { text-align: center; } td.verdict { white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 0 2.5em; align-items: flex-start; }
figure { margin: 1em 0 2em; max-width: 100%; }
figure img { display: block; width: 100%; height: auto; border: 1px solid #eee; box-sizing: border-box; }
figure > a { display: block; }
figcaption { color: #555; font-size: 0.95em; margin-top: 0.4em; } figcaption b { color: #222; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
.wide { overflow-x: auto; max-width: 100%; } details { margin: 1em 0; } summary { cursor: pointer; font-weight: 600; }
table.compact { font-size: 0.85em; } table.compact td, table.compact th { padding: 0.25em 0.45em; }
table.compact td { white-space: nowrap; } table.compact td:first-child { white-space: normal;
  overflow-wrap: anywhere; min-width: 9em; max-width: 22em; }
table.compact thead th { position: sticky; top: 0; }
table.pairs th { font-weight: 600; white-space: nowrap; } table.pairs td { overflow-wrap: anywhere; }
.legend, .flagged { color: #444; font-size: 0.9em; }
.rises, .holds { color: #1a7f37; font-weight: 600; } .falls, .fails { color: #b42318; font-weight: 600; }
.flat { color: #1f4e99; } .inconclusive { color: #777; font-style: italic; }
.within { font-weight: normal; }
"""
"""The CSS of every page (the verdict classes are the sweep report's).

Figures are shown at :data:`FIGURE_SCALE` of their size (a three-panel,
2,000-pixel figure spans the page), never wider than the page, and small
ones side by side, each caption as wide as its figure; ``compact`` tables keep their cells on one
line, the first column (a layer's name) wrapping; ``pairs`` tables are
key/value lists."""


FIGURE_SCALE = 0.64
"""CSS pixels per pixel of a figure: figures are saved at 150 dpi and shown at the browser's 96 pixels
per inch, so that every figure's text reads at one size (10-point axis text at about 13 pixels)
whatever its number of panels; a figure wider than the page is shrunk to the page's width."""


def png_width(data: bytes) -> int | None:
    """The width in pixels of the PNG ``data`` (None if it is not a PNG)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big")


def html_list(items: list[str], escape: bool = True) -> str:
    """A ``<ul>`` of ``items`` ("" for none); ``escape=False`` for items that are HTML already."""
    if not items:
        return ""
    return "<ul>" + "".join(f"<li>{html.escape(item) if escape else item}</li>" for item in items) + "</ul>"


def html_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column table of ``(name, value)`` pairs, both escaped ("" for none)."""
    if not pairs:
        return ""
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>" for name, value in pairs)
    return f"<table class='pairs'><tbody>{rows}</tbody></table>"


def html_table(
    table: pd.DataFrame,
    head: str | None = None,
    cell_class: Callable[[str], str] | None = None,
    table_class: str = "",
) -> str:
    """``table`` as an HTML table that scrolls sideways when wide.

    ``head``: the ``<tr>`` rows of the header (default: one row of the column
    names); ``cell_class``: the CSS class of a cell given its text ("" for none);
    ``table_class``: the table's CSS class (``compact``: smaller, one line per cell)."""
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
    opening = f"<table class='{table_class}'>" if table_class else "<table>"
    return f"<div class='wide'>{opening}<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"


def html_figure(path: Path, page: Path | None = None, caption: str = "") -> str:
    """The PNG at ``path`` embedded in a ``<figure>``, captioned with its file name's stem and ``caption``.

    With ``page`` (the HTML file it goes in), the image is a link to the
    full-size file, relative to the page, and the caption links the PNG and,
    where it was written beside it, the SVG."""
    raw = path.read_bytes()
    data = base64.b64encode(raw).decode()
    pixels = png_width(raw)
    shown = round(pixels * FIGURE_SCALE) if pixels else None
    width = f"width='{shown}' " if shown else ""
    image = (
        f"<img alt='{html.escape(path.stem)}' {width}src='data:image/png;base64,{data}' "
        "onload=\"this.dataset.loaded='1'\" onerror=\"this.dataset.broken='1'\">"
    )
    text = f"<b>{html.escape(path.stem)}</b>" + (f": {html.escape(caption)}" if caption else "")
    if page is not None:
        href = html.escape(Path(os.path.relpath(path, page.parent)).as_posix())
        image = f"<a href='{href}' title='open the full-size figure'>{image}</a>"
        files = [f"<a href='{href}'>PNG</a>"]
        vector = path.with_suffix(".svg")
        if vector.is_file():
            files.append(f"<a href='{html.escape(Path(os.path.relpath(vector, page.parent)).as_posix())}'>SVG</a>")
        text += f" (full size: {', '.join(files)})"
    opening = f"<figure style='width: {shown}px'>" if shown else "<figure>"
    return f"{opening}{image}<figcaption>{text}</figcaption></figure>"
