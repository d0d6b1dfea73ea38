"""Intervals and paired comparisons for a finished run from the predictions its cache holds,
e.g. a run made before xprompt wrote them, or with another version of xprompt (cache keys
differ between versions; the lock file names the entries this run used).

    python -m benchmarks.uncertainty_from_run runs/methods-k16-marc --cache .xprompt-cache

Reads the run's xprompt.lock (every evaluate cell's name and key) and run.json (the task), loads
each cell's predictions.parquet from the cache, and writes items.parquet, intervals.csv and
comparisons.csv / .jsonl into the run folder, as `xprompt run` does."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from xprompt.pipeline.cache import Cache, read_lockfile
from xprompt.pipeline.entry_files import PREDICTIONS
from xprompt.data import load_card
from xprompt.results.significance import write_uncertainty

CELL = re.compile(r"evaluate (?P<method>.+) k=(?P<shots>\d+) seed=(?P<seed>\d+)(?: adapted k=(?P<adapt>\d+))? "
                  r"on (?P<target>\S+)")


def items_from_run(run_dir: Path, cache_dir: Path) -> pd.DataFrame:
    cache, frames = Cache(cache_dir), []
    for name, record in read_lockfile(run_dir / "xprompt.lock").items():
        found = CELL.fullmatch(name)
        if record.stage != "evaluate" or found is None:
            continue
        entry = cache.lookup("evaluate", record.key, verify="quick")
        if entry is None:
            raise SystemExit(f"{name} (key {record.key}) is not in {cache_dir}")
        table = pd.read_parquet(entry / PREDICTIONS, columns=["id", "label", "prediction"])
        frames.append(table.assign(method=found["method"], shots=int(found["shots"]),
                                   adapt_shots=int(found["adapt"] or 0), seed=int(found["seed"]),
                                   target=found["target"]))
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uncertainty_from_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--cache", type=Path, default=Path(".xprompt-cache"))
    parser.add_argument("--items", type=Path, help="an items table (benchmarks/out/methods/dump_items.py) instead "
                                                   "of the lock file and cache")
    args = parser.parse_args(argv)
    task = json.loads((args.run / "run.json").read_text())["config"]["task"]
    card = load_card(task["name"])
    source = task.get("source") or card.source_language
    items = pd.read_parquet(args.items) if args.items else items_from_run(args.run, args.cache)
    spans, comparisons = write_uncertainty(items, args.run, source, len(card.labels), card.parallel)
    print(f"{len(items)} predictions of {items['method'].nunique()} methods; wrote {len(spans)} intervals and "
          f"{len(comparisons)} comparisons into {args.run}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
