"""Runs a plan: every cell is looked up in the cache and computed only when missing.
All reading and writing of stage outputs happens here; stages.py stays pure."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm.auto import tqdm

from xprompt.training import distributed
from xprompt.results.consistency import aligned, consistency_metrics
from xprompt.pipeline.cache.live import registered
from xprompt.pipeline.cache.store import EntryBusy, disk_errors
from xprompt.pipeline.cache import (StageRecord, canonical, canonical_json, describe_change, read_lockfile,
                           record_from_manifest, write_lockfile)
from xprompt.errors import CacheError, XPromptError
from xprompt.pipeline.record import write_trained
from xprompt.pipeline.cells import cache_for
from xprompt.pipeline.graph import SCORED, TRAINED, VERSIONS, Cell, Plan, with_dependencies
from xprompt.pipeline.compute import StageComputation
from xprompt.pipeline.entry_files import METRICS, PREDICTIONS
from xprompt.pipeline.cache.manifest import MANIFEST_NAME

if TYPE_CHECKING:
    from xprompt.encoder.backbone import Backbone

log = logging.getLogger(__name__)


@dataclass
class CellStatus:
    cell: Cell
    cached: bool
    reason: str
    needed: bool = True  # False: missing, but every cell computed from it is cached, so it is skipped


@dataclass
class RunOutcome:
    statuses: list[CellStatus] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # long results rows
    failed: dict[str, str] = field(default_factory=dict)  # cell name -> why (with keep_going)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time of the cells computed, per stage
    evaluated_rows: int = 0  # test rows of the evaluate cells computed

    @property
    def ran(self) -> int:
        return sum(not s.cached and s.needed and s.cell.name not in self.failed for s in self.statuses)

    @property
    def skipped(self) -> int:
        return sum(not s.needed for s in self.statuses)


def _mark_unneeded(statuses: list[CellStatus]) -> None:
    """A missing cell whose every consumer is cached (or itself not needed) is not computed: what
    it would feed exists already, e.g. evaluations added by `xprompt cache unpack` without their
    trained models. A missing cell that nothing consumes (a result) is always needed. Statuses come
    in dependency order, so walking them backwards sees every consumer before its inputs."""
    consumers: dict[int, list[CellStatus]] = {}
    for status in statuses:
        for dependency in status.cell.inputs.values():
            consumers.setdefault(id(dependency), []).append(status)
    for status in reversed(statuses):
        users = consumers.get(id(status.cell), [])
        if not status.cached and users and not any(user.needed and not user.cached for user in users):
            status.needed = False
            status.reason = "not needed: every cell computed from it is cached (--every-cell computes it)"


def _same_record(old: StageRecord, cell: Cell) -> bool:
    """Same version, parameters and input keys as recorded (compared in canonical form)."""
    return (old.version == VERSIONS[cell.stage] and old.inputs == cell.input_keys
            and canonical_json(canonical(old.params)) == canonical_json(canonical(cell.params)))


class Runner(StageComputation):
    def __init__(self, plan: Plan, progress: bool = True, keep_going: bool = False, every_cell: bool = False,
                 backbone: Backbone | None = None):
        self.plan, self.config, self.card = plan, plan.config, plan.card
        self.keep_going = keep_going  # finish every cell that can be, list the failed ones at the end
        self.every_cell = every_cell  # also compute cells that only feed cached results (see _mark_unneeded)
        self._last_model = None  # (train or adapt key, built method) reused by that model's evaluations
        self.cache = cache_for(self.config)
        self.progress = progress
        self._backbone = backbone  # one already loaded, shared by runners; None: the plan's, loaded when needed
        self.run_dir = Path(self.config.output_dir) / self.config.name
        self.previous = self._last_record()

    def _last_record(self) -> dict[str, StageRecord]:
        """The last full run's lock file: only the reasons shown by status depend on it."""
        path = self.run_dir / "xprompt.lock"
        try:
            return read_lockfile(path, missing_ok=True)
        except CacheError as error:  # hand-edited or damaged: reasons fall back to "new cell"
            log.warning("ignoring lock file %s (%s); it is rewritten at the end of this run", path, error)
            return {}

    # -- planning view ------------------------------------------------------
    def status(self, cells: list[Cell] | None = None, repair: bool = False) -> list[CellStatus]:
        """Each cell: cached, or to run and why (compared with the last run's lock file). Only
        reads: a damaged entry is reported as to run and left for `run` (repair=True) to remove."""
        result = []
        for cell in self.plan.cells if cells is None else cells:  # an empty shard has no cells
            cached = self.cache.lookup(cell.stage, cell.key, verify="quick", repair=repair) is not None
            result.append(CellStatus(cell, cached, "cached" if cached else self._reason(cell) + self._resumes(cell)))
        if not self.every_cell:
            _mark_unneeded(result)
        return result

    def _reason(self, cell: Cell) -> str:
        old = self.previous.get(cell.name)
        if old is None:
            return "new cell"
        if old.key == cell.key:
            return "in the last run, but its cache entry is missing or damaged"
        if cell.files and _same_record(old, cell):  # file hashes are in the key, not in the record
            return f"content of input file {', '.join(sorted(cell.files))} changed"
        return describe_change(old.params, cell.params, old.inputs, cell.input_keys,
                               old_version=old.version, new_version=VERSIONS[cell.stage])

    def _resumes(self, cell: Cell) -> str:
        """Where a training stopped on the way (here, or unpacked from a checkpoint pack) goes on."""
        from xprompt.pipeline.cache.checkpoint_pack import progress_in

        found = progress_in(self.cache, cell.stage, cell.key) if cell.stage in TRAINED else None
        return "" if found is None else f"; goes on from its checkpoint at step {found[0]}"

    # -- running ------------------------------------------------------------
    def run(self, groups: list[str] | None = None, lock_name: str | None = None) -> RunOutcome:
        """Compute what is missing. A shard (`groups`) records its cells in `lock_name`, one
        file per shard, so N shards sharing a run folder do not overwrite each other's record."""
        started = time.perf_counter()
        wanted = self.cells_for(groups)
        if distributed.is_distributed() and not distributed.is_main():
            return self._follow(wanted)
        with disk_errors(self.cache.root), registered(self.cache.root, {(c.stage, c.key) for c in wanted}):
            return self._run(wanted, groups, lock_name, started)

    def _run(self, wanted: list[Cell], groups, lock_name, started: float) -> RunOutcome:
        outcome = RunOutcome(statuses=self.status(wanted, repair=True))
        records = []
        # every language's data is read and checked first: a bad file fails the run in seconds, not
        # after hours of training (stable sort: the other cells keep their dependency order)
        ordered = sorted(outcome.statuses, key=lambda status: status.cell.stage != "prepare")
        pending = [status for status in ordered if status.needed]
        todo = tqdm(total=len(pending), desc="cells", unit="cell", disable=not self.progress)
        lockstep = distributed.is_distributed()  # ranks compute in the same order: never skip ahead
        wait_first = False
        while pending:
            # A cell another process is computing (a shard sharing the cache) is put off, with every
            # cell that needs it, to the next pass; a pass that could do nothing waits for its first.
            deferred, held = [], set()
            for status in pending:
                blocked = any(c.name in held for c in status.cell.inputs.values())
                wait = lockstep or (wait_first and status is pending[0])
                todo.set_postfix_str(status.cell.name[:60])
                if not blocked and self._run_cell(status, outcome, records, wait):
                    todo.update()
                    continue
                deferred.append(status)
                held.add(status.cell.name)
            wait_first = len(deferred) == len(pending)
            pending = deferred
        todo.close()
        outcome.rows = [row for c in wanted if c.stage in SCORED and c.name not in outcome.failed
                        for row in self.result_rows(c)]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if groups is None:
            write_lockfile(self.run_dir / "xprompt.lock", records)
            write_trained(self.run_dir, [c for c in wanted if c.name not in outcome.failed])
            for stale in self.run_dir.glob("xprompt.shard*.lock"):  # the full record supersedes them
                stale.unlink(missing_ok=True)
        else:
            write_lockfile(self.run_dir / (lock_name or "xprompt.shard.lock"), records)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _run_cell(self, status: CellStatus, outcome: RunOutcome, records: list, wait: bool) -> bool:
        """Look up or compute one cell and record it; False if another process holds it (wait=False)."""
        failed_input = next((c.name for c in status.cell.inputs.values() if c.name in outcome.failed), None)
        if failed_input is not None:
            outcome.failed[status.cell.name] = f"its input '{failed_input}' failed"
            return True
        try:
            cell_started = time.perf_counter()
            path, computed = self._compute_cached(status.cell, wait)
        except EntryBusy:
            return False
        except XPromptError as error:
            if not self.keep_going:
                raise
            outcome.failed[status.cell.name] = str(error)
            return True
        status.cached = not computed
        if computed:
            stage = status.cell.stage
            outcome.stage_seconds[stage] = outcome.stage_seconds.get(stage, 0.0) + time.perf_counter() - cell_started
            if stage == "evaluate":
                outcome.evaluated_rows += json.loads((path / METRICS).read_text())["n"]
        manifest = json.loads((path / MANIFEST_NAME).read_text())
        records.append(record_from_manifest(manifest, status.cell.name, "ran" if computed else "cached",
                                            status.reason if computed else "cached"))
        return True

    def _compute_cached(self, cell: Cell, wait: bool = True) -> tuple[Path, bool]:
        compute = lambda out: self._compute(cell, out)  # noqa: E731
        if distributed.is_distributed() and cell.stage in TRAINED:
            compute = self._lead(compute)
        path, computed = self.cache.get_or_compute(
            cell.stage, cell.key, compute,
            {"version": VERSIONS[cell.stage], "params": cell.params, "inputs": cell.input_keys, "cell": cell.name},
            wait=wait)
        if distributed.is_distributed() and cell.stage in TRAINED and not compute.called:
            distributed.broadcast(False)  # cached: the other ranks skip this cell
        return path, computed

    # -- data-parallel training (WORLD_SIZE > 1; see distributed.py) ---------
    @staticmethod
    def _lead(compute):
        """Rank 0: tell the other ranks to join just before training (holding the entry's lock)."""
        def lead(out: Path) -> None:
            lead.called = True
            distributed.broadcast(True)
            compute(out)
        lead.called = False
        return lead

    def _follow(self, wanted: list[Cell]) -> RunOutcome:
        """Ranks other than 0 touch no cache entry: for each train/adapt cell they learn from
        rank 0 whether it is being computed and, if so, train alongside and discard the result."""
        self.progress = False
        for cell in wanted:
            if cell.stage in TRAINED and distributed.broadcast():
                self._compute(cell, None)
        return RunOutcome()

    def cells_for(self, groups: list[str] | None) -> list[Cell]:
        """The cells of `groups` with what they need, group by group in the list's order."""
        if groups is None:
            return self.plan.cells
        rank = {group: i for i, group in enumerate(groups)}
        chosen = [c for c in self.plan.cells if c.group in rank]
        return with_dependencies(sorted(chosen, key=lambda c: rank[c.group]))  # stable within a group

    def entry(self, cell: Cell) -> Path:
        path = self.cache.lookup(cell.stage, cell.key, verify="quick")
        if path is None:
            raise CacheError(f"cell '{cell.name}' (key {cell.key}) is not in the cache {self.cache.root}; "
                             f"run the pipeline first")
        return path

    # -- results ------------------------------------------------------------
    def result_rows(self, cell: Cell) -> list[dict]:
        metrics = json.loads((self.entry(cell) / METRICS).read_text())
        meta, config = cell.meta, self.config
        base = {"method": meta["method"], "model": config.model.name, "task": self.card.name,
                "source": self.plan.source, "target": meta["target"], "shots": meta["shots"],
                "adapt_shots": meta["adapt_shots"], "seed": meta["seed"]}
        metrics.pop("n", None)
        metrics.pop("classes", None)
        metrics.update(self._consistency(cell))
        return [{**base, "metric": name, "value": value} for name, value in sorted(metrics.items())]

    def items(self) -> pd.DataFrame:
        """Every evaluated item of the plan: method, shots, adapt_shots, seed, target, id, label, prediction."""
        frames = []
        for cell in self.plan.evaluations():
            entry = self.cache.lookup(cell.stage, cell.key, verify="quick")
            if entry is None:  # failed under --keep-going, or another shard's
                continue
            path = entry / PREDICTIONS
            table = pd.read_parquet(path, columns=["id", "label", "prediction"])
            meta = cell.meta
            frames.append(table.assign(method=meta["method"], shots=meta["shots"], adapt_shots=meta["adapt_shots"],
                                       seed=meta["seed"], target=meta["target"]))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def missing_classes(self) -> dict[str, list[str]]:
        """Per target language, the classes its test set lacks (read from its evaluations)."""
        missing = {}
        for cell in self.plan.evaluations():
            entry = self.cache.lookup(cell.stage, cell.key, verify="quick")
            if entry is None or cell.meta["target"] in missing:
                continue
            present = json.loads((entry / METRICS).read_text()).get("classes")
            if present is not None and len(present) < len(self.card.labels):
                missing[cell.meta["target"]] = [n for i, n in enumerate(self.card.labels) if i not in set(present)]
        return missing

    def _consistency(self, cell: Cell) -> dict:
        """Agreement with the source-language predictions of the same trained model, on
        parallel test sets only (the card says whether rows align)."""
        source = self.plan.source_evaluation(cell)
        if source is None or source is cell or not self.card.parallel:
            return {}
        predictions = [pd.read_parquet(self.entry(c) / PREDICTIONS) for c in (source, cell)]
        pairs = aligned(*predictions, self.card.parallel)
        return consistency_metrics(pairs) if pairs is not None and len(pairs) else {}
