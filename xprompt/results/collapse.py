"""Seeds that collapsed: a trained model that predicts one class for nearly every target test item
has not learned the task (fine-tuning with a high learning rate sometimes never leaves the
majority class, e.g. Mosbach et al., ICLR 2021). Averages and intervals over seeds include such a
seed, so a run names it rather than leaving a wide interval unexplained."""

from __future__ import annotations

import pandas as pd

from xprompt.results.settings import SINGLE_MODEL_SEED
from xprompt.shots import shots_phrase

COLLAPSED = 0.99  # a seed predicting one class for at least this share of its target items
COLLAPSED_FILE = "collapsed.csv"  # a run folder's collapsed seeds (collapsed_seeds)
WITHOUT_FILE = "comparisons_without_collapsed.csv"  # its comparisons again without them (paired_without_collapsed)
KEYS = ["method", "shots", "adapt_shots", "seed"]


def collapsed_seeds(items: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """items: method, shots, adapt_shots (optional), seed, target, prediction (items.parquet). Returns
    method, shots, adapt_shots, seed, majority (the share of the target items, the source language
    left out, given the seed's most predicted class, 0-1) for the seeds at or above COLLAPSED."""
    items = items if "adapt_shots" in items else items.assign(adapt_shots=0)
    targets = items if source is None else items[items["target"] != source]
    if targets.empty:
        return pd.DataFrame(columns=KEYS + ["majority"])
    per_class = targets.groupby(KEYS + ["prediction"], sort=True).size().groupby(level=KEYS)
    share = (per_class.max() / per_class.sum()).rename("majority").reset_index()
    return share[share["majority"] >= COLLAPSED].reset_index(drop=True)


def collapse_lines(items: pd.DataFrame, source: str | None = None) -> list[str]:
    """One sentence per collapsed seed, for the run's output and its report."""
    lines = []
    for row in collapsed_seeds(items, source).itertuples(index=False):
        who = "the combined model" if int(row.seed) == SINGLE_MODEL_SEED else f"seed {int(row.seed)}"
        adapted = f", adapted with {int(row.adapt_shots)} target examples per class" if row.adapt_shots else ""
        lines.append(f"collapsed: {row.method}, {shots_phrase(row.shots)}{adapted}, {who} predicts one class "
                     f"for {100 * row.majority:.1f}% of the target items; it has not learned the task, and "
                     f"averages over seeds include it")
    return lines


def paired_without_collapsed(items: pd.DataFrame, source: str, parallel: str | None = None,
                             gone: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paired comparisons (statistics.paired) again with every collapsed seed left out, only for
    the pairs where one side had one. A difference that excludes 0 with the collapsed seed in and
    includes it without is carried by a model that never learned the task, not by the other method.
    `gone`: collapsed_seeds(items, source), where the caller has it already."""
    from xprompt.results.statistics import PAIRED_COLUMNS, paired

    items = items if "adapt_shots" in items else items.assign(adapt_shots=0)
    gone = collapsed_seeds(items, source) if gone is None else gone
    if gone.empty:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    marked = items[KEYS].merge(gone[KEYS].assign(collapsed=True), on=KEYS, how="left")
    sizes = gone[["shots", "adapt_shots"]].drop_duplicates()
    kept = items[marked["collapsed"].isna().to_numpy()].merge(sizes, on=["shots", "adapt_shots"])
    touched = set(gone[["shots", "adapt_shots", "method"]].itertuples(index=False, name=None))
    return paired(kept, source, parallel=parallel,
                  wanted=lambda shots, adapt, a, b: (shots, adapt, a) in touched or (shots, adapt, b) in touched)
