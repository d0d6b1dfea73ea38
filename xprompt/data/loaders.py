"""`load_split`: any task, any language, one table shape; local files first, the Hub second.

Nothing is cached here: the pipeline's `prepare` stage owns caching, and a
loader that cached on its own would hide edits to a user's files from it.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from xprompt.data.cards import TaskCard
from xprompt.errors import DataError
from xprompt.data.tables import TABLE_COLUMNS, looks_quoted, to_table

log = logging.getLogger(__name__)
DATA_ENV = "XPROMPT_DATA"
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
_COMPRESSIONS = ("", ".gz", ".bz2", ".xz")  # parquet compresses inside the file instead


def resolve_data_root(data_root: str | Path | None = None) -> Path | None:
    """The explicit root, else $XPROMPT_DATA, else None (then only the Hub is tried)."""
    if data_root:
        return Path(data_root).expanduser()
    from_env = os.environ.get(DATA_ENV)
    return Path(from_env).expanduser() if from_env else None


def load_split(card: TaskCard, lang: str, split: str,
               data_root: str | Path | None = None) -> pd.DataFrame:
    """Rows of `split` (train, dev or test) in `lang` as columns id, text, text_pair,
    label, lang, split; label is an index into `card.labels`."""
    check_language(card, lang)
    source = card.source_split(split)
    looked = local_candidates(card, lang, source, data_root)
    for path in looked:
        if path.is_file():
            return read_table(card, path, lang, split, source)
    return _from_hub(card, lang, split, source, looked, data_root)


def check_language(card: TaskCard, lang: str) -> None:
    if lang not in card.languages:
        raise DataError(f"unknown language {lang!r} for task {card.name} (card {card.path}); "
                        f"accepted: {_some(lang, card.languages)}")


def _some(wanted: str, accepted) -> str:
    """All accepted values when few; the closest ones and a count when there are many (SIB-200: 205)."""
    if len(accepted) <= 20:
        return ", ".join(accepted)
    close = difflib.get_close_matches(wanted, accepted, n=5, cutoff=0.3)
    shown = close or list(accepted[:10])
    return f"{', '.join(shown)} and {len(accepted) - len(shown)} more (`xprompt data tasks`, the card's languages)"


def local_candidates(card: TaskCard, lang: str, source: str,
                     data_root: str | Path | None) -> list[Path]:
    """Paths that may hold the split, in the order they are tried."""
    if card.local is None:
        return []
    pattern = card.local.for_language(lang, source).files.get(source)
    if isinstance(pattern, Mapping):
        pattern = pattern.get(lang)
    if pattern is None:
        return []
    return candidate_paths(card, str(pattern).format(lang=lang), data_root)


def candidate_paths(card: TaskCard, relative: str, data_root: str | Path | None) -> list[Path]:
    path = Path(relative).expanduser()
    if path.is_absolute():
        return [path]
    bases = [root] if (root := resolve_data_root(data_root)) else []
    if not card.builtin:
        # a user's card usually sits beside its data, so its folder is a second root
        bases.append(card.path.parent)
    return [base / path for base in bases]


def first_existing(paths: list[Path]) -> Path | None:
    """The file that is read among candidate paths (the first that exists): what cache keys hash."""
    return next((path for path in paths if path.is_file()), None)


def read_table(card: TaskCard, path: Path, lang: str, split: str, source: str) -> pd.DataFrame:
    """One local file of the card's layout (as it reads `lang`) as the table."""
    local = card.local.for_language(lang, source)
    file_format = local.format or format_of(path)
    quoting = quoting_of(local, file_format)
    frame = read_file(path, file_format, local)

    def table(frame, quoting):
        # unquoted tsv and jsonl hold one row per line, so a line number points at the row exactly
        first_line = None if quoting == "csv" else {"tsv": 2 if local.header else 1, "jsonl": 1}.get(file_format)
        return to_table(frame, card, local.columns, local.label_map, lang, split, source,
                        where=f"file {path}", first_line=first_line, drop=local.drop_labels)

    if file_format not in ("csv", "tsv") or quoting == "csv":
        return table(frame, quoting)
    try:
        plain, problem, failure = table(frame, "none"), looks_quoted(frame, local.columns), None
    except DataError as error:
        plain, problem, failure = None, str(error), error
    if problem is None:
        return plain
    try:  # read unquoted, the file fails or keeps quote characters: does it read right with quotes?
        quoted = table(read_file(path, file_format, dataclasses.replace(local, quoting="csv")), "csv")
    except DataError:
        quoted = None
    if quoting == "auto":
        return _auto_choice(plain, quoted, failure, path, problem)
    if quoted is not None:
        raise DataError(f"{path} reads correctly only with quoting: csv (read without quoting: {problem}); "
                        f"set quoting: csv for it in the card")
    raise failure or DataError(f"{path} looks quoted ({problem}) but is read without quoting; set quoting: "
                               f"csv (or auto) for it in the card")


