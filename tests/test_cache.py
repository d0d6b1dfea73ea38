"""Cache layer: keys, verified entries, atomic writes, locks across processes, gc, lock files."""

from __future__ import annotations

import enum
import json
import logging
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from xprompt.pipeline.cache import (
    Cache,
    StageRecord,
    describe_change,
    file_hash,
    read_lockfile,
    record_from_manifest,
    stage_key,
    tree_hash,
    write_lockfile,
)
from xprompt.errors import CacheError

DEFAULTS = {"lr": 1e-3, "epochs": 3, "freeze_embeddings": True}
INPUTS = {"train": "aaaa", "dev": "bbbb"}


def key_of(params=None, defaults=DEFAULTS, inputs=INPUTS, version="1", files=None):
    return stage_key("train", version, params if params is not None else {}, defaults, inputs, files)


# ---------------------------------------------------------------- keys


def test_same_inputs_same_key_and_dict_order_does_not_matter():
    first = key_of({"lr": 5e-4, "epochs": 5})
    again = key_of({"epochs": 5, "lr": 5e-4}, inputs={"dev": "bbbb", "train": "aaaa"})
    assert first == again
    assert len(first) == 20 and int(first, 16) >= 0


def test_relevant_param_change_gives_new_key():
    assert key_of({"lr": 5e-4}) != key_of({"lr": 1e-4})


def test_param_at_default_equals_param_absent():
    assert key_of({"lr": 1e-3, "epochs": 3}) == key_of({})
    assert key_of({"lr": 0.001}) == key_of({})


def test_new_defaulted_param_does_not_change_key():
    old = key_of({"lr": 5e-4})
    new_defaults = {**DEFAULTS, "warmup": 0.1}
    assert key_of({"lr": 5e-4}, defaults=new_defaults) == old
    assert key_of({"lr": 5e-4, "warmup": 0.1}, defaults=new_defaults) == old
    assert key_of({"lr": 5e-4, "warmup": 0.2}, defaults=new_defaults) != old


def test_version_bump_gives_new_key():
    assert key_of(version="1") != key_of(version="2")


def test_input_key_or_file_hash_change_gives_new_key():
    assert key_of(inputs={"train": "aaaa", "dev": "cccc"}) != key_of()
    assert key_of(inputs=["aaaa", "bbbb"]) != key_of(inputs=["bbbb", "aaaa"])
    assert key_of(files={"model": "h1"}) != key_of(files={"model": "h2"})


class Init(str, enum.Enum):
    RANDOM = "random"
    TEXT = "text"


def test_values_are_normalised_before_hashing():
    assert key_of({"lr": 1e-4}) == key_of({"lr": 0.0001}) == key_of({"lr": 0.1 * 0.001})
    assert key_of({"epochs": 5.0}) == key_of({"epochs": 5})
    assert key_of({"shots": (8, 16)}) == key_of({"shots": [8, 16]})
    assert key_of({"langs": {"de", "fr", "sw"}}) == key_of({"langs": {"sw", "fr", "de"}})
    assert key_of({"data": Path("a/b.csv")}) == key_of({"data": "a/b.csv"})
    assert key_of({"init": Init.TEXT}) == key_of({"init": "text"})
    assert key_of({"freeze_embeddings": 1}) != key_of({})  # a bool is not the int 1


def test_unhashable_param_raises_cache_error_naming_it():
    with pytest.raises(CacheError, match="'collate_fn'"):
        key_of({"collate_fn": lambda rows: rows})
    with pytest.raises(CacheError, match=r"'method\.scheduler'"):
        key_of({"method": {"scheduler": object()}})


def test_file_hash_and_tree_hash(tmp_path):
    (tmp_path / "model" / "sub").mkdir(parents=True)
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x00" * 3_000_000)
    config = tmp_path / "model" / "sub" / "config.json"
    config.write_text("{}")
    before = tree_hash(tmp_path / "model")
    assert tree_hash(tmp_path / "model") == before
    assert file_hash(config) == file_hash(config)
    config.write_text('{"a": 1}')
    assert tree_hash(tmp_path / "model") != before
    with pytest.raises(CacheError, match="missing.bin"):
        file_hash(tmp_path / "missing.bin")


