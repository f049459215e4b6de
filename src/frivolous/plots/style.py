"""The look every figure shares: rc settings, colours, the width axis, notes, saving.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through
pyplot, so no figure outlives the call that made it and no global figure
registry or rc state is touched: :func:`panels` applies :data:`RC` only for
the duration of one figure's construction and saving.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, cast

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

DPI = 150
FORMATS = ("png", "svg")
PAD = 0.1
"""Inches of white around the tight box of a saved figure."""
PANEL_SIZE = (4.4, 3.4)
"""Inches per panel: three panels side by side fit a slide or a page width."""
MAX_COLUMNS = 3

RC: MappingProxyType[RcKeyType, Any] = MappingProxyType(
    {
        "font.size": 11,
        "axes.titlesize": 11.5,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 9.5,
        "legend.title_fontsize": 10,
        "legend.frameon": False,
        "figure.titlesize": 13,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linewidth": 0.6,
        "lines.linewidth": 1.8,
        "lines.markersize": 5,
        "errorbar.capsize": 3,
        "svg.hashsalt": "frivolous",
        "svg.fonttype": "path",
    }
)
"""Readable at the size the figures are saved; ``svg.hashsalt`` keeps SVG ids stable between runs."""

Share = Literal["none", "all", "row", "col"] | bool
"""What :meth:`~matplotlib.figure.Figure.subplots` takes for ``sharex`` and ``sharey``."""

LineStyle = Literal["-", "--", "-.", ":"]
"""The line styles a legend key explains (:func:`style_key`)."""

WIDTH_MAP = "viridis"
WIDTH_MAP_RANGE = (0.0, 0.85)
"""Part of the colour map used for widths: its yellow end is unreadable on white."""

DODGE = 0.04
"""Octaves between neighbouring series at one width, so their error bars do not hide each other."""

ERROR_NOTE = "error bars: standard deviation over replicates"

LOG_SPAN = 100.0
"""Values whose positive part spans this factor or more are drawn on a log axis (see :func:`spread_axis`)."""

METRICS: MappingProxyType[str, str] = MappingProxyType(
    {
        "auc": "area under ablation curve",
        "similarity": "similar units per unit",
        "similarity_fraction": "fraction of other units similar",
    }
)
"""The measurements plotted against width, with their axis labels."""


def check_metric(metric: str) -> str:
    """``metric`` itself, or a ValueError naming the measurements that can be plotted."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {list(METRICS)}")
    return metric


@contextmanager
def panels(
    count: int,
    *,
    sharey: Share = False,
    sharex: Share = False,
    columns: int = MAX_COLUMNS,
    title: str | None = None,
) -> Iterator[tuple[Figure, list[Axes]]]:
    """A figure with ``count`` panels in rows of at most ``columns``, styled by :data:`RC`.

    ``sharex`` and ``sharey`` take what :meth:`~matplotlib.figure.Figure.subplots` does (``"col"`` ...).

    Build and :func:`save` the figure inside the ``with`` block: rc settings
    are read both when artists are made and when they are drawn."""
    if count < 1:
        raise ValueError(f"a figure needs at least one panel, got {count}")
    with mpl.rc_context(dict(RC)):
        cols = min(count, columns)
        rows = math.ceil(count / cols)
        fig = Figure(figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows), layout="constrained")
        grid = fig.subplots(rows, cols, squeeze=False, sharex=sharex, sharey=sharey).ravel()
        for spare in grid[count:]:
            fig.delaxes(spare)
        if title:
            fig.suptitle(title)
        yield fig, list(grid[:count])


def save(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg`` (creating folders) and return their paths.

    The layout is settled once and frozen, and both files are cropped to the
    same tight box, which takes in the outside legend and the notes below
    the axes: half the drawing of two independent ``bbox_inches="tight"``
    saves. An empty SVG date keeps reruns byte-identical."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    box = fig.get_tightbbox().padded(PAD)
    paths = []
    for fmt in FORMATS:
        path = stem.with_name(f"{stem.name}.{fmt}")
        metadata = {"Date": None} if fmt == "svg" else None
        fig.savefig(path, format=fmt, dpi=DPI, bbox_inches=box, metadata=metadata)
        paths.append(path)
    return paths


def width_label(width: float) -> str:
    """A width factor as the paper writes it: 1/4, 1/2, 1, 2, 4."""
    return str(Fraction(float(width)).limit_denominator(64))


def width_axis(ax: Axes, widths: Iterable[float], *, log: bool = True) -> None:
    """Label the x axis with one tick per width factor.

    ``log`` sets a base-2 log scale; pass ``False`` when the x data are
    already ``log2(width)`` (violins are drawn in those coordinates)."""
    widths = sorted(set(map(float, widths)))
    if log:
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [width_label(w) for w in widths])
    else:
        ax.set_xticks(np.log2(widths), [width_label(w) for w in widths])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("width factor")


