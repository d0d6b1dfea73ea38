"""The method registry: the only place that maps a method name to its code.
Adding a method is one module and one line here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from xprompt.config import from_dict
from xprompt.errors import ConfigError
from xprompt.methods.base import Method, parameter_counts
from xprompt.methods.deep import DeepConfig, build_deep
from xprompt.methods.discrete import DiscreteConfig, build_discrete
from xprompt.methods.finetune import FineTune, FineTuneConfig
from xprompt.methods.lora import LoraConfig, build_lora
from xprompt.methods.prefix import PrefixConfig, build_prefix
from xprompt.methods.probe import LinearProbe, ProbeConfig
from xprompt.methods.ptuning import PTuningConfig, build_ptuning
from xprompt.methods.soft import SoftConfig, build_soft
from xprompt.methods.uniprompt import UniPrompt, UniPromptConfig


@dataclass(frozen=True)
class MethodSpec:
    config_class: type
    build: Callable  # (config, backbone, card) -> Method
    summary: str
    paper: str
    trained: str


REGISTRY: dict[str, MethodSpec] = {
    "uniprompt": MethodSpec(
        UniPromptConfig, UniPrompt, "two towers, fused top layers, soft label words; prompt precomputed at inference",
        "Huang et al., EMNLP 2022 (Zero-shot cross-lingual transfer of prompt-based tuning with a unified "
        "multilingual prompt)",
        "all weights but the word embeddings (recipe: paper trains those too), or prompt tower + label "
        "vectors (trained: prompt)"),
    "finetune": MethodSpec(
        FineTuneConfig, FineTune, "classification head on the first token",
        "standard baseline (Devlin et al. 2019; Conneau et al. 2020)",
        "all weights and the head; word embeddings frozen unless freeze_word_embeddings: false"),
    "discrete": MethodSpec(
        DiscreteConfig, build_discrete, "template + MLM logits of label words (PET / LM-BFF)",
        "Schick & Schuetze, EACL 2021; Gao et al., ACL 2021",
        "all weights (trained: all) or nothing (zero-shot prompting); needs a masked-LM head"),
    "soft": MethodSpec(
        SoftConfig, build_soft, "trainable virtual tokens before the input (prompt tuning)",
        "Lester et al., EMNLP 2021", "the virtual tokens and the label vectors; the encoder is frozen"),
    "ptuning": MethodSpec(
        PTuningConfig, build_ptuning, "virtual tokens produced by a prompt encoder (P-tuning)",
        "Liu et al. 2021 (GPT understands, too)",
        "the prompt encoder (bi-LSTM + MLP) and the label vectors; the encoder too with freeze_backbone: false"),
    "deep": MethodSpec(
        DeepConfig, build_deep, "prompt positions prepended before every layer (VPT-deep)",
        "Jia et al., ECCV 2022 (visual prompt tuning, deep form)",
        "the per-layer prompt states (or their MLP) and the label vectors; the encoder is frozen"),
    "prefix": MethodSpec(
        PrefixConfig, build_prefix, "free key/value prefixes in every attention layer (prefix tuning / P-tuning v2)",
        "Li & Liang, ACL 2021; Liu et al., ACL 2022 (P-tuning v2)",
        "layers x num_tokens x 2 x hidden prefix values (or their MLP while training) and the head or "
        "label vectors; the encoder is frozen"),
    "lora": MethodSpec(
        LoraConfig, build_lora, "low-rank adapters on the attention projections, through PEFT",
        "Hu et al., ICLR 2022",
        "the adapters (rank r on target_modules) and the head or label vectors; the encoder is frozen"),
    "probe": MethodSpec(
        ProbeConfig, LinearProbe, "baseline: logistic regression on mean-pooled frozen states",
        "standard baseline (logistic regression on frozen sentence features)", "one linear layer; the encoder is frozen"),
}


def method_spec(name: str) -> MethodSpec:
    if name not in REGISTRY:
        raise ConfigError(f"unknown method '{name}'; known methods: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def method_config(name: str, settings: dict, where: str = "method"):
    """The method's typed config from a pipeline's `settings` mapping (strict keys)."""
    return from_dict(method_spec(name).config_class, settings or {}, f"{where}.settings")


def build_method(name: str, settings: dict, backbone, card, where: str = "method") -> Method:
    return method_spec(name).build(method_config(name, settings, where), backbone, card)


__all__ = ["Method", "REGISTRY", "build_method", "method_config", "method_spec", "parameter_counts"]
