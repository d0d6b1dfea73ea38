"""Prompt tuning (Lester et al. 2021): n trainable virtual tokens in the input of a frozen
encoder, read at the template's <mask> by label vectors or label words. By default the tokens
go before the whole input, as in the paper and in PEFT, so a `--peft` export reproduces the
encoder states xprompt computes."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from xprompt.config import neutral
from xprompt.errors import ConfigError, ModelError
from xprompt.methods import base


class SoftPosition(str, enum.Enum):
    PREPEND = "prepend"
    AFTER_CLS = "after_cls"


class SoftInit(str, enum.Enum):
    RANDOM = "random"
    TEXT = "text"
    VOCAB = "vocab"
    LIBRARY = "library"


@dataclass
class SoftConfig(base.PromptOptions):
    position: SoftPosition = field(default=SoftPosition.PREPEND, metadata={**neutral(SoftPosition.AFTER_CLS),
        "help": "prepend: before the whole input (Lester et al., PEFT); after_cls: right after the first "
                "special token (or where the template puts [soft:N])"})
    init: SoftInit = field(default=SoftInit.VOCAB, metadata={
        "help": "random, text (embeddings of init_text's tokens, repeated or cut to num_tokens), "
                "vocab (embeddings of sampled vocabulary rows) or library (init_prompt's trained prompt)"})
    init_text: str | None = field(default=None, metadata={"help": "text whose token embeddings start the prompt"})
    init_prompt: str | None = field(default=None, metadata={
        "help": "with init: library: a .safetensors file (e.g. from `xprompt library rank`), an export folder "
                "or a cache train entry holding a [num_tokens, hidden] prompt; read when the config is made and "
                "replaced by its content hash (sha256:...), so cache keys never see the path"})

    def __post_init__(self):
        super().__post_init__()
        if self.position == SoftPosition.PREPEND and self.template and "[soft" in self.template:
            raise ConfigError(f"soft.template {self.template!r} places [soft] tokens, but position: prepend puts "
                              f"them before the input; drop [soft:N] from the template or use position: after_cls")
        if (self.init == SoftInit.TEXT) != bool(self.init_text):
            raise ConfigError("soft.init_text is needed with soft.init: text, and only with it")
        if (self.init == SoftInit.LIBRARY) != bool(self.init_prompt):
            raise ConfigError("soft.init_prompt is needed with soft.init: library, and only with it")
        if self.init == SoftInit.LIBRARY:
            from xprompt.library import load_init_prompt  # the library imports this module
            self.library_path = self.init_prompt  # not a field: keys see the content hash only
            self.library_prompt, self.init_prompt = load_init_prompt(self.init_prompt, self.num_tokens)


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


def build_soft(config: SoftConfig, backbone, card) -> base.PromptMethod:
    encoder = base.VirtualTokenEncoder(backbone, SoftTokens(initial_prompt(config, backbone)))
    return base.build_prompt_method(config, backbone, card, encoder, "soft",
                                    prepend=config.position == SoftPosition.PREPEND)
