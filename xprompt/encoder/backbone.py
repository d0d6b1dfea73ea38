"""Load any BERT-family encoder (with its MLM head when the checkpoint has one)
and run slices of its layers, which is what the two-tower and prompt methods need."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.utils.checkpoint
from torch import nn
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer, PreTrainedModel
from transformers.masking_utils import create_bidirectional_mask
from transformers.utils import logging as hf_logging

from xprompt.errors import ModelError
from xprompt.encoder.model_types import check_model_type, model_type_of

log = logging.getLogger(__name__)
# the load report of a checkpoint without an MLM head is expected here; xprompt says so itself
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()

# Heads of the MLM classes of the BERT family, by the attribute that holds them.
_HEAD_PREFIXES = ("cls.", "lm_head.")


class MaskHead(nn.Module):
    """The MLM head split into its transform (dense, activation, norm) and the
    output embedding, so label words are scored by gathering their rows only:
    no [batch, length, vocabulary] tensor is ever built."""

    def __init__(self, transform: nn.Module, decoder_weight: nn.Parameter, decoder_bias: nn.Parameter):
        super().__init__()
        self.transform = transform
        self.decoder_weight = decoder_weight
        self.decoder_bias = decoder_bias

    def score_tokens(self, hidden: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
        """MLM logits of `token_ids` ([n]) at `hidden` ([batch, hidden]) -> [batch, n]."""
        features = self.transform(hidden)
        return features @ self.decoder_weight[token_ids].T + self.decoder_bias[token_ids]


class _RobertaTransform(nn.Module):
    """XLM-R's head applies dense -> gelu -> layer_norm inline; give it a module of its own."""

    def __init__(self, lm_head: nn.Module):
        super().__init__()
        self.dense = lm_head.dense
        self.layer_norm = lm_head.layer_norm

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(nn.functional.gelu(self.dense(hidden)))


WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


@dataclass
class Backbone:
    """A loaded encoder, frozen: every weight has requires_grad False and no method changes it.
    A method that trains weights asks `owned` for a backbone whose trained weights are its own."""

    model_id: str
    revision: str | None
    encoder: PreTrainedModel
    tokenizer: object
    mask_head: MaskHead | None
    device: torch.device
    checkpointing: bool = False  # recompute layer activations in backward (train.gradient_checkpointing)
    owned_ids: frozenset[int] = frozenset()  # ids of the parameters this copy owns (see `owned`)

    def named_weights(self) -> list[tuple[str, nn.Parameter]]:
        """Every (name, parameter) of the encoder and the MLM head (`mask_head.<name>`), ties repeated."""
        named = list(self.encoder.named_parameters(remove_duplicate=False))
        if self.mask_head is not None:
            named += [(f"mask_head.{n}", p) for n, p in self.mask_head.named_parameters(remove_duplicate=False)]
        return named

    def owned(self, trains: Callable[[str], bool]) -> "Backbone":
        """A backbone for a method that trains weights: each tensor whose every name `trains` accepts
        is the method's own trainable copy; every other tensor is this backbone's, shared and frozen.
        The modules are new objects, so a method may also add to them (LoRA's adapters) without
        touching this backbone."""
        named = self.named_weights()
        trained = {id(p) for _, p in named} - {id(p) for n, p in named if not trains(n)}
        memo = {id(p): p for _, p in named if id(p) not in trained}  # deepcopy keeps these as they are
        encoder, mask_head = copy.deepcopy((self.encoder, self.mask_head), memo)
        copy_ = dataclasses.replace(self, encoder=encoder, mask_head=mask_head)
        shared = {id(p) for _, p in named}
        own = [p for _, p in copy_.named_weights() if id(p) not in shared]
        for parameter in own:
            parameter.requires_grad_(True)
        return dataclasses.replace(copy_, owned_ids=frozenset(id(p) for p in own))

    def owned_parameters(self) -> list[nn.Parameter]:
        seen: dict[int, nn.Parameter] = {}
        for _, parameter in self.named_weights():
            if id(parameter) in self.owned_ids:
                seen.setdefault(id(parameter), parameter)
        return list(seen.values())

    @property
    def config(self):
        return self.encoder.config

    @property
    def layers(self) -> nn.ModuleList:
        return self.encoder.encoder.layer

    @property
    def embeddings(self) -> nn.Module:
        return self.encoder.embeddings

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    @property
    def has_mlm_head(self) -> bool:
        return self.mask_head is not None

    def position_ids(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Positions counting real tokens only; RoBERTa-style embeddings start after padding_idx."""
        offset = getattr(self.embeddings, "padding_idx", None)
        start = 0 if offset is None else offset + 1
        positions = torch.cumsum(attention_mask, dim=1) - 1
        pad_position = 0 if offset is None else offset
        return torch.where(attention_mask.bool(), positions + start, torch.full_like(positions, pad_position))

    def embed(self, attention_mask: torch.Tensor, input_ids=None, inputs_embeds=None, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(attention_mask)
        return self.embeddings(input_ids=input_ids, inputs_embeds=inputs_embeds,
                               token_type_ids=token_type_ids, position_ids=self.position_ids(attention_mask))

    def run_layers(self, layers, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Run `layers` over `hidden` with a [batch, length] 0/1 mask, in the attention
        format the loaded implementation (eager / sdpa) expects."""
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=attention_mask)
        for layer in layers:
            if self.checkpointing and torch.is_grad_enabled() and layer.training:
                out = torch.utils.checkpoint.checkpoint(layer, hidden, mask, use_reentrant=False)
            else:
                out = layer(hidden, attention_mask=mask)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def run_layers_at(self, layers, hidden: torch.Tensor, attention_mask: torch.Tensor, index) -> torch.Tensor:
        """[batch, hidden]: the states at position `index` (an int, or one per row) after `layers`.
        At inference the last layer computes that position only (its keys and values still read
        every token), which saves most of one layer; in training, or on a layer of another shape,
        every position is computed and the same rows are read."""
        *before, last = layers
        if last.training or torch.is_grad_enabled() or not _bert_style(last):
            return _rows_at(self.run_layers(layers, hidden, attention_mask), index)
        return _bert_layer_at(last, self.run_layers(before, hidden, attention_mask), attention_mask, index)

    def word_embedding_ids(self, words: list[str]) -> list[list[int]]:
        """Token ids of each word as it appears after a space, without special tokens."""
        return [self.tokenizer(" " + w.strip(), add_special_tokens=False)["input_ids"] for w in words]


