"""Intervals and paired comparisons of a run, as files, tables and sentences: what `xprompt run`
prints and writes beside the results, and what the report shows. The numbers come from
statistics.py; the per-item predictions from the run's evaluate cells (items.parquet)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from xprompt.results.statistics import AVG, ITEM_COLUMNS, TRANSFER_GAP, format_interval, intervals, paired

ITEMS, INTERVALS, COMPARISONS = "items.parquet", "intervals.csv", "comparisons.csv"
GAP_ROW = "transfer gap"  # the table row under avg: source accuracy minus avg, in points


def write_uncertainty(items: pd.DataFrame, run_dir: Path, source: str, classes: int,
                      parallel: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """items.parquet, intervals.csv, comparisons.csv and comparisons.jsonl into run_dir, with the
    seeds that collapsed and the comparisons again without them (results/collapse.py)."""
    from xprompt.files import atomic_write_text
    from xprompt.results.collapse import COLLAPSED_FILE, WITHOUT_FILE, collapsed_seeds, paired_without_collapsed
    from xprompt.results.table import shots_as_words

    spans = intervals(items, source, classes, parallel=parallel)
    comparisons = paired(items, source, parallel=parallel)
    items.to_parquet(run_dir / ITEMS, index=False)
    atomic_write_text(run_dir / INTERVALS, shots_as_words(spans).to_csv(index=False))
    atomic_write_text(run_dir / COMPARISONS, shots_as_words(comparisons).to_csv(index=False))
    lines = [json.dumps(row, sort_keys=True) for row in shots_as_words(comparisons).to_dict(orient="records")]
    atomic_write_text(run_dir / "comparisons.jsonl", "".join(line + "\n" for line in lines))
    gone = collapsed_seeds(items, source)
    atomic_write_text(run_dir / COLLAPSED_FILE, shots_as_words(gone).to_csv(index=False))
    atomic_write_text(run_dir / WITHOUT_FILE, shots_as_words(paired_without_collapsed(items, source, parallel, gone))
                      .to_csv(index=False))
    return spans, comparisons


def read_items(run_dir: Path) -> pd.DataFrame:
    """The run's per-item predictions (empty when the run wrote none)."""
    return pd.read_parquet(run_dir / ITEMS) if (run_dir / ITEMS).is_file() else pd.DataFrame(columns=ITEM_COLUMNS)


def read_uncertainty(run_dir: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    from xprompt.results.table import shots_from_words

    spans = pd.read_csv(run_dir / INTERVALS) if (run_dir / INTERVALS).is_file() else None
    comparisons = pd.read_csv(run_dir / COMPARISONS) if (run_dir / COMPARISONS).is_file() else None
    return tuple(None if t is None else shots_from_words(t) for t in (spans, comparisons))


def interval_table(spans: pd.DataFrame, shots: int, adapt_shots: int, metric: str = "accuracy",
                   order: list[str] | None = None) -> pd.DataFrame:
    """target x method of 'estimate [low, high]' (percent), avg last; under the accuracy's avg, the
    transfer gap (source accuracy minus avg) where the run tested the source language."""
    here = spans[(spans["shots"] == shots) & (spans["adapt_shots"] == adapt_shots)]
    chosen = here[here["metric"] == metric]
    if metric == "accuracy":
        gap = here[(here["metric"] == TRANSFER_GAP) & (here["target"] == AVG)].assign(target=GAP_ROW)
        chosen = pd.concat([chosen, gap], ignore_index=True)
    chosen = chosen.assign(cell=[format_interval(e, lo, hi) for e, lo, hi in
                                 zip(chosen["estimate"], chosen["ci_low"], chosen["ci_high"])])
    wide = chosen.pivot_table(index="target", columns="method", values="cell", aggfunc="first")
    targets = order or list(pd.unique(chosen["target"]))
    last = [t for t in (AVG, GAP_ROW) if t in wide.index]
    targets = [t for t in targets if t not in last and t in wide.index] + last
    methods = list(pd.unique(chosen[chosen["metric"] == metric]["method"]))
    wide = wide.reindex(index=targets, columns=methods).fillna("–")
    wide.index.name, wide.columns.name = "target", None
    return wide


def best_method_lines(spans: pd.DataFrame, comparisons: pd.DataFrame, shots: int, adapt_shots: int) -> list[str]:
    """The method with the best average accuracy over targets, and its paired difference to each
    other method: called ahead only where the 95% interval of the difference excludes 0."""
    averages = spans[(spans["shots"] == shots) & (spans["adapt_shots"] == adapt_shots)
                     & (spans["metric"] == "accuracy") & (spans["target"] == AVG)]
    if averages.empty or comparisons is None or comparisons.empty:
        return []
    best = averages.sort_values("estimate", ascending=False).iloc[0]["method"]
    rows = comparisons[(comparisons["shots"] == shots) & (comparisons["adapt_shots"] == adapt_shots)
                       & (comparisons["target"] == AVG)
                       & ((comparisons["method"] == best) | (comparisons["versus"] == best))]
    lines = [f"highest average target accuracy: {best}; paired differences on the same items and seeds:"]
    for row in rows.itertuples(index=False):
        sign = 1 if row.method == best else -1
        other = row.versus if row.method == best else row.method
        low, high = sorted((sign * row.ci_low, sign * row.ci_high))
        verdict = "ahead" if low > 0 else ("behind" if high < 0 else "no significant difference (interval includes 0)")
        lines.append(f"  {best} - {other}: {sign * row.difference * 100:+.1f} points "
                     f"[{low * 100:+.1f}, {high * 100:+.1f}], p = {row.p_value:.3g}: {verdict}")
    return lines
