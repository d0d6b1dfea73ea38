"""Deep prompt positions (the "deep" form of visual prompt tuning, VPT-deep, Jia et al. 2022):
trainable prompt states prepended as extra positions before every layer of a frozen encoder.

Before layer l, `num_tokens` prompt states P_l join the hidden states, the layer runs over
[P_l; hidden] (every real token attends to the prompt, and the prompt positions also pay for
queries and the feed-forward layer), and the prompt positions are stripped from its output; the
next layer gets fresh prompts. Keys and values of the prompt come from P_l through the frozen
projections. This is not prefix tuning / P-tuning v2, whose free key/value prefixes are the
`prefix` method. Positions of the real tokens are unchanged, so the <mask> index holds."""

from __future__ import annotations


import torch
from torch import nn

from xprompt.methods import base, prompting
from xprompt.methods.deep.config import DeepConfig


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
    def fold(self) -> dict:
        """Store the MLP's prompts as plain vectors and drop the MLP; returns the settings that
        rebuild this form (reparameterize: false)."""
        if self.prefix_mlp is not None:
            self.prompts = nn.Parameter(self.prefix_mlp().detach().clone())
            self.prefix_mlp = None
        return {"reparameterize": False}

    def forward(self, input_ids, attention_mask, mask_index, soft_positions=None):
        hidden = self.backbone.embed(attention_mask, input_ids=input_ids)
        prompts = self.layer_prompts()
        batch, count = hidden.shape[0], prompts.shape[1]
        mask = torch.cat([attention_mask.new_ones(batch, count), attention_mask], dim=1)
        for layer, prompt in zip(self.layers, prompts):
            extended = torch.cat([prompt.unsqueeze(0).expand(batch, -1, -1), hidden], dim=1)
            hidden = self.backbone.run_layers([layer], extended, mask)[:, count:]
        return base.gather_rows(hidden, mask_index)


def build_deep(config: DeepConfig, backbone, card) -> prompting.PromptMethod:
    return prompting.build_prompt_method(config, backbone, card, DeepPromptEncoder(backbone, config), "deep")
