"""report.md + report.html from a long results table: the header, the figures
(results/figures.py), the interval tables and verdicts, and the mean +- std tables."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pandas as pd

from xprompt.results.aggregate import (AGG_COLUMNS, AVG, average_over_targets, format_mean_std,
                                       series_labels, summary_table, target_order, transfer_gap)
from xprompt.errors import DataError
from xprompt.results.interval_figures import plot_average_intervals
from xprompt.results.settings import uses_target_text
from xprompt.results.significance import read_uncertainty
from xprompt.files import atomic_write_text
from xprompt.results.table import (RUN_JSON, read_results, shots_as_words,
                             validate_results)
from xprompt.shots import shots_phrase, shots_text

from xprompt.results.figures import FIGURES, PRIMARY_METRIC, Context, Plot, save_figure


# ----------------------------------------------------------------------------- document
def _context(rows: pd.DataFrame) -> Context:
    table = average_over_targets(rows)
    table["label"] = series_labels(table)
    metrics = list(pd.unique(rows["metric"]))
    return Context(rows, table, PRIMARY_METRIC if PRIMARY_METRIC in metrics else metrics[0])


def _load_run_info(results, out_dir: Path) -> tuple[dict, str]:
    origin = results.attrs.get("path") if isinstance(results, pd.DataFrame) else results
    places = [Path(origin) if Path(origin).is_dir() else Path(origin).parent] if origin else []
    for run_json in [place / RUN_JSON for place in places + [out_dir]]:
        if run_json.is_file():
            try:
                return json.loads(run_json.read_text(encoding="utf-8")), ""
            except (OSError, ValueError) as error:
                return {}, f"{run_json} could not be read ({error}); run information is missing."
    return {}, f"no {RUN_JSON} found beside the results; run information is missing."


def _header(ctx: Context, run_info: dict, note: str) -> list[tuple]:
    rows = ctx.rows
    listed = lambda column: ", ".join(map(str, sorted(pd.unique(rows[column]))))  # noqa: E731
    targets = [t for t in target_order(rows) if t not in set(rows["source"])]
    items = [f"source language: {listed('source')}; "
             f"target languages ({len(targets)}): {', '.join(targets)}",
             f"methods: {', '.join(pd.unique(rows['method']))}",
             f"source shots per class: {', '.join(shots_text(k) for k in sorted(pd.unique(rows['shots'])))}; "
             f"target adaptation shots: {listed('adapt_shots')}",
             f"seeds ({rows['seed'].nunique()}): {listed('seed')}; "
             f"metrics: {', '.join(pd.unique(rows['metric']))}",
             f"measurements: {len(rows)}"]
    versions = run_info.get("versions") or {}
    items += [f"{key}: {run_info[key]}" for key in ("date", "git_hash") if run_info.get(key)]
    items += [str(line) for line in run_info.get("notes") or []]
    if versions:
        items.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    blocks = [("h1", f"xprompt report: {listed('task')} · {listed('model')}"), ("ul", items)]
    blocks += [("p", f"*{note}*")] if note else []
    if run_info.get("config"):
        config = json.dumps(run_info["config"], indent=2, sort_keys=True, default=str)
        blocks += [("h2", "Configuration"), ("code", config)]
    return blocks


def _figure_blocks(plots: list[Plot]) -> list[tuple]:
    blocks = [("h2", "Figures")]
    for plot in plots:
        if plot.drawn:
            blocks += [("h3", plot.title), ("img", plot.file, plot.title), ("p", plot.note)]
    skipped = [f"`{p.file}` not drawn: {p.note}" for p in plots if not p.drawn]
    return blocks + ([("ul", skipped)] if skipped else [])


def _with_intervals(ctx: Context) -> pd.DataFrame:
    """The aggregate table plus each row's 95% interval (ci_low, ci_high) when the run has them."""
    table = ctx.table.drop(columns="label")
    if ctx.spans is None or ctx.spans.empty:
        return table
    keys = ["method", "shots", "adapt_shots", "target", "metric"]
    spans = ctx.spans[keys + ["ci_low", "ci_high"]].astype({"shots": "int64", "adapt_shots": "int64"})
    return table.merge(spans, on=keys, how="left")


