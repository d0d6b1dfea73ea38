"""Which cells of a pipeline ran where and when, and what they cost: read from the manifests of
the cached entries (each records its creation time and, since 2026-12-04, the wall and CPU
seconds of its computation and the host and CPU model it ran on). A grid that spans sessions and
machines writes one ledger per session beside its packs; merged, they give its total compute.

    xprompt cache ledger pipelines/quality-grid-sib200.yaml --set cache_dir=... [--csv ledger.csv]"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xprompt.errors import DataError
from xprompt.pipeline.config import FULL_SHOTS

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


# From the most like to the least: a cell still to run is timed as the median of the timed cells
# that share the most of these with it: the same cell (its key, in a ledger of an earlier session
# whose cache is gone); then the evaluation of the same model size on the same language (among
# them the cell of the same name in the last run, before an edit changed its key); ...; the same
# method at another K (a training scaled by the ratio of the two Ks, since its steps grow with its
# rows); and last the same stage at any size.
LIKENESS = (("key",), ("stage", "method", "shots", "target"), ("stage", "method", "shots"), ("stage", "method"),
            ("stage", "shots"), ("stage",))
OTHER_SIZES = 3  # levels from here on time a cell from cells of another method or another K
SCALED = "train"  # the stage whose time grows with K


@dataclass
class Estimate:
    seconds: float  # compute the cells to run should take, one after another
    timed: int  # cells to run given a time
    from_other_sizes: int  # of those, timed from cells of another method or another K
    untimed: int  # cells to run with no timed cell of their stage


def estimate(statuses, cache, ledgers: pd.DataFrame | None = None, earlier: dict | None = None) -> Estimate:
    """How long the cells still to run should take, from the recorded wall seconds of the plan's
    cells: those cached; those in `ledgers` (read_ledgers of earlier sessions, matched to the plan by
    key, so a cell computed before and lost with its cache counts with its own time); and, for a
    cell whose key an edit changed, its namesake of the last run (`earlier`: cell name -> (stage,
    key) of the last run's lock file) where that is still cached. Each cell to run takes the median
    of its most like timed cells (LIKENESS). A guess, not a measurement: it assumes cells cost what
    their likes cost, on a machine as busy as theirs was."""
    def like(cell, fields):
        where = {"stage": cell.stage, "key": cell.key, **cell.meta}
        return tuple(str(where.get(name)) for name in fields)

    def recorded_seconds(stage, key):  # of an entry status found cached (no second lookup)
        return cache.read_manifest(stage, key).get("computed", {}).get("seconds")

    def times(cell, level) -> list[float]:
        found = recorded.get((level, like(cell, LIKENESS[level])), [])
        if level != LIKENESS.index(("stage", "method")) or cell.stage != SCALED:
            return [spent for spent, _ in found]
        def per_class(shots):  # a count per class, or `full` (the whole split: not scaled, skipped)
            return shots if isinstance(shots, int) and 0 < shots < FULL_SHOTS else None
        shots = per_class(cell.meta.get("shots"))
        return [spent * shots / per_class(of) for spent, of in found if shots and per_class(of)]

    in_ledgers = {} if ledgers is None else dict(zip(ledgers["key"], ledgers["seconds"]))
    recorded: dict[tuple, list[tuple[float, object]]] = {}
    for status in statuses:
        cell, levels = status.cell, range(len(LIKENESS))
        spent = recorded_seconds(cell.stage, cell.key) if status.cached else in_ledgers.get(cell.key)
        namesake = (earlier or {}).get(cell.name)  # (stage, key) of the last run's cell of this name
        if (spent is None or pd.isna(spent)) and namesake and namesake[1] != cell.key \
                and cache.lookup(*namesake, verify="quick", repair=False) is not None:
            spent, levels = recorded_seconds(*namesake), range(1, len(LIKENESS))  # like it, not it
        if spent is None or pd.isna(spent):
            continue
        for level in levels:
            recorded.setdefault((level, like(cell, LIKENESS[level])), []).append((float(spent), cell.meta.get("shots")))
    total, timed, other, untimed = 0.0, 0, 0, 0
    for status in statuses:
        if status.cached or not status.needed:
            continue
        for level in range(len(LIKENESS)):
            found = times(status.cell, level)
            if found:
                total, timed, other = total + float(np.median(found)), timed + 1, other + (level >= OTHER_SIZES)
                break
        else:
            untimed += 1
    return Estimate(total, timed, other, untimed)
