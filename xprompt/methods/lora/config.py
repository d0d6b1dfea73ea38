"""The options of the lora method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from xprompt.errors import ConfigError
from xprompt.methods.options import READOUT_HELP, LabelInit, Readout, Verbalizer, check_prompt_options


@dataclass
class LoraConfig:
    input_tokens: ClassVar[bool] = False
    rank: int = field(default=8, metadata={"help": "rank r of each adapter"})
    alpha: float = field(default=16.0, metadata={"help": "scaling: the update is alpha / r * B A"})
    lora_dropout: float = field(default=0.1, metadata={"help": "dropout on the adapters' input"})
    target_modules: list[str] = field(default_factory=lambda: ["query", "value"], metadata={
        "help": "names of the linear layers that get adapters (BERT family: query, key, value, dense)"})
    readout: Readout = field(default=Readout.HEAD, metadata={"help": READOUT_HELP})
    dropout: float = field(default=0.1, metadata={"help": "dropout before the linear head (readout: head)"})
    template: str | None = field(default=None, metadata={
        "help": "readout: mask: template with {text} and one <mask>; default: the card's template of each language"})
    verbalizer: Verbalizer = field(default=Verbalizer.VECTORS, metadata={
        "help": "readout: mask: vectors (label vectors) or label_words (needs a masked-LM head)"})
    label_init: LabelInit = field(default=LabelInit.DYNAMIC, metadata={
        "help": "readout: mask: label vector init: dynamic (class means), words, random"})
    max_length: int = field(default=256, metadata={"help": "longest input in tokens"})

    def __post_init__(self):
        if self.rank < 1:
            raise ConfigError(f"lora.rank is {self.rank}; it must be at least 1")
        if not (0 <= self.lora_dropout < 1 and 0 <= self.dropout < 1):
            raise ConfigError("lora.lora_dropout and lora.dropout must be in [0, 1)")
        if not self.target_modules:
            raise ConfigError("lora.target_modules is empty; name at least one linear layer, e.g. [query, value]")
        check_prompt_options(self.template, self.max_length)
