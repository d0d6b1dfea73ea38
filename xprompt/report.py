"""report.md + report.html and PNG figures from a long results table.

Figures are drawn on `matplotlib.figure.Figure` objects (Agg canvas, no pyplot), so building a
report never changes the caller's matplotlib backend or global state. A figure that does not
apply to the results is not drawn (a stale copy is removed) and the report says why in one line.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xprompt.aggregate import (AGG_COLUMNS, AVG, average_over_targets, format_mean_std,
                               metric_scale, series_labels, summary_table, target_order, transfer_gap)
from xprompt.errors import DataError
from xprompt.interval_figures import plot_average_intervals
from xprompt.significance import read_uncertainty
from xprompt.config import shots_phrase, shots_text
from xprompt.files import atomic_write_bytes, atomic_write_text
from xprompt.results import (RUN_JSON, read_results, shots_as_words,
                             validate_results)

DPI = 120
PRIMARY_METRIC = "accuracy"
CONSISTENCY = "consistency"
MAX_PANELS = 4


@dataclass
class Plot:
    """One figure: drawn (note is its caption) or skipped (note is the reason)."""
    file: str
    title: str
    drawn: bool
    note: str


@dataclass
class Context:
    rows: pd.DataFrame   # the validated long table
    table: pd.DataFrame  # average_over_targets(rows) plus a `label` column per method
    metric: str          # the metric the main figures show
    spans: pd.DataFrame | None = None  # 95% intervals (intervals.csv) when the run wrote them

    def select(self, metric: str | None = None, **equal) -> pd.DataFrame:
        chosen = self.table[self.table["metric"] == (metric or self.metric)]
        for column, value in equal.items():
            chosen = chosen[chosen[column] == value]
        return chosen

    def scale(self, metric: str | None = None) -> float:
        return metric_scale(self.select(metric)["mean"])

    def unit(self, metric: str | None = None) -> str:
        return f"{metric or self.metric}" + (" (%)" if self.scale(metric) == 100 else "")


# ----------------------------------------------------------------------------- drawing helpers
def _save(figure: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    atomic_write_bytes(path, buffer.getvalue())


def _skip(out_dir: Path, file: str, title: str, reason: str) -> Plot:
    (out_dir / file).unlink(missing_ok=True)  # a figure from an earlier report would mislead
    return Plot(file, title, False, reason)


def _tick_style(labels: list[str]) -> dict:
    crowded = len(labels) > 12 or max(map(len, labels), default=0) > 6
    return {"rotation": 40, "ha": "right", "rotation_mode": "anchor"} if crowded else {}


def _language_names(targets: list[str], frame: pd.DataFrame) -> list[str]:
    sources = set(frame["source"])
    return [f"{t} (source)" if t in sources else "avg (targets)" if t == AVG else t for t in targets]


def _grouped_bars(ax, frame: pd.DataFrame, targets: list[str], series: str, keys: list,
                  scale: float, value: str = "mean", names=str, spans: pd.DataFrame | None = None) -> None:
    """Bars per target and series; whiskers: the 95% intervals in `spans` (intervals.csv) where it
    has every bar's, else ±1 std over seeds."""
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        part = frame[frame[series] == key].set_index("target").reindex(targets)
        positions = np.arange(len(targets)) + (i - (len(keys) - 1) / 2) * width
        spread = part["std"].fillna(0).to_numpy(float) * scale if "std" in part else None
        whiskers = _interval_whiskers(part, spans, scale, value)
        spread = whiskers if whiskers is not None else spread
        ax.bar(positions, part[value].to_numpy(float) * scale, width * 0.95, yerr=spread,
               color=f"C{i}", label=names(key), capsize=2, error_kw={"linewidth": 0.8})
    ax.set_xticks(np.arange(len(targets)), labels=_language_names(targets, frame),
                  **_tick_style(targets))
    if AVG in targets:
        ax.axvline(len(targets) - 1.5, color="grey", linestyle=":", linewidth=1)
    ax.grid(axis="y", alpha=0.3)


