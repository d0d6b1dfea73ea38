"""Prefix tuning (Li & Liang 2021) and P-tuning v2 (Liu et al. 2022): every attention layer of a
frozen encoder gets `num_tokens` trainable key and value vectors of its own, attended to by every
real token. Unlike `deep`, nothing is added to the sequence: queries and feed-forward layers
see the real tokens only, and the key/value prefixes are free vectors, not projections of
prompt states.

The prefixes enter through the attention layers' key/value cache, the same route PEFT's prefix
tuning takes: the cache's `update` returns [prefix; keys] and [prefix; values] for each layer.
With `reparameterize: true` an MLP produces the prefixes while training (prefix tuning); the
export stores its output as plain prefixes (`fold`), which P-tuning v2 trains directly."""

from __future__ import annotations

import inspect

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask

from xprompt.encoder.model_types import SUPPORTED_TYPES
from xprompt.errors import ModelError
from xprompt.methods import base, prompting
from xprompt.methods.prefix.config import PrefixConfig
from xprompt.methods.readout import build_readout_method


class PrefixCache:
    """Duck-typed key/value cache of one forward pass: `update` puts the layer's prefixes in front
    of the keys and values the layer just computed ([batch, heads, length, head_dim])."""

    def __init__(self, prefixes: torch.Tensor, heads: int):
        self.prefixes, self.heads = prefixes, heads  # [layers, 2, count, hidden]

    def update(self, key, value, layer_idx, *args, **kwargs):
        batch, count = key.shape[0], self.prefixes.shape[2]
        both = self.prefixes[layer_idx].view(2, count, self.heads, -1).transpose(1, 2)  # [2, heads, count, d]
        both = both.unsqueeze(1).expand(-1, batch, -1, -1, -1).to(key.dtype)
        return torch.cat([both[0], key], dim=2), torch.cat([both[1], value], dim=2)


def cache_argument(layer: nn.Module) -> str:
    """The keyword a layer takes its key/value cache by (transformers renamed it over versions)."""
    names = inspect.signature(layer.forward).parameters
    for name in ("cache", "past_key_values", "past_key_value"):
        if name in names:
            return name
    raise ModelError(f"{type(layer).__name__} takes no key/value cache, so prefix tuning cannot reach its "
                     f"attention; supported model types: {', '.join(SUPPORTED_TYPES)}")


def run_with_prefixes(backbone, hidden: torch.Tensor, attention_mask: torch.Tensor, prefixes: torch.Tensor,
                      prefix_mask: torch.Tensor | None = None) -> torch.Tensor:
    """All layers over `hidden` with each layer's key/value prefixes ([layers, 2, count, hidden]);
    `prefix_mask` ([batch, count], default all ones) says which prefix positions may be attended to."""
    batch, count = hidden.shape[0], prefixes.shape[2]
    if prefix_mask is None:
        prefix_mask = attention_mask.new_ones(batch, count)
    keys_mask = torch.cat([prefix_mask, attention_mask], dim=1)
    shape_only = hidden.new_zeros(1, 1, 1).expand(batch, keys_mask.shape[1], hidden.shape[-1])
    mask = create_bidirectional_mask(config=backbone.config, inputs_embeds=shape_only, attention_mask=keys_mask)
    if mask is not None:
        mask = mask[:, :, count:, :]  # queries are the real tokens only; keys are [prefix; tokens]
    cache = PrefixCache(prefixes, backbone.config.num_attention_heads)
    argument = cache_argument(backbone.layers[0])
    for layer in backbone.layers:
        out = layer(hidden, attention_mask=mask, **{argument: cache})
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


class PrefixMLP(nn.Module):
    """[count, hidden] inputs -> Linear-Tanh-Linear -> [layers, 2, count, hidden] prefixes."""

    def __init__(self, layers: int, count: int, hidden: int, width: int, std: float):
        super().__init__()
        self.layers = layers
        self.input_embeddings = nn.Parameter(torch.randn(count, hidden) * std)
        self.mlp = nn.Sequential(nn.Linear(hidden, width), nn.Tanh(), nn.Linear(width, layers * 2 * hidden))

    def forward(self) -> torch.Tensor:
        count, hidden = self.input_embeddings.shape
        return self.mlp(self.input_embeddings).view(count, self.layers, 2, hidden).permute(1, 2, 0, 3)


class PrefixEncoder(nn.Module):
    def __init__(self, backbone, config: PrefixConfig):
        super().__init__()
        model_type = backbone.config.model_type
        if model_type not in SUPPORTED_TYPES:
            raise ModelError(f"prefix tuning reaches the attention of {', '.join(SUPPORTED_TYPES)} encoders; "
                             f"{backbone.model_id} is a {model_type!r} model")
        if getattr(backbone.layers[0].attention.self, "layer_idx", None) is None:
            raise ModelError(f"the attention layers of {backbone.model_id} do not know their index; "
                             f"prefix tuning needs transformers 5 or later")
        cache_argument(backbone.layers[0])
        self.backbone, self.embeddings, self.layers = backbone, backbone.embeddings, backbone.layers
        shape = (len(self.layers), 2, config.num_tokens, backbone.hidden_size)
        std = backbone.config.initializer_range
        if config.reparameterize:
            self.register_parameter("prefixes", None)
            self.prefix_mlp = PrefixMLP(len(self.layers), config.num_tokens, backbone.hidden_size,
                                        config.mlp_hidden, std)
        else:
            self.prefixes = nn.Parameter(torch.randn(shape) * std)
            self.prefix_mlp = None

    def new_parameters(self) -> list[nn.Parameter]:
        return [self.prefixes] if self.prefix_mlp is None else list(self.prefix_mlp.parameters())

    def layer_prefixes(self) -> torch.Tensor:
        """[layers, 2 (key, value), num_tokens, hidden]."""
        return self.prefixes if self.prefix_mlp is None else self.prefix_mlp()

    @torch.no_grad()
    def fold(self) -> dict:
        """Store the MLP's prefixes as plain vectors and drop the MLP; returns the settings that
        rebuild this form (reparameterize: false)."""
        if self.prefix_mlp is not None:
            self.prefixes = nn.Parameter(self.prefix_mlp().detach().clone())
            self.prefix_mlp = None
        return {"reparameterize": False}

    def forward(self, input_ids, attention_mask, mask_index, soft_positions=None):
        hidden = self.backbone.embed(attention_mask, input_ids=input_ids)
        hidden = run_with_prefixes(self.backbone, hidden, attention_mask, self.layer_prefixes())
        return base.gather_rows(hidden, mask_index)


def build_prefix(config: PrefixConfig, backbone, card) -> prompting.PromptMethod:
    return build_readout_method(config, backbone, card, PrefixEncoder(backbone, config), "prefix")
