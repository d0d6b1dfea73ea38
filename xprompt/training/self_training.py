"""Self-training on unlabelled target-language text: the transferred model labels it, and the
confident, class-balanced part joins the English training set for another round. Labels of the
unlabelled rows are never read; a text that is also a test text is never used."""

from __future__ import annotations

import numpy as np
import pandas as pd


def select_confident(rows: pd.DataFrame, probabilities: np.ndarray, confidence: float,
                     per_class: int) -> pd.DataFrame:
    """Rows whose top class probability is at least `confidence`, labelled with that class: per
    class the `per_class` most confident (ties broken by row order), so no class holds more than
    any other may. Adds a `confidence` column; ordered by class, then by confidence."""
    predicted = probabilities.argmax(axis=1)
    top = probabilities.max(axis=1)
    picked = []
    for label in range(probabilities.shape[1]):
        candidates = np.flatnonzero((predicted == label) & (top >= confidence))
        ranked = candidates[np.argsort(-top[candidates], kind="stable")][:per_class]
        picked.append(ranked)
    chosen = np.concatenate(picked).astype(int)
    table = rows.iloc[chosen].copy()
    table["label"] = predicted[chosen]
    table["confidence"] = top[chosen]
    return table.reset_index(drop=True)
