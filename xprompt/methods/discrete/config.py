"""The options of the discrete method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from xprompt.methods.options import check_prompt_options


class Trained(str, enum.Enum):
    ALL = "all"
    NONE = "none"


@dataclass
class DiscreteConfig:
    trained: Trained = field(default=Trained.ALL, metadata={
        "help": "all weights (PET / LM-BFF), or none: zero-shot prompting, `train` then does nothing"})
    template: str | None = field(default=None, metadata={
        "help": "template with {text} and one <mask> for every language; default: the card's per language"})
    freeze_word_embeddings: bool = field(default=True, metadata={"help": "keep the vocabulary matrix frozen"})
    max_length: int = field(default=256, metadata={"help": "longest input in tokens"})

    def __post_init__(self):
        check_prompt_options(self.template, self.max_length)
