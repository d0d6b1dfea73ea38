"""The stages of a run as functions of (inputs, parameters) -> outputs. They read and
write no cache: the runner (pipeline/runner.py, pipeline/compute.py) hands them objects and stores what they return."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from xprompt.pipeline.config import TrainConfig
from xprompt.data import fixed_k_shot, load_split, sample_k_shot
from xprompt.errors import DataError
from xprompt.methods import build_method, parameter_counts
from xprompt.results.bootstrap import item_key
from xprompt.shots import FULL
from xprompt.training.loop import train, trainable_state


def prepare(card, lang: str, split: str, data_root: str | None, test_size: int | None) -> pd.DataFrame:
    """One language's split (or `unlabelled`: the card's unlabelled text); a test subset is
    stratified by label and deterministic."""
    if split == "unlabelled":
        from xprompt.data.loaders import load_unlabelled
        return load_unlabelled(card, lang, data_root)
    table = load_split(card, lang, split, data_root)
    if split == "test" and test_size and test_size < len(table):
        table = stratified_subset(table, test_size)
    return table


def stratified_subset(table: pd.DataFrame, size: int, seed: int = 0) -> pd.DataFrame:
    """`size` rows with the label proportions of `table`, the same rows in every language
    of a parallel data set (chosen by row position, with `seed`)."""
    rng = np.random.default_rng(seed)
    picked = []
    for _, group in table.groupby("label", sort=True):
        share = max(1, round(size * len(group) / len(table)))
        picked.append(np.sort(rng.permutation(group.index.to_numpy())[:share]))
    return table.loc[np.sort(np.concatenate(picked))].reset_index(drop=True)


def sample(card, lang: str, shots: int | str, seed: int, dev_shots: int | None, data_root: str | None,
           pools: tuple[pd.DataFrame, pd.DataFrame] | None = None, exclude_items: set[str] = frozenset(),
           dev_size: int | None = None):
    """(train, dev) tables: the data set's own fixed files when it ships them for this K and
    seed (MARC), else a seeded stratified draw of K per class from `pools` (the prepared train
    and dev splits); dev never overlaps train. `shots="full"`: the whole training pool, with a
    dev subset of `dev_size` rows (see `full_split`). `exclude_items` (item keys, see
    `statistics.item_key`) are never drawn: on a parallel data set, the translations of the
    source language's training shots."""
    fixed = card.fixed_shots
    if shots != FULL and fixed is not None and shots in fixed.shots and seed in fixed.seeds:
        return fixed_k_shot(card, lang, shots, seed, data_root)
    pool, dev_pool = pools if pools is not None else (load_split(card, lang, "train", data_root),
                                                      load_split(card, lang, "dev", data_root))
    if shots == FULL:
        return full_split(card, lang, pool, dev_pool, seed, dev_size)
    excluded = pool["id"][item_key(pool["id"], lang, card.parallel).isin(exclude_items)] if exclude_items else []
    train_rows = sample_k_shot(pool, shots, seed, exclude_ids=excluded, label_names=card.labels)
    dev_excluded = [*train_rows["id"], *(dev_pool["id"][item_key(dev_pool["id"], lang, card.parallel)
                                                         .isin(exclude_items)] if exclude_items else [])]
    try:
        dev_rows = sample_k_shot(dev_pool, dev_shots, seed, exclude_ids=dev_excluded, label_names=card.labels)
    except DataError:
        dev_rows = dev_pool[~dev_pool["id"].isin(dev_excluded)]  # small dev pools: use all that is left
    return train_rows, dev_rows


def full_split(card, lang: str, pool: pd.DataFrame, dev_pool: pd.DataFrame, seed: int,
               dev_size: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the whole training pool, a dev subset): `dev_size` rows of the dev split drawn with
    `seed`, stratified by label (all of it when None). A dev row that is also a training row
    (the same id and text: XNLI offline trains on its dev file) leaves the training set."""
    dev_rows = dev_pool
    if dev_size is not None and dev_size < len(dev_pool):
        dev_rows = stratified_subset(dev_pool, dev_size, seed)
    shared = pool.set_index(["id", "text"]).index.isin(dev_rows.set_index(["id", "text"]).index)
    train_rows = pool[~shared].reset_index(drop=True)
    if train_rows.empty:
        hint = ("set task.dev_size to hold out fewer rows" if dev_size is not None else
                "set task.dev_size (e.g. 500) to hold out a dev subset of it")
        raise DataError(f"{card.name} '{lang}': every training row is also a dev row (the training pool and dev "
                        f"split are the same {len(pool)} rows); {hint}")
    return train_rows, dev_rows.reset_index(drop=True)


@dataclass
class Trained:
    state: dict[str, torch.Tensor]
    info: dict


def fit(backbone, card, method_name: str, settings: dict, train_config: TrainConfig, seed: int,
        train_rows: pd.DataFrame, dev_rows: pd.DataFrame, checkpoint=None, start_state=None,
        progress: bool = True, dtype: torch.dtype = torch.float32) -> Trained:
    """Train one method on the shared backbone (what it trains, it copies; see Backbone.owned),
    or continue from `start_state`."""
    torch.manual_seed(seed)  # new parameters are drawn from the seed too
    backbone = dataclasses.replace(backbone, checkpointing=train_config.gradient_checkpointing)
    method = build_method(method_name, settings, backbone, card)
    if start_state is not None:
        method.load_state_dict(start_state, strict=False)
    result = train(method, train_rows, dev_rows, train_config, seed, checkpoint, progress,
                   initialize=start_state is None, dtype=dtype)
    info = {"parameters": parameter_counts(method), "history": result.history, "steps": result.steps,
            "best_epoch": result.best_epoch, "best_step": result.best_step,
            **({"averaged_checkpoints": result.averaged_checkpoints} if result.averaged_checkpoints else {}),
            "best_dev_accuracy": result.best_dev_accuracy,
            "train_seconds": result.seconds, "train_rows": len(train_rows), "dev_rows": len(dev_rows),
            **({"earlier_processes": result.earlier} if result.earlier else {}),
            "train_ids": [str(i) for i in train_rows["id"]]}
    return Trained(trainable_state(method), info)


def load_trained(backbone, card, method_name: str, settings: dict, state: dict):
    method = build_method(method_name, settings, backbone, card)
    missing = set(state) - {name for name, _ in method.named_parameters()} - set(method.recorded_state())
    if missing:
        raise DataError(f"saved state has tensors the method does not: {sorted(missing)[:3]}")
    method.load_state_dict(state, strict=False)
    return method.eval()
