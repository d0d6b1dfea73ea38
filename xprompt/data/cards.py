"""Task cards: where a data set's files are, how its columns and labels read, and
its templates and label words per language.

A card is data (YAML in the repo's `data/tasks/`, or a user's own file); this
module turns it into a checked, frozen `TaskCard`, so loaders and methods can
trust it and every mistake is reported once, naming the card file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


from xprompt.data.card_checks import SPLITS, validate_card
from xprompt.errors import DataError

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
    # unlabelled target-language text: a path pattern with {lang}, a .txt file (one text per line; a
    # pair task's line is text<TAB>text_pair) or a file of the card's own layout (labels never read)
    unlabelled: str | None = None
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