def test_describe_change_messages():
    assert describe_change(None, {"lr": 5e-4}) == "new entry"
    assert describe_change({"lr": 1e-3}, {"lr": 5e-4}) == "param lr changed 0.001 -> 0.0005"
    assert describe_change({}, {"seed": 2}) == "param seed set to 2 (was default)"
    assert describe_change({"seed": 2}, {}) == "param seed back to default (was 2)"
    assert describe_change({}, {}, {"train": "a", "dev": "b"}, {"train": "c", "dev": "b"}) == "input train changed"
    assert describe_change({}, {}, ["a"], ["a", "b"]) == "inputs changed (1 -> 2)"
    assert describe_change({}, {}, old_version="1", new_version="2") == "version 1 -> 2"
    combined = describe_change({"lr": 1e-3}, {"lr": 1e-3}, {"train": "a"}, {"train": "a", "dev": "d"})
    assert combined == "input dev added"
    assert "no recorded change" in describe_change({"lr": 1e-3}, {"lr": 0.001}, ["a"], ["a"])


# ---------------------------------------------------------------- store


def write_entry(cache, key="k1", files=None, extra=None):
    files = files if files is not None else {"scores.json": '{"acc": 0.5}', "preds/de.txt": "1\n0\n"}
    with cache.writing("evaluate", key, extra or {"version": "1", "params": {"lr": 5e-4}}) as temp:
        for relative, text in files.items():
            (temp / relative).parent.mkdir(parents=True, exist_ok=True)
            (temp / relative).write_text(text)
    return cache.entry_dir("evaluate", key)


def leftovers(stage_dir: Path) -> list[str]:
    return sorted(p.name for p in stage_dir.iterdir()) if stage_dir.exists() else []


def test_write_then_lookup_round_trip(tmp_path):
    cache = Cache(tmp_path)
    entry = write_entry(cache)
    assert cache.lookup("evaluate", "k1") == entry
    assert (entry / "preds" / "de.txt").read_text() == "1\n0\n"
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["stage"] == "evaluate" and manifest["key"] == "k1" and manifest["version"] == "1"
    assert manifest["params"] == {"lr": 0.0005} and manifest["created"]
    assert manifest["files"]["scores.json"]["sha256"] == file_hash(entry / "scores.json")
    assert manifest["files"]["preds/de.txt"]["size"] == 4
    assert leftovers(tmp_path / "evaluate") == ["k1"]
    assert cache.lookup("evaluate", "other") is None


def test_exception_inside_writing_leaves_nothing_trusted(tmp_path):
    cache = Cache(tmp_path)
    with pytest.raises(RuntimeError, match="out of memory"):
        with cache.writing("train", "k1", {}) as temp:
            (temp / "half.bin").write_bytes(b"abc")
            raise RuntimeError("out of memory")
    assert cache.lookup("train", "k1") is None
    assert leftovers(tmp_path / "train") == []


def test_truncated_file_is_detected_and_entry_removed(tmp_path, caplog):
    cache = Cache(tmp_path)
    entry = write_entry(cache)
    with open(entry / "scores.json", "r+") as handle:
        handle.truncate(3)
    with caplog.at_level(logging.WARNING, logger="xprompt.pipeline.cache"):
        assert cache.lookup("evaluate", "k1", verify="quick") is None
    assert "scores.json" in caplog.text and "not trusted" in caplog.text
    assert leftovers(tmp_path / "evaluate") == []


def test_same_size_edit_caught_by_full_check_and_by_quick_check_when_mtime_moved(tmp_path):
    cache = Cache(tmp_path)
    entry = write_entry(cache)
    recorded = json.loads((entry / "manifest.json").read_text())["files"]["scores.json"]["mtime_ns"]
    (entry / "scores.json").write_text('{"acc": 0.9}')
    os.utime(entry / "scores.json", ns=(recorded, recorded))
    # Quick mode trusts an untouched mtime (the cheap path for multi-GB entries) ...
    assert cache.lookup("evaluate", "k1", verify="quick") == entry
    # ... the full check (the default for small entries) reads the bytes.
    assert cache.lookup("evaluate", "k1") is None
    entry = write_entry(cache)
    (entry / "scores.json").write_text('{"acc": 0.9}')
    os.utime(entry / "scores.json", ns=(recorded + 10**9, recorded + 10**9))
    assert cache.lookup("evaluate", "k1", verify="quick") is None