def spread_axis(ax: Axes, values: Iterable[float]) -> None:
    """A log y axis for values spanning :data:`LOG_SPAN` or more (similar units per unit across σ=1e-4..1e4).

    On a linear axis the lines with a fraction of a similar unit lie flat on
    zero under those with dozens, and whether they rise with width cannot be
    seen; values spanning less stay linear. Zeros cannot be drawn on a log
    axis, so with a zero the axis is symmetric-log: linear from 0 up to the
    smallest positive value's decade, logarithmic above."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    positive = finite[finite > 0]
    if not len(positive) or positive.max() < LOG_SPAN * positive.min():
        return
    if (finite > 0).all():
        ax.set_yscale("log")
    else:
        ax.set_yscale("symlog", linthresh=10.0 ** math.floor(math.log10(positive.min())))


def dodge(rank: int, count: int) -> float:
    """The factor to multiply a width by for series ``rank`` of ``count``, centred on the true width."""
    return 2.0 ** (DODGE * (rank - (count - 1) / 2))


def palette(labels: Iterable[str]) -> dict[str, Any]:
    """One colour per label, assigned in sorted order.

    Pass every label of a report (not just those a figure shows) so a variant
    keeps its colour from figure to figure."""
    ordered = sorted(set(labels))
    cmap = mpl.colormaps["tab10" if len(ordered) <= 10 else "tab20"]
    assert isinstance(cmap, ListedColormap)
    colours = cast("Sequence[Any]", cmap.colors)  # tab10 and tab20 hold a tuple of RGB tuples
    return {label: colours[i % len(colours)] for i, label in enumerate(ordered)}


def sequential(keys: Sequence[Any], cmap: str = WIDTH_MAP) -> dict[Any, Any]:
    """Colours from a sequential map for ordered keys (widths, layers in depth order)."""
    low, high = WIDTH_MAP_RANGE
    positions = np.linspace(low, high, len(keys)) if len(keys) > 1 else [high / 2]
    colours = mpl.colormaps[cmap]
    return {key: colours(p) for key, p in zip(keys, positions)}


POWER = re.compile(r"(?<![\w.$])(\d+(?:\.\d+)?)[eE]([+-]?)0*(\d+)\b")
"""A number in e-notation (``1e-4``, ``2.5e3``), not part of a word."""


def powers_of_ten(label: str) -> str:
    """``label`` with e-notation numbers set as powers of ten: ``"σ=1e-4"`` reads σ=10⁻⁴ (matplotlib mathtext)."""

    def power(match: re.Match[str]) -> str:
        mantissa, sign, exponent = match.groups()
        base = "" if mantissa == "1" else rf"{mantissa}\times"
        return rf"${base}10^{{{sign if sign == '-' else ''}{exponent}}}$"

    return POWER.sub(power, label)


def series_name(label: str) -> str:
    """How a series label reads in a legend or title; the empty variant is the default setting."""
    return powers_of_ten(label) if label else "default"


def style_key(*styles: tuple[LineStyle, str]) -> list[Line2D]:
    """Legend entries explaining line styles, ``(linestyle, meaning)``, drawn in grey."""
    return [Line2D([], [], color="0.35", linestyle=style, label=meaning) for style, meaning in styles]


def colour_key(colours: dict[Any, Any], label: Callable[[Any], str] = series_name) -> list[Line2D]:
    """Legend entries for coloured lines."""
    return [Line2D([], [], color=colour, marker="o", label=label(key)) for key, colour in colours.items()]


def legend(fig: Figure, handles: Sequence[Line2D], title: str | None = None) -> None:
    """A legend to the right of the panels, drawn only when it has more than one entry."""
    if len(handles) > 1:
        fig.legend(handles=handles, loc="outside right center", title=title)


def footnote(fig: Figure, notes: Iterable[str]) -> None:
    """Small print under the panels: what the error bars are, which runs were left out."""
    text = "\n".join(note for note in notes if note)
    if text:
        fig.text(0.0, 0.0, text, ha="left", va="top", fontsize=8.5, color="0.3")
