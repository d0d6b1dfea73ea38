"""Quality tables with 95% intervals and paired comparisons, from the runs' own files.

    python -m benchmarks.interval_summary runs/methods-k16-sib200 runs/methods-k16-marc

Reads each run folder's intervals.csv, comparisons.csv and run.json (written by `xprompt run`)
and prints, per run and source shots, Markdown tables: accuracy per target language and method
as 'estimate [95% interval]', the average over targets, and the paired difference of the best
method (by average) against every other, with its interval and p-value; a difference is marked
as a win only when its interval excludes 0. Nothing is recomputed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from benchmarks.common import markdown_table
from xprompt.errors import ConfigError
from xprompt.results.significance import interval_table
from xprompt.results.statistics import AVG
from xprompt.shots import shots_text


def load(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    from xprompt.results.significance import read_uncertainty

    paths = [run_dir / name for name in ("intervals.csv", "comparisons.csv", "run.json")]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"{missing[0]}: not found; pass run folders written by `xprompt run` (runs/<name>)")
    spans, comparisons = read_uncertainty(run_dir)  # shots as numbers (`full` above every K)
    return spans, comparisons, json.loads(paths[2].read_text())


def load_collapse(run_dir: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """A run folder's collapsed.csv and comparisons_without_collapsed.csv (None where it has none)."""
    from xprompt.results.collapse import COLLAPSED_FILE, WITHOUT_FILE
    from xprompt.results.table import shots_from_words

    return tuple(shots_from_words(pd.read_csv(run_dir / name)) if (run_dir / name).is_file() else None
                 for name in (COLLAPSED_FILE, WITHOUT_FILE))


NO_PAIR = "no seed left to pair"  # every seed one side shares with the other collapsed


def collapsed_here(collapsed: pd.DataFrame | None, shots, methods: tuple[str, ...]) -> pd.DataFrame:
    """The collapsed seeds (rows of collapsed.csv) of `methods` (plain names; a seed ensemble is one
    model) at this size, zero-shot; none where the run wrote no such file."""
    if collapsed is None or collapsed.empty:
        return pd.DataFrame(columns=["method", "shots", "adapt_shots", "seed", "majority"])
    return collapsed[(collapsed["shots"] == shots) & (collapsed["adapt_shots"] == 0)
                     & collapsed["method"].isin(methods)]


def collapsed_on_a_side(collapsed: pd.DataFrame | None, shots, methods: tuple[str, ...]) -> bool:
    """Whether one of `methods` has a collapsed seed at this size. A comparison with one on a side
    that comparisons_without_collapsed.csv lacks had no seed left to pair once it was left out
    (that file holds every pair with such a seed on a side that still has seeds to pair)."""
    return not collapsed_here(collapsed, shots, methods).empty


def difference(comparisons: pd.DataFrame, shots: int, method: str, other: str) -> dict | None:
    """method − other on the average over targets: points, interval and p (None if not compared)."""
    rows = comparisons[(comparisons["shots"] == shots) & (comparisons["adapt_shots"] == 0)
                       & (comparisons["target"] == AVG)]
    forward = rows[(rows["method"] == method) & (rows["versus"] == other)]
    backward = rows[(rows["method"] == other) & (rows["versus"] == method)]
    if forward.empty and backward.empty:
        return None
    row, sign = (forward.iloc[0], 1) if not forward.empty else (backward.iloc[0], -1)
    low, high = sorted((sign * row["ci_low"] * 100, sign * row["ci_high"] * 100))
    return {"points": sign * row["difference"] * 100, "low": low, "high": high, "p": row["p_value"]}


def difference_text(found: dict, mark: bool = True) -> str:
    """A difference from `difference` as '+1.2 [-0.3, +2.4]' (points); with `mark`, bold when its
    interval excludes 0."""
    text = f"{found['points']:+.1f} [{found['low']:+.1f}, {found['high']:+.1f}]"
    return f"**{text}**" if mark and (found["low"] > 0 or found["high"] < 0) else text


