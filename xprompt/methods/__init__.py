"""The method registry: the only place that lists the methods. Each method is a folder,
`xprompt/methods/<name>/`, whose `__init__.py` holds its SPEC (config class, builder, what it
is), `config.py` its options (no torch) and `model.py` its torch code. Adding a method is that
folder and one name in METHODS. Looking a method up imports its options only; its model code
is imported when a method is built."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from xprompt.strict import from_dict
from xprompt.errors import ConfigError

METHODS = ("uniprompt", "finetune", "discrete", "soft", "ptuning", "deep", "prefix", "lora", "probe")


@dataclass(frozen=True)
class MethodSpec:
    config_class: type
    builder: str  # "module:callable", (config, backbone, card) -> Method; imported when a method is built
    summary: str
    paper: str
    trained: str
    # A method whose prompt is a matrix of input vectors (a library of soft prompts reads it):
    # "module:callable" (settings, state) -> [tokens, hidden] or None, from a trained state;
    input_prompt: str | None = None
    # and the same for the prompt before training, which the state records beside the trained one.
    initial_input_prompt: str | None = None
    # train settings this method needs whatever the pipeline's train section says (a method
    # entry's own `train:` still overrides them); shown by `xprompt methods`
    train_defaults: dict = field(default_factory=dict)
    # Bump when the method's code changes what its trained state holds: its train cells get new
    # keys (in train keys only when not 1, so other methods' cached cells keep theirs).
    output_version: int = 1
    # Whether, with these options (its typed config), the method trains any of the encoder's own
    # weights: only then can train.interpolate move a trained model back toward the pretrained one.
    trains_pretrained: Callable[[object], bool] = lambda config: False

    def build(self, config, backbone, card):
        return _imported(self.builder)(config, backbone, card)

    def read_input_prompt(self, settings: dict, state: dict):
        """The trained input prompt in `state`, or None (a method without one)."""
        return None if self.input_prompt is None else _imported(self.input_prompt)(settings, state)

    def read_initial_input_prompt(self, settings: dict, state: dict):
        """The input prompt before training as `state` recorded it, or None (not recorded)."""
        return None if self.initial_input_prompt is None else _imported(self.initial_input_prompt)(settings, state)


def _imported(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def method_spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise ConfigError(f"unknown method '{name}'; known methods: {', '.join(sorted(METHODS))}")
    return importlib.import_module(f"xprompt.methods.{name}").SPEC


def registry() -> dict[str, MethodSpec]:
    """Every method's spec, in METHODS order."""
    return {name: method_spec(name) for name in METHODS}


def method_config(name: str, settings: dict, where: str = "method"):
    """The method's typed config from a pipeline's `settings` mapping (strict keys)."""
    return from_dict(method_spec(name).config_class, settings or {}, f"{where}.settings")


def build_method(name: str, settings: dict, backbone, card, where: str = "method"):
    """The Method (see methods/base.py) `name` with `settings`, on `backbone` (which it never changes)."""
    return method_spec(name).build(method_config(name, settings, where), backbone, card)


def parameter_counts(module) -> dict[str, int]:
    from xprompt.methods.base import parameter_counts as count
    return count(module)


__all__ = ["METHODS", "MethodSpec", "build_method", "method_config", "method_spec", "parameter_counts", "registry"]
