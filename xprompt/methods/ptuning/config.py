"""The options of the ptuning method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from xprompt.methods.options import PromptOptions


class PromptEncoderKind(str, enum.Enum):
    LSTM = "lstm"
    MLP = "mlp"


@dataclass
class PTuningConfig(PromptOptions):
    encoder: PromptEncoderKind = field(default=PromptEncoderKind.LSTM, metadata={
        "help": "lstm: bidirectional 2-layer LSTM + 2-layer MLP (the paper); mlp: the MLP alone"})
    freeze_backbone: bool = field(default=True, metadata={
        "help": "train only the prompt encoder and label vectors; false also trains the encoder's weights"})
    freeze_word_embeddings: bool = field(default=True, metadata={
        "help": "with freeze_backbone: false, keep the vocabulary matrix frozen"})
