"""Which cells of a pipeline ran where and when, and what they cost: read from the manifests of
the cached entries (each records its creation time and, since 2026-12-04, the wall and CPU
seconds of its computation and the host and CPU model it ran on). A grid that spans sessions and
machines writes one ledger per session beside its packs; merged, they give its total compute.

    xprompt cache ledger pipelines/quality-grid-sib200.yaml --set cache_dir=... [--csv ledger.csv]"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from xprompt.errors import DataError
from xprompt.pipeline.config import FULL, FULL_SHOTS
from xprompt.pipeline.entry_files import TABLE, TRAIN_INFO, TRAIN_ROWS
from xprompt.pipeline.graph import TRAINED

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


# From the most like to the least: a cell still to run is timed as the median of the timed cells
# that share the most of these with it: the same cell (its key, in a ledger of an earlier session
# whose cache is gone); then the evaluation of the same model size on the same language (among
# them the cell of the same name in the last run, before an edit changed its key); ...; the same
# registered method under another label (deep+checkpoint-average timed by deep); the same
# method at another size (a training scaled by the characters of its training texts over theirs,
# since its steps grow with its rows and a step with the length of its rows; by rows alone where a
# ledger lacks the characters; so is one of the same method and size where both are known, as on
# another task; never one of a fixed number of steps); and last the same stage at any size. Timed
# cells are the plan's, and those of the ledgers that describe them (DESCRIPTION), so a plan
# narrowed with --set is timed from the cells the whole grid ran before.
LIKENESS = (("key",), ("stage", "method", "shots", "target"), ("stage", "method", "shots"),
            ("stage", "method_name", "shots", "target"), ("stage", "method_name", "shots"), ("stage", "method"),
            ("stage", "method_name"), ("stage", "shots"), ("stage",))
# levels from here on time a cell from cells of another K or another method
OTHER_SIZES = LIKENESS.index(("stage", "method"))


@dataclass
class Estimate:
    seconds: float  # compute the cells to run should take, one after another
    timed: int  # cells to run given a time
    from_other_sizes: int  # of those, timed from cells of another method or another K
    untimed: int  # cells to run with no timed cell of their stage
    under_way: int = 0  # trainings to run that go on from a checkpoint (its seconds so far subtracted)


@dataclass(frozen=True)
class _Timed:
    seconds: float
    shots: object  # a count per class, or FULL_SHOTS
    rows: int | None  # training rows, where known
    chars: int | None = None  # the characters of their texts, where known


class _Likes:
    """Timed cells filed under each LIKENESS level by what they share, and how a cell to run is timed
    from the most like of them."""

    def __init__(self):
        self.filed: dict[tuple, list[_Timed]] = {}
        self.size_of: dict[tuple, tuple[int, int | None]] = {}  # training rows and characters by what fixes
        # them (K and sources, not seed)

    @staticmethod
    def described(cell) -> dict:
        return {"stage": cell.stage, "key": cell.key, **cell.meta}

    @staticmethod
    def method_name(where: dict) -> str | None:
        """The registered method behind a cell's label; for a ledger row written before it was
        recorded, the label itself where that is a method's name (a method entry without a label)."""
        from xprompt.methods import METHODS

        name = where.get("method_name")
        if name is not None and not pd.isna(name) and str(name) != "None":
            return str(name)
        label = where.get("method")
        return str(label) if isinstance(label, str) and label in METHODS else None

    @staticmethod
    def size(cell) -> tuple:
        return str(cell.meta.get("shots")), str(cell.meta.get("sources"))

    def likeness(self, where: dict, level: int) -> tuple | None:
        """What `where` shares with the cells filed at `level`; None where it lacks what the level
        compares (a method name no ledger row recorded)."""
        fields = LIKENESS[level]
        if "method_name" in fields:
            where = {**where, "method_name": self.method_name(where)}
            if where["method_name"] is None:
                return None
        return level, _like(where, fields)

    def file(self, where: dict, levels, timed: _Timed) -> None:
        for level in levels:
            like = self.likeness(where, level)
            if like is not None:
                self.filed.setdefault(like, []).append(timed)

    def time(self, cell) -> tuple[float, int] | None:
        """The median time of the most like timed cells, and at which level they were found."""
        for level in range(len(LIKENESS)):
            like = self.likeness(self.described(cell), level)
            found = self.filed.get(like, []) if like is not None else []
            fields = LIKENESS[level]
            if cell.stage == SCALED and level > 0 and ("method" in fields or "method_name" in fields):
                times = self.scaled(cell, found, same_size="shots" in fields)
            else:
                times = [timed.seconds for timed in found]
            if times:
                return float(np.median(times)), level
        return None

    def scaled(self, cell, found: list[_Timed], same_size: bool = False) -> list[float]:
        """A training timed from other trainings: by the characters of their training texts where
        both are known, else by their rows. Only where none of them can be scaled so: of the same K
        (`same_size`) as they are, else by their K (a count per class; `full` has none). A `full`
        of another task is no size of this one's, so it is never taken as it is beside trainings
        whose size is known (a ledger older than its rows column beside a newer one). One of a
        fixed number of steps (train.max_steps) takes their times as they are."""
        if (getattr(cell, "params", {}).get("train") or {}).get("max_steps"):
            return [other.seconds for other in found]  # its length is its steps, whatever its rows
        (rows, chars), shots = self.size_of.get(self.size(cell), (None, None)), _per_class(cell.meta.get("shots"))
        by_size = []
        for other in found:
            if chars and _known(other.chars):
                by_size.append(other.seconds * chars / other.chars)
            elif rows and _known(other.rows):
                by_size.append(other.seconds * rows / other.rows)
        if by_size:
            return by_size
        if same_size:
            return [other.seconds for other in found]
        return [other.seconds * shots / _per_class(other.shots) for other in found
                if shots and _per_class(other.shots)]


