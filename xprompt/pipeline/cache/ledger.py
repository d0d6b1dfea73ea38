"""Which cells of a pipeline ran where and when, and what they cost: read from the manifests of
the cached entries (each records its creation time and, since 2026-12-04, the wall and CPU
seconds of its computation and the host and CPU model it ran on). A grid that spans sessions and
machines writes one ledger per session beside its packs; merged, they give its total compute,
and estimate.py times the cells still to run from them.

    xprompt cache ledger pipelines/quality-grid-sib200.yaml --set cache_dir=... [--csv ledger.csv]"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from xprompt.errors import DataError
from xprompt.pipeline.entry_files import TABLE, TRAIN_INFO, TRAIN_ROWS
from xprompt.pipeline.graph import TRAINED
from xprompt.shots import FULL

COLUMNS = ["stage", "cell", "key", "created", "host", "cpu", "seconds", "cpu_seconds"]
# what a cell is, for the time-left estimate of a plan that no longer holds it, and a training's rows
# and the characters of their texts (a ledger written before 2026-12-04's eighth session lacks them:
# its rows then time only the cells of their own key; one of before the fourteenth lacks `chars`, one
# of before the twentieth `method_name`: the registered method behind a label such as "deep+ensemble")
DESCRIBED_AS_TEXT = ["method", "shots", "target", "method_name"]
SIZE = ["rows", "chars"]
DESCRIPTION = DESCRIBED_AS_TEXT + SIZE
SCALED = "train"  # the stage whose time grows with its training rows and their length
TEXTS = ("text", "text_pair")  # the columns whose characters a training reads
NOT_RECORDED = "not recorded"


def ledger(cache, cells: Iterable) -> pd.DataFrame:
    """One row per cell whose entry is in `cache` (checked quickly, never repaired)."""
    rows = []
    for cell in cells:
        found = cache.lookup(cell.stage, cell.key, verify="quick", repair=False)
        if found is None:
            continue
        manifest = cache.read_manifest(cell.stage, cell.key)
        computed = entry_cost(cache, cell.stage, cell.key, manifest, found)
        rows.append({"stage": cell.stage, "cell": cell.name, "key": cell.key, "created": manifest.get("created", ""),
                     "host": computed.get("host", NOT_RECORDED), "cpu": computed.get("cpu", NOT_RECORDED),
                     "seconds": computed.get("seconds"), "cpu_seconds": computed.get("cpu_seconds"),
                     **{name: str(cell.meta.get(name)) for name in DESCRIBED_AS_TEXT},
                     **dict(zip(SIZE, training_size(cache, cell) or (None, None)))})
    return pd.DataFrame(rows, columns=COLUMNS + DESCRIPTION).astype({name: "Int64" for name in SIZE})


def entry_cost(cache, stage: str, key: str, manifest: dict | None = None, found: Path | None = None) -> dict:
    """What an entry's computation cost (its manifest's `computed`: wall and CPU seconds, host, CPU),
    with what earlier processes spent on a training resumed from their checkpoint added (its
    train.json's `earlier_processes`; the manifest times only the process that finished it). `found`
    is the entry's folder where the caller has looked it up already."""
    computed = dict((manifest or cache.read_manifest(stage, key)).get("computed", {}))
    if stage not in TRAINED or computed.get("seconds") is None:
        return computed
    found = found or cache.lookup(stage, key, verify="quick", repair=False)
    try:
        earlier = json.loads((found / TRAIN_INFO).read_text()).get("earlier_processes", {}) if found else {}
    except (OSError, ValueError):
        earlier = {}
    for name in ("seconds", "cpu_seconds"):
        if earlier.get(name) is not None and computed.get(name) is not None:
            computed[name] = round(computed[name] + earlier[name], 3)
    return computed


def training_size(cache, cell) -> tuple[int, int] | None:
    """The rows a training cell trains on and the characters of their texts, read from its sample
    where the cache holds it; for a whole-split sample not drawn yet, from the prepared split it
    takes whole (a few rows more where it drops dev rows)."""
    sample = getattr(cell, "inputs", {}).get("sample")
    if cell.stage != SCALED or sample is None:
        return None
    found = cache.lookup(sample.stage, sample.key, verify="quick", repair=False)
    if found:
        return _table_size(found / TRAIN_ROWS)
    split = getattr(sample, "inputs", {}).get("train")
    if split is None or getattr(sample, "params", {}).get("shots") != FULL:
        return None
    found = cache.lookup(split.stage, split.key, verify="quick", repair=False)
    return _table_size(found / TABLE) if found else None


@lru_cache(maxsize=None)
def _table_size(path: Path) -> tuple[int, int]:
    """Rows and characters of TEXTS in a table of the cache (its entries never change once written)."""
    names = [name for name in TEXTS if name in pq.ParquetFile(path).schema_arrow.names]
    table = pd.read_parquet(path, columns=names)
    return len(table), int(sum(table[name].fillna("").astype(str).str.len().sum() for name in names))


def read_ledgers(paths: Iterable[Path]) -> pd.DataFrame:
    """Ledgers of several sessions as one: a cell listed twice keeps the row that recorded its cost."""
    frames = []
    for path in paths:
        try:
            frame = pd.read_csv(path, dtype={name: str for name in ["key", "host", "cpu", *DESCRIBED_AS_TEXT]},
                                keep_default_na=False, na_values=[""])  # a target 'None' stays the word
        except (OSError, ValueError) as error:
            raise DataError(f"Ledger {path} cannot be read as CSV: {error}.") from error
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"Ledger {path} has no column {missing[0]!r}; a ledger has {', '.join(COLUMNS)}.")
        frames.append(frame.reindex(columns=COLUMNS + DESCRIPTION))
    if not frames:
        return pd.DataFrame(columns=COLUMNS + DESCRIPTION)
    merged = pd.concat(frames, ignore_index=True)
    merged = merged.sort_values("seconds", na_position="last", kind="stable")
    return merged.drop_duplicates(["stage", "key"]).sort_values(["created", "cell"], ignore_index=True)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Cache entries, and their wall and CPU hours where recorded, per day and machine, with a total
    row; plan cells that share one entry (the same data prepared for two methods) count it once."""
    frame = frame.drop_duplicates(["stage", "key"])
    day = frame["created"].astype(str).str[:10]
    grouped = frame.assign(day=day).groupby(["day", "cpu", "host"], sort=True, dropna=False)
    table = grouped.agg(cells=("cell", "size"), timed=("seconds", "count"),
                        wall_hours=("seconds", lambda s: s.sum() / 3600),
                        cpu_hours=("cpu_seconds", lambda s: s.sum() / 3600)).reset_index()
    total = {"day": "total", "cpu": "", "host": "", "cells": int(table["cells"].sum()),
             "timed": int(table["timed"].sum()), "wall_hours": table["wall_hours"].sum(),
             "cpu_hours": table["cpu_hours"].sum()}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def summary_markdown(frame: pd.DataFrame) -> str:
    """The summary as a Markdown table; hours only over the entries that recorded them ('timed')."""
    table = summary(frame)
    lines = ["| day (UTC) | CPU | host | cache entries | with time recorded | wall hours | CPU hours |",
             "|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        hours = f"{row.wall_hours:.2f} | {row.cpu_hours:.2f}" if row.timed else "– | –"
        lines.append(f"| {row.day} | {row.cpu} | {row.host} | {row.cells} | {row.timed} | {hours} |")
    return "\n".join(lines)
