"""Training data from several source languages (multi-source transfer, as the Cross-Prompt Encoder
trains on typologically diverse sources): K per class from each source (`each`), or K per class in
total divided across the sources (`split`, the same number of labelled examples as one source).
On a parallel data set the sources never share an item: no sentence is trained on twice in two
languages, and no source holds a translation of a dev item."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xprompt.errors import DataError
from xprompt.results.bootstrap import item_key

SOURCE_SHOTS = ("split", "each")


def shares(total: int, count: int) -> list[int]:
    """`total` divided into `count` whole shares, the larger ones first (16 over 3: 6, 5, 5)."""
    return [total // count + (1 if i < total % count else 0) for i in range(count)]


def sample_sources(card, sources: list[str], shots, seed: int, mode: str, first: tuple[pd.DataFrame, pd.DataFrame],
                   pools: dict[str, pd.DataFrame], draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, dev): `first` is the first source's (train, dev) sample, drawn as a single-source run
    would draw it with its share of the shots; `pools[lang]` the training pool of every other source;
    `draw(pool, k, seed, exclude_ids)` draws K per class. `shots` is K or `full`; dev is the first
    source's."""
    if mode not in SOURCE_SHOTS:
        raise DataError(f"source_shots is {mode!r}; accepted: {', '.join(SOURCE_SHOTS)}")
    train, dev = first
    used = set(item_key(train["id"], sources[0], card.parallel)) | set(item_key(dev["id"], sources[0], card.parallel))
    tables = [train]
    if shots == "full":
        return _full(card, sources, seed, mode, train, dev, pools), dev
    counts = shares(shots, len(sources)) if mode == "split" else [shots] * len(sources)
    for lang, k in zip(sources[1:], counts[1:]):
        pool = pools[lang]
        keys = item_key(pool["id"], lang, card.parallel)
        excluded = pool["id"][keys.isin(used)] if card.parallel else []
        drawn = draw(pool, k, seed, excluded)
        used |= set(item_key(drawn["id"], lang, card.parallel))
        tables.append(drawn)
    return pd.concat(tables, ignore_index=True), dev


def _full(card, sources, seed, mode, train, dev, pools) -> pd.DataFrame:
    """Every source's whole pool (`each`), or the first source's items dealt round-robin over the
    sources in a seeded order, each item in one language only (`split`)."""
    dev_items = set(item_key(dev["id"], sources[0], card.parallel)) if card.parallel else set()
    if mode == "each":
        tables = [train] + [pool[~item_key(pool["id"], lang, card.parallel).isin(dev_items)]
                            for lang, pool in ((lang, pools[lang]) for lang in sources[1:])]
        return pd.concat(tables, ignore_index=True)
    if not card.parallel:
        # different items per language: a seeded share of each pool, 1/n of it
        tables = []
        for index, (lang, pool) in enumerate([(sources[0], train)] + [(s, pools[s]) for s in sources[1:]]):
            order = np.random.default_rng([seed, index]).permutation(len(pool))
            tables.append(pool.iloc[np.sort(order[: len(pool) // len(sources) + (index < len(pool) % len(sources))])])
        return pd.concat(tables, ignore_index=True)
    keys = item_key(train["id"], sources[0], card.parallel).to_numpy()
    order = np.random.default_rng(seed).permutation(len(keys))
    owner = {keys[position]: rank % len(sources) for rank, position in enumerate(order)}
    tables = [train[[owner[k] == 0 for k in keys]]]
    for index, lang in enumerate(sources[1:], start=1):
        pool = pools[lang]
        pool_keys = item_key(pool["id"], lang, card.parallel)
        mine = pool_keys.map(lambda k: owner.get(k) == index)
        missing = sum(1 for k in keys if owner[k] == index) - int(mine.sum())
        if missing:
            raise DataError(f"{card.name} '{lang}': {missing} training items of {sources[0]} have no row in its "
                            f"training pool; `source_shots: split` with `full` needs parallel pools")
        tables.append(pool[mine.to_numpy()])
    return pd.concat(tables, ignore_index=True)