def test_manifest_less_dir_is_not_trusted_and_can_be_replaced(tmp_path):
    cache = Cache(tmp_path)
    stray = tmp_path / "evaluate" / "k1"
    stray.mkdir(parents=True)
    (stray / "scores.json").write_text("{}")
    assert cache.lookup("evaluate", "k1") is None
    assert write_entry(cache) == stray and cache.lookup("evaluate", "k1") == stray


def test_losing_the_publish_race_keeps_the_winner(tmp_path):
    cache = Cache(tmp_path)
    with cache.writing("evaluate", "k1", {"who": "slow"}) as slow_temp:
        (slow_temp / "scores.json").write_text("slow")
        write_entry(cache, extra={"who": "fast"})
    assert cache.read_manifest("evaluate", "k1")["who"] == "fast"
    assert cache.lookup("evaluate", "k1") is not None
    assert leftovers(tmp_path / "evaluate") == ["k1"]


def test_bad_names_and_reserved_fields_are_refused(tmp_path):
    cache = Cache(tmp_path)
    for stage, key in (("../etc", "k"), ("train", "a/b"), ("locks", "k"), ("train", ".hidden")):
        with pytest.raises(CacheError):
            cache.entry_dir(stage, key)
    with pytest.raises(CacheError, match="'files'"):
        with cache.writing("train", "k1", {"files": []}):
            pass
    with pytest.raises(CacheError, match="manifest.json"):
        write_entry(cache, files={"manifest.json": "{}"})
    assert cache.lookup("train", "k1") is None and leftovers(tmp_path / "evaluate") == []


# ---------------------------------------------------------------- processes


def _compute_once(cache_root: str, marker: str, barrier, results) -> None:
    def compute(temp: Path) -> None:
        descriptor = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        os.close(descriptor)
        time.sleep(0.5)  # long enough that the other process arrives while this one holds the lock
        (temp / "model.bin").write_bytes(b"weights")

    barrier.wait()
    path, computed = Cache(cache_root).get_or_compute("train", "k1", compute, {"version": "1"})
    results.put((str(path), computed, (path / "model.bin").read_bytes()))


