"""How long the cells of a plan still to run should take, from the recorded times of the cells
like them: the plan's own cached cells, and the ledgers of earlier sessions (see ledger.py).

    xprompt status pipelines/quality-grid-pawsx.yaml --set cache_dir=... --ledger benchmarks/out/*/ledger-*.csv"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xprompt.pipeline.cache.ledger import COLUMNS, DESCRIPTION, SCALED, SIZE, entry_cost, training_size
from xprompt.pipeline.graph import TRAINED
from xprompt.shots import FULL_SHOTS

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
    likes = _timed_likes(statuses, cache, ledgers, earlier)
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


def _timed_likes(statuses, cache, ledgers: pd.DataFrame | None, earlier: dict | None) -> _Likes:
    """Every timed cell estimate() can time others from, filed by what it shares with them: the
    plan's cells (their cached entry's time, or their ledger row's), a cell of the last run whose
    key an edit changed (filed as like the plan's cell of its name, not as that cell), and the
    ledgers' cells the plan does not hold."""
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
    return likes


def _spent_so_far(cache, cell) -> float:
    """The wall seconds a training stopped on the way has spent up to its checkpoint (0 without one)."""
    from xprompt.pipeline.cache.checkpoint_pack import progress_in

    found = progress_in(cache, cell.stage, cell.key) if cell.stage in TRAINED else None
    return 0.0 if found is None else found[1]
