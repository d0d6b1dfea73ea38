"""The options of the deep method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from xprompt.errors import ConfigError
from xprompt.methods.options import PromptOptions


@dataclass
class DeepConfig(PromptOptions):
    input_tokens: ClassVar[bool] = False  # the prompts live in the layers, not in the template
    reparameterize: bool = field(default=False, metadata={
        "help": "produce the prompts with an MLP while training; the export stores them as plain vectors"})
    mlp_hidden: int = field(default=512, metadata={"help": "hidden width of the reparameterisation MLP"})

    def __post_init__(self):
        super().__post_init__()
        if self.mlp_hidden < 1:
            raise ConfigError(f"deep.mlp_hidden is {self.mlp_hidden}; it must be at least 1")
