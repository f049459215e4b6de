"""A sweep's report: ``report.md`` beside its figures, and ``report.html``, a
single self-contained file with the figures embedded.

The report opens with what a reader came for: a compact verdict table (one
row per variant, one verdict per cell, each trend with its effect size, the
slope per doubling ± the half-width of its interval in the metric's units:
the raw verdict on the paper's metrics beside the controlled one) with the
count of flagged runs under it, then the figures. How each verdict was
reached (the rule, the equivalence margins, rho, p-values raw and
Holm-adjusted, slopes and their intervals, the smallest slope each test
could detect; per layer for the per-layer presets) follows in a collapsible ``<details>`` block (in
markdown, under its own heading after the figures). Then every flagged run,
listed: failed, diverged, collapsed after training or at initialisation, and
the selection groups none of whose candidates could be used; then the means
per variant and width, and what was run (spec, versions, device, time).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from frivolous.results.page import STYLE, html_figure, html_list, html_table
from frivolous.results.results_table import DIVERGED, DONE, FAILED
from frivolous.results.verdicts import (
    BEYOND,
    CONTROLLED,
    EFFECTIVE,
    KEYS,
    LABELS,
    RULE,
    SLOWER,
    WITHIN,
    describe_runs,
    describe_trend,
    lost_groups,
    margins,
)

SUMMARY_METRICS = (
    "test_accuracy",
    "auc",
    "similarity",
    "similarity_fraction",
    "auc_init",
    "similarity_init",
    "similarity_fraction_init",
)

SYMBOLS = {
    "rises": "↑",
    "falls": "↓",
    f"rises{WITHIN}": "↗",
    f"falls{WITHIN}": "↘",
    "flat": "→",
    "inconclusive": "?",
    "holds": "✓",
    "fails": "✗",
}
"""The sign before each verdict word, so that a cell reads at a glance (and without colour)."""

RAW_COLUMNS = (
    ("accuracy", "test_accuracy_trend"),
    ("AUC", "auc_trend"),
    ("similarity", "similarity_trend"),
    ("hypothesis", "hypothesis"),
)
CONTROLLED_COLUMNS = (
    ("AUC beyond init", f"auc{BEYOND}_trend"),
    ("similarity fraction beyond init", f"similarity_fraction{BEYOND}_trend"),
    ("hypothesis (controlled)", "hypothesis_controlled"),
)
"""The compact verdict table's columns, heading -> verdict column: the raw verdict, then the controlled one."""
EFFECTIVE_COLUMN = ("effective width grows slower than width", SLOWER)
"""Shown where the sweep measured effective width (``measure.effective_width``)."""

LAYER_COLUMNS = (
    ("AUC", "auc"),
    ("similarity", "similarity"),
    ("AUC beyond init", f"auc{BEYOND}"),
    ("similarity fraction beyond init", f"similarity_fraction{BEYOND}"),
)

LEGEND = (
    "↑ rises / ↓ falls: a significant trend with width, each seed's runs compared with each other (stratified "
    "permutation test of the within-seed Spearman rho, Holm-corrected over the report) and a slope beyond ±δ per "
    "doubling; ↗ / ↘ rises / falls, within the margin: significant, but the slope lies inside ±δ; → flat: no "
    "change beyond ±δ per doubling shown (90% interval of the slope); ? inconclusive: neither, the runs cannot "
    "tell. In brackets: the slope per doubling (one intercept per seed) ± the half-width of its 90% interval, in "
    "the metric's units. The hypothesis (more removable and/or repeated units in wider networks) holds if AUC or "
    "similarity rises and fails if both are shown flat or falling. Raw: the paper's metrics; controlled: each "
    "run's value minus its value at initialisation, and the similarity as a fraction of the units."
)


