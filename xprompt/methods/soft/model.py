"""Prompt tuning (Lester et al. 2021): n trainable virtual tokens in the input of a frozen
encoder, read at the template's <mask> by label vectors or label words. By default the tokens
go before the whole input, as in the paper and in PEFT, so a `--peft` export reproduces the
encoder states xprompt computes."""

from __future__ import annotations

import math

import torch
from torch import nn

from xprompt.errors import ConfigError, ModelError
from xprompt.methods import base, prompting
from xprompt.methods.soft.config import SoftConfig, SoftInit, SoftPosition


class SoftTokens(nn.Module):
    """The prompt itself: one [num_tokens, hidden] matrix in word-embedding space, and a copy of
    its start (kept in trained states and exports, never trained)."""

    def __init__(self, prompt_embeddings: torch.Tensor):
        super().__init__()
        self.prompt_embeddings = nn.Parameter(prompt_embeddings)
        self.register_buffer(base.RECORDED_BUFFER, prompt_embeddings.detach().clone())

    def forward(self) -> torch.Tensor:
        return self.prompt_embeddings


def initial_prompt(config: SoftConfig, backbone) -> torch.Tensor:
    table = backbone.embeddings.word_embeddings.weight.detach().cpu()
    count = config.num_tokens
    if config.init == SoftInit.LIBRARY:
        if config.library_prompt.shape[1] != table.shape[1]:
            raise ModelError(f"soft.init_prompt {config.library_path} has vectors of size "
                             f"{config.library_prompt.shape[1]}, but {backbone.model_id} has hidden size "
                             f"{table.shape[1]}; take a prompt trained on this model")
        return config.library_prompt.to(table.dtype).clone()
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


PROMPT_STATE = "encoder.prompt.prompt_embeddings"  # where a trained state holds the prompt


def trained_prompt(settings: dict, state: dict) -> torch.Tensor | None:
    """The [tokens, hidden] prompt in a trained soft state."""
    return state.get(PROMPT_STATE)


def build_soft(config: SoftConfig, backbone, card) -> prompting.PromptMethod:
    encoder = prompting.VirtualTokenEncoder(backbone, SoftTokens(initial_prompt(config, backbone)))
    return prompting.build_prompt_method(config, backbone, card, encoder, "soft",
                                    prepend=config.position == SoftPosition.PREPEND)
