"""P-tuning (Liu et al. 2021, "GPT Understands, Too"): the virtual tokens are the output of a
prompt encoder (a bidirectional LSTM + 2-layer MLP as in the paper, or the MLP alone) run
over learned input embeddings, so the tokens are not independent of each other."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import torch
from torch import nn

from xprompt.errors import ConfigError
from xprompt.methods import base


class PromptEncoderKind(str, enum.Enum):
    LSTM = "lstm"
    MLP = "mlp"


@dataclass
class PTuningConfig(base.PromptOptions):
    num_tokens: int = field(default=8, metadata={
        "help": "virtual tokens, placed after the first special token, or at the template's [soft:N]"})
    encoder: PromptEncoderKind = field(default=PromptEncoderKind.LSTM, metadata={
        "help": "lstm: bidirectional 2-layer LSTM + 2-layer MLP (the paper); mlp: the MLP alone"})
    freeze_backbone: bool = field(default=True, metadata={
        "help": "train only the prompt encoder and label vectors; false also trains the encoder's weights"})
    freeze_word_embeddings: bool = field(default=True, metadata={
        "help": "with freeze_backbone: false, keep the vocabulary matrix frozen"})

    def __post_init__(self):
        super().__post_init__()
        if self.num_tokens < 1:
            raise ConfigError(f"ptuning.num_tokens is {self.num_tokens}; it must be at least 1")


class PromptEncoder(nn.Module):
    """Learned inputs -> (bi-LSTM) -> Linear-ReLU-Linear, as in the P-tuning code."""

    def __init__(self, count: int, hidden: int, kind: PromptEncoderKind):
        super().__init__()
        self.input_embeddings = nn.Parameter(torch.randn(count, hidden))  # nn.Embedding's N(0, 1) init
        self.lstm = None
        width = hidden
        if kind == PromptEncoderKind.LSTM:
            self.lstm = nn.LSTM(hidden, hidden // 2, num_layers=2, bidirectional=True, batch_first=True)
            width = 2 * (hidden // 2)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def forward(self) -> torch.Tensor:
        states = self.input_embeddings.unsqueeze(0)
        if self.lstm is not None:
            states = self.lstm(states)[0]
        return self.mlp(states).squeeze(0)


def build_ptuning(config: PTuningConfig, backbone, card) -> base.PromptMethod:
    inputs = base.PromptInputs(backbone.tokenizer, card, config.template, config.num_tokens, config.max_length)
    verbalizer = base.make_verbalizer(config.verbalizer, backbone, card, inputs.languages, config.label_init,
                                      "ptuning with verbalizer: label_words")
    prompt_encoder = PromptEncoder(config.num_tokens, backbone.hidden_size, config.encoder)
    method = base.PromptMethod(inputs, base.VirtualTokenEncoder(backbone, prompt_encoder), verbalizer, card)
    if config.freeze_backbone:
        base.train_only(method, method.new_parameters())
    elif config.freeze_word_embeddings:
        base.freeze_word_embeddings(backbone)
    return method.to(backbone.device)
