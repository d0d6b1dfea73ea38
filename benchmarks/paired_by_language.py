"""Paired differences over languages between methods of different runs whose per-item
predictions are gone, read from the tables `xprompt run` printed (results.txt):

    python -m benchmarks.paired_by_language benchmarks/out/sib200-all/probe-underfitted/results.txt:uniprompt \\
        benchmarks/out/sib200-all-languages/results.txt:probe

Each `FILE:METHOD` names a method's column in a run's printed accuracy tables. For every data
size both runs report, the differences of per-language accuracy (first minus each other) are
averaged over the target languages both have (the source language left out), with a 95%
bootstrap interval over languages (10,000 resamples, seed 0). Languages are the unit: the
variation between test items within a language is not in the interval, so it is narrower
than an item-level paired bootstrap would give when few languages are compared; with about 200
languages the language-to-language spread dominates."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

HEADER = re.compile(r"^accuracy \(%\) .*?, (\S+) (.+?), zero-shot:$")
CELL = re.compile(r"(-?\d+(?:\.\d+)?) \[[^\]]*\]")


def read_tables(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """{data size: {method: {language: accuracy}}} of the zero-shot tables in a printed run."""
    tables, lines = {}, path.read_text().splitlines()
    for index, line in enumerate(lines):
        match = HEADER.match(line.strip())
        if not match:
            continue
        source, size = match.groups()
        methods = lines[index + 1].split()
        table = tables.setdefault(size, {m: {} for m in methods})
        for row in lines[index + 3:]:
            cells = CELL.findall(row)
            if not row.strip() or len(cells) != len(methods):
                break
            language = row.split()[0]
            if language not in (source, "avg"):
                for method, value in zip(methods, cells):
                    table[method][language] = float(value)
    return tables


def paired(first: dict[str, float], second: dict[str, float],
           resamples: int = 10_000) -> tuple[float, float, float, int]:
    """(mean difference, low, high, languages) of first - second over their shared languages."""
    shared = sorted(set(first) & set(second))
    if not shared:
        raise ValueError("the two columns share no target language")
    differences = np.array([first[lang] - second[lang] for lang in shared])
    draws = np.random.default_rng(0).integers(0, len(shared), size=(resamples, len(shared)))
    means = differences[draws].mean(axis=1)
    return float(differences.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)), len(shared)


def _column(spec: str) -> tuple[Path, str]:
    path, _, method = spec.rpartition(":")
    if not path or not method:
        raise SystemExit(f"{spec!r}: give FILE:METHOD, e.g. runs/x/results.txt:uniprompt")
    return Path(path), method


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paired_by_language", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("columns", nargs="+", metavar="FILE:METHOD")
    args = parser.parse_args(argv)
    if len(args.columns) < 2:
        parser.error("give at least two FILE:METHOD columns")
    (first_path, first), others = _column(args.columns[0]), [_column(c) for c in args.columns[1:]]
    first_tables = read_tables(first_path)
    print("| data size | difference | points | 95% interval over languages | languages |\n|---|---|---|---|---|")
    for path, method in others:
        for size, columns in read_tables(path).items():
            if method not in columns or first not in first_tables.get(size, {}):
                continue
            mean, low, high, count = paired(first_tables[size][first], columns[method])
            bold = "**" if low > 0 or high < 0 else ""
            print(f"| {size} | {first} − {method} | {bold}{mean:+.1f}{bold} | [{low:+.1f}, {high:+.1f}] | {count} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
