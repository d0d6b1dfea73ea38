"""The resampling under every interval and comparison of statistics.py (its module note gives
the conventions): generators named by what they draw for, multinomial counts of items and seeds,
one draw of sentences for every language of a parallel data set, and the metrics on those counts."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd


def generator(seed: int, *key) -> np.random.Generator:
    """A generator of its own for each group, language and metric, so an interval does not change
    when other methods, languages or metrics join the run."""
    def flat(parts):
        for part in parts:
            yield from flat(part) if isinstance(part, tuple) else [str(part.item() if hasattr(part, "item") else part)]
    return np.random.default_rng([seed, zlib.crc32("|".join(flat(key)).encode())])


def multinomial_counts(rng: np.random.Generator, size: int, resamples: int) -> np.ndarray:
    """[resamples, size] counts of each index in a draw of `size` with replacement."""
    return rng.multinomial(size, np.full(size, 1.0 / size), size=resamples).astype(np.float64)


def draw_seeds(rng: np.random.Generator, count: int, resamples: int) -> np.ndarray:
    """[resamples, count] counts of each of `count` seeds in a draw of the seeds with replacement;
    a single seed (or a model made from every seed at once) is every resample's one model."""
    return multinomial_counts(rng, count, resamples) if count > 1 else np.ones((resamples, 1))


def seed_item_matrices(items: pd.DataFrame, seeds: list[int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """[seeds, items] labels and predictions of one target, items aligned by id across seeds."""
    by_seed = {seed: frame.set_index("id") for seed, frame in items.groupby("seed")}
    ids = sorted(set.intersection(*(set(by_seed[s].index) for s in seeds)))
    labels = np.stack([by_seed[s].loc[ids, "label"].to_numpy() for s in seeds])
    predictions = np.stack([by_seed[s].loc[ids, "prediction"].to_numpy() for s in seeds])
    return labels, predictions, ids


def draw_items(rng_for, keyed: dict[str, list[str]], resamples: int, parallel: str | None) -> dict[str, np.ndarray]:
    """Per target, [resamples, items] counts of each of its items (in the order of its keys) in a
    bootstrap draw. Without `parallel`, each target's items are drawn on their own (`rng_for(target)`);
    on a parallel data set, where the keys are sentences every language shares (`item_key`), one
    draw of the sentences (`rng_for("items")`) serves every target."""
    if parallel is None:
        return {target: multinomial_counts(rng_for(target), len(keys), resamples) for target, keys in keyed.items()}
    union = sorted(set().union(*keyed.values()))
    where = {key: index for index, key in enumerate(union)}
    shared = multinomial_counts(rng_for("items"), len(union), resamples)
    return {target: shared if keys == union else shared[:, [where[key] for key in keys]]
            for target, keys in keyed.items()}


def accuracy_of(correct: np.ndarray, item_counts: np.ndarray) -> np.ndarray:
    """[resamples, seeds] accuracy of each seed on each resample of items (a target of a parallel
    data set that lacks some of the drawn sentences is scored on the ones it has)."""
    return item_counts @ correct.T / np.maximum(item_counts.sum(axis=1, keepdims=True), 1.0)


def macro_f1_of(labels: np.ndarray, predictions: np.ndarray, item_counts: np.ndarray, classes: int) -> np.ndarray:
    """[resamples, seeds] macro-F1 (classes absent from labels and predictions skipped)."""
    out = np.empty((item_counts.shape[0], labels.shape[0]))
    for s in range(labels.shape[0]):
        true = np.eye(classes)[labels[s]]
        guessed = np.eye(classes)[predictions[s]]
        tp = item_counts @ (true * guessed)
        both = item_counts @ true + item_counts @ guessed
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(both > 0, 2 * tp / both, np.nan)
        out[:, s] = np.nanmean(np.where(np.isnan(f1).all(axis=1, keepdims=True), 0.0, f1), axis=1)
    return out


def metric_of(labels: np.ndarray, predictions: np.ndarray, metric: str, classes: int,
                counts: np.ndarray | None) -> np.ndarray:
    """[resamples, seeds] metric of one target (its `seed_item_matrices`) on each resample given its
    [resamples, items] item counts; counts None: the point estimate, every item once."""
    counts = np.ones((1, labels.shape[1])) if counts is None else counts
    if metric == "accuracy":
        return accuracy_of((labels == predictions).astype(np.float64), counts)
    return macro_f1_of(labels, predictions, counts, classes)


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def item_keys(ids: list, target: str, parallel: str | None) -> list[str]:
    """The keys `draw_items` draws for one target's item ids, in their order: the sentence each
    translates on a parallel data set (`item_key`), else the ids themselves."""
    return list(item_key(pd.Series(ids, dtype=str), target, parallel)) if parallel else [str(i) for i in ids]


def item_key(ids: pd.Series, lang: str, parallel: str | None) -> pd.Series:
    """What makes rows of different languages one item: the id (parallel: id), or the id without
    its language prefix (parallel: row, ids "{lang}-{split}-{row}"). Used by consistency and by
    adaptation samples that must not hold the translations of the source shots."""
    ids = ids.astype(str)
    return ids.str.removeprefix(f"{lang}-") if parallel == "row" else ids


def complete_seeds(frame: pd.DataFrame) -> list[int]:
    """The seeds evaluated on every target of `frame` (all of them, unless a cell failed or a run
    is still going): a seed missing a target would otherwise weigh the targets unequally."""
    return sorted(set.intersection(*(set(f["seed"]) for _, f in frame.groupby("target"))))