@dataclass(frozen=True)
class ReportInputs:
    title: str
    info: dict[str, Any]
    sweep_yaml: str
    runs: pd.DataFrame
    verdicts: pd.DataFrame
    figures: list[Path]
    layer_verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per-layer verdicts (:func:`~frivolous.results.verdicts.layer_verdicts`); shown when a run has several layers."""


@dataclass(frozen=True)
class Flagged:
    """The runs a reader must know about, each listed with what happened."""

    failed: pd.DataFrame
    diverged: pd.DataFrame
    collapsed: pd.DataFrame
    """Collapsed after training (left out of the verdicts) or at initialisation
    (left out of the controlled verdict only); column ``stage`` says which."""
    lost_groups: pd.DataFrame

    def summary(self) -> str:
        trained = int(self.collapsed["stage"].eq("trained").sum()) if len(self.collapsed) else 0
        groups = "group" if len(self.lost_groups) == 1 else "groups"
        counts = [
            (len(self.failed), "failed"),
            (len(self.diverged), "diverged"),
            (trained, "collapsed after training"),
            (len(self.collapsed) - trained, "collapsed at initialisation"),
            (len(self.lost_groups), f"{groups} with every candidate diverged or collapsed"),
        ]
        if not any(count for count, _ in counts):
            return "none (no run failed, diverged or collapsed)"
        return ", ".join(f"{count} {what}" for count, what in counts)

    def sections(self) -> list[tuple[str, str, pd.DataFrame]]:
        """(heading, explanation, runs) for each kind of flagged run."""
        return [
            ("Failed runs", "Raised an error; rerunning the sweep retries them.", self.failed),
            (
                "Diverged runs",
                "The training loss became non-finite: no metrics, left out of the verdicts.",
                self.diverged,
            ),
            (
                "Collapsed runs",
                "One class predicted for every example, or every probed unit dead. After training: "
                "left out of the verdicts. At initialisation: left out of the controlled verdict only, since a "
                "collapsed baseline means nothing.",
                self.collapsed,
            ),
            (
                "Groups with no usable candidate",
                "Every candidate of the selection group diverged or collapsed, "
                "so no run stands for its width and replicate.",
                self.lost_groups,
            ),
        ]


def flagged(runs: pd.DataFrame) -> Flagged:
    """The failed, diverged and collapsed runs of a run table, and the
    selection groups whose every candidate diverged or collapsed."""
    empty = pd.DataFrame()
    if runs.empty or "status" not in runs:
        return Flagged(empty, empty, empty, empty)
    status = runs["status"]
    done = status.eq(DONE)
    collapsed = done & _flag(runs, "collapsed")
    collapsed_init = done & _flag(runs, "collapsed_init")
    stages = pd.concat([runs[collapsed].assign(stage="trained"), runs[collapsed_init].assign(stage="init")])
    reasons = ("stage", "collapse_reason", "predicted_classes")
    groups = lost_groups(runs)
    lost = runs[runs["group"].isin(groups)] if groups else runs.iloc[:0]
    lost_table = (
        lost.groupby("group", sort=True)
        .agg(
            variant=("variant", "first"),
            width_factor=("width_factor", "first"),
            candidates=("status", "size"),
            diverged=("status", lambda s: int(s.eq(DIVERGED).sum())),
            collapsed=("status", lambda s: int(s.eq(DONE).sum())),
        )
        .reset_index()
        if len(lost)
        else empty
    )
    return Flagged(
        failed=_listing(runs[status.eq(FAILED)], ("error",)),
        diverged=_listing(runs[status.eq(DIVERGED)], ("epochs", "diverged_reason", "error")),
        collapsed=_listing(stages, reasons),
        lost_groups=lost_table,
    )


def _flag(runs: pd.DataFrame, column: str) -> pd.Series:
    """A boolean column; False where missing (older tables lack ``collapsed_init``)."""
    return runs[column].eq(True) if column in runs else pd.Series(False, index=runs.index)


def _listing(runs: pd.DataFrame, extra: tuple[str, ...]) -> pd.DataFrame:
    """Who the runs are, and the ``extra`` columns that say something about them (not all empty)."""
    said = [c for c in extra if c in runs and runs[c].replace("", None).notna().any()]
    columns = [c for c in ("run_id", "variant", "width_factor", "replicate") if c in runs]
    return runs[columns + said].reset_index(drop=True)


def means_by_width(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over replicates of the kept, done, non-collapsed runs, per variant and width."""
    if runs.empty or "kept" not in runs:
        return pd.DataFrame()
    used = runs[runs["status"].eq(DONE) & runs["kept"].eq(True) & ~_flag(runs, "collapsed")]
    if used.empty:
        return pd.DataFrame()
    metrics = [m for m in SUMMARY_METRICS if m in used]
    grouped = used.groupby(["variant", "width_factor"])[metrics]
    mean, std, count = grouped.mean(), grouped.std(), grouped.size()  # sample std, as the figures
    table = pd.DataFrame(index=mean.index)
    table["runs"] = count
    for metric in metrics:
        table[metric] = [_pm(m, s) for m, s in zip(mean[metric], std[metric])]
    return table.reset_index()


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.3f} ± {std:.3f}" if abs(mean) < 10 else f"{mean:.1f} ± {std:.1f}"


