"""The checks a task card passes when it loads: labels, languages, sources and their reading
options, split and language keys (a typo is named with the closest match), templates and label
words. Every failure is one DataError naming the card file."""

from __future__ import annotations

import codecs
import difflib
import re
from collections.abc import Mapping
from typing import Any

from xprompt.errors import DataError

SPLITS = ("train", "dev", "test")
PARALLEL = ("row", "id")
FORMATS = ("csv", "tsv", "jsonl", "parquet")
QUOTING = ("none", "csv", "auto")
MASK = "<mask>"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def validate_card(card) -> None:
    where = f"task card {card.path}"
    if len(set(card.labels)) != len(card.labels) or len(card.labels) < 2:
        raise DataError(f"{where}: labels {list(card.labels)} must be at least two distinct names")
    if card.source_language not in card.languages:
        raise DataError(f"{where}: source_language {card.source_language!r} is not one of its "
                        f"languages ({', '.join(card.languages)})")
    if card.parallel not in (None, *PARALLEL):
        raise DataError(f"{where}: parallel {card.parallel!r} is not one of row, id or null")
    if card.local is None and card.hub is None:
        raise DataError(f"{where} names neither local files ('local') nor a Hub dataset ('hub')")
    _validate_sources(card, where)
    for key, check in (("templates", _validate_template), ("verbalizers", _validate_verbalizer)):
        table = getattr(card, key)
        if table and card.source_language not in table:
            raise DataError(f"{where}: {key} has no entry for the source language "
                            f"{card.source_language!r}, which other languages fall back to")
        _check_languages(card, table, where, key)
        for lang, value in table.items():
            check(card, where, lang, value)


def _validate_sources(card, where: str) -> None:
    sources = [card.hub, card.local, *(card.local.overrides if card.local is not None else ())]
    for source in sources:
        if source is None:
            continue
        unknown = sorted(set((source.label_map or {}).values()) - set(card.labels) - {None})
        if unknown:
            raise DataError(f"{where}: label_map maps to {unknown[0]!r}, which is not one of "
                            f"the labels ({', '.join(card.labels)})")
    if card.local is not None:
        _validate_local(card, card.local, where, "local")
        for index, override in enumerate(card.local.overrides):
            _check_languages(card, override.languages, where, f"local.overrides[{index}].languages")
            for split in override.splits or ():
                if split not in _used_splits(card):
                    raise DataError(f"{where}: local.overrides[{index}].splits names {split!r}, which the card "
                                    f"does not use; its splits: {', '.join(_used_splits(card))}"
                                    f"{_closest(split, _used_splits(card))}")
            _validate_local(card, override, where, f"local.overrides[{index}]")
    if card.unlabelled is not None:
        _check_placeholders(where, "unlabelled", str(card.unlabelled), {"lang"})
    if card.fixed_shots is not None:
        for each in (card.fixed_shots.train, card.fixed_shots.dev):
            _check_placeholders(where, "fixed_shots", each, {"lang", "k", "seed"})


def _validate_local(card, local, where: str, key: str) -> None:
    """Reading options, split names and per-language file keys of `local` or one of its overrides."""
    files = local.files
    if files is not None and not isinstance(files, Mapping):
        raise DataError(f"{where}: {key}.files must map split names ({', '.join(_used_splits(card))}) "
                        f"to a path pattern with {{lang}} or to one path per language")
    if local.format not in (None, *FORMATS):
        raise DataError(f"{where}: {key}.format {local.format!r} is not one of {', '.join(FORMATS)}")
    if local.quoting not in (None, *QUOTING):
        raise DataError(f"{where}: {key}.quoting {local.quoting!r} is not one of {', '.join(QUOTING)}")
    if local.encoding is not None:
        try:
            codecs.lookup(local.encoding)
        except LookupError:
            raise DataError(f"{where}: {key}.encoding {local.encoding!r} is not an encoding Python knows "
                            f"(e.g. utf-8, utf-16, latin-1)") from None
    if local.sep is not None and len(local.sep) != 1:
        raise DataError(f"{where}: {key}.sep {local.sep!r} must be one character (e.g. ',', '\\t', ';')")
    used = _used_splits(card)
    for split, pattern in (files or {}).items():
        if split not in used:
            raise DataError(f"{where}: {key}.files has split {split!r}, which the card does not use; its "
                            f"splits: {', '.join(used)} (train_split, dev_split, test_split){_closest(split, used)}")
        if isinstance(pattern, Mapping):
            _check_languages(card, pattern, where, f"{key}.files.{split}")
        for each in pattern.values() if isinstance(pattern, Mapping) else [pattern]:
            _check_placeholders(where, f"{key}.files.{split}", str(each), {"lang"})


def _used_splits(card) -> list[str]:
    return list(dict.fromkeys(s for s in (card.train_split, card.dev_split, card.test_split) if s))


def _check_languages(card, languages, where: str, key: str) -> None:
    for lang in languages:
        if lang not in card.languages:
            raise DataError(f"{where}: {key} names language {lang!r}, which is not one of the card's "
                            f"languages{_closest(str(lang), card.languages)}")


def _closest(wanted: str, accepted) -> str:
    close = difflib.get_close_matches(wanted, list(accepted), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_placeholders(where: str, key: str, pattern: str, accepted: set[str]) -> None:
    unknown = sorted(set(PLACEHOLDER.findall(pattern)) - accepted)
    if unknown:
        raise DataError(f"{where}: {key} pattern {pattern!r} uses {{{unknown[0]}}}; accepted "
                        f"placeholders: {', '.join('{' + a + '}' for a in sorted(accepted))}")


def _validate_template(card, where: str, lang: str, template: Any) -> None:
    if not isinstance(template, str) or template.count(MASK) != 1:
        raise DataError(f"{where}: template for {lang!r} must contain exactly one {MASK}, "
                        f"got {template!r}")
    slots = {"text", "text_pair"} if card.has_pair else {"text"}
    for name in PLACEHOLDER.findall(template):
        if name not in slots:
            raise DataError(f"{where}: template for {lang!r} ({template!r}) uses {{{name}}}; "
                            f"this task accepts {', '.join('{' + s + '}' for s in sorted(slots))}")


def _validate_verbalizer(card, where: str, lang: str, words: tuple) -> None:
    if len(words) != len(card.labels):
        raise DataError(f"{where}: verbalizer for {lang!r} has {len(words)} classes of label words, "
                        f"but the task has {len(card.labels)} labels ({', '.join(card.labels)})")
    for label, class_words in zip(card.labels, words):
        for word in class_words:
            if not isinstance(word, str):
                raise DataError(f"{where}: label word {word!r} for class {label!r} in {lang!r} is not "
                                f"text; quote it (YAML reads bare yes/no/on/off as booleans)")
        if not class_words or any(not w.strip() for w in class_words):
            raise DataError(f"{where}: verbalizer for {lang!r} has no label word for class {label!r}")
