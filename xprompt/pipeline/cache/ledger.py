"""Which cells of a pipeline ran where and when, and what they cost: read from the manifests of
the cached entries (each records its creation time and, since 2026-12-04, the wall and CPU
seconds of its computation and the host and CPU model it ran on). A grid that spans sessions and
machines writes one ledger per session beside its packs; merged, they give its total compute.

    xprompt cache ledger pipelines/quality-grid-sib200.yaml --set cache_dir=... [--csv ledger.csv]"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from xprompt.errors import DataError

COLUMNS = ["stage", "cell", "key", "created", "host", "cpu", "seconds", "cpu_seconds"]
NOT_RECORDED = "not recorded"


def ledger(cache, cells: Iterable) -> pd.DataFrame:
    """One row per cell whose entry is in `cache` (checked quickly, never repaired)."""
    rows = []
    for cell in cells:
        if cache.lookup(cell.stage, cell.key, verify="quick", repair=False) is None:
            continue
        manifest = cache.read_manifest(cell.stage, cell.key)
        computed = manifest.get("computed", {})
        rows.append({"stage": cell.stage, "cell": cell.name, "key": cell.key, "created": manifest.get("created", ""),
                     "host": computed.get("host", NOT_RECORDED), "cpu": computed.get("cpu", NOT_RECORDED),
                     "seconds": computed.get("seconds"), "cpu_seconds": computed.get("cpu_seconds")})
    return pd.DataFrame(rows, columns=COLUMNS)


def read_ledgers(paths: Iterable[Path]) -> pd.DataFrame:
    """Ledgers of several sessions as one: a cell listed twice keeps the row that recorded its cost."""
    frames = []
    for path in paths:
        try:
            frame = pd.read_csv(path, dtype={"key": str, "host": str, "cpu": str})
        except (OSError, ValueError) as error:
            raise DataError(f"Ledger {path} cannot be read as CSV: {error}.") from error
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"Ledger {path} has no column {missing[0]!r}; a ledger has {', '.join(COLUMNS)}.")
        frames.append(frame[COLUMNS])
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
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
