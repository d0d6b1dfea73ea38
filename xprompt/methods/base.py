"""The one interface every method implements, and small helpers they share."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd
import torch
from torch import nn

from xprompt.encoder.backbone import WORD_EMBEDDINGS
from xprompt.encoder.batching import attention_mask, pad
from xprompt.errors import ConfigError, ModelError


@runtime_checkable
class Method(Protocol):
    """A torch module that turns a batch into class scores. Training, caching,
    evaluation and export only talk to methods through this interface."""

    num_labels: int

    def featurize(self, df: pd.DataFrame) -> list[dict]:
        """Tokenised rows; each has at least "length" and "label"."""

    def collate(self, rows: list[dict]) -> dict:
        """A batch dict, padded to its longest row; keys match forward's arguments."""

    def forward(self, **batch) -> torch.Tensor:
        """[batch, num_labels] logits."""

    def initialize(self, train_df: pd.DataFrame) -> None:
        """Data-dependent initialisation before training (may do nothing)."""

    def new_parameters(self) -> list[nn.Parameter]:
        """Parameters the method adds (prompts, label vectors); they get the prompt learning rate."""

    def export_form(self, languages: list[str]) -> dict:
        """Turn into the inference-ready form an export stores (UniPrompt: its prompt tower's output
        instead of the tower; reparameterised prompts folded); returns the settings that rebuild it."""

    def exported_tensors(self) -> dict[str, tuple[torch.Tensor, dict]]:
        """In export form: every tensor an export holds, by name, with its description for prompt.json
        ({"what": ...} and whatever `load_exported` needs back, e.g. a template)."""

    def load_exported(self, tensors: dict[str, torch.Tensor], info: dict) -> None:
        """Rebuilt from settings: take the exported tensors (info: prompt.json's `tensors` entries)."""

    def filled_templates(self, languages: list[str]) -> dict[str, str]:
        """The template the method fills in each language (none for methods that read the plain input)."""

    def peft_files(self, identity: dict) -> tuple[dict, dict]:
        """PEFT's adapter_config.json and adapter tensors, where PEFT can express the method (else ConfigError)."""

    def recorded_state(self) -> dict[str, torch.Tensor]:
        """Untrained tensors a trained state keeps beside the trained ones, by name (soft prompts:
        the prompt before training, which the prompt library's "delta" ranking subtracts)."""


RECORDED_BUFFER = "initial_prompt"  # a buffer of this name is kept in trained states and exports


class Exportable:
    """What most methods export: the tensors they trained, loaded back by name. A method with
    another inference form (UniPrompt) overrides these three."""

    def export_form(self, languages: list[str]) -> dict:
        return {}

    def exported_tensors(self) -> dict[str, tuple[torch.Tensor, dict]]:
        new = {id(p) for p in self.new_parameters()}
        trained = {name: (p, {"what": "parameter the method adds" if id(p) in new
                              else "base model weight as trained (replaces the base model's)"})
                   for name, p in self.named_parameters() if p.requires_grad}
        recorded = {name: (b, {"what": "the prompt before training (not used to predict; the prompt "
                                       "library ranks by what training changed)"})
                    for name, b in self.recorded_state().items()}
        return {**trained, **recorded}

    def load_exported(self, tensors: dict[str, torch.Tensor], info: dict) -> None:
        shapes = {n: tuple(t.shape) for n, t in [*self.named_parameters(), *self.recorded_state().items()]}
        check_exported_shapes(shapes, tensors)
        self.load_state_dict(tensors, strict=False)

    def recorded_state(self) -> dict[str, torch.Tensor]:
        return {name: b for name, b in self.named_buffers() if name.rpartition(".")[2] == RECORDED_BUFFER}

    def filled_templates(self, languages: list[str]) -> dict[str, str]:
        return {}

    def peft_files(self, identity: dict) -> tuple[dict, dict]:
        raise ConfigError("PEFT has no format for it (soft prompts and LoRA have one); export it without --peft")