def _word(word: str) -> str:
    """A verdict cell: sign and word."""
    return f"{SYMBOLS.get(word, '')} {word}".strip()


def _trend(row: pd.Series, key: str) -> str:
    """A trend's cell: sign and word, and its slope per doubling ± the
    half-width of its interval where it was fitted."""
    slope = row[f"{key}_slope"]
    if math.isnan(slope):
        return _word(row[f"{key}_trend"])
    return f"{_word(row[f'{key}_trend'])} ({slope:+.2g} ± {(row[f'{key}_ci_high'] - row[f'{key}_ci_low']) / 2:.2g})"


def _label(row: pd.Series, presets: int) -> str:
    variant = row["variant"] or "(all)"
    return f"{row['preset']} {variant}" if presets > 1 else variant


def verdict_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The compact verdict table: one row per variant, one word per cell."""
    if verdicts.empty:
        return pd.DataFrame()
    presets = verdicts["preset"].nunique()
    columns: tuple[tuple[str, str], ...] = (*RAW_COLUMNS, *CONTROLLED_COLUMNS)
    if f"{EFFECTIVE}_n" in verdicts and (verdicts[f"{EFFECTIVE}_n"] > 0).any():  # a sweep that measured it
        columns += (EFFECTIVE_COLUMN,)
    rows = [
        {
            "variant": _label(row, presets),
            "runs": int(row["n"]),
            **{heading: _cell(row, column) for heading, column in columns},
        }
        for _, row in verdicts.iterrows()
    ]
    return pd.DataFrame(rows)


def _cell(row: pd.Series, column: str) -> str:
    """A verdict table's cell: a trend with its effect size, or a verdict's word."""
    return _trend(row, column.removesuffix("_trend")) if column.endswith("_trend") else _word(row[column])


def layer_table(layer_verdicts: pd.DataFrame) -> pd.DataFrame:
    """The per-layer trends, one row per variant and layer (the slope per
    doubling and its interval beside each word); empty unless some variant has several layers."""
    if layer_verdicts.empty or layer_verdicts.groupby(["preset", "variant"])["layer"].nunique().max() < 2:
        return pd.DataFrame()
    presets = layer_verdicts["preset"].nunique()
    rows = []
    for _, row in layer_verdicts.iterrows():
        cells = {heading: _trend(row, key) for heading, key in LAYER_COLUMNS}
        rows.append(
            {
                "variant": _label(row, presets),
                "layer": row["layer"],
                "runs": int(row["n"]),
                **cells,
                "hypothesis": _word(row["hypothesis"]),
                "hypothesis (controlled)": _word(row["hypothesis_controlled"]),
            }
        )
    return pd.DataFrame(rows)


def margin_notes(verdicts: pd.DataFrame) -> list[str]:
    """Each tested metric's equivalence margin δ per doubling, as used, and why."""
    defaults = margins()
    notes = []
    for key, margin in defaults.items():
        used = sorted(set(verdicts[f"{key}_margin"])) if f"{key}_margin" in verdicts else [str(margin)]
        reason = margin.reason if used == [str(margin)] else "set by the caller"
        notes.append(f"{LABELS[key]}: δ {', '.join(used)} per doubling ({reason})")
    return notes