def _collapse_blocks(ctx: Context, out_dir: Path) -> list[tuple]:
    """The seeds that predict one class for nearly every target item, when the run has any."""
    from xprompt.results.collapse import COLLAPSED, collapse_lines
    from xprompt.results.significance import read_items

    sources = pd.unique(ctx.rows["source"])
    lines = collapse_lines(read_items(out_dir), sources[0] if len(sources) == 1 else None)
    if not lines:
        return []
    return [("h2", "Seeds that collapsed"),
            ("p", f"A seed that predicts one class for at least {COLLAPSED:.0%} of its target items has not "
                  "learned the task; the tables and intervals below include it."),
            *(("p", line.removeprefix("collapsed: ")) for line in lines)]


def _uncertainty_blocks(ctx: Context, out_dir: Path) -> list[tuple]:
    """Accuracy with 95% intervals and the best method's paired comparisons, when the run wrote them."""
    from xprompt.results.significance import best_method_lines, interval_table, read_uncertainty

    spans, comparisons = read_uncertainty(out_dir)
    if spans is None or spans.empty:
        return []
    blocks = [("h2", "Accuracy with 95% intervals"),
              ("p", "Percentile bootstrap over test items and seeds, 2,000 resamples; items are drawn per "
                    "language, or on a parallel data set once for every language (the same sentences in each). "
                    "*avg* averages the targets without the source; *transfer gap* is the source language's "
                    "accuracy minus *avg* (XTREME's cross-lingual transfer gap), on the same draws. Differences "
                    "are paired (same items, same seeds); a method is called ahead only when the interval of the "
                    "difference excludes 0.")]
    settings = spans[["shots", "adapt_shots"]].drop_duplicates().sort_values(["shots", "adapt_shots"])
    for shots, adapt in settings.itertuples(index=False):
        for setting, chosen in settings_of(spans, adapt):
            blocks += [("h3", f"{shots_phrase(shots)}, {setting}"),
                       ("table", interval_table(chosen, int(shots), int(adapt), order=target_order(ctx.rows)))]
            lines = best_method_lines(chosen, comparisons, int(shots), int(adapt))
            if lines:
                blocks.append(("p", lines[0] + " " + "; ".join(line.strip() for line in lines[1:])))
    figure = plot_average_intervals(spans, out_dir, save_figure)
    if figure is not None:
        blocks += [("img", figure, "average accuracy with 95% intervals"),
                   ("p", "Average target accuracy per method; whiskers: 95% bootstrap interval over test "
                         "items and seeds.")]
    return blocks


def settings_of(frame: pd.DataFrame, adapt_shots: int) -> list[tuple[str, pd.DataFrame]]:
    """(setting, its rows of `frame`): zero-shot transfer and, apart from it, zero-shot with
    unlabelled target text (calibration, self-training); or k-shot target adaptation."""
    if adapt_shots:
        return [(f"{adapt_shots}-shot target adaptation", frame)]
    reads_text = frame["method"].map(uses_target_text)
    return [(name, frame[mask]) for name, mask in (("zero-shot transfer", ~reads_text),
                                                    ("zero-shot + unlabelled target text", reads_text))
            if mask.any()]


def _table_blocks(ctx: Context) -> list[tuple]:
    blocks = [("h2", "Tables"), ("p", "Mean ± sample std over seeds (the mean alone for a single "
               "seed); *avg* averages the target languages without the source, per seed, then "
               "over seeds.")]
    settings = ctx.rows[["shots", "adapt_shots"]].drop_duplicates()
    settings = settings.sort_values(["shots", "adapt_shots"])
    metrics = list(dict.fromkeys([ctx.metric, *pd.unique(ctx.rows["metric"])]))
    for shots, adapt in settings.itertuples(index=False):
        for setting, chosen in settings_of(ctx.table, adapt):
            blocks.append(("h3", f"{shots_phrase(shots)}, {setting}"))
            for metric in metrics:
                if not ctx.select(metric, shots=shots, adapt_shots=adapt).empty:
                    table = summary_table(chosen[AGG_COLUMNS + ["n_targets"]], metric, shots, adapt)
                    if not table.empty:
                        blocks += [("p", f"**{ctx.unit(metric)}**"), ("table", table)]
    gaps = transfer_gap(ctx.table[AGG_COLUMNS])
    gaps = gaps[(gaps["metric"] == ctx.metric) & (gaps["adapt_shots"] == 0) & (gaps["target"] == AVG)]
    if not gaps.empty:
        cells = [format_mean_std(gap, float("nan"), ctx.scale()) for gap in gaps["gap"]]
        gaps = gaps.assign(label=series_labels(gaps), cell=cells)
        wide = gaps.pivot_table(index="label", columns="shots", values="cell", aggfunc="first")
        wide = wide.rename(columns=lambda s: f"{shots_text(s)} shots").rename_axis(index="method", columns=None)
        blocks += [("h3", f"Average transfer gap ({ctx.metric}, zero-shot, source minus targets)"),
                   ("table", wide)]
    return blocks