def check_exported_shapes(expected: dict[str, tuple], tensors: dict[str, torch.Tensor]) -> None:
    """Every exported tensor is one this method has, at its shape (else a ModelError naming it)."""
    for name, tensor in sorted(tensors.items()):
        if name not in expected:
            raise ModelError(f"it holds tensor {name!r}, which this method does not have")
        if tuple(tensor.shape) != tuple(expected[name]):
            raise ModelError(f"it holds {name} of shape {list(tensor.shape)}, "
                             f"but this method needs {list(expected[name])}")


def freeze(module: nn.Module) -> None:
    for parameter in module.parameters():
        if parameter.requires_grad:  # a shared backbone weight is frozen already and is not written
            parameter.requires_grad_(False)


def parameter_counts(module: nn.Module) -> dict[str, int]:
    """Trainable and total parameters, each shared tensor counted once."""
    seen, trainable, total = set(), 0, 0
    for parameter in module.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return {"trainable": trainable, "total": total}


def collate_token_rows(rows: list[dict], pad_id: int) -> dict:
    """input_ids / attention_mask (/ token_type_ids) / labels for rows made by a tokenizer."""
    ids = [row["input_ids"] for row in rows]
    batch = {"input_ids": pad(ids, pad_id), "attention_mask": attention_mask(ids)}
    if "token_type_ids" in rows[0]:
        batch["token_type_ids"] = pad([row["token_type_ids"] for row in rows], 0)
    batch["labels"] = torch.tensor([row["label"] for row in rows], dtype=torch.long)
    return batch


def tokenize_rows(tokenizer, df: pd.DataFrame, max_length: int, **extra) -> list[dict]:
    """Tokenise text (and text_pair when present) of every row, no padding: one batched call
    of the tokenizer for the rows with a second text and one for those without."""
    texts, labels = list(df["text"]), [int(label) for label in df["label"]]
    pairs = [p if isinstance(p, str) else None for p in df["text_pair"]]
    rows: list[dict | None] = [None] * len(texts)
    for has_pair in (False, True):
        indices = [i for i, pair in enumerate(pairs) if (pair is not None) == has_pair]
        if not indices:
            continue
        encoded = tokenizer([texts[i] for i in indices], [pairs[i] for i in indices] if has_pair else None,
                            truncation=True, max_length=max_length)
        for n, i in enumerate(indices):
            ids = encoded["input_ids"][n]
            row = {"input_ids": ids, "length": len(ids), "label": labels[i]}
            if "token_type_ids" in encoded:
                row["token_type_ids"] = encoded["token_type_ids"][n]
            rows[i] = {**row, **extra}
    return rows


def reinitialise(module: nn.Module, std: float) -> None:
    """BERT's own initialisation, for towers that start from random weights."""
    for sub in module.modules():
        if isinstance(sub, nn.Linear):
            nn.init.normal_(sub.weight, std=std)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)


def trained_copy(backbone, word_embeddings: bool, mask_head: bool = True):
    """The backbone a method that trains the encoder's weights works on: its own trainable copy of
    them, the word embeddings shared and frozen unless `word_embeddings` (multilingual vocabularies
    hold most parameters; training them on English alone pulls English rows away from their
    translations, so they stay frozen by default), the MLM head its own when `mask_head`. The
    pooler, which no method reads, stays shared."""
    return backbone.owned(lambda name: (word_embeddings or name != WORD_EMBEDDINGS)
                          and (mask_head or not name.startswith("mask_head.")) and not name.startswith("pooler."))


def train_only(module: nn.Module, parameters: list[nn.Parameter]) -> None:
    """Freeze everything in `module` except `parameters`."""
    freeze(module)
    for parameter in parameters:
        parameter.requires_grad_(True)


def encode(backbone, layers, attention_mask, input_ids=None, inputs_embeds=None, token_type_ids=None):
    hidden = backbone.embed(attention_mask, input_ids=input_ids, inputs_embeds=inputs_embeds,
                            token_type_ids=token_type_ids)
    return backbone.run_layers(layers, hidden, attention_mask)


def gather_rows(hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """hidden[b, index[b]] for every row b: the <mask> state of each example."""
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]