def versus_cell(comparisons: pd.DataFrame, without: pd.DataFrame | None, collapsed: pd.DataFrame | None,
                shots: int, method: str, baseline: str) -> str:
    """`method` − `baseline` as versus_table writes it: the difference, then the one without the
    collapsed seeds where a side has such a seed (bold only when both exclude 0), '–' for itself."""
    found = None if method == baseline else difference(comparisons, shots, method, baseline)
    if found is None:
        return "–"
    again = None if without is None else difference(without, shots, method, baseline)
    if again is None and without is not None and collapsed_on_a_side(collapsed, shots, (method, baseline)):
        return f"{difference_text(found, mark=False)} (without the collapsed seeds: {NO_PAIR})"
    if again is None:
        return difference_text(found)
    apart = all(value["low"] > 0 or value["high"] < 0 for value in (found, again))
    text = difference_text(found, mark=False)
    return f"{f'**{text}**' if apart else text} (without the collapsed seeds: {difference_text(again)})"


def versus_table(spans: pd.DataFrame, comparisons: pd.DataFrame, shots: int, baselines: list[str],
                 without: pd.DataFrame | None = None, collapsed: pd.DataFrame | None = None) -> str:
    """Every method's average over targets with its paired difference to each baseline; a
    difference is bold only when its interval excludes 0. The setting column keeps zero-shot and
    zero-shot + unlabelled target text apart. `without`: the run's comparisons again without its
    collapsed seeds; where a difference has such a seed on a side, that one follows it, and the
    difference is bold only when both exclude 0; where leaving it out left no seed to pair
    (`collapsed`: the run's collapsed seeds), it says so and is not bold."""
    from xprompt.results.settings import uses_target_text
    from xprompt.results.statistics import TRANSFER_GAP, format_interval

    averages = spans[(spans["shots"] == shots) & (spans["adapt_shots"] == 0) & (spans["metric"] == "accuracy")
                     & (spans["target"] == AVG)]
    averages = averages.assign(text=averages["method"].map(uses_target_text)).sort_values(
        ["text", "estimate"], ascending=[True, False])
    gaps = spans[(spans["shots"] == shots) & (spans["adapt_shots"] == 0) & (spans["metric"] == TRANSFER_GAP)
                 & (spans["target"] == AVG)].set_index("method")
    rows = []
    for _, row in averages.iterrows():
        gap = [] if gaps.empty else [format_interval(*gaps.loc[row["method"], ["estimate", "ci_low", "ci_high"]])
                                     if row["method"] in gaps.index else "–"]
        cells = [row["method"], "zero-shot + unlabelled target text" if row["text"] else "zero-shot",
                 format_interval(row["estimate"], row["ci_low"], row["ci_high"]), *gap, str(int(row["n_seeds"]))]
        cells += [versus_cell(comparisons, without, collapsed, shots, row["method"], baseline)
                  for baseline in baselines]
        rows.append(cells)
    gap_column = [] if gaps.empty else ["transfer gap: source − avg [95% interval]"]
    return markdown_table(["method", "setting", "avg over targets [95% interval]", *gap_column, "seeds",
                           *[f"− {b} (points [95% interval])" for b in baselines]], rows)


def language_table(spans: pd.DataFrame, shots: int, order: list[str] | None = None) -> str:
    wide = interval_table(spans, shots, 0, order=order)
    return markdown_table(["target", *wide.columns], [[t, *row] for t, row in zip(wide.index, wide.to_numpy())])


