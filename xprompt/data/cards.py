"""Task cards: where a data set's files are, how its columns and labels read, and
its templates and label words per language.

A card is data (YAML in the repo's `data/tasks/`, or a user's own file); this
module turns it into a checked, frozen `TaskCard`, so loaders and methods can
trust it and every mistake is reported once, naming the card file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from xprompt.data.card_checks import PLACEHOLDER, SPLITS, validate_card
from xprompt.errors import DataError
from xprompt.strict import check_keys

TASKS_DIR = Path(__file__).resolve().parents[2] / "data" / "tasks"


def normalize_label(value: Any) -> str:
    """Raw labels arrive as 1, 1.0, "1" or " 1" depending on the file format; one
    spelling lets a card's label_map match them all."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass(frozen=True)
class Columns:
    """Names of the source columns that become the table's text, text_pair, label and id."""

    text: str
    label: str
    text_pair: str | None = None
    id: str | None = None  # None: ids are "{lang}-{split}-{row}"


@dataclass(frozen=True)
class LocalOverride:
    """What differs for some languages (one language, or a family of files): any key left out is
    the card's own. `files` is merged split by split into the card's."""

    languages: tuple[str, ...]
    splits: tuple[str, ...] | None = None  # only these of the data set's splits (None: all)
    files: dict[str, str | dict[str, str]] | None = None
    columns: Columns | None = None
    format: str | None = None
    sep: str | None = None
    quoting: str | None = None
    encoding: str | None = None
    header: bool | None = None
    names: tuple[str, ...] | None = None
    label_map: dict[str, str | None] | None = None
    drop_labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LocalSource:
    """Files under a data root; `files` maps the data set's split names to a path pattern
    with `{lang}`, or to one path per language; `overrides` change any of this per language."""

    files: dict[str, str | dict[str, str]]
    columns: Columns
    format: str | None = None  # None: from the file extension
    sep: str | None = None  # None: "," for csv, a tab for tsv
    # "csv" (fields in double quotes), "none", or "auto": unquoted, unless the file looks quoted and reads
    # to the same rows with quotes; None: csv for csv files, none for tsv
    quoting: str | None = None
    encoding: str = "utf-8"
    header: bool = True
    names: tuple[str, ...] | None = None  # column names of a file without a header
    label_map: dict[str, str | None] | None = None  # raw value -> label name (null: drop the row)
    drop_labels: tuple[str, ...] = ()  # raw label values whose rows are dropped (counted in the log)
    overrides: tuple[LocalOverride, ...] = ()

    def for_language(self, lang: str, split: str | None = None) -> "LocalSource":
        """This source as it reads `lang` (and the data set's `split`): the overrides naming them
        applied in order. `label_map: {}` in an override means raw labels are the label names."""
        merged = self
        for override in self.overrides:
            if lang not in override.languages or (split is not None and override.splits is not None
                                                  and split not in override.splits):
                continue
            changes = {f.name: getattr(override, f.name) for f in fields(override)
                       if f.name not in ("languages", "splits") and getattr(override, f.name) is not None}
            if changes.get("label_map") == {}:
                changes["label_map"] = None
            if "files" in changes:
                changes["files"] = {**merged.files, **changes["files"]}
            merged = dataclasses.replace(merged, **changes)
        return dataclasses.replace(merged, overrides=())


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face `datasets` id; `splits` maps the card's split names to the Hub's."""

    dataset: str
    columns: Columns
    config: str | None = None  # pattern with `{lang}`
    splits: dict[str, str] = field(default_factory=dict)
    label_map: dict[str, str] | None = None
    revision: str | None = None  # commit, tag or branch of the dataset repository (default: main)


@dataclass(frozen=True)
class FixedShots:
    """K-shot split files a data set ships (MARC), read with the card's local layout."""

    train: str  # pattern with {lang}, {k}, {seed}
    dev: str
    shots: tuple[int, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class TaskCard:
    """One task: label names (label id = index), languages, sources, templates, label words."""

    name: str
    labels: tuple[str, ...]
    languages: tuple[str, ...]
    path: Path  # the card file, named in every error
    source_language: str = "en"
    description: str = ""
    train_split: str | None = "train"  # which of the data set's splits is the training pool
    dev_split: str | None = "dev"
    test_split: str | None = "test"
    parallel: str | None = None  # "row": row i is one item in every language; "id": same ids
    local: LocalSource | None = None
    hub: HubSource | None = None
    fixed_shots: FixedShots | None = None
    templates: dict[str, str] = field(default_factory=dict)
    verbalizers: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_card(self)

    def __hash__(self) -> int:
        # the generated hash would fail on the dict fields; name and file identify a card
        return hash((self.name, str(self.path)))

    @property
    def has_pair(self) -> bool:
        sources = [s for s in (self.local, self.hub) if s is not None]
        return any(s.columns.text_pair for s in sources)

    @property
    def builtin(self) -> bool:
        return self.path.resolve().parent == TASKS_DIR

    def source_split(self, split: str) -> str:
        """The data set's own split name behind `train`, `dev` or `test`."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r} for task {self.name}; "
                            f"accepted: {', '.join(SPLITS)}")
        source = getattr(self, f"{split}_split")
        if source is None:
            raise DataError(f"task card {self.path} declares no {split!r} split "
                            f"({split}_split is null)")
        return source

    def template(self, lang: str) -> str:
        """The template for `lang`, else the source language's."""
        return _with_fallback(self, self.templates, "templates", lang)

    def verbalizer(self, lang: str) -> list[list[str]]:
        """Label words per class (index = label id) for `lang`, else the source language's."""
        words = _with_fallback(self, self.verbalizers, "verbalizers", lang)
        return [list(class_words) for class_words in words]

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for recording a card beside results or hashing it into cache keys."""
        raw = dataclasses.asdict(self)
        raw["path"] = str(self.path)
        return raw


def _with_fallback(card: TaskCard, table: Mapping[str, Any], key: str, lang: str) -> Any:
    return with_source_fallback(table, lang, card.source_language,
                                f"task card {card.path} has no {key} for {lang!r} nor for the source "
                                f"language {card.source_language!r}; add them under '{key}'")


def with_source_fallback(table: Mapping[str, Any], lang: str, source: str, missing: str) -> Any:
    """table[lang], else table[source] (English usually); DataError(missing) when neither exists."""
    if lang in table:
        return table[lang]
    if source in table:
        return table[source]
    raise DataError(missing)


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
