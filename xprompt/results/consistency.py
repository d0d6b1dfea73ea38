"""Cross-lingual consistency on parallel test sets (XNLI, SIB-200): how often the
prediction on a translation equals the prediction on the English original, and
accuracy on the rows English got right vs wrong. Undefined for non-parallel sets."""

from __future__ import annotations

import numpy as np
import pandas as pd


def aligned(source: pd.DataFrame, target: pd.DataFrame, parallel: str | None) -> pd.DataFrame | None:
    """Source and target prediction tables joined row to row, or None when rows do not align.
    `parallel` is the card's declaration: "row" (row i is one item) or "id" (same ids)."""
    if parallel == "id":
        return source.merge(target, on="id", suffixes=("_source", "_target"))
    if parallel == "row":
        if len(source) != len(target):
            return None
        left = source.reset_index(drop=True).add_suffix("_source")
        right = target.reset_index(drop=True).add_suffix("_target")
        return pd.concat([left, right], axis=1)
    return None


def consistency_metrics(pairs: pd.DataFrame) -> dict[str, float]:
    """`pairs` has prediction/label columns suffixed _source and _target."""
    same = pairs["prediction_source"].to_numpy() == pairs["prediction_target"].to_numpy()
    source_right = pairs["prediction_source"].to_numpy() == pairs["label_source"].to_numpy()
    target_right = pairs["prediction_target"].to_numpy() == pairs["label_target"].to_numpy()
    return {
        "consistency": float(np.mean(same)) if len(pairs) else float("nan"),
        "accuracy_source_right": float(np.mean(target_right[source_right])) if source_right.any() else float("nan"),
        "accuracy_source_wrong": float(np.mean(target_right[~source_right])) if (~source_right).any() else float("nan"),
    }