def _auto_choice(plain, quoted, failure, path: Path, problem: str) -> pd.DataFrame:
    """quoting: auto. The quoted reading when the unquoted one fails, or when both give the same
    rows (count and ids); otherwise the unquoted one, saying so, since some files mix both."""
    if quoted is not None and (plain is None or (len(quoted) == len(plain)
                                                 and quoted["id"].tolist() == plain["id"].tolist())):
        return quoted
    if plain is None:
        raise failure
    log.warning("%s looks partly quoted (%s) but reading it with quotes changes its rows; read unquoted, so "
                "those fields keep their quote characters", path, problem)
    return plain


def format_of(path: Path) -> str:
    name = path.name.lower()
    for extension, file_format in _FORMATS.items():
        endings = [extension] if file_format == "parquet" else [extension + c for c in _COMPRESSIONS]
        if name.endswith(tuple(endings)):
            return file_format
    raise DataError(f"cannot tell the format of {path} from its name; accepted: .csv, .tsv, "
                    f".jsonl (each also .gz, .bz2, .xz) and .parquet, or set local.format in the card")


def quoting_of(local, file_format: str) -> str:
    """csv files follow the CSV quoting rules by default; tsv files are read as they are (XNLI's and
    PAWS-X's texts hold unbalanced quotes), unless the card says `quoting: csv` (pandas' to_csv)."""
    return (local.quoting if local is not None else None) or ("csv" if file_format == "csv" else "none")


def read_file(path: Path, file_format: str, local=None) -> pd.DataFrame:
    header = True if local is None else local.header
    names = None if local is None else local.names
    encoding = "utf-8" if local is None or local.encoding is None else local.encoding
    # dtype=str and no NA parsing: ids keep leading zeros and a text "NA" stays text
    text_options = {"header": 0 if header else None, "names": list(names) if names else None,
                    "dtype": str, "keep_default_na": False, "encoding": encoding}
    try:
        if file_format in ("tsv", "csv"):
            quoting = quoting_of(local, file_format)
            quoting = "none" if quoting == "auto" else quoting  # auto: unquoted first (read_table decides)
            sep = (local.sep if local is not None and local.sep else None) or ("\t" if file_format == "tsv" else ",")
            return pd.read_csv(path, sep=sep, quoting=csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL,
                               **text_options)
        if file_format == "jsonl":
            return pd.read_json(path, lines=True, dtype=False, encoding=encoding)
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except ImportError as error:
        raise DataError(f"reading {path} as {file_format} needs a missing package ({error})") from None
    except pd.errors.ParserError as error:
        raise DataError(_parse_message(path, file_format, error)) from None
    except UnicodeDecodeError as error:
        raise DataError(f"cannot read {path} as {encoding} text (byte {error.start}: {error.reason}); set "
                        f"encoding in the card (e.g. utf-16, latin-1)") from None
    except (ValueError, OSError) as error:
        raise DataError(f"cannot read {path} as {file_format}: {error}") from None


def _parse_message(path: Path, file_format: str, error: Exception) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    hint = ("quoting: csv (a tsv written by pandas quotes fields that hold tabs or line breaks)"
            if file_format == "tsv" else "sep or quoting")
    if found:
        expected, line, saw = found.groups()
        return (f"cannot read {path} as {file_format}: line {line} has {saw} fields where the header has "
                f"{expected}; try {hint} in the card")
    return f"cannot read {path} as {file_format} ({str(error).strip()}); try {hint} in the card"


