"""A raw frame (a local file's or a Hub split's) turned into the one table shape: columns
renamed and checked, rows with dropped labels removed, ids made, labels mapped to the card's."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from xprompt.data.cards import Columns, TaskCard, normalize_label
from xprompt.errors import DataError

log = logging.getLogger(__name__)
TABLE_COLUMNS = ("id", "text", "text_pair", "label", "lang", "split")


def to_table(frame: pd.DataFrame, card: TaskCard, columns: Columns, label_map: dict | None,
             lang: str, split: str, source: str, where: str,
             first_line: int | None = None, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rename, check and convert a raw frame (file or Hub) into the one table shape. Rows whose raw
    label is in `drop` or maps to null are dropped, and the count is logged."""
    if frame.empty:
        raise DataError(f"{where} has no rows for the {split} split of {card.name} in {lang!r}; "
                        f"a split needs at least one row")
    _require_columns(frame, columns, where)
    frame = _drop_rows(frame, columns.label, label_map, drop, where)
    if frame.empty:
        raise DataError(f"{where}: every row of the {split} split of {card.name} in {lang!r} has a dropped "
                        f"label; a split needs at least one row")
    pair = _texts(frame[columns.text_pair]) if columns.text_pair else [None] * len(frame)
    return pd.DataFrame({
        "id": _ids(frame, columns, lang, source, where),
        "text": _texts(frame[columns.text]),
        "text_pair": pd.Series(pair, dtype=object).to_numpy(),
        "label": _label_ids(frame[columns.label], card, label_map, where, first_line),
        "lang": lang,
        "split": split,
    }, columns=list(TABLE_COLUMNS))


def _drop_rows(frame: pd.DataFrame, column: str, label_map: dict | None, drop: tuple[str, ...],
               where: str) -> pd.DataFrame:
    keys = frame[column].map(normalize_label)
    dropped = keys.isin(set(drop))
    if label_map is not None:
        dropped |= keys.map(lambda key: key in label_map and label_map[key] is None)
    if dropped.any():
        counts = keys[dropped].value_counts()
        log.warning("%s: dropped %d rows whose label the card drops (%s)", where, int(dropped.sum()),
                    ", ".join(f"{label!r}: {count}" for label, count in counts.items()))
    return frame[~dropped.to_numpy()].reset_index(drop=True)


def _require_columns(frame: pd.DataFrame, columns: Columns, where: str) -> None:
    for role in ("id", "text", "text_pair", "label"):
        name = getattr(columns, role)
        if name is not None and name not in frame.columns:
            found = ", ".join(str(c) for c in frame.columns)
            raise DataError(f"{where} has no column {name!r} (the card's {role} column); "
                            f"columns found: {found}")


def _texts(values: pd.Series) -> np.ndarray:
    return values.where(values.notna(), "").astype(str).to_numpy(dtype=object)


def _ids(frame: pd.DataFrame, columns: Columns, lang: str, source: str, where: str) -> np.ndarray:
    if columns.id is None:
        # the data set's split name, not the requested one: XNLI's train pool and dev
        # set are both its dev file, and the same row must have the same id in both
        return np.array([f"{lang}-{source}-{row}" for row in range(len(frame))], dtype=object)
    ids = frame[columns.id].map(normalize_label)
    repeated = ids[ids.duplicated()]
    if not repeated.empty:
        raise DataError(f"{where}: id {repeated.iloc[0]!r} appears more than once in column "
                        f"{columns.id!r}; ids must be unique within a split")
    return ids.to_numpy(dtype=object)


def _label_ids(raw: pd.Series, card: TaskCard, label_map: dict | None, where: str,
               first_line: int | None) -> np.ndarray:
    keys = raw.map(normalize_label)
    names = keys.map(label_map) if label_map is not None else keys
    ids = names.map({name: index for index, name in enumerate(card.labels)})
    unknown = ids.isna().to_numpy()
    if unknown.any():
        row = int(unknown.argmax())
        line = f" (line {row + first_line})" if first_line else ""
        accepted = list(label_map) if label_map is not None else list(card.labels)
        misread = (" (a text where a label belongs: check the card's sep and quoting)"
                   if len(str(raw.iloc[row])) > 40 else "")
        raise DataError(f"{where}, row {row + 1}{line}: label {raw.iloc[row]!r} is not one of the "
                        f"accepted labels ({', '.join(map(str, accepted))}){misread}")
    return ids.astype("int64").to_numpy()


def looks_quoted(frame: pd.DataFrame, columns: Columns) -> str | None:
    """Why a frame read without quoting seems to come from a quoted file (fields that start and end
    with '"' around doubled quotes, as csv writers leave them), else None."""
    for name in (columns.text, columns.text_pair):
        if name is None or name not in frame.columns or frame.empty:
            continue
        values = frame[name].astype(str)
        wrapped = (values.str.len() > 1) & values.str.startswith('"') & values.str.endswith('"')
        if wrapped.mean() > 0.2 or (wrapped.any() and values.str.contains('""', regex=False).any()):
            return f"column {name!r}: {int(wrapped.sum())} of {len(values)} fields start and end with '\"'"
    return None