def _what_was_run(inputs: ReportInputs) -> list[tuple[str, str]]:
    info, runs = inputs.info, inputs.runs
    counts = runs["status"].value_counts().to_dict() if "status" in runs else {}
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    return [
        ("preset", f"{info.get('preset') or '(none)'} at scale {info.get('scale') or '-'}"),
        ("runs", ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none"),
        ("trained", _trained(runs)),
        ("device", str(info.get("device", "-"))),
        ("executor", str(info.get("executor", "-"))),
        ("time taken", f"{info.get('seconds', float('nan')) / 60:.1f} minutes (all sessions of this sweep)"),
        ("versions", versions or "-"),
        ("command", str(info.get("command", "-"))),
    ]


def _trained(runs: pd.DataFrame) -> str:
    """How many runs trained alone, in batches, or partly in a batch: batched
    and separate training agree to float rounding only where training is not
    chaotic (docs/fidelity.md)."""
    counts = runs["training"].value_counts() if "training" in runs else pd.Series(dtype=int)
    words = {"single": "alone", "batched": "in batches", "mixed": "partly in a batch, partly alone"}
    shown = ", ".join(f"{counts[mode]} {word}" for mode, word in words.items() if mode in counts)
    return shown or "-"


def _explained(verdicts: pd.DataFrame) -> list[tuple[str, str, list[str]]]:
    """Per variant: its label, its verdicts and runs in a sentence, and each trend with its numbers."""
    presets = verdicts["preset"].nunique() if len(verdicts) else 0
    return [
        (_label(row, presets), describe_runs(row), [describe_trend(row, key) for key in _tested(row)])
        for _, row in verdicts.iterrows()
    ]


def _tested(row: pd.Series) -> list[str]:
    """The keys a variant's details list: none for a variant without usable
    runs, and the effective width only where the sweep measured it."""
    if not row["n"]:
        return []
    return [key for key in KEYS if key != EFFECTIVE or row[f"{EFFECTIVE}_n"]]


BASELINE = "Slopes per doubling of the untrained networks, the baseline the controlled verdict takes away"


def _init_slopes(verdicts: pd.DataFrame) -> list[tuple[str, str]]:
    presets = verdicts["preset"].nunique() if len(verdicts) else 0
    return [
        (_label(row, presets), ", ".join(f"{LABELS[m]} {row[f'{m}_init_slope']:+.3g}" for m in CONTROLLED))
        for _, row in verdicts.iterrows()
    ]


def write_markdown(inputs: ReportInputs, path: Path) -> None:
    marks = flagged(inputs.runs)
    layers = layer_table(inputs.layer_verdicts)
    lines = [
        f"# {inputs.title}",
        "",
        "## Verdicts",
        "",
        _markdown_table(verdict_table(inputs.verdicts)),
        "",
        LEGEND,
        "",
        f'**Flagged runs**: {marks.summary()} (listed under "Flagged runs").',
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{figure.stem}]({figure.relative_to(path.parent).as_posix()})\n" for figure in inputs.figures]
    if len(inputs.verdicts):
        lines += ["## Verdicts in detail", "", RULE, "", "Equivalence margins:", ""]
        lines += [f"- {note}" for note in margin_notes(inputs.verdicts)]
        lines += ["", "Per variant:", ""]
        for label, sentence, trends in _explained(inputs.verdicts):
            lines += [f"- **{label}**: {sentence}", *(f"  - {trend}" for trend in trends)]
        lines += ["", f"{BASELINE}:", ""]
        lines += [f"- **{label}**: {slopes}" for label, slopes in _init_slopes(inputs.verdicts)]
        lines.append("")
    if len(layers):
        lines += [
            "### Per layer",
            "",
            "Each layer's trend with width (slope per doubling ± its 90% interval in "
            "brackets); Holm's correction spans every layer and variant.",
            "",
            _markdown_table(layers),
            "",
        ]
    lines += ["## Flagged runs", "", f"{marks.summary()}.", ""]
    for heading, explanation, table in marks.sections():
        lines += [
            f"### {heading} ({len(table)})",
            "",
            explanation,
            "",
            _markdown_table(table) if len(table) else "None.",
            "",
        ]
    lines += [
        "## Means per width",
        "",
        "Kept, finished, non-collapsed runs; mean ± std over replicates.",
        "",
        _markdown_table(means_by_width(inputs.runs)),
        "",
        "## What was run",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in _what_was_run(inputs)]
    lines += ["", "```yaml", inputs.sweep_yaml.rstrip(), "```", ""]
    path.write_text("\n".join(lines))


def _markdown_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no rows)"
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = [
        "| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ") for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def write_html(inputs: ReportInputs, path: Path) -> None:
    marks = flagged(inputs.runs)
    layers = layer_table(inputs.layer_verdicts)
    title = html.escape(inputs.title)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>",
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>",
        "<h2>Verdicts</h2>",
        _verdict_html(verdict_table(inputs.verdicts)),
        f"<p class='legend'>{html.escape(LEGEND)}</p>",
        f"<p class='flagged'><b>Flagged runs</b>: {html.escape(marks.summary())} "
        "(<a href='#flagged'>listed below</a>).</p>",
    ]
    if len(inputs.verdicts):
        parts += [
            "<details id='details'><summary>How the verdicts were reached</summary>",
            f"<p>{html.escape(RULE)}</p>",
            "<p>Equivalence margins:</p>",
            html_list(margin_notes(inputs.verdicts)),
            "<p>Per variant:</p>",
            html_list(
                [
                    f"<b>{html.escape(label)}</b>: {html.escape(sentence)}{html_list(trends)}"
                    for label, sentence, trends in _explained(inputs.verdicts)
                ],
                escape=False,
            ),
            f"<p>{BASELINE}:</p>",
            html_list(
                [
                    f"<b>{html.escape(label)}</b>: {html.escape(slopes)}"
                    for label, slopes in _init_slopes(inputs.verdicts)
                ],
                escape=False,
            ),
            "</details>",
        ]
    if len(layers):
        parts += [
            "<details id='layers'><summary>Per-layer trends</summary><p>Each layer's trend with width (slope "
            "per doubling ± its 90% interval in brackets); Holm's correction spans every layer and variant.</p>",
            html_table(layers, cell_class=_verdict_class),
            "</details>",
        ]
    parts.append("<h2>Figures</h2><div class='figures'>")
    parts += [html_figure(figure, page=path) for figure in inputs.figures]
    parts += ["</div><h2 id='flagged'>Flagged runs</h2>", f"<p>{html.escape(marks.summary())}.</p>"]
    for heading, explanation, table in marks.sections():
        parts += [
            f"<h3>{html.escape(heading)} ({len(table)})</h3><p>{html.escape(explanation)}</p>",
            html_table(table) if len(table) else "<p>None.</p>",
        ]
    parts += [
        "<h2>Means per width</h2><p>Kept, finished, non-collapsed runs; mean ± std over replicates.</p>",
        html_table(means_by_width(inputs.runs)),
        "<h2>What was run</h2>",
        html_list([f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in _what_was_run(inputs)], escape=False),
        f"<details><summary>Sweep spec</summary><pre>{html.escape(inputs.sweep_yaml)}</pre></details>",
        "</body></html>",
    ]
    path.write_text("\n".join(parts))