def comparison_table(spans: pd.DataFrame, comparisons: pd.DataFrame, shots: int) -> str:
    averages = spans[(spans["shots"] == shots) & (spans["adapt_shots"] == 0) & (spans["metric"] == "accuracy")
                     & (spans["target"] == AVG)].sort_values("estimate", ascending=False)
    best = averages.iloc[0]["method"]
    rows = []
    for other in averages["method"].iloc[1:]:
        row = comparisons[(comparisons["shots"] == shots) & (comparisons["adapt_shots"] == 0)
                          & (comparisons["target"] == AVG)
                          & (((comparisons["method"] == best) & (comparisons["versus"] == other))
                             | ((comparisons["method"] == other) & (comparisons["versus"] == best)))].iloc[0]
        sign = 1 if row["method"] == best else -1
        low, high = sorted((sign * row["ci_low"] * 100, sign * row["ci_high"] * 100))
        verdict = f"{best} ahead" if low > 0 else (f"{other} ahead" if high < 0 else "no significant difference")
        rows.append([f"{best} − {other}", f"{sign * row['difference'] * 100:+.1f}", f"[{low:+.1f}, {high:+.1f}]",
                     f"{row['p_value']:.3g}", verdict])
    return markdown_table(["paired difference (avg over targets)", "points", "95% interval", "p", "verdict"], rows)


def _order(task: dict) -> list[str] | None:
    """The source language first, then the targets as the pipeline lists them."""
    try:
        from xprompt.data import load_card
        card = load_card(task["name"])
    except Exception:  # a card that moved: keep the table's own order
        return None
    targets = task.get("targets") if isinstance(task.get("targets"), list) else []
    return [task.get("source") or card.source_language, *targets]


def before_after(run_dir: Path, spans: pd.DataFrame, shots: int) -> str:
    """The average over targets as the old tables gave it (mean ± seed std, aggregate.csv) beside
    its 95% interval over items and seeds."""
    from xprompt.results.aggregate import format_mean_std
    from xprompt.results.statistics import format_interval

    path = run_dir / "aggregate.csv"
    if not path.is_file():
        return ""
    aggregate = pd.read_csv(path)
    old = aggregate[(aggregate["metric"] == "accuracy") & (aggregate["adapt_shots"] == 0)
                    & (aggregate["shots"] == shots) & (aggregate["target"] == AVG)].set_index("method")
    new = spans[(spans["metric"] == "accuracy") & (spans["adapt_shots"] == 0) & (spans["shots"] == shots)
                & (spans["target"] == AVG)].set_index("method").sort_values("estimate", ascending=False)
    rows = [[m, format_mean_std(old.loc[m, "mean"], old.loc[m, "std"], 100.0) if m in old.index else "–",
             format_interval(r["estimate"], r["ci_low"], r["ci_high"])] for m, r in new.iterrows()]
    return markdown_table(["method", "avg over targets: mean ± seed std (before)",
                           "estimate [95% interval over items and seeds] (now)"], rows)


def summary(run_dir: Path, versus: list[str] | None = None) -> str:
    spans, comparisons, info = load(run_dir)
    config = info.get("config", {})
    task, source = config.get("task", {}).get("name", "?"), run_dir.name
    order = _order(config.get("task", {}))
    collapsed, without = load_collapse(run_dir)
    out = []
    for shots in sorted(spans["shots"].unique()):
        chosen = spans[(spans["shots"] == shots) & (spans["target"] != AVG) & (spans["metric"] == "accuracy")]
        sizes = chosen.groupby("target")["n"].max()
        seeds = int(chosen["n_seeds"].max())
        out += [f"#### {source}: {task}, K = {shots_text(shots)}, {seeds} seeds, "
                f"{int(sizes.min())}-{int(sizes.max())} test rows per language",
                "", language_table(spans, int(shots), order), "", before_after(run_dir, spans, int(shots)), "",
                versus_table(spans, comparisons, int(shots), versus, without, collapsed) if versus
                else comparison_table(spans, comparisons, int(shots)), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.interval_summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (runs/<name>)")
    parser.add_argument("--versus", help="comma-separated baselines (e.g. finetune,probe): every method's paired "
                                         "difference to each, instead of the best method's to every other")
    args = parser.parse_args(argv)
    versus = [b.strip() for b in args.versus.split(",")] if args.versus else None
    try:
        print("\n".join(summary(run, versus) for run in args.runs))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