def _known(count) -> bool:
    """A positive count (not None, NaN or pandas' NA, whose truth value is an error)."""
    return count is not None and not pd.isna(count) and count > 0


def _like(where: dict, fields) -> tuple:
    return tuple(str(where.get(name)) for name in fields)


def _per_class(shots) -> int | None:
    """A count per class, or None for `full` (the whole split) and the unknown."""
    try:
        shots = int(shots)
    except (TypeError, ValueError):
        return None
    return shots if 0 < shots < FULL_SHOTS else None


def estimate(statuses, cache, ledgers: pd.DataFrame | None = None, earlier: dict | None = None) -> Estimate:
    """How long the cells still to run should take, from the recorded wall seconds of the plan's
    cells: those cached; those in `ledgers` (read_ledgers of earlier sessions, matched to the plan by
    key, so a cell computed before and lost with its cache counts with its own time, and by what
    they did for cells the plan does not hold); and, for a cell whose key an edit changed, its
    namesake of the last run (`earlier`: cell name -> (stage, key) of the last run's lock file)
    where that is still cached. Each cell to run takes the median of its most like timed cells
    (LIKENESS), less what a training stopped on the way spent up to its checkpoint; cells that share
    one cache entry count once. A guess, not a measurement: it assumes cells cost what their likes
    cost, on a machine as busy as theirs was."""
    def recorded_seconds(stage, key):  # of an entry status found cached
        return entry_cost(cache, stage, key).get("seconds")

    ledgers = pd.DataFrame(columns=COLUMNS + DESCRIPTION) if ledgers is None else \
        ledgers.reindex(columns=COLUMNS + DESCRIPTION)
    in_ledgers = dict(zip(ledgers["key"], ledgers[["seconds", *SIZE]].to_dict("records")))
    likes, planned = _Likes(), set()
    for status in statuses:
        cell, levels = status.cell, range(len(LIKENESS))
        planned.add(cell.key)
        listed = in_ledgers.get(cell.key, {})
        rows, chars = training_size(cache, cell) or tuple(None if pd.isna(listed.get(name)) else int(listed[name])
                                                          for name in SIZE)
        if rows:
            likes.size_of[likes.size(cell)] = (rows, chars)
        spent = recorded_seconds(cell.stage, cell.key) if status.cached else listed.get("seconds")
        namesake = (earlier or {}).get(cell.name)  # (stage, key) of the last run's cell of this name
        if (spent is None or pd.isna(spent)) and namesake and namesake[1] != cell.key \
                and cache.lookup(*namesake, verify="quick", repair=False) is not None:
            spent, levels = recorded_seconds(*namesake), range(1, len(LIKENESS))  # like it, not it
        if spent is not None and not pd.isna(spent):
            likes.file(likes.described(cell), levels, _Timed(float(spent), cell.meta.get("shots"), rows, chars))
    for row in ledgers.to_dict("records"):
        if row["key"] not in planned and not pd.isna(row["seconds"]) and not pd.isna(row["method"]):
            likes.file(row, range(1, len(LIKENESS)),
                       _Timed(float(row["seconds"]), row["shots"], row["rows"], row["chars"]))
    total, timed, other, untimed, under_way = 0.0, 0, 0, 0, 0
    # plan cells that share one cache entry (a self-training's first round and its method's own
    # training) compute it once
    counted = set()
    for status in statuses:
        entry = (status.cell.stage, status.cell.key)
        if status.cached or not status.needed or entry in counted:
            continue
        counted.add(entry)
        found = likes.time(status.cell)
        if found is None:
            untimed += 1
            continue
        spent = _spent_so_far(cache, status.cell)
        total, timed, other = total + max(found[0] - spent, 0.0), timed + 1, other + (found[1] >= OTHER_SIZES)
        under_way += spent > 0
    return Estimate(total, timed, other, untimed, under_way)


def _spent_so_far(cache, cell) -> float:
    """The wall seconds a training stopped on the way has spent up to its checkpoint (0 without one)."""
    from xprompt.pipeline.cache.checkpoint_pack import progress_in

    found = progress_in(cache, cell.stage, cell.key) if cell.stage in TRAINED else None
    return 0.0 if found is None else found[1]
