"""The figures of a report, each from the run's long results table: per-language heatmap,
accuracy vs shots, zero- vs few-shot, transfer gap, consistency. Drawn on
`matplotlib.figure.Figure` objects (Agg canvas, no pyplot), so the caller's matplotlib state is
never touched; a figure that does not apply is not drawn and says why in one line."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xprompt.results.aggregate import (AGG_COLUMNS, AVG, metric_scale, series_labels, target_order,
                                       transfer_gap)
from xprompt.files import atomic_write_bytes
from xprompt.results.figure_parts import (focus, grouped_bars, heatmap_panel, language_names, legend,
                                          method_styles, tick_style)
from xprompt.shots import shots_phrase, shots_text

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
def save_figure(figure: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    atomic_write_bytes(path, buffer.getvalue())


def _skip(out_dir: Path, file: str, title: str, reason: str) -> Plot:
    (out_dir / file).unlink(missing_ok=True)  # a figure from an earlier report would mislead
    return Plot(file, title, False, reason)


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
        image = heatmap_panel(ax, grid, low, high)
        ax.set_xticks(range(len(methods)), labels=methods, **tick_style(methods))
        ax.set_yticks(range(len(targets)), labels=language_names(targets, zero))
        ax.set_title(shots_phrase(shots), fontsize=10)
        ax.set_xlabel("method")
        if AVG in targets:
            ax.axhline(len(targets) - 1.5, color="white", linewidth=3)
    axes[0].set_ylabel("target language")
    figure.colorbar(image, ax=list(axes), label=ctx.unit(), shrink=0.9)
    figure.suptitle(f"Zero-shot cross-lingual {ctx.metric} (mean over seeds)")
    save_figure(figure, out_dir / file)
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
    labels = list(pd.unique(averaged["label"]))
    styles = method_styles(labels)
    for ax, adapt in zip(axes, adapts):
        for label in labels:
            colour, marker = styles[label]
            part = averaged[(averaged["adapt_shots"] == adapt) & (averaged["label"] == label)]
            part = part.sort_values("shots")
            x = [shots_values.index(s) for s in part["shots"]]
            mean, spread = part["mean"] * ctx.scale(), part["std"].fillna(0) * ctx.scale()
            low, high = _band(ctx, part, mean - spread, mean + spread)
            ax.plot(x, mean, marker=marker, color=colour, label=label)
            ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.set_xticks(range(len(shots_values)), labels=[shots_text(s) for s in shots_values])
        ax.set_xlabel("source-language training shots per class")
        ax.set_title("zero-shot transfer" if adapt == 0 else f"after {adapt}-shot target adaptation",
                     fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{ctx.unit()}, avg over {int(averaged['n_targets'].max())} targets")
    legend(figure, axes[0], "method")
    band = "95% bootstrap interval" if ctx.spans is not None else "±1 std over seeds"
    figure.suptitle(f"{ctx.metric} vs shots (line: mean over seeds, band: {band})")
    save_figure(figure, out_dir / file)
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
        grouped_bars(ax, data[data["label"] == method], targets, "adapt_shots", adapts, ctx.scale(), spans=ctx.spans,
                      names=lambda a: "zero-shot (adapt_shots=0)" if a == 0 else f"{a}-shot adaptation")
        ax.set_title(method, fontsize=10, loc="left")
        ax.set_ylabel(ctx.unit())
    axes[-1].set_xlabel("target language")
    focus(axes, (data["mean"] * ctx.scale()).to_numpy(float), (data["std"] * ctx.scale()).to_numpy(float))
    legend(figure, axes[0], "target data")
    figure.suptitle(f"{ctx.metric}: zero-shot vs few-shot target adaptation ({shots_phrase(shots)})")
    save_figure(figure, out_dir / file)
    return Plot(file, title, True, f"{ctx.metric.capitalize()} per target language before and after "
                f"adapting on K target-language examples per class ({shots_phrase(shots)}); "
                + ("error bars: 95% bootstrap intervals." if ctx.spans is not None
                   else "error bars: ±1 std over seeds."))


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
    grouped_bars(ax, gaps, targets, "label", methods, ctx.scale(), value="gap")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("target language")
    ax.set_ylabel("gap (percentage points)" if ctx.scale() == 100 else f"gap ({ctx.metric})")
    legend(figure, ax, "method")
    source = ", ".join(pd.unique(gaps["source"]))
    figure.suptitle(f"Transfer gap: {source} minus target {ctx.metric} "
                    f"(zero-shot, {shots_phrase(shots)})")
    save_figure(figure, out_dir / file)
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
        grouped_bars(ax, data, targets, "label", methods, ctx.scale(metric), spans=ctx.spans)
        focus([ax], (data["mean"] * ctx.scale(metric)).to_numpy(float),
               (data["std"] * ctx.scale(metric)).to_numpy(float))
        ax.set_ylabel(ctx.unit(metric))
        ax.set_title(metric, fontsize=10, loc="left")
    axes[-1].set_xlabel("target language")
    legend(figure, axes[0], "method")
    figure.suptitle(f"Consistency beside {ctx.metric} (zero-shot, {shots_phrase(shots)})")
    save_figure(figure, out_dir / file)
    return Plot(file, title, True, f"Per-language {CONSISTENCY} (bottom) beside {ctx.metric} (top); error bars: "
                + ("95% bootstrap intervals." if ctx.spans is not None else "±1 std over seeds."))


FIGURES = (plot_heatmap, plot_vs_shots, plot_zero_vs_few, plot_transfer_gap, plot_consistency)
