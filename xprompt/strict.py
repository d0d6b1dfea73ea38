"""The strict reading of a mapping into a dataclass, shared by pipeline files, method settings
and task cards: every key must be a field, every field without a default must be given, and
(`from_dict`) every value must have the field's type. Errors name the section and key."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any

from xprompt.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class KeyCheck:
    accepted: list[str]
    unknown: list[str]   # sorted
    missing: list[str]   # required fields not given, in field order


def check_keys(cls: type, raw: Mapping[str, Any], internal: tuple[str, ...] = ()) -> KeyCheck:
    """How the keys of `raw` match the fields of dataclass `cls` (`internal` fields are not keys a
    file may give, e.g. a card's own path)."""
    fields = [f for f in dataclasses.fields(cls) if f.name not in internal]
    accepted = [f.name for f in fields]
    unknown = sorted(str(key) for key in raw if key not in accepted)
    missing = [f.name for f in fields if f.name not in raw
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    return KeyCheck(accepted, unknown, missing)


def from_dict(cls, data, where: str):
    """Build dataclass `cls` from a mapping, strictly: unknown keys and wrong types are errors."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of {cls.__name__} keys, got {type(data).__name__}")
    keys = check_keys(cls, data)
    if keys.unknown:
        raise ConfigError(f"unknown key '{where}.{keys.unknown[0]}'; "
                          f"accepted keys of {where}: {', '.join(keys.accepted)}")
    if keys.missing:
        raise ConfigError(f"{where} is missing the required key '{keys.missing[0]}'")
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**values)


def _coerce(hint, value, where: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            value = [value]  # `targets: de` reads as one language
        return [_coerce(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)] if args else value
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(f"{where} is {value!r}; accepted: {', '.join(m.value for m in hint)}") from None
    return _coerce_scalar(hint, value, where)


def _coerce_scalar(hint, value, where: str):
    if hint is typing.Any:
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads 1e-3 as a string
        except ValueError:
            pass
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{where} is {value!r}; expected {getattr(hint, '__name__', hint)}")
