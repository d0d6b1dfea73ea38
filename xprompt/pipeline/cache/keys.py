"""Cache keys: canonical JSON of what changes a stage's output, content hashes, change reasons.

A key hashes the stage name, its `version`, the parameters that differ from
their defaults, the keys of its inputs and the content hashes of its input
files (datasets' fingerprints). Parameters left at their default are dropped,
so adding a new defaulted option keeps every old key valid; bumping `version`
invalidates them on purpose.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence, Set
from pathlib import Path, PurePath
from typing import Any

from xprompt.errors import CacheError

KEY_LENGTH = 20  # hex characters: 80 bits, collision-free for any realistic cache
_CHUNK_BYTES = 1 << 20
_UNHASHABLE = object()  # stands in for a value that canonical() rejects, equal to nothing else


def canonical(value: Any, name: str = "value") -> Any:
    """Return `value` as plain JSON data with one spelling per meaning; `name` is used in errors."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return canonical(value.value, name)
    if isinstance(value, int):
        return int(value)  # IntEnum-like subclasses and friends become plain ints
    if isinstance(value, float):
        return _canonical_float(value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if _is_numpy_scalar(value):
        return canonical(value.item(), name)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        return canonical(fields, name)
    if isinstance(value, Mapping):
        return {_canonical_dict_key(k, name): canonical(v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, Set):
        # Sets have no order; sort by their canonical JSON so the key does not depend on hashing.
        items = [canonical(item, f"{name}[]") for item in value]
        return sorted(items, key=canonical_json)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [canonical(item, f"{name}[{i}]") for i, item in enumerate(value)]
    raise CacheError(
        f"Parameter {name!r} has a value of type {type(value).__name__} that cannot be hashed "
        "into a cache key; use None, bool, int, float, str, Path, Enum, list, tuple, set, dict "
        "or a dataclass of those."
    )


def _canonical_float(value: float) -> float | int | str:
    if math.isnan(value) or math.isinf(value):
        return repr(value)  # JSON has no NaN/inf; a string keeps the key stable and readable
    if value.is_integer():
        return int(value)  # 1.0 == 1 in Python, so the key agrees with the default comparison
    # 15 significant digits: 1e-3, 0.001 and 0.1 * 0.01 (=0.0010000000000000002) all agree.
    return float(format(value, ".15g"))


def _canonical_dict_key(key: Any, name: str) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, (str, int)) and not isinstance(key, bool):
        return str(key)
    raise CacheError(f"Parameter {name!r} has a dict key {key!r}; cache keys accept str, int or Enum keys.")


def _is_numpy_scalar(value: Any) -> bool:
    # Checked by module name so this module does not import numpy.
    return type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0


def canonical_json(value: Any) -> str:
    """Compact, key-sorted JSON of already-canonical data."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def non_default_params(params: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical params minus those equal to their default (compared in canonical form)."""
    kept = {}
    for name, value in params.items():
        value_form = canonical(value, name)
        if name in defaults and _same(_canonical_or_sentinel(defaults[name], name), value_form):
            continue
        kept[str(name)] = value_form
    return kept


def _same(left: Any, right: Any) -> bool:
    # Compared as JSON text because Python's == says True == 1 == 1.0, but the key does not.
    if left is _UNHASHABLE or right is _UNHASHABLE:
        return left is right
    return canonical_json(left) == canonical_json(right)


def _canonical_or_sentinel(value: Any, name: str) -> Any:
    try:
        return canonical(value, name)
    except CacheError:
        return _UNHASHABLE  # an unhashable default simply never equals a given value


def stage_key(
    stage: str,
    version: str | int,
    params: Mapping[str, Any],
    defaults: Mapping[str, Any],
    input_keys: Mapping[str, str] | Sequence[str],
    file_hashes: Mapping[str, str] | None = None,
) -> str:
    """Hex key of one stage cell; raises CacheError naming a parameter that cannot be hashed.

    `input_keys` as a mapping names each input's role (order-free); as a sequence its
    order is part of the identity.
    """
    payload = {
        "stage": str(stage),
        "version": str(version),
        "params": non_default_params(params, defaults),
        "inputs": canonical(input_keys, "input_keys"),
        "files": canonical(dict(file_hashes or {}), "file_hashes"),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:KEY_LENGTH]


def file_hash(path: str | os.PathLike) -> str:
    """sha256 hex of a file's contents, read in 1 MiB chunks so model weights fit in memory."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
                digest.update(chunk)
    except OSError as error:
        raise CacheError(f"Cannot hash file {os.fspath(path)!r}: {error.strerror or error}.") from error
    return digest.hexdigest()


def tree_hash(directory: str | os.PathLike) -> str:
    """sha256 hex over every file's relative POSIX path and content hash, in sorted order.

    Empty directories do not count, and symlinked directories are not followed, so the
    hash is the same on every machine that holds the same files.
    """
    root = Path(directory)
    if not root.is_dir():
        raise CacheError(f"Cannot hash directory {os.fspath(root)!r}: it is not a directory.")
    digest = hashlib.sha256()
    for relative in relative_files(root):
        digest.update(f"{relative}\0{file_hash(root / relative)}\n".encode("utf-8"))
    return digest.hexdigest()


def path_hash(path: str | os.PathLike) -> str:
    """file_hash for a file, tree_hash for a directory (e.g. a model checkpoint folder)."""
    return tree_hash(path) if Path(path).is_dir() else file_hash(path)


def relative_files(root: Path) -> list[str]:
    """Sorted POSIX paths, relative to `root`, of every file below it (symlinked dirs not followed)."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            found.append((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)


def describe_change(
    old_params: Mapping[str, Any] | None,
    new_params: Mapping[str, Any],
    old_inputs: Mapping[str, str] | Sequence[str] | None = None,
    new_inputs: Mapping[str, str] | Sequence[str] | None = None,
    *,
    old_version: str | int | None = None,
    new_version: str | int | None = None,
) -> str:
    """One-line reason a stage cell must rerun, e.g. `param lr changed 0.001 -> 0.0005`.

    `old_params is None` means no earlier record exists (`new entry`). Params are compared
    in canonical form, so pass either full or non-default params, the same kind on both sides.
    """
    if old_params is None:
        return "new entry"
    reasons = []
    if old_version is not None and new_version is not None and str(old_version) != str(new_version):
        reasons.append(f"version {old_version} -> {new_version}")
    reasons += _param_changes(old_params, new_params)
    reasons += _input_changes(old_inputs, new_inputs)
    return "; ".join(reasons) if reasons else "no recorded change (the entry is missing or was removed)"


def _param_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    old_forms = {k: _canonical_or_sentinel(v, k) for k, v in old.items()}
    new_forms = {k: _canonical_or_sentinel(v, k) for k, v in new.items()}
    changes = []
    for key in sorted(set(old_forms) | set(new_forms)):
        name = f"{prefix}{key}"
        old_form, new_form = old_forms.get(key), new_forms.get(key)
        if isinstance(old_form, dict) and isinstance(new_form, dict):
            changes += _param_changes(old_form, new_form, f"{name}.")  # `param train.lr`, not the section
        elif key not in old_forms:
            changes.append(f"param {name} set to {_short(new_form)} (was default)")
        elif key not in new_forms:
            changes.append(f"param {name} back to default (was {_short(old_form)})")
        elif not _same(old_form, new_form):
            changes.append(f"param {name} changed {_short(old_form)} -> {_short(new_form)}")
    return changes


def _input_changes(old: Any, new: Any) -> list[str]:
    if old is None or new is None or _same(canonical(old), canonical(new)):
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes = []
        for name in sorted(set(old) | set(new), key=str):
            if name not in old:
                changes.append(f"input {name} added")
            elif name not in new:
                changes.append(f"input {name} removed")
            elif old[name] != new[name]:
                changes.append(f"input {name} changed")
        return changes
    if len(old) == len(new):
        return [f"input {i} changed" for i, (a, b) in enumerate(zip(old, new)) if a != b]
    return [f"inputs changed ({len(old)} -> {len(new)})"]


def _short(value: Any, limit: int = 60) -> str:
    text = "<unhashable>" if value is _UNHASHABLE else canonical_json(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
