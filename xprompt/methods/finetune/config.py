"""The options of the finetune method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from xprompt.pipeline.config import neutral
from xprompt.errors import ConfigError
from xprompt.methods.options import check_prompt_options


class Head(str, enum.Enum):
    LINEAR = "linear"
    STANDARD = "standard"


@dataclass
class FineTuneConfig:
    head: Head = field(default=Head.LINEAR, metadata={**neutral(Head.LINEAR),
        "help": "linear: dropout + linear; standard: dropout, dense + tanh, dropout, linear (XLM-R's / BERT's "
                "sequence-classification head)"})
    dropout: float = field(default=0.1, metadata={"help": "dropout before the classification layer"})
    freeze_word_embeddings: bool = field(default=True, metadata={"help": "keep the vocabulary matrix frozen"})
    max_length: int = field(default=256, metadata={"help": "longest input in tokens"})

    def __post_init__(self):
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"finetune.dropout is {self.dropout}; accepted: 0 <= value < 1")
        check_prompt_options(None, self.max_length)
