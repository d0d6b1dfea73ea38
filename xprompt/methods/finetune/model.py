"""Fine-tuning, the standard baseline: a classification head on the first token's final state,
every weight trained except, by default, the word embeddings.

Heads: `linear` (dropout + linear, xprompt's default) or `standard` (dropout, dense + tanh,
dropout, linear: the head of RoBERTa / XLM-R's sequence classification, and BERT's pooler +
classifier), which with `freeze_word_embeddings: false` is the fine-tuning papers compare with."""

from __future__ import annotations


import pandas as pd
from torch import nn

from xprompt.methods import base
from xprompt.methods.finetune.config import FineTuneConfig, Head


class FineTune(base.Exportable, nn.Module):
    def __init__(self, config: FineTuneConfig, backbone, card):
        super().__init__()
        backbone = base.trained_copy(backbone, not config.freeze_word_embeddings, mask_head=False)
        self.config, self.backbone, self.tokenizer = config, backbone, backbone.tokenizer
        self.num_labels = len(card.labels)
        # the pooler is never used (the first token is read before it), so it is not owned
        self.embeddings, self.layers = backbone.embeddings, backbone.layers
        hidden = backbone.hidden_size
        layers = [nn.Dropout(config.dropout), nn.Linear(hidden, self.num_labels)]
        if config.head == Head.STANDARD:
            layers = [nn.Dropout(config.dropout), nn.Linear(hidden, hidden), nn.Tanh(), *layers]
        self.head = nn.Sequential(*layers)
        base.reinitialise(self.head, backbone.config.initializer_range)
        self.to(backbone.device)

    def new_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def featurize(self, df: pd.DataFrame) -> list[dict]:
        return base.tokenize_rows(self.tokenizer, df, self.config.max_length)

    def collate(self, rows: list[dict]) -> dict:
        return base.collate_token_rows(rows, self.tokenizer.pad_token_id)

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        hidden = base.encode(self.backbone, self.layers, attention_mask, input_ids=input_ids,
                             token_type_ids=token_type_ids)
        return self.head(hidden[:, 0])

    def initialize(self, train_df: pd.DataFrame) -> None:
        pass
