"""The options of the uniprompt method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from xprompt.pipeline.config import neutral
from xprompt.errors import ConfigError
from xprompt.methods.options import LabelInit
from xprompt.encoder.templates import parse_template


class PromptInit(str, enum.Enum):
    PRETRAINED = "pretrained"
    RANDOM = "random"


class Trained(str, enum.Enum):
    ALL = "all"
    PROMPT = "prompt"


class Recipe(str, enum.Enum):
    XPROMPT = "xprompt"
    PAPER = "paper"


RECIPE_HELP = ("xprompt: class-mean label vectors taken after the MLM transform with bias -|mean|^2/2 (the "
               "untrained scorer is nearest-class-mean), word embeddings frozen unless freeze_word_embeddings: "
               "false; paper: as the released code, label vectors = mean raw <mask> state with bias 0, word "
               "embeddings trained, inputs up to 512 tokens (pair it with the paper's training: "
               "pipelines/uniprompt-paper-marc.yaml)")


@dataclass
class UniPromptConfig:
    fused_layers: int = field(default=3, metadata={"help": "top layers that see [prompt; context]"})
    template: str | None = field(default=None, metadata={
        "help": "prompt text with one <mask> and optional [soft:N]; default: the card's source template"})
    language_templates: bool = field(default=False, metadata={
        "help": "use the card's per-language templates instead of one unified prompt"})
    prompt_init: PromptInit = field(default=PromptInit.PRETRAINED, metadata={"help": "prompt tower init"})
    label_init: LabelInit = field(default=LabelInit.DYNAMIC, metadata={"help": "label vector init"})
    trained: Trained = field(default=Trained.ALL, metadata={
        "help": "all weights (paper) or prompt tower + label vectors only (base model unchanged)"})
    freeze_word_embeddings: bool = field(default=True, metadata={"help": "keep the vocabulary matrix frozen"})
    max_length: int = field(default=256, metadata={"help": "longest input in tokens"})
    recipe: Recipe = field(default=Recipe.XPROMPT, metadata={**neutral(Recipe.XPROMPT), "help": RECIPE_HELP})
    class_mean_bias: bool = field(default=True, metadata={**neutral(True), "help":
        "label_init: dynamic: start each class's bias at -|mean|^2/2 (nearest-class-mean scorer); false: at 0, "
        "as the released code (recipe: paper sets false)"})

    def __post_init__(self):
        if self.recipe == Recipe.PAPER:
            if self.max_length not in (256, 512):
                raise ConfigError(f"uniprompt.max_length is {self.max_length}, but recipe: paper reads inputs up "
                                  f"to 512 tokens as the released code does; drop max_length or the recipe")
            self.freeze_word_embeddings, self.max_length, self.class_mean_bias = False, 512, False
        if self.fused_layers < 1:
            raise ConfigError(f"uniprompt.fused_layers is {self.fused_layers}; it must be at least 1")
        if self.template is not None:
            parse_template(self.template, "uniprompt.template")
