"""`xprompt data check CARD`: load every language and split a card describes and report what a
researcher checks before training: rows per class, classes a language lacks, empty texts,
duplicate rows, overlap between training and test texts. Errors (a split that cannot be read,
an empty split, a test set missing) make the command exit non-zero."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from xprompt.data.card_files import load_card
from xprompt.data.cards import TaskCard
from xprompt.data.loaders import load_split, resolve_data_root
from xprompt.data.sampling import fixed_k_shot
from xprompt.errors import DataError


@dataclass
class SplitReport:
    lang: str
    split: str
    rows: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    empty_texts: int = 0
    duplicates: int = 0
    error: str | None = None


def check_split(card: TaskCard, lang: str, split: str, data_root) -> tuple[SplitReport, pd.DataFrame | None]:
    report = SplitReport(lang, split)
    try:
        table = load_split(card, lang, split, data_root)
    except DataError as error:
        report.error = str(error)
        return report, None
    counts = table["label"].value_counts()
    report.rows = len(table)
    report.per_class = {name: int(counts.get(i, 0)) for i, name in enumerate(card.labels)}
    report.missing = [name for name, count in report.per_class.items() if count == 0]
    texts = table["text"].fillna("").astype(str).str.strip()
    report.empty_texts = int((texts == "").sum())
    report.duplicates = int(table.duplicated(subset=["text", "text_pair"]).sum())
    return report, table


def check_card(card: TaskCard, data_root=None, langs: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(lines to print, errors)."""
    lines, errors = [], []
    for lang in langs or list(card.languages):
        tables = {}
        for split in ("train", "dev", "test"):
            if getattr(card, f"{split}_split") is None:
                continue
            report, table = check_split(card, lang, split, data_root)
            tables[split] = table
            if report.error is not None and not _required(card, lang, split):
                lines.append(f"{lang:>10} {split:<5} not available (needed only to train or adapt on {lang})")
                continue
            lines.append(_line(report))
            if report.error is not None:
                errors.append(f"{lang} {split}: {report.error}")
        if card.fixed_shots is not None:
            lines += _fixed_lines(card, lang, data_root, errors)
        overlap = _overlap(tables.get("train"), tables.get("test"))
        if overlap:
            lines.append(f"  {lang}: {overlap} test texts also appear in the train split")
    return lines, errors


def _required(card: TaskCard, lang: str, split: str) -> bool:
    """The test split of every language; train and dev of the source (unless shipped as fixed files)."""
    if split == "test":
        return True
    return lang == card.source_language and card.fixed_shots is None


def _line(report: SplitReport) -> str:
    if report.error is not None:
        return f"{report.lang:>10} {report.split:<5} ERROR {report.error}"
    classes = ", ".join(f"{name}={count}" for name, count in report.per_class.items())
    notes = []
    if report.missing:
        notes.append(f"missing classes: {', '.join(report.missing)}")
    if report.empty_texts:
        notes.append(f"{report.empty_texts} empty texts")
    if report.duplicates:
        notes.append(f"{report.duplicates} duplicate rows")
    return f"{report.lang:>10} {report.split:<5} {report.rows:>7} rows  {classes}" + (
        f"  [{'; '.join(notes)}]" if notes else "")


def _fixed_lines(card: TaskCard, lang: str, data_root, errors: list[str]) -> list[str]:
    found, missing = 0, []
    for shots in card.fixed_shots.shots:
        for seed in card.fixed_shots.seeds:
            try:
                fixed_k_shot(card, lang, shots, seed, data_root)
                found += 1
            except DataError as error:
                missing.append(f"k={shots} seed={seed}")
                if lang == card.source_language and len(missing) == 1:
                    errors.append(f"{lang} fixed shots: {error}")
    total = len(card.fixed_shots.shots) * len(card.fixed_shots.seeds)
    return [f"{lang:>10} fixed K-shot files: {found} of {total} readable"
            + (f" (missing: {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''})" if missing else "")]


def _overlap(train: pd.DataFrame | None, test: pd.DataFrame | None) -> int:
    if train is None or test is None:
        return 0
    return int(test["text"].isin(set(train["text"])).sum())


def check_command(task: str, data_root: str | None, langs: list[str] | None) -> int:
    card = load_card(task)
    for lang in langs or []:
        if lang not in card.languages:
            raise DataError(f"--langs names {lang!r}, which is not a language of task {card.name}")
    root = resolve_data_root(data_root)
    print(f"task {card.name}: {len(card.labels)} classes, {len(card.languages)} languages, card {card.path}, "
          f"data root {root or '(none: the card folder, then the Hub)'}")
    lines, errors = check_card(card, data_root, langs)
    for line in lines:
        print(line)
    if errors:
        print(f"\n{len(errors)} errors:")
        for error in errors:
            print(f"  {error}")
        return 1
    print("\nno errors")
    return 0
