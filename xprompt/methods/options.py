"""Options several methods share, as plain dataclasses and enums: importing them (to check a
pipeline, build cache keys, list methods) needs no torch."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar

from xprompt.errors import ConfigError
from xprompt.encoder.templates import parse_template


class Verbalizer(str, enum.Enum):
    VECTORS = "vectors"
    LABEL_WORDS = "label_words"


class LabelInit(str, enum.Enum):
    DYNAMIC = "dynamic"
    WORDS = "words"
    RANDOM = "random"


class Readout(str, enum.Enum):
    MASK = "mask"
    HEAD = "head"


READOUT_HELP = ("mask: the card's template with <mask>, scored by the verbalizer (label vectors or label "
                "words); head: dropout + linear layer on the first token of the plain input (no template)")


@dataclass
class PromptOptions:
    """Options of the prompt methods that read the <mask> state with a verbalizer (soft, ptuning,
    deep). `input_tokens`: the method's num_tokens sit in the input ([soft:N] of a template)."""

    input_tokens: ClassVar[bool] = True
    num_tokens: int = field(default=8, metadata={
        "help": "prompt length: virtual input tokens after the first special token or at the template's "
                "[soft:N] (soft, ptuning), positions prepended at every layer (deep)"})
    template: str | None = field(default=None, metadata={
        "help": "template with {text}, one <mask> (and [soft:N] where input tokens go); "
                "default: the card's template of each language"})
    verbalizer: Verbalizer = field(default=Verbalizer.VECTORS, metadata={
        "help": "vectors: trainable label vectors (any checkpoint); label_words: MLM logits of the "
                "card's label words (needs a masked-LM head)"})
    label_init: LabelInit = field(default=LabelInit.DYNAMIC, metadata={
        "help": "label vector init: dynamic (class means of the training mask states), words, random"})
    max_length: int = field(default=256, metadata={"help": "longest input in tokens"})

    def __post_init__(self):
        if self.num_tokens < 1:
            raise ConfigError(f"settings.num_tokens is {self.num_tokens}; it must be at least 1")
        check_prompt_options(self.template, self.max_length, self.num_tokens if self.input_tokens else 0)


def check_prompt_options(template: str | None, max_length: int, soft_tokens: int = 0) -> None:
    """Config-time checks, so a pipeline fails before any model loads."""
    if max_length < 8:
        raise ConfigError(f"settings.max_length is {max_length}; it must be at least 8")
    if template is not None:
        soft = parse_template(template, "settings.template").soft_count
        if soft not in (0, soft_tokens):
            raise ConfigError(soft_count_message(template, soft, soft_tokens))


def soft_count_message(template: str, found: int, wanted: int) -> str:
    if not wanted:
        return f"template {template!r} has [soft] tokens but this method places no tokens in the input"
    return f"template {template!r} has {found} soft tokens but num_tokens is {wanted}; make them equal"
