"""The figure of the average target accuracy of every method with its 95% interval, one panel
per (source shots, adaptation shots) setting: what a reader checks before calling a method ahead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xprompt.results.statistics import AVG
from xprompt.shots import shots_text

FILE = "accuracy_intervals.png"
MAX_PANELS = 4


def plot_average_intervals(spans: pd.DataFrame, out_dir: Path, save) -> str | None:
    """Write FILE into out_dir (with `save(figure, path)`); None when there is no average to show."""
    averages = spans[(spans["metric"] == "accuracy") & (spans["target"] == AVG)]
    if averages.empty:
        return None
    settings = averages[["shots", "adapt_shots"]].drop_duplicates().sort_values(["adapt_shots", "shots"])
    settings = list(settings.itertuples(index=False))[:MAX_PANELS]
    methods = list(pd.unique(averages["method"]))
    figure = Figure(figsize=(max(6.0, 2.0 + 3.4 * len(settings)), 1.2 + 0.45 * len(methods)), layout="constrained")
    axes = figure.subplots(1, len(settings), sharey=True, squeeze=False)[0]
    for ax, (shots, adapt) in zip(axes, settings):
        part = averages[(averages["shots"] == shots) & (averages["adapt_shots"] == adapt)]
        part = part.set_index("method").reindex(methods)
        estimate = part["estimate"].to_numpy(float) * 100
        below = estimate - part["ci_low"].to_numpy(float) * 100
        above = part["ci_high"].to_numpy(float) * 100 - estimate
        rows = np.arange(len(methods))
        ax.errorbar(estimate, rows, xerr=[below, above], fmt="o", color="C0", capsize=3, linewidth=1.2)
        for row, value in zip(rows, estimate):
            if np.isfinite(value):
                ax.annotate(f"{value:.1f}", (value, row), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=8)
        ax.set_yticks(rows, labels=methods)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel("accuracy (%), avg over targets")
        ax.set_title(f"{shots_text(shots)} shots" + ("" if adapt == 0 else f", {adapt}-shot adaptation"), fontsize=10)
    figure.suptitle("Average target accuracy, 95% bootstrap intervals")
    save(figure, out_dir / FILE)
    return FILE