def _inline_html(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _render(blocks: list[tuple], markdown: bool) -> str:
    parts = []
    for kind, *args in blocks:
        if kind in ("h1", "h2", "h3"):
            level = int(kind[1])
            parts.append("#" * level + " " + args[0] if markdown
                         else f"<{kind}>{_inline_html(args[0])}</{kind}>")
        elif kind == "p":
            parts.append(args[0] if markdown else f"<p>{_inline_html(args[0])}</p>")
        elif kind == "ul":
            parts.append("\n".join(f"- {i}" for i in args[0]) if markdown else
                         "<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in args[0]) + "</ul>")
        elif kind == "code":
            parts.append(f"```json\n{args[0]}\n```" if markdown
                         else f"<pre>{html.escape(args[0])}</pre>")
        elif kind == "img":
            parts.append(f"![{args[1]}]({args[0]})" if markdown else
                         f'<img src="{html.escape(args[0])}" alt="{html.escape(args[1])}">')
        elif kind == "table":
            parts.append(_markdown_table(args[0]) if markdown else _html_table(args[0]))
    return "\n\n".join(parts) + "\n"


def _table_cells(frame: pd.DataFrame) -> list[list[str]]:
    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    body = [[str(index)] + [str(v) for v in row] for index, row in zip(frame.index, frame.to_numpy())]
    return [header] + body


def _markdown_table(frame: pd.DataFrame) -> str:
    cells = [[c.replace("|", "\\|") for c in row] for row in _table_cells(frame)]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join([lines[0], "|" + "---|" * len(cells[0])] + lines[1:])


def _html_table(frame: pd.DataFrame) -> str:
    header, *body = _table_cells(frame)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}th,td{{border:1px solid #ccc;padding:3px 8px;
text-align:right}}th:first-child,td:first-child{{text-align:left}}img{{max-width:100%}}
pre{{background:#f5f5f5;padding:0.8em;overflow:auto}}</style></head>
<body>
{body}</body></html>
"""


def build_report(results: pd.DataFrame | str | os.PathLike, out_dir: str | os.PathLike,
                 run_info: dict | None = None) -> Path:
    """Write report.md, report.html, aggregate.csv and the figures into out_dir; return report.md.

    results is a long results table or a path read with read_results; run_info defaults to
    the run.json beside the results file (or in out_dir).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = validate_results(results) if isinstance(results, pd.DataFrame) else read_results(results)
    if rows.empty:
        raise DataError("the results table has no rows; there is nothing to report.")
    note = ""
    if run_info is None:
        run_info, note = _load_run_info(results, out_dir)
    ctx = _context(rows)
    ctx.spans = read_uncertainty(out_dir)[0]
    atomic_write_text(out_dir / "aggregate.csv", shots_as_words(_with_intervals(ctx)).to_csv(index=False))
    plots = [draw(ctx, out_dir) for draw in FIGURES]
    blocks = (_header(ctx, run_info, note) + _collapse_blocks(ctx, out_dir) + _figure_blocks(plots)
              + _uncertainty_blocks(ctx, out_dir) + _table_blocks(ctx))
    atomic_write_text(out_dir / "report.md", _render(blocks, markdown=True))
    page = HTML_PAGE.format(title=html.escape(blocks[0][1]), body=_render(blocks, markdown=False))
    atomic_write_text(out_dir / "report.html", page)
    return out_dir / "report.md"


def report_from_run(run_dir: str | os.PathLike) -> Path:
    """What `xprompt report RUN` does: read RUN's results and write the report into RUN.

    RUN may also be a results file; the report then goes into the file's folder.
    """
    run_dir = Path(run_dir)
    return build_report(read_results(run_dir), run_dir if run_dir.is_dir() else run_dir.parent)