def _rows_at(hidden: torch.Tensor, index) -> torch.Tensor:
    if isinstance(index, int):
        return hidden[:, index]
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


def _bert_style(layer: nn.Module) -> bool:
    heads = getattr(getattr(layer, "attention", None), "self", None)
    return (all(hasattr(heads, name) for name in ("query", "key", "value", "attention_head_size"))
            and hasattr(layer.attention, "output") and hasattr(layer, "feed_forward_chunk")
            and not getattr(heads, "is_decoder", False))


def _bert_layer_at(layer: nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor, index) -> torch.Tensor:
    """A BERT-style layer (self-attention, residual + LayerNorm, feed-forward) at the query rows
    `index` only: the attention of `BertSelfAttention` with one query per row, in eval mode."""
    heads = layer.attention.self
    query_input = _rows_at(hidden, index).unsqueeze(1)  # [batch, 1, hidden]

    def split(states: torch.Tensor) -> torch.Tensor:  # [batch, tokens, heads, head size] -> heads first
        return states.view(states.shape[0], states.shape[1], -1, heads.attention_head_size).transpose(1, 2)

    keep = attention_mask[:, None, None, :].bool()
    mixed = torch.nn.functional.scaled_dot_product_attention(
        split(heads.query(query_input)), split(heads.key(hidden)), split(heads.value(hidden)), attn_mask=keep,
        scale=heads.attention_head_size ** -0.5)
    mixed = mixed.transpose(1, 2).reshape(query_input.shape[0], 1, -1)
    return layer.feed_forward_chunk(layer.attention.output(mixed, query_input))[:, 0]


def _load_pretrained(loader, model_id: str, revision: str | None, **kwargs):
    """Local cache first, so a cached model loads with no network; then the Hub."""
    try:
        return loader.from_pretrained(model_id, revision=revision, local_files_only=True, **kwargs)
    except OSError as local_error:
        if Path(model_id).exists():
            raise ModelError(f"model directory {model_id} could not be loaded ({local_error}); it must hold "
                             f"config.json, the weights and the tokenizer files") from local_error
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            hub = "and HF_HUB_OFFLINE=1 kept the Hub from being asked"
            raise _not_found(model_id, local_error, hub) from local_error
        try:
            return loader.from_pretrained(model_id, revision=revision, **kwargs)
        except OSError as hub_error:
            raise _not_found(model_id, hub_error, "nor on the Hub") from hub_error


def _not_found(model_id: str, error: Exception, hub: str) -> ModelError:
    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub")
    return ModelError(
        f"model '{model_id}' was not found in the local Hugging Face cache ({cache}) {hub} "
        f"({type(error).__name__}); on a connected machine run `hf download {model_id}` and copy the "
        f"cache folder here, or give model.name as a local directory holding config.json and the weights")


def _split_mlm(model: PreTrainedModel, missing: list[str]) -> tuple[PreTrainedModel, MaskHead | None]:
    encoder = model.base_model
    if any(key.startswith(_HEAD_PREFIXES) for key in missing):
        return encoder, None  # the checkpoint ships no trained MLM head: a fresh one would be noise
    if hasattr(model, "cls"):  # BERT, mBERT
        head = model.cls.predictions
        return encoder, MaskHead(head.transform, head.decoder.weight, head.bias)
    if hasattr(model, "lm_head"):  # RoBERTa, XLM-R
        head = model.lm_head
        return encoder, MaskHead(_RobertaTransform(head), head.decoder.weight, head.bias)
    return encoder, None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_backbone(model_id: str, revision: str | None = None, device: str = "auto") -> Backbone:
    """Load an encoder by Hub id or path, float32; MLM head detected from the checkpoint's keys."""
    if Path(model_id).is_dir() and not (Path(model_id) / "config.json").exists():
        raise ModelError(f"model directory {model_id} has no config.json; give a Hub id or a directory "
                         f"written by save_pretrained (config.json, the weights and the tokenizer files)")
    model_type = model_type_of(model_id, revision)
    if model_type is not None:
        check_model_type(model_type, model_id)
    tokenizer = _load_pretrained(AutoTokenizer, model_id, revision)
    try:
        model, info = _load_pretrained(AutoModelForMaskedLM, model_id, revision,
                                       output_loading_info=True, dtype=torch.float32)
        encoder, mask_head = _split_mlm(model, info.get("missing_keys", []))
    except ValueError:  # an architecture with no MLM class at all
        encoder, mask_head = _load_pretrained(AutoModel, model_id, revision, dtype=torch.float32), None
    if mask_head is None:
        log.info("%s has no trained masked-LM head; methods that need label words cannot run on it", model_id)
    target = resolve_device(device)
    encoder.to(target).requires_grad_(False)  # shared by every method; see Backbone.owned
    if mask_head is not None:
        mask_head.to(target).requires_grad_(False)
    revision_found = getattr(encoder.config, "_commit_hash", None) or revision
    return Backbone(model_id, revision_found, encoder, tokenizer, mask_head, target)
