"""The strict reading of a mapping into a dataclass, shared by pipeline files and task cards:
every key must be a field, every field without a default must be given. Callers word the
error (file, line, section) and convert the values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


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
