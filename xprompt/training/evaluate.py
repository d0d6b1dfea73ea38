"""Predictions in length-grouped batches, and the metrics reported per language."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from xprompt.encoder.batching import eval_batches, to_device
from xprompt.encoder.precision import autocast


@torch.no_grad()
def predict_proba(method, df: pd.DataFrame, batch_size: int = 32, progress: bool = False,
                  rows: list[dict] | None = None, max_tokens: int = 0,
                  dtype: torch.dtype = torch.float32) -> np.ndarray:
    """[rows, classes] probabilities in the order of `df`."""
    method.eval()
    rows = rows if rows is not None else method.featurize(df)
    device = next(method.parameters()).device
    probabilities = np.zeros((len(rows), method.num_labels), dtype=np.float32)
    batches = list(eval_batches(rows, batch_size, max_tokens))
    for indices in tqdm(batches, desc="evaluate", unit="batch", disable=not progress, leave=False):
        batch = to_device(method.collate([rows[i] for i in indices]), device)
        batch.pop("labels", None)
        with autocast(device, dtype):
            logits = method(**batch)
        probabilities[indices] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return probabilities


def scores(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> dict[str, float]:
    """Accuracy and macro-F1 over the classes the test set has: a language that lacks a class is
    not scored on it (predictions of that class still count as errors of the others)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    f1s = []
    for label in range(num_labels):
        true_positive = np.sum((predictions == label) & (labels == label))
        predicted, actual = np.sum(predictions == label), np.sum(labels == label)
        if actual == 0:
            continue
        f1s.append(2 * true_positive / (predicted + actual))
    return {"accuracy": float(np.mean(labels == predictions)) if len(labels) else float("nan"),
            "macro_f1": float(np.mean(f1s)) if f1s else float("nan")}


def evaluate(method, df: pd.DataFrame, batch_size: int = 32, progress: bool = False, max_tokens: int = 0,
             dtype: torch.dtype = torch.float32):
    """Metrics and a per-row prediction table (id, lang, label, prediction, probabilities)."""
    return scored(df, predict_proba(method, df, batch_size, progress, max_tokens=max_tokens, dtype=dtype))


def scored(df: pd.DataFrame, probabilities: np.ndarray):
    """Metrics and the per-row prediction table of `df` (id, lang, label) from class probabilities."""
    predictions = probabilities.argmax(axis=1)
    metrics = scores(df["label"].to_numpy(), predictions, probabilities.shape[1])
    metrics["n"] = len(df)
    metrics["classes"] = sorted(int(label) for label in np.unique(df["label"]))  # the classes this set has
    table = pd.DataFrame({"id": df["id"].to_numpy(), "lang": df["lang"].to_numpy(),
                          "label": df["label"].to_numpy(), "prediction": predictions})
    for label in range(probabilities.shape[1]):
        table[f"p{label}"] = probabilities[:, label]
    return metrics, table


def probabilities_of(table: pd.DataFrame) -> np.ndarray:
    """[rows, classes] class probabilities of a prediction table written by `scored` (p0, p1, ...)."""
    columns = sorted((c for c in table.columns if c.startswith("p") and c[1:].isdigit()), key=lambda c: int(c[1:]))
    return table[columns].to_numpy()
