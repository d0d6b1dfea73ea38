"""Verbalizers turn the <mask> state into class scores: trainable label vectors (any
checkpoint) or the MLM logits of the card's label words (checkpoints with an MLM head)."""

from __future__ import annotations


import pandas as pd
import torch
from torch import nn

from xprompt.errors import DataError, ModelError
from xprompt.methods.options import LabelInit, Verbalizer

NO_HEAD_ALTERNATIVES = "uniprompt, soft, ptuning, deep, prefix or lora with verbalizer: vectors, or finetune"


def require_mlm_head(backbone, method: str):
    if not backbone.has_mlm_head:
        raise ModelError(f"checkpoint '{backbone.model_id}' has no masked-LM head, so {method} cannot score "
                         f"label words on it; methods that run on it: {NO_HEAD_ALTERNATIVES}")
    return backbone.mask_head


def label_word_ids(backbone, words: list[str], lang: str) -> list[list[int]]:
    """Token ids of each label word; a word the tokenizer cannot encode is a DataError."""
    ids = backbone.word_embedding_ids(words)
    unk = backbone.tokenizer.unk_token_id
    for word, pieces in zip(words, ids):
        if not pieces or unk in pieces:
            tokens = backbone.tokenizer.convert_ids_to_tokens(pieces)
            raise DataError(f"label word {word!r} of language '{lang}' cannot be encoded by the tokenizer of "
                            f"'{backbone.model_id}' (it gives {tokens}); use a word its vocabulary covers")
    return ids


class LabelVectors(nn.Module):
    """One trainable vector (+ bias) per class, scored against the <mask> state through the
    MLM head's transform when the checkpoint has one."""

    def __init__(self, backbone, card, init: LabelInit):
        super().__init__()
        self.backbone, self.card, self.init = backbone, card, init
        self.transform = backbone.mask_head.transform if backbone.has_mlm_head else nn.Identity()
        count, std = len(card.labels), backbone.config.initializer_range
        self.label_vectors = nn.Parameter(torch.randn(count, backbone.hidden_size) * std)
        self.label_bias = nn.Parameter(torch.zeros(count))

    def new_parameters(self) -> list[nn.Parameter]:
        return [self.label_vectors, self.label_bias]

    def forward(self, states: torch.Tensor, language: torch.Tensor | None = None) -> torch.Tensor:
        return self.transform(states) @ self.label_vectors.T + self.label_bias

    @torch.no_grad()
    def initialize(self, method, train_df: pd.DataFrame) -> None:
        if self.init == LabelInit.DYNAMIC:
            states, labels = method.mask_states(train_df)
            features = self.transform(states)
            sums = torch.zeros_like(self.label_vectors).index_add_(0, labels, features)
            counts = torch.bincount(labels, minlength=len(sums)).clamp(min=1).unsqueeze(1)
            means = sums / counts
            # the bias -|mean|^2/2 makes the untrained scorer exactly nearest-class-mean
            self.label_vectors.copy_(means)
            self.label_bias.copy_(-0.5 * means.pow(2).sum(dim=1))
        elif self.init == LabelInit.WORDS:
            lang = self.card.source_language
            table = self.backbone.embeddings.word_embeddings.weight
            for label, words in enumerate(self.card.verbalizer(lang)):
                ids = [i for pieces in label_word_ids(self.backbone, words, lang) for i in pieces]
                self.label_vectors[label] = table[ids].mean(dim=0)


class LabelWords(nn.Module):
    """Score of a class = mean over its label words of the mean MLM logit of the word's pieces
    at the mask. Only the label words' rows of the output embedding are read, and one
    averaging matrix per language turns their logits into class scores."""

    def __init__(self, backbone, card, languages: list[str], method: str):
        super().__init__()
        self.mask_head = require_mlm_head(backbone, method)
        words = [self._word_ids(backbone, card, lang) for lang in languages]
        token_ids = sorted({i for classes in words for class_words in classes for w in class_words for i in w})
        column = {token: j for j, token in enumerate(token_ids)}
        averaging = torch.zeros(len(languages), len(token_ids), len(card.labels))
        for index, classes in enumerate(words):
            for label, class_words in enumerate(classes):
                for pieces in class_words:
                    for token in pieces:
                        averaging[index, column[token], label] += 1.0 / (len(class_words) * len(pieces))
        self.register_buffer("token_ids", torch.tensor(token_ids, dtype=torch.long), persistent=False)
        self.register_buffer("averaging", averaging, persistent=False)

    @staticmethod
    def _word_ids(backbone, card, lang: str) -> list[list[list[int]]]:
        classes = card.verbalizer(lang)
        if len(classes) != len(card.labels) or not all(classes):
            raise DataError(f"the label words of '{lang}' give {len(classes)} classes (some maybe empty) but task "
                            f"'{card.name}' has {len(card.labels)} labels; give at least one word per label")
        return [label_word_ids(backbone, class_words, lang) for class_words in classes]

    def new_parameters(self) -> list[nn.Parameter]:
        return []

    def forward(self, states: torch.Tensor, language: torch.Tensor) -> torch.Tensor:
        logits = self.mask_head.score_tokens(states, self.token_ids)
        return torch.einsum("bt,btc->bc", logits, self.averaging[language])

    def initialize(self, method, train_df: pd.DataFrame) -> None:
        pass


def make_verbalizer(kind: Verbalizer, backbone, card, languages: list[str], init: LabelInit, method: str):
    if kind == Verbalizer.LABEL_WORDS:
        return LabelWords(backbone, card, languages, method)
    return LabelVectors(backbone, card, init)
