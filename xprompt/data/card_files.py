"""Task cards read from YAML (a shipped one by name, a user's by path): strict keys at every
level, values converted to the card's dataclasses, errors naming the file, line and key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from xprompt.data.card_checks import PLACEHOLDER
from xprompt.data.cards import (TASKS_DIR, Columns, FixedShots, HubSource, LocalOverride, LocalSource, TaskCard,
                                normalize_label)
from xprompt.errors import DataError
from xprompt.strict import check_keys


def known_tasks() -> list[str]:
    """Names of the task cards shipped in the repo's data/tasks folder."""
    return sorted(path.stem for path in TASKS_DIR.glob("*.yaml"))


def load_card(name_or_path: str | Path) -> TaskCard:
    """A shipped task by name (`xnli`), or a user's task card YAML by path."""
    text = str(name_or_path)
    known = known_tasks()
    if text in known:
        return card_from_file(TASKS_DIR / f"{text}.yaml")
    path = Path(text).expanduser()
    if path.is_file():
        return card_from_file(path)
    hint = f"known tasks: {', '.join(known)}, or a path to a task card YAML"
    if path.suffix in (".yaml", ".yml"):
        raise DataError(f"task card file {path} does not exist; {hint}")
    raise DataError(f"unknown task {text!r}; {hint}")


def card_from_file(path: Path) -> TaskCard:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DataError(_yaml_message(path, error)) from None
    if not isinstance(raw, Mapping):
        raise DataError(f"task card {path} must be a YAML mapping of keys "
                        f"(name, labels, languages, ...)")
    return card_from_dict({"name": path.stem, **raw}, path)


def _yaml_message(path: Path, error: yaml.YAMLError) -> str:
    """One sentence naming the card file and line; a pattern such as {lang} left unquoted inside a
    flow mapping ({train: {lang}/train.csv}) gets the fix spelled out."""
    mark = getattr(error, "problem_mark", None)
    line_number = mark.line + 1 if mark else None
    where = f"task card {path}" + (f" line {line_number}" if line_number else "")
    problem = str(getattr(error, "problem", None) or error).strip()
    try:
        line = path.read_text(encoding="utf-8").splitlines()[line_number - 1] if line_number else ""
    except (OSError, IndexError, UnicodeDecodeError):
        line = ""
    if PLACEHOLDER.search(line):
        return (f"{where} is not valid YAML ({problem}): quote values that hold a placeholder such as "
                f"{{lang}}, e.g. train: \"{{lang}}/train.csv\"")
    return f"{where} is not valid YAML ({problem})"


def card_from_dict(raw: Mapping[str, Any], path: Path) -> TaskCard:
    """Build a card from parsed YAML; unknown keys at any level are errors."""
    def build(cls: type, value: Any, where: str, convert: dict[str, Callable] | None = None) -> Any:
        return _build(cls, value, where, path, convert or {})

    def columns(value: Any, where: str) -> Columns:
        return build(Columns, value, where)

    def reading(where: str) -> dict[str, Callable]:
        return {"columns": lambda v: None if v is None else columns(v, f"'{where}.columns'"),
                "label_map": lambda v: _label_map(v),
                "names": lambda v: None if v is None else tuple(str(x) for x in v),
                "drop_labels": lambda v: None if v is None else tuple(normalize_label(x) for x in _listed(v)),
                "languages": lambda v: tuple(str(x) for x in _listed(v))}

    def overrides(value: Any) -> tuple:
        if not isinstance(value, list):
            raise DataError(f"task card {path}: local.overrides must be a list of mappings, each with "
                            f"'languages' and the keys that differ for them")
        only = {"splits": lambda v: None if v is None else tuple(str(x) for x in _listed(v))}
        return tuple(build(LocalOverride, item, f"'local.overrides[{i}]'", {**reading(f"local.overrides[{i}]"), **only})
                     for i, item in enumerate(value))

    def source(cls: type, where: str) -> Callable[[Any], Any]:
        convert = {**reading(where), "overrides": overrides}
        return lambda v: None if v is None else build(cls, v, f"'{where}'", convert)

    fixed = {"shots": lambda v: tuple(int(x) for x in v), "seeds": lambda v: tuple(int(x) for x in v)}
    convert = {
        "labels": lambda v: tuple(str(x) for x in _as_list(v, "labels", path)),
        "languages": lambda v: tuple(str(x) for x in _as_list(v, "languages", path)),
        "local": source(LocalSource, "local"),
        "hub": source(HubSource, "hub"),
        "fixed_shots": lambda v: None if v is None else build(FixedShots, v, "'fixed_shots'", fixed),
        "templates": lambda v: {str(k): t for k, t in (v or {}).items()},
        "verbalizers": lambda v: {str(k): _words(w) for k, w in (v or {}).items()},
    }
    return build(TaskCard, raw, "the top level", convert)


def _build(cls: type, raw: Any, where: str, path: Path, convert: dict[str, Callable]) -> Any:
    if not isinstance(raw, Mapping):
        accepted = [f.name for f in fields(cls) if f.name != "path"]
        raise DataError(f"task card {path}: {where} must be a mapping with keys {', '.join(accepted)}")
    keys = check_keys(cls, raw, internal=("path",))
    if keys.unknown:
        raise DataError(f"task card {path}: unknown key {keys.unknown[0]!r} in {where}; "
                        f"accepted keys: {', '.join(keys.accepted)}")
    if keys.missing:
        raise DataError(f"task card {path}: {where} is missing the required key {keys.missing[0]!r}")
    try:
        values = {key: convert[key](value) if key in convert else value for key, value in raw.items()}
    except (TypeError, ValueError, AttributeError) as error:
        raise DataError(f"task card {path}: a value in {where} has the wrong shape ({error})") from None
    return cls(**values, path=path) if cls is TaskCard else cls(**values)


def _as_list(value: Any, key: str, path: Path) -> list:
    if not isinstance(value, list) or not value or any(isinstance(x, bool) for x in value):
        raise DataError(f"task card {path}: {key!r} must be a non-empty list of names, got {value!r} "
                        f"(quote yes/no/on/off, which YAML reads as booleans)")
    return value


def _label_map(value: Any) -> dict[str, str | None] | None:
    if value is None:
        return None
    return {normalize_label(raw): None if name is None else str(name) for raw, name in value.items()}


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _words(per_class: Any) -> tuple[tuple[str, ...], ...]:
    """One entry per class: a word, or a list of words (a class may have several)."""
    if not isinstance(per_class, list):
        raise TypeError(f"a verbalizer must be a list with one entry per class, got {per_class!r}")
    return tuple(tuple(words) if isinstance(words, list) else (words,) for words in per_class)
