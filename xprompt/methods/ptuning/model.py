"""P-tuning (Liu et al. 2021, "GPT Understands, Too"): the virtual tokens are the output of a
prompt encoder (a bidirectional LSTM + 2-layer MLP as in the paper, or the MLP alone) run
over learned input embeddings, so the tokens are not independent of each other."""

from __future__ import annotations


import torch
from torch import nn

from xprompt.errors import ModelError
from xprompt.methods import base, prompting
from xprompt.methods.ptuning.config import PTuningConfig, PromptEncoderKind


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
        with torch.no_grad():  # the prompt before training, kept in trained states and exports
            self.register_buffer(base.RECORDED_BUFFER, self().detach().clone())

    def forward(self) -> torch.Tensor:
        states = self.input_embeddings.unsqueeze(0)
        if self.lstm is not None:
            states = self.lstm(states)[0]
        return self.mlp(states).squeeze(0)


ENCODER_STATE = "encoder.prompt."  # where a trained state holds the prompt encoder's weights


def trained_prompt(settings: dict, state: dict) -> torch.Tensor | None:
    """The prompt encoder's output for a trained state, or None when the encoder was trained too
    (the prompt then works only with that run's own weights)."""
    from xprompt.methods import method_config

    config = method_config("ptuning", settings)
    if not config.freeze_backbone:
        return None
    weights = {k.removeprefix(ENCODER_STATE): v for k, v in state.items() if k.startswith(ENCODER_STATE)}
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # building it draws random weights
        encoder = PromptEncoder(*weights["input_embeddings"].shape, config.encoder)
        # states written before the start was recorded lack it; every weight must be there
        missing = [k for k in encoder.load_state_dict(weights, strict=False).missing_keys if k != base.RECORDED_BUFFER]
        if missing:
            raise ModelError(f"the P-tuning state has no {missing[0]}")
        return encoder()


def build_ptuning(config: PTuningConfig, backbone, card) -> prompting.PromptMethod:
    if not config.freeze_backbone:  # the encoder's weights are trained too: on its own copy
        backbone = base.trained_copy(backbone, not config.freeze_word_embeddings)
    prompt_encoder = PromptEncoder(config.num_tokens, backbone.hidden_size, config.encoder)
    encoder = prompting.VirtualTokenEncoder(backbone, prompt_encoder)
    method = prompting.build_prompt_method(config, backbone, card, encoder, "ptuning")
    for parameter in backbone.owned_parameters():  # build_prompt_method left only the new ones trainable
        parameter.requires_grad_(True)
    return method
