"""Linear probe, the cheapest baseline: logistic regression on the mean-pooled final
states of the frozen encoder. The encoder never changes, so each row's features are
computed once and reused every epoch."""

from __future__ import annotations


import pandas as pd
import torch
from torch import nn

from xprompt.methods import base
from xprompt.methods.probe.config import ProbeConfig


class LinearProbe(base.Exportable, nn.Module):
    def __init__(self, config: ProbeConfig, backbone, card):
        super().__init__()
        self.config, self.backbone, self.tokenizer = config, backbone, backbone.tokenizer
        self.num_labels = len(card.labels)
        self.embeddings, self.layers = backbone.embeddings, backbone.layers  # shared and frozen
        self.classifier = nn.Linear(backbone.hidden_size, self.num_labels)
        nn.init.zeros_(self.classifier.weight)  # logistic regression starts from zero
        nn.init.zeros_(self.classifier.bias)
        self._features: dict[tuple, torch.Tensor] = {}
        self.to(backbone.device)

    def clear_feature_cache(self) -> None:
        """Forget the cached row features (benchmarks time a first pass over rows with it)."""
        self._features.clear()

    def new_parameters(self) -> list[nn.Parameter]:
        return list(self.classifier.parameters())

    def featurize(self, df: pd.DataFrame) -> list[dict]:
        return base.tokenize_rows(self.tokenizer, df, self.config.max_length)

    def collate(self, rows: list[dict]) -> dict:
        return base.collate_token_rows(rows, self.tokenizer.pad_token_id)

    def train(self, mode: bool = True):
        super().train(mode)
        self.embeddings.eval()  # the frozen encoder always runs as at inference (no dropout)
        self.layers.eval()
        return self

    @torch.no_grad()
    def pooled(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """Mean of the final states over real tokens, cached per row."""
        keys = [tuple(row[mask.bool()].tolist()) for row, mask in zip(input_ids, attention_mask)]
        missing = [i for i, key in enumerate(keys) if key not in self._features]
        if missing:
            hidden = base.encode(self.backbone, self.layers, attention_mask[missing], input_ids=input_ids[missing],
                                 token_type_ids=None if token_type_ids is None else token_type_ids[missing])
            weights = attention_mask[missing].unsqueeze(-1).to(hidden.dtype)
            means = (hidden * weights).sum(1) / weights.sum(1)
            for i, mean in zip(missing, means):
                self._features[keys[i]] = mean
        return torch.stack([self._features[key] for key in keys])

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        return self.classifier(self.pooled(input_ids, attention_mask, token_type_ids))

    def initialize(self, train_df: pd.DataFrame) -> None:
        pass
