"""Contextual calibration per target language (Zhao et al., ICML 2021) from unlabelled text: a
transferred prompt's class prior shifts from language to language; estimate it as the mean
predicted distribution on unlabelled text of the language and divide it out. The text is
task.unlabelled's (the language's dev or train split with its labels never read, or the card's
unlabelled file), and never a test text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import logging

from xprompt.errors import DataError
from xprompt.training.evaluate import predict_proba

log = logging.getLogger(__name__)


def unlabelled_rows(pool: pd.DataFrame, test: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """Up to `rows` rows of `pool` drawn with `seed`, labels dropped (set to 0). A pool row whose
    text is also a test text is left out (logged); a pool with nothing else is an error."""
    shared = pool["text"].isin(set(test["text"]))
    lang = pool["lang"].iloc[0] if len(pool) else "?"
    if shared.all():
        raise DataError(f"every unlabelled text of '{lang}' ({len(pool)} rows) is "
                        f"also a test text; calibration and self-training need text apart from the test set")
    if shared.any():
        log.warning("unlabelled text of '%s': %d of %d rows are also test texts and are left out", lang,
                    int(shared.sum()), len(pool))
    pool = pool[~shared]
    picked = np.sort(np.random.default_rng(seed).permutation(len(pool))[:rows])
    return pool.iloc[picked].assign(label=0).reset_index(drop=True)  # the labels are never read


def estimate_prior(method, rows: pd.DataFrame, batch_size: int = 32, max_tokens: int = 0,
                   dtype: torch.dtype = torch.float32) -> np.ndarray:
    """The mean predicted class distribution of `method` on unlabelled `rows`."""
    return predict_proba(method, rows, batch_size, max_tokens=max_tokens, dtype=dtype).mean(axis=0)


def calibrate(probabilities: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """p(y|x) / prior(y), renormalised: on the text the prior was estimated on, the mean predicted
    distribution moves toward uniform."""
    scaled = probabilities / np.clip(prior, 1e-12, None)
    return scaled / scaled.sum(axis=1, keepdims=True)
