"""One table across quality runs: average target-language accuracy per task, K and method.

    python -m benchmarks.quality_summary runs/quality-sib200-cpu runs/quality-marc-cpu ...

Reads each run's `aggregate.csv` (written by `xprompt run`) and prints a Markdown table:
one row per (task, K), one column per method, cells 'mean ± std' over seeds of the
average over target languages (the source language excluded), plus the source-language
accuracy of the best method beside it. Nothing is recomputed; the numbers are the run's own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from benchmarks.common import markdown_table
from xprompt.results.aggregate import AVG, MISSING_CELL, format_mean_std
from xprompt.errors import ConfigError


def load_aggregate(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "aggregate.csv"
    if not path.is_file():
        raise ConfigError(f"{path}: not found; pass run folders written by `xprompt run` "
                          "(runs/<pipeline name>), which hold aggregate.csv.")
    return pd.read_csv(path)


def summary_rows(frame: pd.DataFrame, metric: str = "accuracy") -> list[dict]:
    """One dict per (task, shots): method -> 'mean ± std' of the target average, in percent."""
    chosen = frame[(frame["metric"] == metric) & (frame["adapt_shots"] == 0)]
    rows = []
    for (task, shots), group in chosen.groupby(["task", "shots"], sort=False):
        averages = group[group["target"] == AVG]
        sources = group[group["target"] == group["source"]]
        row = {"task": task, "K": int(shots), "targets": int(averages["n_targets"].max())}
        for _, r in averages.iterrows():
            row[r["method"]] = format_mean_std(r["mean"], r["std"], 100.0)
        best = averages.loc[averages["mean"].idxmax()]
        row["best on targets"] = best["method"]
        source = sources[sources["method"] == best["method"]]
        row["its source accuracy"] = (format_mean_std(source["mean"].iloc[0], source["std"].iloc[0], 100.0)
                                      if len(source) else MISSING_CELL)
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    methods = list(dict.fromkeys(k for r in rows for k in r
                                 if k not in {"task", "K", "targets", "best on targets", "its source accuracy"}))
    columns = ["task", "K", "targets", *methods, "best on targets", "its source accuracy"]
    return markdown_table(columns, [[r.get(c, MISSING_CELL) for c in columns] for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality_summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (runs/<name>)")
    parser.add_argument("--metric", default="accuracy")
    args = parser.parse_args(argv)
    try:
        rows = [row for run in args.runs for row in summary_rows(load_aggregate(run), args.metric)]
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
