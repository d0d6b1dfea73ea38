"""The pieces the report's figures are drawn with: grouped bars with interval whiskers, legends,
axis focus, heatmap panels, language tick labels, and a look (colour, marker) per method."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from xprompt.results.aggregate import AVG


def tick_style(labels: list[str]) -> dict:
    crowded = len(labels) > 12 or max(map(len, labels), default=0) > 6
    return {"rotation": 40, "ha": "right", "rotation_mode": "anchor"} if crowded else {}


def language_names(targets: list[str], frame: pd.DataFrame) -> list[str]:
    sources = set(frame["source"])
    return [f"{t} (source)" if t in sources else "avg (targets)" if t == AVG else t for t in targets]


def grouped_bars(ax, frame: pd.DataFrame, targets: list[str], series: str, keys: list,
                  scale: float, value: str = "mean", names=str, spans: pd.DataFrame | None = None) -> None:
    """Bars per target and series; whiskers: the 95% intervals in `spans` (intervals.csv) where it
    has every bar's, else ±1 std over seeds."""
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        part = frame[frame[series] == key].set_index("target").reindex(targets)
        positions = np.arange(len(targets)) + (i - (len(keys) - 1) / 2) * width
        spread = part["std"].fillna(0).to_numpy(float) * scale if "std" in part else None
        whiskers = interval_whiskers(part, spans, scale, value)
        spread = whiskers if whiskers is not None else spread
        ax.bar(positions, part[value].to_numpy(float) * scale, width * 0.95, yerr=spread,
               color=f"C{i}", label=names(key), capsize=2, error_kw={"linewidth": 0.8})
    ax.set_xticks(np.arange(len(targets)), labels=language_names(targets, frame),
                  **tick_style(targets))
    if AVG in targets:
        ax.axvline(len(targets) - 1.5, color="grey", linestyle=":", linewidth=1)
    ax.grid(axis="y", alpha=0.3)


def interval_whiskers(part: pd.DataFrame, spans: pd.DataFrame | None, scale: float, value: str):
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


def legend(figure: Figure, ax, title: str) -> None:
    """Below the axes, where it can neither hide data nor collide with the title."""
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), title=title,
                  frameon=False)


def focus(axes, values: np.ndarray, spread: np.ndarray | None = None) -> None:
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


def heatmap_panel(ax, grid: pd.DataFrame, low: float, high: float):
    values = grid.to_numpy(float)
    image = ax.imshow(values, cmap="viridis", vmin=low, vmax=high, aspect="auto")
    if values.size <= 600:
        for (row, col), value in np.ndenumerate(values):
            red, green, blue, _ = image.cmap(image.norm(value)) if np.isfinite(value) else (1, 1, 1, 1)
            colour = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
            ax.text(col, row, "–" if np.isnan(value) else f"{value:.1f}", ha="center",
                    va="center", color=colour, fontsize=8)
    return image


# One colour per method family (the name before the first "+"; tab10's ten), lighter shades of it
# and other markers for the family's variants.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def method_styles(methods: list[str]) -> dict[str, tuple]:
    """method -> (RGB colour, marker): a method family shares a colour, at full strength for its first
    variant in `methods` and mixed toward white for the next ones, and each variant of a family has its
    own marker, so no two lines of a figure look alike (up to ten families)."""
    families = list(dict.fromkeys(method.split("+")[0] for method in methods))
    styles = {}
    for number, family in enumerate(families):
        base = colormaps["tab10"](number % 10)[:3]
        members = [method for method in methods if method.split("+")[0] == family]
        for index, method in enumerate(members):
            white = 0.6 * index / max(len(members) - 1, 1)
            styles[method] = (tuple(c + (1 - c) * white for c in base), MARKERS[index % len(MARKERS)])
    return styles


# ----------------------------------------------------------------------------- figures
