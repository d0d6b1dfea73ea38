"""Deep prompts (prefix tuning, Li & Liang 2021; P-tuning v2, Liu et al. 2022): trainable
prompt vectors at every layer of a frozen encoder.

Formulation: before layer l, `num_tokens` prompt states P_l are prepended to the hidden states
as extra positions, the layer runs over [P_l; hidden] (every real token attends to the prompt),
and the prompt positions are stripped from its output; the next layer gets fresh prompts. This
is the "deep prompt" form of P-tuning v2, run with `backbone.run_layers` one layer at a time;
it needs no knowledge of the attention implementation, unlike key/value prefixes. Positions of
the real tokens are unchanged, so the <mask> index of the template holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from xprompt.errors import ConfigError
from xprompt.methods import base


@dataclass
class DeepConfig(base.PromptOptions):
    input_tokens: ClassVar[bool] = False  # the prompts live in the layers, not in the template
    reparameterize: bool = field(default=False, metadata={
        "help": "produce the prompts with an MLP while training (prefix tuning); `materialize()` then "
                "stores them as plain vectors and drops the MLP"})
    mlp_hidden: int = field(default=512, metadata={"help": "hidden width of the reparameterisation MLP"})

    def __post_init__(self):
        super().__post_init__()
        if self.mlp_hidden < 1:
            raise ConfigError(f"deep.mlp_hidden is {self.mlp_hidden}; it must be at least 1")


class PrefixMLP(nn.Module):
    """[tokens, hidden] inputs -> Linear-Tanh-Linear -> [layers, tokens, hidden] prompts."""

    def __init__(self, layers: int, count: int, hidden: int, width: int, std: float):
        super().__init__()
        self.layers = layers
        self.input_embeddings = nn.Parameter(torch.randn(count, hidden) * std)
        self.mlp = nn.Sequential(nn.Linear(hidden, width), nn.Tanh(), nn.Linear(width, layers * hidden))

    def forward(self) -> torch.Tensor:
        count, hidden = self.input_embeddings.shape
        return self.mlp(self.input_embeddings).view(count, self.layers, hidden).transpose(0, 1)


class DeepPromptEncoder(nn.Module):
    def __init__(self, backbone, config: DeepConfig):
        super().__init__()
        self.backbone, self.embeddings, self.layers = backbone, backbone.embeddings, backbone.layers
        shape = (len(self.layers), config.num_tokens, backbone.hidden_size)
        std = backbone.config.initializer_range
        if config.reparameterize:
            self.register_parameter("prompts", None)
            self.prefix_mlp = PrefixMLP(*shape, config.mlp_hidden, std)
        else:
            self.prompts = nn.Parameter(torch.randn(shape) * std)
            self.prefix_mlp = None

    def new_parameters(self) -> list[nn.Parameter]:
        return [self.prompts] if self.prefix_mlp is None else list(self.prefix_mlp.parameters())

    def layer_prompts(self) -> torch.Tensor:
        """[layers, num_tokens, hidden]."""
        return self.prompts if self.prefix_mlp is None else self.prefix_mlp()

    @torch.no_grad()
    def materialize(self) -> None:
        """Store the MLP's prompts as plain vectors and drop the MLP; the state dict then loads
        into a method built with reparameterize: false."""
        if self.prefix_mlp is not None:
            self.prompts = nn.Parameter(self.prefix_mlp().detach().clone())
            self.prefix_mlp = None

    def forward(self, input_ids, attention_mask, mask_index, soft_positions=None):
        hidden = self.backbone.embed(attention_mask, input_ids=input_ids)
        prompts = self.layer_prompts()
        batch, count = hidden.shape[0], prompts.shape[1]
        mask = torch.cat([attention_mask.new_ones(batch, count), attention_mask], dim=1)
        for layer, prompt in zip(self.layers, prompts):
            extended = torch.cat([prompt.unsqueeze(0).expand(batch, -1, -1), hidden], dim=1)
            hidden = self.backbone.run_layers([layer], extended, mask)[:, count:]
        return base.gather_rows(hidden, mask_index)


def build_deep(config: DeepConfig, backbone, card) -> base.PromptMethod:
    return base.build_prompt_method(config, backbone, card, DeepPromptEncoder(backbone, config), "deep")
