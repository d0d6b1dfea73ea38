"""Each technique against the method alone, at every source data size: the ablation's summary table,
read from the runs' own comparisons (paired over items and seeds; nothing is recomputed).

    python -m benchmarks.ablation_table benchmarks/out/quality-sib200/quality-sib200-16 \\
        benchmarks/out/quality-sib200/quality-sib200-full [--reference uniprompt]

Rows are the reference's variants (every method named `<reference>+...`) in the order of the first
run that has them, columns the source data sizes of all runs, a cell the variant minus the
reference on the average over targets, points [95% interval]; **bold**: the interval excludes 0.
A variant that uses unlabelled target text is marked, since it is a different setting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from benchmarks.common import markdown_table
from benchmarks.interval_summary import difference, difference_text, load
from xprompt.errors import XPromptError
from xprompt.results.settings import uses_target_text
from xprompt.shots import shots_text


def technique_rows(comparisons: list[pd.DataFrame], reference: str) -> tuple[list[str], list[list[str]]]:
    """comparisons: the runs' comparisons.csv frames. Returns the header and the rows."""
    sizes = sorted({shots for frame in comparisons for shots in frame["shots"].unique()})
    variants: list[str] = []
    for frame in comparisons:
        for method in frame[["method", "versus"]].to_numpy().ravel():  # row by row, as compared
            if method.startswith(reference + "+") and method not in variants:
                variants.append(method)
    rows = []
    for variant in variants:
        cells = []
        for shots in sizes:
            found = next((d for frame in comparisons if (d := difference(frame, shots, variant, reference))), None)
            if found is None:
                cells.append("not run")
                continue
            cells.append(difference_text(found))
        setting = "zero-shot + unlabelled target text" if uses_target_text(variant) else "zero-shot"
        rows.append([variant.removeprefix(reference + "+"), setting, *cells])
    header = ["technique", "setting", *[f"{shots_text(s)} − {reference}" for s in sizes]]
    return header, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation_table", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (intervals.csv, comparisons.csv, run.json)")
    parser.add_argument("--reference", default="uniprompt", help="the method alone (default: uniprompt)")
    args = parser.parse_args(argv)
    try:
        comparisons = [load(run)[1] for run in args.runs]
    except XPromptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    header, rows = technique_rows(comparisons, args.reference)
    if not rows:
        print(f"error: no method named {args.reference}+... in {', '.join(map(str, args.runs))}", file=sys.stderr)
        return 1
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