def _interval_whiskers(part: pd.DataFrame, spans: pd.DataFrame | None, scale: float, value: str):
    """[2, n] distances below and above each bar to its 95% interval, or None when not all are known."""
    if spans is None or value != "mean" or part["mean"].isna().any():
        return None
    keyed = spans.set_index(["method", "shots", "adapt_shots", "target", "metric"])
    keys = list(zip(part["method"], part["shots"], part["adapt_shots"], part.index, part["metric"]))
    if not all(key in keyed.index for key in keys):
        return None
    low = keyed.loc[keys, "ci_low"].to_numpy(float) * scale
    high = keyed.loc[keys, "ci_high"].to_numpy(float) * scale
    mean = part["mean"].to_numpy(float) * scale
    return np.vstack([np.clip(mean - low, 0, None), np.clip(high - mean, 0, None)])


def _legend(figure: Figure, ax, title: str) -> None:
    """Below the axes, where it can neither hide data nor collide with the title."""
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), title=title,
                  frameon=False)


def _focus(axes, values: np.ndarray, spread: np.ndarray | None = None) -> None:
    """Start score bars just below the lowest score so differences between methods show;
    the top leaves room for the seed-spread whiskers."""
    finite = np.isfinite(values)
    spread = np.zeros_like(values) if spread is None else np.nan_to_num(spread)
    high_end = (values + spread)[finite]
    values = values[finite]
    if len(values) and values.min() > 0:
        bottom = max(0.0, 10 * np.floor(values.min() / 10) - 10)
        top = high_end.max() + 0.08 * (high_end.max() - bottom)
        for ax in axes:
            ax.set_ylim(bottom, top)


def _heatmap_panel(ax, grid: pd.DataFrame, low: float, high: float):
    values = grid.to_numpy(float)
    image = ax.imshow(values, cmap="viridis", vmin=low, vmax=high, aspect="auto")
    if values.size <= 600:
        for (row, col), value in np.ndenumerate(values):
            red, green, blue, _ = image.cmap(image.norm(value)) if np.isfinite(value) else (1, 1, 1, 1)
            colour = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
            ax.text(col, row, "–" if np.isnan(value) else f"{value:.1f}", ha="center",
                    va="center", color=colour, fontsize=8)
    return image


# ----------------------------------------------------------------------------- figures
def plot_heatmap(ctx: Context, out_dir: Path) -> Plot:
    file, title = f"heatmap_{ctx.metric}.png", f"{ctx.metric} per target language and method"
    zero = ctx.select(adapt_shots=0)
    if zero["mean"].isna().all():
        return _skip(out_dir, file, title, f"no zero-shot values (adapt_shots=0) for {ctx.metric}.")
    shots_values = sorted(pd.unique(zero["shots"]))[-MAX_PANELS:]
    targets, methods = target_order(zero), list(pd.unique(zero["label"]))
    grids = [zero[zero["shots"] == s].pivot_table(index="target", columns="label", values="mean")
             .reindex(index=targets, columns=methods) * ctx.scale() for s in shots_values]
    low, high = np.nanmin([g.min().min() for g in grids]), np.nanmax([g.max().max() for g in grids])
    width = max(5.5, 1.8 + len(shots_values) * (0.6 + 1.05 * len(methods)))
    figure = Figure(figsize=(width, 1.8 + 0.4 * len(targets)), layout="constrained")
    axes = figure.subplots(1, len(shots_values), sharey=True, squeeze=False)[0]
    for ax, shots, grid in zip(axes, shots_values, grids):
        image = _heatmap_panel(ax, grid, low, high)
        ax.set_xticks(range(len(methods)), labels=methods, **_tick_style(methods))
        ax.set_yticks(range(len(targets)), labels=_language_names(targets, zero))
        ax.set_title(shots_phrase(shots), fontsize=10)
        ax.set_xlabel("method")
        if AVG in targets:
            ax.axhline(len(targets) - 1.5, color="white", linewidth=3)
    axes[0].set_ylabel("target language")
    figure.colorbar(image, ax=list(axes), label=ctx.unit(), shrink=0.9)
    figure.suptitle(f"Zero-shot cross-lingual {ctx.metric} (mean over seeds)")
    _save(figure, out_dir / file)
    return Plot(file, title, True, f"Zero-shot {ctx.metric}, one panel per source shots value "
                "(the largest four); the row under the white line averages the target languages.")


