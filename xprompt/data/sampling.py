"""K-shot samples: drawn per class with a seed, or read from the split files a data set ships."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from xprompt.data.cards import TaskCard
from xprompt.data.loaders import candidate_paths, check_language, first_existing, read_table
from xprompt.errors import DataError

log = logging.getLogger(__name__)


def sample_k_shot(df: pd.DataFrame, k: int, seed: int, exclude_ids: Iterable[str] = (),
                  *, label_names: Sequence[str] | None = None) -> pd.DataFrame:
    """`k` rows of every class, the same rows for the same table and seed.

    Rows whose id is in `exclude_ids` are never chosen (a dev set drawn disjoint
    from the training shots). Each class is shuffled by its own generator, seeded
    by (seed, label), so a smaller k is a prefix of a larger one and one class's
    size never changes another's draw. The result is ordered by label, then by the
    rows' order in `df`; its `id` column is what a run records.
    `label_names` (the card's labels) names classes in messages; a class with no row
    in `df` at all (a language that lacks it) is left out with a warning, never silently.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise DataError(f"k must be a positive whole number of shots per class, got {k!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"seed must be a non-negative whole number, got {seed!r}")
    where = _describe(df)
    if df.empty:
        raise DataError(f"cannot sample {k} shots per class from {where}: it has no rows")
    excluded = {str(i) for i in exclude_ids}
    pool = df.reset_index(drop=True)
    pool = pool[~pool["id"].astype(str).isin(excluded)]
    chosen = []
    for label in _present_labels(df, label_names, where):
        positions = pool.index[pool["label"] == label].to_numpy()
        if len(positions) < k:
            name = repr(label_names[label]) if label_names is not None else f"with label {label}"
            after = f" after excluding {len(excluded)} ids" if excluded else ""
            raise DataError(f"class {name} has {len(positions)} rows in {where}{after}, "
                            f"fewer than k={k} shots per class")
        generator = np.random.default_rng([int(seed), int(label)])
        chosen.append(np.sort(generator.permutation(positions)[:k]))
    return pool.loc[np.concatenate(chosen)].reset_index(drop=True)


def _present_labels(df: pd.DataFrame, label_names: Sequence[str] | None, where: str) -> list:
    """The classes to sample: every class of the card that `df` has a row of (a missing one is
    named in a warning; none at all is an error), or without the card's names the labels in `df`."""
    labels = range(len(label_names)) if label_names is not None else sorted(df["label"].unique())
    absent = [label for label in labels if not (df["label"] == label).any()]
    if absent and label_names is not None:
        names = ", ".join(repr(label_names[label]) for label in absent)
        if len(absent) == len(labels):
            raise DataError(f"{where} has no row of any class")
        log.warning("%s has no row of class %s; sampling the %d classes it has", where, names,
                    len(labels) - len(absent))
    return [label for label in labels if label not in absent]


def _describe(df: pd.DataFrame) -> str:
    splits = sorted(df["split"].astype(str).unique()) if "split" in df and len(df) else []
    langs = sorted(df["lang"].astype(str).unique()) if "lang" in df and len(df) else []
    if not splits:
        return "the table"
    return f"the {'/'.join(splits)} split ({'/'.join(langs)})"


def fixed_k_shot(card: TaskCard, lang: str, k: int, seed: int,
                 data_root: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The data set's own K-shot (train, dev) files for `lang`, `k`, `seed` (MARC);
    None when the card ships none. These files exist only locally."""
    fixed = card.fixed_shots
    if fixed is None:
        return None
    check_language(card, lang)
    if k not in fixed.shots or seed not in fixed.seeds:
        raise DataError(f"task {card.name} ships no fixed split for k={k}, seed={seed}; "
                        f"shipped k: {', '.join(map(str, fixed.shots))}; "
                        f"seeds: {', '.join(map(str, fixed.seeds))}")
    train = _read_fixed(card, fixed.train, lang, k, seed, "train", data_root)
    dev = _read_fixed(card, fixed.dev, lang, k, seed, "dev", data_root)
    return train, dev


def _read_fixed(card: TaskCard, pattern: str, lang: str, k: int, seed: int, split: str,
                data_root: str | Path | None) -> pd.DataFrame:
    relative = pattern.format(lang=lang, k=k, seed=seed)
    looked = candidate_paths(card, relative, data_root)
    path = first_existing(looked)
    if path is not None:
        # the source split name keeps ids of rows without an id column apart per file
        return read_table(card, path, lang, split, source=f"{k}-{seed}-{split}")
    where = " and ".join(map(str, looked)) or f"{relative} (no data root: argument or $XPROMPT_DATA)"
    raise DataError(f"the fixed {split} split of {card.name} for {lang!r}, k={k}, seed={seed} "
                    f"is not at {where}")
