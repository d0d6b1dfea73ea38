"""What trigger search measures: the task loss on fixed rows as a function of the trigger ids
alone, and its gradient with respect to the trigger embeddings; the backbone stays frozen."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from xprompt.encoder.batching import attention_mask, pad
from xprompt.errors import ConfigError, DataError
from xprompt.methods.base import encode, gather_rows
from xprompt.methods.options import Verbalizer
from xprompt.methods.verbalizers import LabelWords
from xprompt.encoder.templates import Template, render


@contextmanager
def frozen(backbone):
    """requires_grad off and eval mode while searching; the flags and modes are restored after."""
    modules = [m for m in (backbone.encoder, backbone.mask_head) if m is not None]
    parameters = list({id(p): p for m in modules for p in m.parameters()}.values())
    flags, modes = [p.requires_grad for p in parameters], [m.training for m in modules]
    for parameter in parameters:
        parameter.requires_grad_(False)
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)
        for module, mode in zip(modules, modes):
            module.train(mode)


def search_rows(train_df: pd.DataFrame, batch_size: int, verbalizer: Verbalizer, seed: int,
                labels: list[str]) -> pd.DataFrame:
    """`batch_size` rows, the classes taken in turn (seeded); verbalizer vectors needs 2 of each."""
    need = 2 if verbalizer == Verbalizer.VECTORS else 1
    rng = np.random.default_rng(seed)
    groups = {label: rng.permutation(indices) for label, indices in train_df.groupby("label").indices.items()}
    short = [name for label, name in enumerate(labels) if len(groups.get(label, ())) < need]
    if short:
        raise DataError(f"trigger search with verbalizer: {verbalizer.value} needs {need} training row(s) "
                        f"of every class; classes with fewer: {', '.join(short)}")
    if batch_size < need * len(labels):
        raise ConfigError(f"trigger search batch_size is {batch_size}; verbalizer: vectors needs 2 rows per "
                          f"class, so at least {need * len(labels)} for {len(labels)} classes")
    turns = sorted((rank, label, index) for label, indices in groups.items() for rank, index in enumerate(indices))
    return train_df.iloc[sorted(index for _, _, index in turns[:batch_size])]


def nearest_mean_logits(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Scores of the methods' class-mean label vectors (vector = class mean, bias = -|mean|^2/2),
    each row's own class mean taken without the row (leave-one-out: no row votes for itself)."""
    sums = features.new_zeros(num_classes, features.shape[1]).index_add(0, labels, features)
    counts = torch.bincount(labels, minlength=num_classes).to(features.dtype).unsqueeze(1)
    own = (sums[labels] - features) / (counts[labels] - 1)
    own_class = F.one_hot(labels, num_classes).bool().unsqueeze(2)
    means = torch.where(own_class, own.unsqueeze(1), (sums / counts).unsqueeze(0))
    return torch.einsum("nh,nch->nc", features, means) - 0.5 * means.pow(2).sum(dim=2)


class Objective:
    """Mean cross-entropy over classes of `rows` filled into `template`, whose [T] positions
    (its one-token soft slots) hold the trigger ids."""

    def __init__(self, backbone, card, rows: pd.DataFrame, template: Template, verbalizer: Verbalizer,
                 lang: str, max_length: int = 256):
        self.backbone, self.num_classes, device = backbone, len(card.labels), backbone.device
        rendered = [render(template, backbone.tokenizer, text, pair if isinstance(pair, str) else None, max_length)
                    for text, pair in zip(rows["text"], rows["text_pair"])]
        ids = [r.input_ids for r in rendered]
        self.input_ids = pad(ids, backbone.tokenizer.pad_token_id).to(device)
        self.attention_mask = attention_mask(ids).to(device)
        self.mask_index = torch.tensor([r.mask_index for r in rendered], device=device)
        self.positions = torch.tensor([r.soft_positions for r in rendered], device=device)
        self.rows = torch.arange(len(ids), device=device).unsqueeze(1).expand_as(self.positions)
        self.labels = torch.tensor(rows["label"].to_numpy(), dtype=torch.long, device=device)
        self.transform = backbone.mask_head.transform if backbone.has_mlm_head else None
        self.label_words = None
        if verbalizer == Verbalizer.LABEL_WORDS:
            self.label_words = LabelWords(backbone, card, [lang], "trigger search with verbalizer: label_words")
            self.label_words.to(device)

    def _loss(self, states: torch.Tensor) -> torch.Tensor:
        if self.label_words is not None:
            logits = self.label_words(states, torch.zeros_like(self.labels))
        else:
            features = self.transform(states) if self.transform is not None else states
            logits = nearest_mean_logits(features, self.labels, self.num_classes)
        return F.cross_entropy(logits, self.labels)

    @torch.no_grad()
    def loss(self, trigger_ids: list[int]) -> float:
        ids = self.input_ids.clone()
        ids[self.rows, self.positions] = torch.tensor(trigger_ids, device=ids.device).expand_as(self.positions)
        hidden = encode(self.backbone, self.backbone.layers, self.attention_mask, input_ids=ids)
        return float(self._loss(gather_rows(hidden, self.mask_index)))

    def gradient(self, trigger_ids: list[int]) -> torch.Tensor:
        """d loss / d trigger embeddings, [triggers, hidden]: one forward with the triggers'
        embeddings as leaf tensors (shared by every row), one backward."""
        table = self.backbone.embeddings.word_embeddings.weight
        triggers = table[torch.tensor(trigger_ids, device=table.device)].detach().requires_grad_(True)
        with torch.enable_grad():
            embeds = self.backbone.embeddings.word_embeddings(self.input_ids)
            embeds = embeds.index_put((self.rows, self.positions), triggers.expand(len(embeds), -1, -1))
            hidden = encode(self.backbone, self.backbone.layers, self.attention_mask, inputs_embeds=embeds)
            self._loss(gather_rows(hidden, self.mask_index)).backward()
        return triggers.grad