def _verdict_html(table: pd.DataFrame) -> str:
    """The compact verdict table with its raw and controlled column groups named above the words."""
    if table.empty:
        return "<p>(no verdicts)</p>"
    groups = (
        "<tr><th rowspan='2'>variant</th><th rowspan='2'>runs</th>"
        f"<th class='group' colspan='{len(RAW_COLUMNS)}'>raw (the paper's metrics)</th>"
        f"<th class='group' colspan='{len(CONTROLLED_COLUMNS)}'>controlled (beyond initialisation)</th></tr>"
    )
    head = "<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns[2:]) + "</tr>"
    return html_table(table, head=groups + head, cell_class=_verdict_class)


def _verdict_class(text: str) -> str:
    """``"verdict rises"`` for a verdict cell such as ``"↑ rises (+0.03 ± 0.01)"``, ``"verdict rises within"``
    for one within the margin (coloured by :data:`STYLE`), else ""."""
    word = next((word for word, symbol in SYMBOLS.items() if text[:1] == symbol), None)
    if word is None:
        return ""
    return f"verdict {word.removesuffix(WITHIN)}{' within' if word.endswith(WITHIN) else ''}"


def write_report(inputs: ReportInputs, folder: Path) -> tuple[Path, Path]:
    markdown, page = folder / "report.md", folder / "report.html"
    write_markdown(inputs, markdown)
    write_html(inputs, page)
    (folder / "verdicts.json").write_text(json.dumps(json.loads(inputs.verdicts.to_json(orient="records")), indent=2))
    if not inputs.layer_verdicts.empty:
        records = json.loads(inputs.layer_verdicts.to_json(orient="records"))
        (folder / "layer_verdicts.json").write_text(json.dumps(records, indent=2))
    return markdown, page