def test_two_processes_compute_the_same_entry_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    marker = tmp_path / "computations.log"
    workers = [
        context.Process(target=_compute_once, args=(str(tmp_path / "cache"), str(marker), barrier, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert len(marker.read_text().splitlines()) == 1
    assert sorted(computed for _, computed, _ in outcomes) == [False, True]
    assert {path for path, _, _ in outcomes} == {str(tmp_path / "cache" / "train" / "k1")}
    assert all(content == b"weights" for _, _, content in outcomes)


def _die_while_writing(cache_root: str) -> None:
    with Cache(cache_root).writing("train", "k1", {}) as temp:
        (temp / "model.bin").write_bytes(b"half")
        os._exit(1)  # like a kill -9: no cleanup code runs


def test_killed_writer_leaves_nothing_trusted_and_gc_removes_it(tmp_path):
    process = multiprocessing.get_context("spawn").Process(target=_die_while_writing, args=(str(tmp_path),))
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 1
    stale = [p for p in (tmp_path / "train").iterdir() if ".incomplete-" in p.name]
    assert len(stale) == 1
    cache = Cache(tmp_path)
    assert cache.lookup("train", "k1") is None
    with cache.writing("train", "k2", {}) as live_temp:
        assert cache.gc(referenced=set()) == stale
        assert live_temp.exists()  # our own writer is alive, so its temp dir stays
    assert cache.lookup("train", "k2") is not None


def test_gc_keeps_referenced_and_removes_the_rest(tmp_path):
    cache = Cache(tmp_path)
    kept, dropped = write_entry(cache, "keep"), write_entry(cache, "drop")
    assert cache.gc({("evaluate", "keep")}) == [dropped]
    assert cache.lookup("evaluate", "keep") == kept and not dropped.exists()
    assert cache.gc(set()) == [kept]
    assert not (tmp_path / "evaluate").exists()


def test_entries_lists_complete_entries(tmp_path):
    cache = Cache(tmp_path)
    write_entry(cache, "a", files={"x.txt": "12345"})
    write_entry(cache, "b", files={"y.txt": "1"})
    (tmp_path / "evaluate" / "c").mkdir()  # no manifest: not an entry
    listed = cache.entries()
    assert [(e.stage, e.key, e.size) for e in listed] == [("evaluate", "a", 5), ("evaluate", "b", 1)]
    assert all(e.created for e in listed)


# ---------------------------------------------------------------- lock file


@pytest.mark.parametrize("name", ["xprompt.lock", "xprompt.lock.json"])
def test_lockfile_round_trip(tmp_path, name):
    cache = Cache(tmp_path / "cache")
    write_entry(cache, "k1", extra={"version": "2", "params": {"lr": 5e-4}, "inputs": {"train": "aaaa"}})
    manifest = cache.read_manifest("evaluate", "k1")
    records = [
        record_from_manifest(manifest, "evaluate/soft/de", "ran", "param lr changed 0.001 -> 0.0005"),
        StageRecord(stage="sample", cell="sample/k16/s13", key="abcd", status="cached", inputs=["p1"]),
    ]
    path = tmp_path / "runs" / name
    write_lockfile(path, records)
    loaded = read_lockfile(path)
    assert list(loaded) == ["evaluate/soft/de", "sample/k16/s13"]
    assert loaded["evaluate/soft/de"] == records[0]
    assert loaded["sample/k16/s13"] == records[1]
    assert loaded["evaluate/soft/de"].outputs["scores.json"]["sha256"] == manifest["files"]["scores.json"]["sha256"]
    assert os.listdir(path.parent) == [name]  # the temp file was renamed, not left behind


def test_lockfile_rejects_bad_records(tmp_path):
    with pytest.raises(CacheError, match="'skipped'"):
        StageRecord(stage="train", cell="c", key="k", status="skipped")
    twice = [StageRecord(stage="train", cell="c", key="k", status="ran")] * 2
    with pytest.raises(CacheError, match="appears twice"):
        write_lockfile(tmp_path / "x.lock", twice)
    assert read_lockfile(tmp_path / "none.lock", missing_ok=True) == {}
    with pytest.raises(CacheError, match="does not exist"):
        read_lockfile(tmp_path / "none.lock")
    (tmp_path / "bad.lock").write_text("schema: 1\ncells:\n  c: {stage: train, key: k, status: ran, colour: red}\n")
    with pytest.raises(CacheError, match="'colour'"):
        read_lockfile(tmp_path / "bad.lock")


def test_an_entry_records_the_seconds_and_machine_of_its_computation(tmp_path):
    cache = Cache(tmp_path)

    def compute(out: Path) -> None:
        deadline = time.process_time() + 0.05
        while time.process_time() < deadline:  # CPU work the manifest must account for
            pass
        (out / "x.txt").write_text("x")

    path, computed = cache.get_or_compute("train", "k2", compute, {"version": "1"})
    spent = json.loads((path / "manifest.json").read_text())["computed"]
    assert computed and spent["cpu_seconds"] >= 0.05 and spent["seconds"] >= spent["cpu_seconds"] - 0.01
    assert spent["host"] and spent["cpu"]
    with pytest.raises(CacheError, match="'computed' is reserved"):
        with cache.writing("train", "k3", {"computed": {}}):
            pass


def test_the_ledger_lists_cached_cells_and_merges_sessions_keeping_the_recorded_cost(tmp_path, capsys):
    from types import SimpleNamespace

    import pandas as pd

    from xprompt.pipeline.cache.ledger import ledger, read_ledgers, summary

    cache = Cache(tmp_path / "cache")
    cache.get_or_compute("train", "k1", lambda out: (out / "m").write_text("m"), {"version": "1"})
    cells = [SimpleNamespace(stage="train", name="train a", key="k1", meta={"method": "u", "shots": 16}),
             SimpleNamespace(stage="evaluate", name="evaluate a", key="k9", meta={})]  # not cached: not listed
    this_session = ledger(cache, cells)
    assert list(this_session["cell"]) == ["train a"] and this_session["seconds"].notna().all()
    assert this_session[["method", "shots", "target"]].values.tolist() == [["u", "16", "None"]]
    assert this_session["rows"].isna().all()  # no sample: rows unknown
    earlier = this_session.assign(host="not recorded", cpu="not recorded", seconds=None, cpu_seconds=None)
    earlier = pd.concat([earlier, pd.DataFrame([{"stage": "evaluate", "cell": "evaluate b", "key": "k8",
                                                 "created": "2026-12-03T01:00", "host": "not recorded",
                                                 "cpu": "not recorded"}])], ignore_index=True)
    earlier.to_csv(tmp_path / "ledger-1.csv", index=False)
    this_session.to_csv(tmp_path / "ledger-2.csv", index=False)
    merged = read_ledgers([tmp_path / "ledger-1.csv", tmp_path / "ledger-2.csv"])
    assert len(merged) == 2  # train a once, with the cost its second ledger recorded
    assert merged.set_index("cell").loc["train a", "seconds"] >= 0
    table = summary(merged)
    assert list(table["cells"]) == [1, 1, 2] and list(table["timed"]) == [0, 1, 1]
    shared = pd.concat([this_session, this_session.assign(cell="train a, again")])  # two cells, one entry
    assert list(summary(shared)["cells"]) == [1, 1]
    assert summary(shared)["wall_hours"].iloc[-1] == this_session["seconds"].iloc[0] / 3600
    # a training resumed from a checkpoint: what the earlier processes spent is added to the manifest's time
    resumed = cache.get_or_compute("train", "k4", lambda out: (out / "train.json").write_text(json.dumps(
        {"earlier_processes": {"seconds": 100.0, "cpu_seconds": 90.0}})), {"version": "1"})[0]
    own = json.loads((resumed / "manifest.json").read_text())["computed"]
    both = ledger(cache, [SimpleNamespace(stage="train", name="train b", key="k4", meta={})]).iloc[0]
    assert both["seconds"] == pytest.approx(own["seconds"] + 100.0, abs=1e-3)
    assert both["cpu_seconds"] == pytest.approx(own["cpu_seconds"] + 90.0, abs=1e-3)
    (tmp_path / "bad.csv").write_text("stage,cell\ntrain,a\n")
    with pytest.raises(Exception, match="has no column 'key'"):
        read_ledgers([tmp_path / "bad.csv"])


def test_the_time_left_is_the_median_time_of_the_most_like_timed_cells(tmp_path):
    from types import SimpleNamespace as Cell

    import pandas as pd

    from xprompt.pipeline.cache.estimate import estimate
    from xprompt.shots import FULL_SHOTS

    cache = Cache(tmp_path / "cache")
    cache.get_or_compute("train", "t16", lambda out: (out / "m").write_text("m"), {"version": "1"})
    trained = cache.read_manifest("train", "t16")["computed"]["seconds"]

    def status(stage, key, cached=False, needed=True, **meta):
        return Cell(cell=Cell(stage=stage, key=key, name=key, meta=meta), cached=cached, needed=needed)

    u16 = {"method": "u", "shots": 16}
    statuses = [status("train", "t16", cached=True, **u16),
                status("evaluate", "de-13", **u16, target="de"),  # lost with its cache: the ledger has its time
                status("evaluate", "fr-13", needed=False, **u16, target="fr"),  # not needed, but timed
                status("evaluate", "de-21", **u16, target="de"),  # like de-13
                status("evaluate", "fr-21", **u16, target="fr"),  # like fr-13
                status("train", "t64", method="u", shots=64),  # only a train of another K is timed
                status("adapt", "a1", **u16)]  # no adapt cell is timed
    ledgers = pd.DataFrame({"key": ["de-13", "fr-13", "t16"], "seconds": [10.0, 30.0, 999.0]})
    found = estimate(statuses, cache, ledgers)
    assert found.seconds == pytest.approx(10 + 10 + 30 + 4 * trained)  # the cache's own record beats the ledger's
    assert (found.timed, found.from_other_sizes, found.untimed) == (4, 1, 1)
    without = estimate(statuses, cache)  # no evaluation is timed: only the train of another K is
    assert (without.timed, without.from_other_sizes, without.untimed) == (1, 1, 4)
    assert without.seconds == pytest.approx(4 * trained)
    # an edit changed t16's key: its namesake of the last run, still cached, times it; and t64, a
    # training of the same method with four times its rows, takes four times as long
    edited = [status("train", "t16-edited", **u16), status("train", "t64", method="u", shots=64),
              status("train", "t-full", method="u", shots=FULL_SHOTS)]  # not scaled: any train of any method
    edited[0].cell.name = "t16"
    found = estimate(edited, cache, earlier={"t16": ("train", "t16")})
    assert (found.timed, found.from_other_sizes, found.seconds) == (3, 2, pytest.approx(6 * trained))
    assert estimate(edited, cache, earlier={"t16": ("train", "gone")}).timed == 0


def test_a_training_under_way_is_timed_by_what_its_checkpoint_has_not_spent_yet(tmp_path):
    from types import SimpleNamespace as Cell

    import pandas as pd
    import torch

    from xprompt.pipeline.cache.estimate import estimate

    cache = Cache(tmp_path / "cache")
    ledgers = pd.DataFrame({"stage": ["train"], "key": ["t13"], "seconds": [1000.0], "method": ["u"], "shots": [16]})
    todo = [Cell(cell=Cell(stage="train", key=key, name=key, meta={"method": "u", "shots": 16}), cached=False,
                 needed=True) for key in ("t21", "t42")]
    assert estimate(todo, cache, ledgers).seconds == pytest.approx(2000.0)
    checkpoint = cache.checkpoint_path("train", "t21")
    checkpoint.parent.mkdir(parents=True)
    torch.save({"model": {}, "optimizer": {}, "scheduler": {}, "epoch": 0, "batch": 300, "rng": {},
                "result": {"steps": 300, "seconds": 300.0}}, checkpoint)
    found = estimate(todo, cache, ledgers)
    assert (found.seconds, found.under_way, found.timed) == (pytest.approx(1700.0), 1, 2)
    torch.save({"model": {}, "optimizer": {}, "scheduler": {}, "epoch": 0, "batch": 300, "rng": {},
                "result": {"steps": 3000, "seconds": 3000.0}}, checkpoint)  # slower than its likes: none left
    assert estimate(todo, cache, ledgers).seconds == pytest.approx(1000.0)
    checkpoint.write_bytes(b"not a checkpoint")  # unreadable: the training starts over, so all of it counts
    assert estimate(todo, cache, ledgers).seconds == pytest.approx(2000.0)


def test_a_narrowed_plan_is_timed_from_the_ledger_rows_it_no_longer_holds_and_trainings_scale_by_rows(tmp_path):
    from types import SimpleNamespace as Cell

    import pandas as pd

    from xprompt.pipeline.cache.estimate import estimate
    from xprompt.pipeline.cache.ledger import ledger, read_ledgers
    from xprompt.shots import FULL_SHOTS

    cache = Cache(tmp_path / "cache")
    for key, rows in (("s16", 48), ("s-full", 480)):  # a sample of 16 per class of 3, and a whole split
        cache.get_or_compute("sample", key, lambda out, n=rows: pd.DataFrame({"text": ["x"] * n}).to_parquet(
            out / "train.parquet"), {"version": "1"})
    cache.get_or_compute("train", "t16", lambda out: (out / "m").write_text("m"), {"version": "1"})
    trained = cache.read_manifest("train", "t16")["computed"]["seconds"]
    sample16, sample_full = Cell(stage="sample", key="s16"), Cell(stage="sample", key="s-full")
    grid = [Cell(stage="train", key="t16", name="train u k=16", meta={"method": "u", "shots": 16},
                 inputs={"sample": sample16}),
            Cell(stage="evaluate", key="e16", name="evaluate u k=16 on de",
                 meta={"method": "u", "shots": 16, "target": "de"})]
    cache.get_or_compute("evaluate", "e16", lambda out: (out / "p").write_text("p"), {"version": "1"})
    written = ledger(cache, grid)
    written.to_csv(tmp_path / "ledger.csv", index=False)
    ledgers = read_ledgers([tmp_path / "ledger.csv"])
    assert sorted(ledgers["target"]) == ["None", "de"]  # a cell without a target keeps 'None', not NaN
    evaluated = cache.read_manifest("evaluate", "e16")["computed"]["seconds"]

    def status(cell):
        return Cell(cell=cell, cached=False, needed=True)

    # the grid narrowed to its whole-split column: none of its cells ran, the ledger's 16-shot ones did
    narrowed = [status(Cell(stage="train", key="t-full", name="train u k=full", inputs={"sample": sample_full},
                            meta={"method": "u", "shots": FULL_SHOTS})),
                status(Cell(stage="evaluate", key="e-full", name="evaluate u k=full on de",
                            meta={"method": "u", "shots": FULL_SHOTS, "target": "de"})),
                # another seed, its sample not drawn yet: it has as many rows as the first seed's
                status(Cell(stage="train", key="t-full-2", name="train u k=full seed=2",
                            inputs={"sample": Cell(stage="sample", key="not-drawn")},
                            meta={"method": "u", "shots": FULL_SHOTS}))]
    found = estimate(narrowed, cache, ledgers)
    # the trainings have ten times the rows of the one timed; the evaluation is timed from the 16-shot one
    assert (found.timed, found.from_other_sizes, found.untimed) == (3, 3, 0)
    assert found.seconds == pytest.approx(2 * 10 * trained + evaluated)
    assert estimate(narrowed, cache).timed == 0  # without the ledger nothing of the narrowed plan is timed
    assert ledgers.set_index("key").loc["t16", "rows"] == 48
    old_ledger = ledgers.drop(columns=["method", "shots", "target", "rows"])  # written before the description
    old_ledger.to_csv(tmp_path / "old.csv", index=False)
    assert estimate(narrowed, cache, read_ledgers([tmp_path / "old.csv"])).timed == 0


def test_a_whole_split_training_not_sampled_yet_is_timed_by_its_prepared_texts_from_another_tasks_like(tmp_path):
    from types import SimpleNamespace as Cell

    import pandas as pd

    from xprompt.pipeline.cache.estimate import estimate
    from xprompt.pipeline.cache.ledger import training_size
    from xprompt.shots import FULL, FULL_SHOTS

    cache = Cache(tmp_path / "cache")
    cache.get_or_compute("prepare", "p-train", lambda out: pd.DataFrame(
        {"text": ["xx"] * 800, "text_pair": ["y"] * 799 + [None], "label": [0] * 800}).to_parquet(
        out / "table.parquet"), {"version": "1"})
    prepared = Cell(stage="prepare", key="p-train")
    whole = Cell(stage="sample", key="s-full", params={"shots": FULL}, inputs={"train": prepared, "dev": prepared})
    few = Cell(stage="sample", key="s-16", params={"shots": 16}, inputs={"train": prepared, "dev": prepared})
    train_full = Cell(stage="train", key="t-full", name="train u k=full", inputs={"sample": whole},
                      meta={"method": "u", "shots": FULL_SHOTS})
    # the split it takes whole, before it is drawn: its rows, and the characters of both texts
    assert training_size(cache, train_full) == (800, 800 * 2 + 799)
    assert training_size(cache, Cell(stage="train", inputs={"sample": few})) is None  # a draw: unknown until drawn
    # another task's whole-split training of the same method: 200 rows of 4 characters in 100 s
    ledgers = pd.DataFrame({"key": ["other-task"], "stage": ["train"], "seconds": [100.0], "method": ["u"],
                            "shots": [str(FULL_SHOTS)], "target": ["None"], "rows": [200], "chars": [800]})
    found = estimate([Cell(cell=train_full, cached=False, needed=True)], cache, ledgers)
    assert (found.timed, found.seconds) == (1, pytest.approx(100.0 * 2399 / 800))  # by the characters read
    older = estimate([Cell(cell=train_full, cached=False, needed=True)], cache, ledgers.drop(columns="chars"))
    assert older.seconds == pytest.approx(400.0)  # a ledger without characters: four times its rows
    unknown = Cell(stage="train", key="t-other", name="train u k=full 2", meta={"method": "u", "shots": FULL_SHOTS},
                   inputs={"sample": Cell(stage="sample", key="s2", params={"shots": FULL},
                                          inputs={"train": Cell(stage="prepare", key="not-prepared")})})
    other_size = estimate([Cell(cell=unknown, cached=False, needed=True)], cache, ledgers)
    assert other_size.seconds == pytest.approx(100.0)  # rows unknown: the like's time as it is
    # beside one whose rows are known, a like of unknown size (a ledger older than its rows column,
    # of another task's whole split: 10 s) is left out rather than taken as it is: 400 s, not 205
    # (the median of 400 and 10)
    mixed = pd.concat([ledgers.drop(columns="chars"), pd.DataFrame(
        {"key": ["older"], "stage": ["train"], "seconds": [10.0], "method": ["u"], "shots": [str(FULL_SHOTS)],
         "target": ["None"], "rows": [None]})], ignore_index=True)
    assert estimate([Cell(cell=train_full, cached=False, needed=True)], cache, mixed).seconds == pytest.approx(400.0)
    # with no size known on either side, both are taken as they are (median of 100 and 10)
    assert estimate([Cell(cell=unknown, cached=False, needed=True)], cache, mixed).seconds == pytest.approx(55.0)
    # a training of a fixed number of steps lasts as long as its like, whatever the rows
    fixed = Cell(stage="train", key="t-steps", name="train u k=full steps", inputs={"sample": whole},
                 meta={"method": "u", "shots": FULL_SHOTS}, params={"train": {"max_steps": 1000}})
    assert estimate([Cell(cell=fixed, cached=False, needed=True)], cache, ledgers).seconds == pytest.approx(100.0)


def test_a_new_label_of_a_method_is_timed_from_that_method_under_its_other_labels(tmp_path):
    from types import SimpleNamespace as Cell

    import pandas as pd

    from xprompt.pipeline.cache.estimate import estimate

    cache = Cache(tmp_path / "cache")
    # deep trained at K = 16 in 100 s; finetune in 900 s, also at K = 16; both before a new variant
    ledgers = pd.DataFrame({"key": ["d", "f"], "stage": ["train", "train"], "seconds": [100.0, 900.0],
                            "method": ["deep", "finetune"], "method_name": ["deep", "finetune"],
                            "shots": ["16", "16"], "target": ["None", "None"]})
    variant = Cell(cell=Cell(stage="train", key="v", name="train deep+ensemble k=16",
                             meta={"method": "deep+ensemble", "method_name": "deep", "shots": 16}),
                   cached=False, needed=True)
    found = estimate([variant], cache, ledgers)
    assert (found.seconds, found.from_other_sizes) == (pytest.approx(100.0), 0)  # deep's, not the median 500
    # a ledger written before method_name: a label that is a method's name stands for that method
    older = estimate([variant], cache, ledgers.drop(columns="method_name"))
    assert (older.seconds, older.from_other_sizes) == (pytest.approx(100.0), 0)
    # a label that is no method's name says nothing of its method: timed from any training at K = 16
    renamed = ledgers.drop(columns="method_name").assign(method=["my-deep", "my-finetune"])
    assert estimate([variant], cache, renamed).seconds == pytest.approx(500.0)


def test_plan_cells_that_share_a_cache_entry_are_timed_once(tmp_path, capsys):
    from types import SimpleNamespace as Cell

    import pandas as pd

    from xprompt.pipeline.cache.estimate import estimate
    from xprompt.pipeline.commands import _print_status

    ledgers = pd.DataFrame({"key": ["done"], "stage": ["train"], "seconds": [100.0], "method": ["u"],
                            "shots": ["16"], "target": ["None"]})
    # a method's training and its self-training's first round: two names, one key
    shared = [Cell(cell=Cell(stage="train", key="same", name=name, meta={"method": "u", "shots": 16}),
                   cached=False, needed=True, reason="new cell") for name in ("train u", "train u+self-training")]
    found = estimate(shared, Cache(tmp_path / "cache"), ledgers)
    assert (found.timed, found.seconds) == (1, pytest.approx(100.0))
    _print_status(shared)
    assert "2 cells: 2 to run (1 computation: cells that share a cache entry compute it once), 0 cached" \
        in capsys.readouterr().out
