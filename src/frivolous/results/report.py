"""A sweep's report: ``report.md`` beside its figures, and ``report.html``, a
single self-contained file with the figures embedded.

What was run (spec, versions, device, time taken), the verdict on the
paper's hypothesis for each variant with the rule that decided it, a table
of means per variant and width, every figure, and the runs that failed or
collapsed.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from frivolous.results.verdicts import RULE, describe_verdict

SUMMARY_METRICS = ("test_accuracy", "auc", "similarity", "similarity_fraction", "auc_init", "similarity_init")


@dataclass(frozen=True)
class ReportInputs:
    title: str
    info: dict[str, Any]
    sweep_yaml: str
    runs: pd.DataFrame
    verdicts: pd.DataFrame
    figures: list[Path]


def means_by_width(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over replicates of the kept, done, non-collapsed runs, per variant and width."""
    if runs.empty:
        return pd.DataFrame()
    used = runs[(runs["status"] == "done") & runs["kept"] & ~runs["collapsed"]]
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


def _verdict_rows(verdicts: pd.DataFrame) -> pd.DataFrame:
    def trend(row: pd.Series, metric: str) -> str:
        if metric == "test_accuracy":
            return "holds" if row["accuracy_holds"] else "falls"
        rho, p = row[f"{metric}_rho"], row[f"{metric}_p"]
        detail = "" if pd.isna(rho) else f" (rho {rho:+.2f}, p {p:.3g}, {row[f'{metric}_slope']:+.3g}/doubling)"
        return f"{row[f'{metric}_trend']}{detail}"

    rows = []
    for _, row in verdicts.iterrows():
        rows.append({
            "variant": row["variant"] or "(all)", "runs": int(row["n"]), "accuracy": trend(row, "test_accuracy"),
            "AUC": trend(row, "auc"), "AUC beyond init": row["auc_beyond_init"],
            "similarity": trend(row, "similarity"), "similarity beyond init": row["similarity_beyond_init"],
            "hypothesis": row["hypothesis"], "beyond init": row["hypothesis_beyond_init"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def _problems(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if runs.empty:
        return pd.DataFrame(), pd.DataFrame()
    columns = ["run_id", "variant", "width_factor", "replicate"]
    failed = runs.loc[runs["status"] == "failed", [*columns, "error"]]
    collapsed = runs.loc[(runs["status"] == "done") & runs["collapsed"], [*columns, "predicted_classes"]]
    return failed, collapsed


def _what_was_run(inputs: ReportInputs) -> list[tuple[str, str]]:
    info, runs = inputs.info, inputs.runs
    counts = runs["status"].value_counts().to_dict()
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    return [
        ("preset", f"{info.get('preset') or '(none)'} at scale {info.get('scale') or '-'}"),
        ("runs", ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))),
        ("device", str(info.get("device", "-"))),
        ("executor", str(info.get("executor", "-"))),
        ("time taken", f"{info.get('seconds', float('nan')) / 60:.1f} minutes (all sessions of this sweep)"),
        ("versions", versions or "-"),
        ("command", str(info.get("command", "-"))),
    ]


def write_markdown(inputs: ReportInputs, path: Path) -> None:
    failed, collapsed = _problems(inputs.runs)
    lines = [f"# {inputs.title}", "", "## What was run", ""]
    lines += [f"- **{k}**: {v}" for k, v in _what_was_run(inputs)]
    lines += ["", "```yaml", inputs.sweep_yaml.rstrip(), "```", "", "## Verdicts", "", RULE, ""]
    lines += [_markdown_table(_verdict_rows(inputs.verdicts)), ""]
    lines += [f"- **{row['variant'] or '(all)'}**: {describe_verdict(row)}" for _, row in inputs.verdicts.iterrows()]
    lines += ["", "## Means per width", "", "Kept, finished, non-collapsed runs; mean ± std over replicates.", ""]
    lines += [_markdown_table(means_by_width(inputs.runs)), "", "## Figures", ""]
    lines += [f"![{figure.stem}]({figure.relative_to(path.parent).as_posix()})\n" for figure in inputs.figures]
    lines += ["## Failed runs", "", _markdown_table(failed) if len(failed) else "None.", ""]
    lines += ["## Collapsed runs", "",
              "One class predicted for every example, or every probed unit dead: left out of the verdicts.", "",
              _markdown_table(collapsed) if len(collapsed) else "None.", ""]  # fmt: skip
    path.write_text("\n".join(lines))


def _markdown_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no rows)"
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ") for v in row) + " |"
            for row in table.itertuples(index=False)]  # fmt: skip
    return "\n".join([header, rule, *body])


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
.holds { color: #1a7f37; font-weight: 600; } .fails { color: #b42318; font-weight: 600; }
"""


def write_html(inputs: ReportInputs, path: Path) -> None:
    failed, collapsed = _problems(inputs.runs)
    verdict_table = _verdict_rows(inputs.verdicts)
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(inputs.title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(inputs.title)}</h1>", "<h2>What was run</h2><ul>"]
    parts += [f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in _what_was_run(inputs)]
    parts += [f"</ul><details><summary>Sweep spec</summary><pre>{html.escape(inputs.sweep_yaml)}</pre></details>",
              "<h2>Verdicts</h2>", f"<p>{html.escape(RULE)}</p>", _html_table(verdict_table, highlight=True), "<ul>"]
    parts += [f"<li><b>{html.escape(row['variant'] or '(all)')}</b>: {html.escape(describe_verdict(row))}</li>"
              for _, row in inputs.verdicts.iterrows()]  # fmt: skip
    parts += ["</ul><h2>Means per width</h2><p>Kept, finished, non-collapsed runs; mean ± std over replicates.</p>",
              _html_table(means_by_width(inputs.runs)), "<h2>Figures</h2>"]  # fmt: skip
    for figure in inputs.figures:
        data = base64.b64encode(figure.read_bytes()).decode()
        parts.append(
            f"<figure><img alt='{html.escape(figure.stem)}' src='data:image/png;base64,{data}' "
            "onload=\"this.dataset.loaded='1'\" onerror=\"this.dataset.broken='1'\">"
            f"<figcaption>{html.escape(figure.stem)}</figcaption></figure>"
        )
    parts += ["<h2>Failed runs</h2>", _html_table(failed) if len(failed) else "<p>None.</p>",
              "<h2>Collapsed runs</h2><p>One class predicted for every example, or every probed unit dead: "
              "left out of the verdicts.</p>", _html_table(collapsed) if len(collapsed) else "<p>None.</p>",
              "</body></html>"]  # fmt: skip
    path.write_text("\n".join(parts))


def _html_table(table: pd.DataFrame, highlight: bool = False) -> str:
    if table.empty:
        return "<p>(no rows)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for row in table.itertuples(index=False):
        cells = []
        for value in row:
            text = html.escape(str(value))
            css = f" class='{value}'" if highlight and value in ("holds", "fails") else ""
            cells.append(f"<td{css}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def write_report(inputs: ReportInputs, folder: Path) -> tuple[Path, Path]:
    markdown, page = folder / "report.md", folder / "report.html"
    write_markdown(inputs, markdown)
    write_html(inputs, page)
    (folder / "verdicts.json").write_text(json.dumps(json.loads(inputs.verdicts.to_json(orient="records")), indent=2))
    return markdown, page
