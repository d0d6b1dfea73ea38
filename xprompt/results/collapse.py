"""Seeds that collapsed: a trained model that predicts one class for nearly every target test item
has not learned the task (fine-tuning with a high learning rate sometimes never leaves the
majority class, e.g. Mosbach et al., ICLR 2021). Averages and intervals over seeds include such a
seed, so a run names it rather than leaving a wide interval unexplained."""

from __future__ import annotations

import pandas as pd

from xprompt.pipeline.config import shots_phrase
from xprompt.results.settings import SINGLE_MODEL_SEED

COLLAPSED = 0.99  # a seed predicting one class for at least this share of its target items


def collapsed_seeds(items: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """items: method, shots, adapt_shots (optional), seed, target, prediction (items.parquet). Returns
    method, shots, adapt_shots, seed, majority (the share of the target items, the source language
    left out, given the seed's most predicted class, 0-1) for the seeds at or above COLLAPSED."""
    items = items if "adapt_shots" in items else items.assign(adapt_shots=0)
    targets = items if source is None else items[items["target"] != source]
    keys = ["method", "shots", "adapt_shots", "seed"]
    if targets.empty:
        return pd.DataFrame(columns=keys + ["majority"])
    per_class = targets.groupby(keys + ["prediction"], sort=True).size().groupby(level=keys)
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
