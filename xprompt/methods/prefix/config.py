"""The options of the prefix method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from xprompt.errors import ConfigError
from xprompt.methods.options import READOUT_HELP, PromptOptions, Readout


@dataclass
class PrefixConfig(PromptOptions):
    input_tokens: ClassVar[bool] = False  # the prefixes live in the attention layers, not in the template
    num_tokens: int = field(default=16, metadata={
        "help": "prefix length: key/value vectors per attention layer (Tu et al. 2022 used 16-32 on XLM-R)"})
    readout: Readout = field(default=Readout.HEAD, metadata={"help": READOUT_HELP + " (P-tuning v2: head)"})
    dropout: float = field(default=0.1, metadata={"help": "dropout before the linear head (readout: head)"})
    reparameterize: bool = field(default=False, metadata={
        "help": "produce the prefixes with an MLP while training (prefix tuning); exported as plain prefixes"})
    mlp_hidden: int = field(default=512, metadata={"help": "hidden width of the reparameterisation MLP"})

    def __post_init__(self):
        super().__post_init__()
        if self.mlp_hidden < 1:
            raise ConfigError(f"prefix.mlp_hidden is {self.mlp_hidden}; it must be at least 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"prefix.dropout is {self.dropout}; accepted: 0 <= value < 1")
