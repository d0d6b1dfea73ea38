"""How a prompt method reads its class scores, besides a template's <mask>: a classification
head on the first token of the plain input (P-tuning v2's and LoRA's usual form)."""

from __future__ import annotations


import pandas as pd
import torch
from torch import nn

from xprompt.methods import base, prompting
from xprompt.methods.options import Readout


class PlainInputs:
    """The input text (and text pair) as the tokenizer joins them, no template; the "mask"
    index every encoder reads is the first token."""

    def __init__(self, tokenizer, card, max_length: int):
        self.tokenizer, self.card, self.max_length = tokenizer, card, max_length
        self.languages = list(dict.fromkeys([card.source_language, *card.languages]))
        self.template = None

    def template_text(self, lang: str) -> None:
        return None

    def featurize(self, df: pd.DataFrame) -> list[dict]:
        rows = base.tokenize_rows(self.tokenizer, df, self.max_length)
        for row in rows:
            row.pop("token_type_ids", None)  # the prompt encoders read no segment ids, as with templates
            row.update(mask_index=0, language=0)
        return rows

    def collate(self, rows: list[dict]) -> dict:
        batch = base.collate_token_rows(rows, self.tokenizer.pad_token_id)
        batch["mask_index"] = torch.zeros(len(rows), dtype=torch.long)
        batch["language"] = torch.zeros(len(rows), dtype=torch.long)
        return batch


class LinearHead(nn.Module):
    """Dropout + linear layer from the first token's state to the classes (BERT's init)."""

    def __init__(self, backbone, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(backbone.hidden_size, num_labels)
        base.reinitialise(self.linear, backbone.config.initializer_range)

    def new_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

    def forward(self, states: torch.Tensor, language: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(self.dropout(states))

    def initialize(self, method, train_df: pd.DataFrame) -> None:
        pass


def build_readout_method(config, backbone, card, encoder: nn.Module, method: str) -> prompting.PromptMethod:
    """`encoder` read at the template's <mask> by the configured verbalizer (readout: mask), or at
    the first token of the plain input by a linear head (readout: head); only new parameters train."""
    if config.readout == Readout.MASK:
        return prompting.build_prompt_method(config, backbone, card, encoder, method)
    inputs = PlainInputs(backbone.tokenizer, card, config.max_length)
    head = LinearHead(backbone, len(card.labels), config.dropout)
    prompt_method = prompting.PromptMethod(inputs, encoder, head, card)
    base.train_only(prompt_method, prompt_method.new_parameters())
    return prompt_method.to(backbone.device)
