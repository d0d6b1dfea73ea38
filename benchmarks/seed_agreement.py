"""How often two seeds of the same method disagree on a target-language test item (the diversity a
seed ensemble can draw on), and which seeds collapsed: predict one class for nearly every target
item (a training that never left the majority class). Read from the cached predictions of a
pipeline; nothing is computed.

    HF_HUB_OFFLINE=1 python -m benchmarks.seed_agreement pipelines/quality-grid-sib200.yaml --set cache_dir=...

Prints, per source data size and method, the share of (target, item) pairs on which two seeds
predict different classes, averaged over every pair of seeds, and the seeds that predict one class
for at least 99% of the target items (the source language is left out)."""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import pandas as pd

from benchmarks.common import markdown_table
from xprompt.errors import XPromptError
from xprompt.results.collapse import COLLAPSED, collapsed_seeds
from xprompt.results.settings import SINGLE_MODEL_SEED


def pairwise_disagreement(items: pd.DataFrame) -> pd.DataFrame:
    """items: method, shots, seed, target, id, prediction (one seed per row, no ensembles).
    Returns method, shots, seeds, items, disagreement (0-1)."""
    rows = []
    for (method, shots), part in items.groupby(["method", "shots"], sort=True):
        wide = part.pivot_table(index=["target", "id"], columns="seed", values="prediction", aggfunc="first")
        pairs = list(itertools.combinations(sorted(wide.columns), 2))
        if not pairs:
            continue
        shared = wide.dropna()
        share = sum((shared[a] != shared[b]).mean() for a, b in pairs) / len(pairs)
        rows.append({"method": method, "shots": shots, "seeds": len(wide.columns), "items": len(shared),
                     "disagreement": share})
    return pd.DataFrame(rows, columns=["method", "shots", "seeds", "items", "disagreement"])


def main(argv: list[str] | None = None) -> int:
    from xprompt.pipeline.cells import plan
    from xprompt.pipeline.config import load_pipeline
    from xprompt.pipeline.runner import Runner
    from xprompt.shots import shots_text

    parser = argparse.ArgumentParser(prog="python -m benchmarks.seed_agreement", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        the_plan = plan(load_pipeline(args.pipeline, args.set))
        items = Runner(the_plan, progress=False).items()
    except XPromptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if items.empty:
        print("no evaluation of the plan is cached yet", file=sys.stderr)
        return 1
    seed = pd.to_numeric(items["seed"], errors="coerce")
    single = items[(items["target"] != the_plan.source) & (items["adapt_shots"] == 0)
                   & seed.notna() & (seed != SINGLE_MODEL_SEED)]
    table = pairwise_disagreement(single)
    collapsed = collapsed_seeds(single).groupby(["method", "shots"])["seed"].apply(
        lambda seeds: ", ".join(str(int(seed)) for seed in seeds))
    print(markdown_table(["method", "source data", "seeds", "target items", "two seeds disagree (%)",
                          f"seeds predicting one class (>= {COLLAPSED:.0%} of items)"],
                         [[r.method, shots_text(r.shots), r.seeds, r.items, f"{100 * r.disagreement:.1f}",
                           collapsed.get((r.method, r.shots), "none")] for r in table.itertuples()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