def plot_vs_shots(ctx: Context, out_dir: Path) -> Plot:
    file, title = f"{ctx.metric}_vs_shots.png", f"{ctx.metric} vs source shots"
    shots_values = sorted(pd.unique(ctx.select()["shots"]))
    averaged = ctx.select(target=AVG)
    if len(shots_values) < 2:
        return _skip(out_dir, file, title, f"only one shots value ({shots_values[0]}); "
                     "a curve needs two or more.")
    if averaged.empty:
        return _skip(out_dir, file, title, "no target language besides the source to average over.")
    curves = averaged.groupby("adapt_shots")["shots"].nunique()
    adapts = sorted(curves.index[curves >= 2])[:3]  # a panel with one point per method says nothing
    if not adapts:
        return _skip(out_dir, file, title, "no setting has results at two or more shots values.")
    figure = Figure(figsize=(2.2 + 4.2 * len(adapts), 4.0), layout="constrained")
    axes = figure.subplots(1, len(adapts), sharey=True, squeeze=False)[0]
    for ax, adapt in zip(axes, adapts):
        for i, label in enumerate(pd.unique(averaged["label"])):
            part = averaged[(averaged["adapt_shots"] == adapt) & (averaged["label"] == label)]
            part = part.sort_values("shots")
            x = [shots_values.index(s) for s in part["shots"]]
            mean, spread = part["mean"] * ctx.scale(), part["std"].fillna(0) * ctx.scale()
            low, high = _band(ctx, part, mean - spread, mean + spread)
            ax.plot(x, mean, marker="o", color=f"C{i}", label=label)
            ax.fill_between(x, low, high, color=f"C{i}", alpha=0.2, linewidth=0)
        ax.set_xticks(range(len(shots_values)), labels=[shots_text(s) for s in shots_values])
        ax.set_xlabel("source-language training shots per class")
        ax.set_title("zero-shot transfer" if adapt == 0 else f"after {adapt}-shot target adaptation",
                     fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{ctx.unit()}, avg over {int(averaged['n_targets'].max())} targets")
    _legend(figure, axes[0], "method")
    band = "95% bootstrap interval" if ctx.spans is not None else "±1 std over seeds"
    figure.suptitle(f"{ctx.metric} vs shots (line: mean over seeds, band: {band})")
    _save(figure, out_dir / file)
    return Plot(file, title, True, f"Average {ctx.metric} over the target languages (source excluded) "
                f"against source shots; the band is the {band}.")


def _band(ctx: Context, part: pd.DataFrame, low, high):
    """The 95% interval of each point when the run wrote intervals (same metric), else the given band."""
    if ctx.spans is None:
        return low, high
    spans = ctx.spans[(ctx.spans["metric"] == ctx.metric) & (ctx.spans["target"] == AVG)]
    keyed = spans.set_index(["method", "shots", "adapt_shots"])
    keys = list(zip(part["method"], part["shots"], part["adapt_shots"]))
    if not all(key in keyed.index for key in keys):
        return low, high
    return (keyed.loc[keys, "ci_low"].to_numpy(float) * ctx.scale(),
            keyed.loc[keys, "ci_high"].to_numpy(float) * ctx.scale())


def plot_zero_vs_few(ctx: Context, out_dir: Path) -> Plot:
    file, title = "zero_vs_few_shot.png", "zero-shot transfer vs few-shot target adaptation"
    data = ctx.select()
    data = data[data["target"] != data["source"]]
    if not (data["adapt_shots"] > 0).any():
        return _skip(out_dir, file, title, "no target-language adaptation in these results "
                     "(every adapt_shots is 0).")
    shots = int(data.loc[data["adapt_shots"] > 0, "shots"].max())
    data = data[data["shots"] == shots]
    methods, targets = list(pd.unique(data["label"])), target_order(data)
    adapts = sorted(pd.unique(data["adapt_shots"]))
    width = max(6.5, 2.0 + len(targets) * (0.28 * len(adapts) + 0.35))
    figure = Figure(figsize=(width, 0.9 + 2.4 * len(methods)), layout="constrained")
    axes = figure.subplots(len(methods), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for ax, method in zip(axes, methods):
        _grouped_bars(ax, data[data["label"] == method], targets, "adapt_shots", adapts, ctx.scale(), spans=ctx.spans,
                      names=lambda a: "zero-shot (adapt_shots=0)" if a == 0 else f"{a}-shot adaptation")
        ax.set_title(method, fontsize=10, loc="left")
        ax.set_ylabel(ctx.unit())
    axes[-1].set_xlabel("target language")
    _focus(axes, (data["mean"] * ctx.scale()).to_numpy(float), (data["std"] * ctx.scale()).to_numpy(float))
    _legend(figure, axes[0], "target data")
    figure.suptitle(f"{ctx.metric}: zero-shot vs few-shot target adaptation ({shots_phrase(shots)})")
    _save(figure, out_dir / file)
    return Plot(file, title, True, f"{ctx.metric.capitalize()} per target language before and after "
                f"adapting on K target-language examples per class ({shots_phrase(shots)}); "
                + ("error bars: 95% bootstrap intervals." if ctx.spans is not None else "error bars: ±1 std over seeds."))


def plot_transfer_gap(ctx: Context, out_dir: Path) -> Plot:
    file, title = "transfer_gap.png", "transfer gap to the source language"
    gaps = transfer_gap(ctx.table[AGG_COLUMNS])
    gaps = gaps[(gaps["metric"] == ctx.metric) & (gaps["adapt_shots"] == 0)]
    if gaps.empty:
        return _skip(out_dir, file, title, "no zero-shot result for both the source language and "
                     "another target language, so there is no gap to compute.")
    shots = int(gaps["shots"].max())
    gaps = gaps[gaps["shots"] == shots].assign(label=lambda f: series_labels(f))
    methods, targets = list(pd.unique(gaps["label"])), target_order(gaps)
    figure = Figure(figsize=(max(6.5, 2.0 + len(targets) * (0.25 * len(methods) + 0.35)), 4.2),
                    layout="constrained")
    ax = figure.subplots()
    _grouped_bars(ax, gaps, targets, "label", methods, ctx.scale(), value="gap")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("target language")
    ax.set_ylabel("gap (percentage points)" if ctx.scale() == 100 else f"gap ({ctx.metric})")
    _legend(figure, ax, "method")
    source = ", ".join(pd.unique(gaps["source"]))
    figure.suptitle(f"Transfer gap: {source} minus target {ctx.metric} "
                    f"(zero-shot, {shots_phrase(shots)})")
    _save(figure, out_dir / file)
    return Plot(file, title, True, f"Source-language ({source}) score minus each target's score "
                "(lower is better); the last group is the average over targets. No whiskers: the gap's "
                "interval is not computed; the accuracies' intervals are in the tables.")


def plot_consistency(ctx: Context, out_dir: Path) -> Plot:
    file, title = "consistency.png", "cross-lingual consistency beside accuracy"
    consistency = ctx.select(CONSISTENCY, adapt_shots=0)
    if consistency.empty:
        return _skip(out_dir, file, title, "no zero-shot consistency metric in these results.")
    shots = int(consistency["shots"].max())
    targets = target_order(consistency[consistency["shots"] == shots])
    metrics = list(dict.fromkeys([ctx.metric, CONSISTENCY]))
    methods = list(pd.unique(consistency["label"]))
    width = max(6.5, 2.0 + len(targets) * (0.25 * len(methods) + 0.35))
    figure = Figure(figsize=(width, 0.9 + 2.6 * len(metrics)), layout="constrained")
    axes = figure.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics):
        data = ctx.select(metric, adapt_shots=0, shots=shots)
        data = data[data["target"].isin(targets)]
        _grouped_bars(ax, data, targets, "label", methods, ctx.scale(metric), spans=ctx.spans)
        _focus([ax], (data["mean"] * ctx.scale(metric)).to_numpy(float),
               (data["std"] * ctx.scale(metric)).to_numpy(float))
        ax.set_ylabel(ctx.unit(metric))
        ax.set_title(metric, fontsize=10, loc="left")
    axes[-1].set_xlabel("target language")
    _legend(figure, axes[0], "method")
    figure.suptitle(f"Consistency beside {ctx.metric} (zero-shot, {shots_phrase(shots)})")
    _save(figure, out_dir / file)
    return Plot(file, title, True, f"Per-language {CONSISTENCY} (bottom) beside {ctx.metric} (top); error bars: "
                + ("95% bootstrap intervals." if ctx.spans is not None else "±1 std over seeds."))


FIGURES = (plot_heatmap, plot_vs_shots, plot_zero_vs_few, plot_transfer_gap, plot_consistency)


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


def _uncertainty_blocks(ctx: Context, out_dir: Path) -> list[tuple]:
    """Accuracy with 95% intervals and the best method's paired comparisons, when the run wrote them."""
    from xprompt.significance import best_method_lines, interval_table, read_uncertainty

    spans, comparisons = read_uncertainty(out_dir)
    if spans is None or spans.empty:
        return []
    blocks = [("h2", "Accuracy with 95% intervals"),
              ("p", "Percentile bootstrap over test items (per language) and seeds, 2,000 resamples; *avg* "
                    "averages the targets without the source. Differences are paired (same items, same "
                    "seeds); a method is called ahead only when the interval of the difference excludes 0.")]
    settings = spans[["shots", "adapt_shots"]].drop_duplicates().sort_values(["shots", "adapt_shots"])
    for shots, adapt in settings.itertuples(index=False):
        setting = "zero-shot transfer" if adapt == 0 else f"{adapt}-shot target adaptation"
        blocks += [("h3", f"{shots_phrase(shots)}, {setting}"),
                   ("table", interval_table(spans, int(shots), int(adapt), order=target_order(ctx.rows)))]
        lines = best_method_lines(spans, comparisons, int(shots), int(adapt))
        if lines:
            blocks.append(("p", lines[0] + " " + "; ".join(line.strip() for line in lines[1:])))
    figure = plot_average_intervals(spans, out_dir, _save)
    if figure is not None:
        blocks += [("img", figure, "average accuracy with 95% intervals"),
                   ("p", "Average target accuracy per method; whiskers: 95% bootstrap interval over test "
                         "items and seeds.")]
    return blocks


def _table_blocks(ctx: Context) -> list[tuple]:
    blocks = [("h2", "Tables"), ("p", "Mean ± sample std over seeds (the mean alone for a single "
               "seed); *avg* averages the target languages without the source, per seed, then "
               "over seeds.")]
    settings = ctx.rows[["shots", "adapt_shots"]].drop_duplicates()
    settings = settings.sort_values(["shots", "adapt_shots"])
    metrics = list(dict.fromkeys([ctx.metric, *pd.unique(ctx.rows["metric"])]))
    for shots, adapt in settings.itertuples(index=False):
        setting = "zero-shot transfer" if adapt == 0 else f"{adapt}-shot target adaptation"
        blocks.append(("h3", f"{shots_phrase(shots)}, {setting}"))
        for metric in metrics:
            if not ctx.select(metric, shots=shots, adapt_shots=adapt).empty:
                table = summary_table(ctx.table[AGG_COLUMNS + ["n_targets"]], metric, shots, adapt)
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
    blocks = _header(ctx, run_info, note) + _figure_blocks(plots) + _uncertainty_blocks(ctx, out_dir) + _table_blocks(ctx)
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
