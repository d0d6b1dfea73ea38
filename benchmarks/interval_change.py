"""How a run folder's intervals changed when they were computed again (a new statistics version)
from the same predictions: the width of the averages over targets before and after, and which
paired differences on the average changed verdict (interval excluding 0 or not).

    git show <commit>:benchmarks/out/<run>/comparisons.csv > /tmp/old/comparisons.csv   # and intervals.csv
    python -m benchmarks.interval_change /tmp/old benchmarks/out/<run>

Both folders hold intervals.csv and comparisons.csv of the same run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from xprompt.results.statistics import AVG

KEY = ["shots", "adapt_shots", "method", "versus", "target", "metric"]


def change(old: Path, new: Path) -> list[str]:
    pairs = pd.read_csv(old / "comparisons.csv").merge(pd.read_csv(new / "comparisons.csv"), on=KEY,
                                                       suffixes=("_old", "_new"))
    pairs = pairs[pairs["target"] == AVG]
    spans = pd.read_csv(old / "intervals.csv").merge(pd.read_csv(new / "intervals.csv"),
                                                     on=["method", "shots", "adapt_shots", "target", "metric"],
                                                     suffixes=("_old", "_new"))
    spans = spans[(spans["target"] == AVG) & (spans["metric"] == "accuracy")]
    half = {when: 50 * (spans[f"ci_high_{when}"] - spans[f"ci_low_{when}"]).median() for when in ("old", "new")}
    ratio = ((pairs["ci_high_new"] - pairs["ci_low_new"]) / (pairs["ci_high_old"] - pairs["ci_low_old"])).median()
    moved = pairs[pairs["significant_old"] != pairs["significant_new"]]
    lines = [f"averages over targets: {len(spans)}, median half-width {half['old']:.1f} -> {half['new']:.1f} points",
             f"paired differences on the average: {len(pairs)}, median width x{ratio:.2f}; verdict changed: "
             f"{len(moved)} ({int((moved['significant_old']).sum())} no longer exclude 0, "
             f"{int((moved['significant_new']).sum())} now exclude 0)"]
    for row in moved.itertuples():
        lines.append(f"  {row.shots} {row.method} − {row.versus}: {100 * row.difference_old:+.1f} "
                     f"[{100 * row.ci_low_old:+.1f}, {100 * row.ci_high_old:+.1f}] -> "
                     f"[{100 * row.ci_low_new:+.1f}, {100 * row.ci_high_new:+.1f}]")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.interval_change", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    for folder in (args.old, args.new):
        for name in ("intervals.csv", "comparisons.csv"):
            if not (folder / name).is_file():
                print(f"error: {folder / name} does not exist; both folders need intervals.csv and comparisons.csv",
                      file=sys.stderr)
                return 2
    print("\n".join(change(args.old, args.new)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