def _from_hub(card: TaskCard, lang: str, split: str, source: str, looked: list[Path],
              data_root: str | Path | None) -> pd.DataFrame:
    local = _local_story(card, lang, source, looked, data_root)
    what = f"the {split} split of {card.name} in {lang!r}"
    if card.fixed_shots is not None and split != "test":
        local += " (this task ships fixed K-shot files: use fixed_k_shot)"
    if card.hub is None:
        raise DataError(f"no data for {what}: {local}, and the card {card.path} names no Hub dataset")
    hub = card.hub
    dataset_id, config, hub_split = hub_location(card, lang, split)
    try:
        import datasets  # imported here: a run on local files should not pay for it

        dataset = datasets.load_dataset(dataset_id, config, split=hub_split, revision=hub.revision)
    except Exception as error:  # the Hub fails in many ways (offline, no config, no split)
        raise DataError(f"no data for {what}: {local}, and the Hub dataset {dataset_id} "
                        f"(config {config}, split {hub_split}) could not be loaded: {error}") from error
    # ids name the Hub's split: rows of two roles read from one Hub split share them (as local files do)
    return to_table(dataset.to_pandas(), card, hub.columns, hub.label_map, lang, split, hub_split,
                    where=f"Hub dataset {dataset_id} (config {config}, split {hub_split})")


def hub_location(card: TaskCard, lang: str, split: str) -> tuple[str, str | None, str]:
    """(dataset id, config, Hub split) that `split` (train, dev or test) of `lang` is read from. The
    card's `hub.splits` names the Hub split of each role; a role it does not list reads the split
    `train_split` / `dev_split` / `test_split` names (XNLI trains on MNLI's `train` from the Hub, on
    its dev file offline)."""
    hub = card.hub
    source = card.source_split(split)
    hub_split = hub.splits[split] if split in hub.splits else hub.splits.get(source, source)
    return (hub.dataset.format(lang=lang), hub.config.format(lang=lang) if hub.config else None, hub_split)


def _local_story(card: TaskCard, lang: str, source: str, looked: list[Path],
                 data_root: str | Path | None) -> str:
    if looked:
        return "looked for " + " and ".join(str(path) for path in looked)
    files = card.local.for_language(lang, source).files.get(source) if card.local is not None else None
    if files is None:
        return f"the card names no local file for its {source!r} split"
    if isinstance(files, Mapping) and lang not in files:
        return f"the card names no local {source!r} file for {lang!r}"
    return f"no data root was given (argument or ${DATA_ENV})"


_TEXT_SUFFIXES = tuple(".txt" + c for c in _COMPRESSIONS)


def load_unlabelled(card: TaskCard, lang: str, data_root: str | Path | None = None) -> pd.DataFrame:
    """Unlabelled text of `lang` from the card's `unlabelled` file, as the one table shape with
    label 0 (never read) and split `unlabelled`: a .txt file holds one text per line (a pair task's
    line is text<TAB>text_pair); any other file is read with the card's training-file layout."""
    check_language(card, lang)
    if card.unlabelled is None:
        raise DataError(f"task card {card.path} names no 'unlabelled' file; add unlabelled: \"<folder>/{{lang}}.txt\" "
                        f"(one text per line) to it, or set task.unlabelled to dev or train")
    looked = candidate_paths(card, card.unlabelled.format(lang=lang), data_root)
    path = first_existing(looked)
    if path is None:
        where = " and ".join(str(p) for p in looked) or f"{card.unlabelled} (no data root: argument or ${DATA_ENV})"
        raise DataError(f"no unlabelled text of {lang!r} for {card.name}: looked for {where}")
    if path.name.lower().endswith(_TEXT_SUFFIXES):
        table = _text_lines(card, path, lang)
    else:
        table = read_table(card, path, lang, "unlabelled", card.train_split or card.source_split("test"))
    return table.assign(label=0, split="unlabelled")


def _text_lines(card: TaskCard, path: Path, lang: str) -> pd.DataFrame:
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    with opener(path, "rt", encoding="utf-8") as handle:
        lines = [(number, line.rstrip("\n\r")) for number, line in enumerate(handle, 1) if line.strip()]
    if not lines:
        raise DataError(f"{path} holds no text (one unlabelled text per line is expected)")
    texts, pairs = [], []
    for number, line in lines:
        text, tab, pair = line.partition("\t")
        if card.has_pair and not tab:
            raise DataError(f"{path} line {number}: {card.name} is a pair task, so each line must be "
                            f"text<TAB>text_pair; this line has no tab")
        texts.append(text.strip())
        pairs.append(pair.strip() if card.has_pair else None)
    return pd.DataFrame({"id": [f"{lang}-unlabelled-{n}" for n, _ in lines], "text": texts, "text_pair": pairs,
                         "label": 0, "lang": lang, "split": "unlabelled"}, columns=list(TABLE_COLUMNS))
