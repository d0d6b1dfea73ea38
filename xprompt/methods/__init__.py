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
from xprompt.methods.probe import LinearProbe, ProbeConfig
from xprompt.methods.ptuning import PTuningConfig, build_ptuning
from xprompt.methods.soft import SoftConfig, build_soft
from xprompt.methods.uniprompt import UniPrompt, UniPromptConfig


@dataclass(frozen=True)
class MethodSpec:
    config_class: type
    build: Callable  # (config, backbone, card) -> Method
    summary: str


REGISTRY: dict[str, MethodSpec] = {
    "uniprompt": MethodSpec(UniPromptConfig, UniPrompt, "two towers, fused top layers, soft label words"),
    "finetune": MethodSpec(FineTuneConfig, FineTune, "classification head on the first token, all weights"),
    "discrete": MethodSpec(DiscreteConfig, build_discrete, "template + MLM logits of label words (PET / LM-BFF)"),
    "soft": MethodSpec(SoftConfig, build_soft, "trainable virtual tokens in the input (prompt tuning)"),
    "ptuning": MethodSpec(PTuningConfig, build_ptuning, "virtual tokens from a prompt encoder (P-tuning)"),
    "deep": MethodSpec(DeepConfig, build_deep, "trainable prompts at every layer (prefix tuning / P-tuning v2)"),
    "probe": MethodSpec(ProbeConfig, LinearProbe, "baseline: logistic regression on mean-pooled frozen states"),
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
