"""Prompt tuning (Lester et al. 2021): n trainable virtual tokens in the input of a frozen
encoder, read at the template's <mask> by label vectors or label words."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from xprompt.errors import ConfigError
from xprompt.methods import base


class SoftInit(str, enum.Enum):
    RANDOM = "random"
    TEXT = "text"
    VOCAB = "vocab"


@dataclass
class SoftConfig(base.PromptOptions):
    init: SoftInit = field(default=SoftInit.VOCAB, metadata={
        "help": "random, text (embeddings of init_text's tokens, repeated or cut to num_tokens) or "
                "vocab (embeddings of sampled vocabulary rows)"})
    init_text: str | None = field(default=None, metadata={"help": "text whose token embeddings start the prompt"})

    def __post_init__(self):
        super().__post_init__()
        if (self.init == SoftInit.TEXT) != bool(self.init_text):
            raise ConfigError("soft.init_text is needed with soft.init: text, and only with it")


class SoftTokens(nn.Module):
    """The prompt itself: one [num_tokens, hidden] matrix in word-embedding space."""

    def __init__(self, prompt_embeddings: torch.Tensor):
        super().__init__()
        self.prompt_embeddings = nn.Parameter(prompt_embeddings)

    def forward(self) -> torch.Tensor:
        return self.prompt_embeddings


def initial_prompt(config: SoftConfig, backbone) -> torch.Tensor:
    table = backbone.embeddings.word_embeddings.weight.detach().cpu()
    count = config.num_tokens
    if config.init == SoftInit.RANDOM:
        return torch.randn(count, table.shape[1]) * table.std()
    if config.init == SoftInit.TEXT:
        ids = backbone.tokenizer(config.init_text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ConfigError(f"soft.init_text {config.init_text!r} gives no tokens")
        ids = (ids * math.ceil(count / len(ids)))[:count]
    else:  # Lester et al. sample from the 5,000 most frequent tokens; low sentencepiece ids are frequent
        special = set(backbone.tokenizer.all_special_ids)
        candidates = torch.tensor([i for i in range(min(len(table), 5000)) if i not in special])
        ids = candidates[torch.randint(len(candidates), (count,))]
    return table[ids].clone()


def build_soft(config: SoftConfig, backbone, card) -> base.PromptMethod:
    encoder = base.VirtualTokenEncoder(backbone, SoftTokens(initial_prompt(config, backbone)))
    return base.build_prompt_method(config, backbone, card, encoder, "soft")
