"""The one interface every method implements, and small helpers they share."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd
import torch
from torch import nn

from xprompt.batching import attention_mask, pad


@runtime_checkable
class Method(Protocol):
    """A torch module that turns a batch into class scores. Training, caching,
    evaluation and export only talk to methods through this interface."""

    num_labels: int

    def featurize(self, df: pd.DataFrame) -> list[dict]:
        """Tokenised rows; each has at least "length" and "label"."""

    def collate(self, rows: list[dict]) -> dict:
        """A batch dict, padded to its longest row; keys match forward's arguments."""

    def forward(self, **batch) -> torch.Tensor:
        """[batch, num_labels] logits."""

    def initialize(self, train_df: pd.DataFrame) -> None:
        """Data-dependent initialisation before training (may do nothing)."""

    def new_parameters(self) -> list[nn.Parameter]:
        """Parameters the method adds (prompts, label vectors); they get the prompt learning rate."""


def freeze(module: nn.Module) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(False)


def parameter_counts(module: nn.Module) -> dict[str, int]:
    """Trainable and total parameters, each shared tensor counted once."""
    seen, trainable, total = set(), 0, 0
    for parameter in module.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return {"trainable": trainable, "total": total}


def collate_token_rows(rows: list[dict], pad_id: int) -> dict:
    """input_ids / attention_mask (/ token_type_ids) / labels for rows made by a tokenizer."""
    ids = [row["input_ids"] for row in rows]
    batch = {"input_ids": pad(ids, pad_id), "attention_mask": attention_mask(ids)}
    if "token_type_ids" in rows[0]:
        batch["token_type_ids"] = pad([row["token_type_ids"] for row in rows], 0)
    batch["labels"] = torch.tensor([row["label"] for row in rows], dtype=torch.long)
    return batch


def tokenize_rows(tokenizer, df: pd.DataFrame, max_length: int, **extra) -> list[dict]:
    """Tokenise text (and text_pair when present) of every row, no padding."""
    rows = []
    for text, pair, label in zip(df["text"], df["text_pair"], df["label"]):
        pair = pair if isinstance(pair, str) else None
        encoded = tokenizer(text, pair, truncation=True, max_length=max_length)
        row = {"input_ids": encoded["input_ids"], "length": len(encoded["input_ids"]), "label": int(label)}
        if "token_type_ids" in encoded:
            row["token_type_ids"] = encoded["token_type_ids"]
        rows.append({**row, **extra})
    return rows


def reinitialise(module: nn.Module, std: float) -> None:
    """BERT's own initialisation, for towers that start from random weights."""
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            nn.init.normal_(sub.weight, std=std)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)


def freeze_word_embeddings(backbone) -> None:
    """Multilingual vocabularies hold most parameters; training them on English alone
    pulls English rows away from their translations, so they stay frozen by default."""
    backbone.embeddings.word_embeddings.weight.requires_grad_(False)
