"""The staged, cached pipeline: cell keys, what reruns and why, resume after SIGKILL,
two runs on one cache, shards, damaged entries, `xprompt cache`, strict config keys.

Everything runs on the tiny encoder of conftest and a user task card with a few CSV
rows per language, written into tmp_path; `xprompt run` subprocesses are used where a
process must die or two must race."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from xprompt.pipeline import builder, graph, identity
from xprompt.pipeline.cache import Cache, file_hash, read_lockfile
from xprompt.cli import main
from xprompt.pipeline.config import load_pipeline
from xprompt.errors import CacheError, ConfigError, DataError
from xprompt.pipeline.cells import plan
from xprompt.pipeline.runner import Runner

REPO = Path(__file__).resolve().parents[1]
LANGS = ("en", "de", "fr")
POSITIVE = {"en": ["the film was good and great", "a great good story", "good acting great music"],
            "de": ["der film war gut", "der film war gut und gut", "gut gut"],
            "fr": ["le film est bon", "le film est bon et bon", "bon bon"]}
NEGATIVE = {"en": ["the film was bad and terrible", "a terrible bad story", "bad acting terrible music"],
            "de": ["der film war schlecht", "der film war schlecht und schlecht", "schlecht schlecht"],
            "fr": ["le film est mauvais", "le film est mauvais et mauvais", "mauvais mauvais"]}
CARD = {
    "description": "toy reviews, two classes",
    "labels": ["negative", "positive"],
    "languages": list(LANGS),
    "source_language": "en",
    "local": {"files": {split: f"{{lang}}/{split}.csv" for split in ("train", "dev", "test")},
              "columns": {"text": "text", "label": "label"}},
    "templates": {"en": "{text} It was <mask>.", "de": "{text} Es war <mask>.", "fr": "{text} C'était <mask>."},
    "verbalizers": {"en": [["bad"], ["good"]], "de": [["schlecht"], ["gut"]], "fr": [["mauvais"], ["bon"]]},
}
BASE_CELLS = {"prepare en train", "prepare en dev", "sample en k=2 seed=13", "train soft k=2 seed=13",
              "prepare en test", "evaluate soft k=2 seed=13 on en", "prepare de test",
              "evaluate soft k=2 seed=13 on de"}
TRAIN = "train soft k=2 seed=13"
EVALUATIONS = {"evaluate soft k=2 seed=13 on en", "evaluate soft k=2 seed=13 on de"}
UPSTREAM = {"prepare en train", "prepare en dev", "sample en k=2 seed=13", "prepare en test", "prepare de test"}

# Runs `xprompt` after a file barrier (so racing processes really start together) and,
# with PAUSE_AT_STEP set, stops for good right after the checkpoint of that training step.
CLI_WITH_HOOKS = """
import os, sys, time
from pathlib import Path
import xprompt.cli, xprompt.pipeline.runner  # the slow imports come before the barrier, not after it
barrier = os.environ.get("BARRIER_DIR")
if barrier:
    Path(barrier, str(os.getpid())).touch()
    while len(os.listdir(barrier)) < int(os.environ["BARRIER_COUNT"]):
        time.sleep(0.02)
if os.environ.get("PAUSE_AT_STEP"):
    import xprompt.training.loop as train
    save = train._save
    def save_then_pause(path, *args):
        save(path, *args)
        result = next(a for a in args if isinstance(a, train.TrainResult))
        if result.steps == int(os.environ["PAUSE_AT_STEP"]):
            Path(os.environ["PAUSED_MARKER"]).touch()
            go_on = os.environ.get("CONTINUE_MARKER")
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and not (go_on and Path(go_on).exists()):
                time.sleep(0.05)
    train._save = save_then_pause
from xprompt.cli import main
sys.exit(main(sys.argv[1:]))
"""


def write_project(root: Path, encoder: Path) -> Path:
    """Card, CSVs (train/dev/test per language) and pipeline YAML under `root`; returns the pipeline."""
    for lang in LANGS:
        folder = root / "data" / lang
        folder.mkdir(parents=True, exist_ok=True)
        rows = [(text, "positive") for text in POSITIVE[lang]] + [(text, "negative") for text in NEGATIVE[lang]]
        for split in ("train", "dev", "test"):
            pd.DataFrame(rows, columns=["text", "label"]).to_csv(folder / f"{split}.csv", index=False)
    (root / "reviews.yaml").write_text(yaml.safe_dump(CARD, allow_unicode=True))
    config = {
        "name": "toy",
        "model": {"name": str(encoder)},
        "task": {"name": str(root / "reviews.yaml"), "targets": ["de"], "data_root": str(root / "data")},
        "shots": [2], "seeds": [13],
        "methods": [{"name": "soft"}],
        "train": {"epochs": 2, "batch_size": 2},
        "cache_dir": str(root / "cache"), "output_dir": str(root / "runs"),
    }
    path = root / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def keys(path: Path, *overrides: str) -> dict[str, str]:
    return {cell.name: cell.key for cell in plan(load_pipeline(path, list(overrides))).cells}


def run(path: Path, *overrides: str):
    return Runner(plan(load_pipeline(path, list(overrides))), progress=False).run()


def ran(outcome) -> set[str]:
    return {s.cell.name for s in outcome.statuses if not s.cached and s.needed}


def cell_of(path: Path, name: str, *overrides: str):
    return next(c for c in plan(load_pipeline(path, list(overrides))).cells if c.name == name)


def statuses_in(lock: Path) -> dict[str, str]:
    return {name: record.status for name, record in read_lockfile(lock).items()}


@pytest.fixture
def project(tmp_path, tiny_encoder_dir) -> Path:
    return write_project(tmp_path, tiny_encoder_dir)


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory, tiny_encoder_dir) -> Path:
    """One run of the base pipeline; tests that start from it copy its cache and runs."""
    root = tmp_path_factory.mktemp("warm")
    outcome = run(write_project(root, tiny_encoder_dir))
    assert ran(outcome) == BASE_CELLS
    return root


@pytest.fixture
def warm(tmp_path, tiny_encoder_dir, warm_cache) -> Path:
    """The base pipeline in tmp_path with the cache (and lock file) of one earlier run."""
    for folder in ("cache", "runs"):
        shutil.copytree(warm_cache / folder, tmp_path / folder)
    return write_project(tmp_path, tiny_encoder_dir)


@pytest.fixture
def cli():
    """Start `xprompt ARGV...` (with the hooks above) in a subprocess; any still alive at the
    end of the test is killed."""
    started = []

    def start(*argv: str, env: dict | None = None) -> subprocess.Popen:
        environment = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **(env or {})}
        process = subprocess.Popen([sys.executable, "-c", CLI_WITH_HOOKS, *argv], cwd=REPO, env=environment,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def at_barrier(folder: Path) -> dict:
    folder.mkdir()
    return {"BARRIER_DIR": str(folder), "BARRIER_COUNT": "2"}


def meet(folder: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    """Wait here until `process` reaches the barrier too, so both start their runs together."""
    (folder / "pytest").touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < 2:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the subprocess never reached the barrier"
        time.sleep(0.02)


def finish(process: subprocess.Popen, timeout: float = 240) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


# ---------------------------------------------------------------- keys


def test_same_config_gives_same_keys_wherever_the_files_sit(project, tmp_path, tiny_encoder_dir):
    first = keys(project)
    assert set(first) == BASE_CELLS and len(set(first.values())) == len(first)
    assert keys(project) == first
    elsewhere = write_project(tmp_path / "elsewhere", tiny_encoder_dir)  # same content, other paths
    assert keys(elsewhere) == first


@pytest.mark.parametrize("override", [
    "train.lr=1e-4",
    "train.epochs=3",
    "methods=[{name: soft, settings: {num_tokens: 4}}]",
])
def test_relevant_change_gives_new_train_and_downstream_keys_only(project, override):
    before, after = keys(project), keys(project, override)
    assert after[TRAIN] != before[TRAIN]
    assert all(after[name] != before[name] for name in EVALUATIONS)
    assert all(after[name] == before[name] for name in UPSTREAM)


@pytest.mark.parametrize("override", [
    "eval.batch_size=4", "train.checkpoint_every=1", "model.device=cpu", "name=other",
    "output_dir=/somewhere/else", "cache_dir=/another/cache",
])
def test_irrelevant_change_keeps_every_key(project, override):
    assert keys(project, override) == keys(project)


@pytest.mark.parametrize("override", [
    "train.lr=3e-5", "train.prompt_lr=0.001", "train.checkpoint_every=0", "task.test_size=null",
    "methods=[{name: soft, settings: {num_tokens: 8, init: vocab}}]",
    "methods=[{name: soft, train: {epochs: 2, lr: 3e-5}}]",  # per-method overrides equal to what applies
])
def test_parameter_set_to_its_default_keeps_every_key(project, override):
    assert keys(project, override) == keys(project)


def test_changed_default_changes_the_key(project, monkeypatch):
    """A default that changes meaning must not keep serving entries made under the old one."""
    import dataclasses as dc

    import xprompt.methods.soft as soft
    from xprompt.methods.soft.config import SoftConfig

    before = keys(project)

    @dc.dataclass
    class NewDefault(SoftConfig):
        num_tokens: int = 5  # was 8

    monkeypatch.setattr(soft, "SPEC", dc.replace(soft.SPEC, config_class=NewDefault))
    after = keys(project)
    assert after[TRAIN] != before[TRAIN]
    assert all(after[name] == before[name] for name in UPSTREAM)


def test_version_bump_gives_new_key_to_the_stage_and_what_follows(project, monkeypatch):
    before = keys(project)
    monkeypatch.setitem(graph.VERSIONS, "train", graph.VERSIONS["train"] + ".1")
    after = keys(project)
    assert after[TRAIN] != before[TRAIN]
    assert all(after[name] != before[name] for name in EVALUATIONS)
    assert all(after[name] == before[name] for name in UPSTREAM)


def test_edited_data_file_changes_only_the_cells_that_read_it(project):
    before = keys(project)
    test_csv = project.parent / "data" / "de" / "test.csv"
    test_csv.write_text(test_csv.read_text() + "gut gut gut,positive\n")
    after = keys(project)
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {"prepare de test", "evaluate soft k=2 seed=13 on de"}


def test_model_files_are_part_of_the_keys(project, tiny_encoder_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_encoder_dir, model)
    before = keys(project, f"model.name={model}")
    (model / "vocab.txt").write_text("a tokenizer file that changes tokens\n")
    after = keys(project, f"model.name={model}")
    assert after[TRAIN] != before[TRAIN]
    assert all(after[name] == before[name] for name in UPSTREAM)


# ---------------------------------------------------------------- what reruns


def test_unchanged_pipeline_reruns_nothing(warm):
    outcome = run(warm)
    assert outcome.ran == 0
    assert {row["target"] for row in outcome.rows} == {"en", "de"}


def test_a_runner_given_a_loaded_backbone_uses_it_and_loads_none(project, tiny_encoder_dir, monkeypatch):
    from xprompt.encoder import backbone as backbone_module

    loaded = backbone_module.load_backbone(str(tiny_encoder_dir), device="cpu")

    def refuse(*args, **kwargs):
        raise AssertionError("the runner loaded a backbone although it was given one")

    monkeypatch.setattr(backbone_module, "load_backbone", refuse)
    runner = Runner(plan(load_pipeline(project)), progress=False, backbone=loaded)
    outcome = runner.run()
    assert runner.backbone() is loaded
    assert outcome.ran > 0 and {row["target"] for row in outcome.rows} == {"en", "de"}


def test_new_target_language_runs_only_its_prepare_and_evaluate(warm):
    outcome = run(warm, "task.targets=[de, fr]")
    assert ran(outcome) == {"prepare fr test", "evaluate soft k=2 seed=13 on fr"}


def test_new_learning_rate_reruns_train_and_evaluate_only(warm):
    outcome = run(warm, "train.lr=1e-4")
    assert ran(outcome) == {TRAIN} | EVALUATIONS
    lock = read_lockfile(warm.parent / "runs" / "toy" / "xprompt.lock")
    assert "lr" in lock[TRAIN].reason and lock[TRAIN].status == "ran"
    assert all(lock[name].status == "cached" for name in UPSTREAM)


def test_dry_run_and_status_say_what_would_run_and_why(warm, capsys):
    assert main(["run", str(warm), "--dry-run", "--set", "train.lr=1e-4", "--set", "task.targets=[de,fr]"]) == 0
    printed = capsys.readouterr().out
    lines = {line.split("  ")[0].strip(): line for line in printed.splitlines() if "  " in line}
    assert "to run" in lines[TRAIN] and "train.lr" in lines[TRAIN]
    assert all("to run" in lines[name] and "input model changed" in lines[name] for name in EVALUATIONS)
    assert "to run" in lines["prepare fr test"] and "new cell" in lines["prepare fr test"]
    assert all(lines[name].endswith("cached") for name in UPSTREAM)
    estimate = next(line for line in printed.splitlines() if line.startswith("estimated time left"))
    assert f"for {sum('to run' in line for line in lines.values())} cells" in estimate  # each timed by a like cell
    assert run(warm).ran == 0  # a dry run ran nothing

    assert main(["status", str(warm)]) == 0
    out = capsys.readouterr().out
    assert "8 cells: 0 to run, 8 cached" in out and "estimated time left" not in out


def test_status_works_without_a_lock_file_or_cache(project, capsys):
    assert main(["status", str(project)]) == 0
    out = capsys.readouterr().out
    assert out.count("(new cell)") == len(BASE_CELLS)


def test_edited_data_file_reruns_its_cells_and_says_why(warm, capsys):
    test_csv = warm.parent / "data" / "de" / "test.csv"
    test_csv.write_text(test_csv.read_text() + "gut gut gut,positive\n")
    assert main(["status", str(warm)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("prepare de test"))
    assert "content of input file de/test changed" in line
    assert ran(run(warm)) == {"prepare de test", "evaluate soft k=2 seed=13 on de"}


def test_status_survives_an_unreadable_lock_file(warm, capsys):
    lock = warm.parent / "runs" / "toy" / "xprompt.lock"
    lock.write_text("cells: [this is not\n")
    assert main(["status", str(warm)]) == 0
    assert "8 cells: 0 to run, 8 cached" in capsys.readouterr().out
    assert run(warm).ran == 0
    assert set(statuses_in(lock)) == BASE_CELLS  # rewritten whole


def test_progress_bar_over_cells(warm, capsys):
    Runner(plan(load_pipeline(warm)), progress=True).run()
    assert "cells" in capsys.readouterr().err


# ---------------------------------------------------------------- damaged entries


@pytest.mark.parametrize("damage", ["truncate weights", "drop manifest"])
def test_damaged_entry_is_detected_and_recomputed(warm, damage, capsys):
    cache = Cache(warm.parent / "cache")
    train = cell_of(warm, TRAIN)
    entry = cache.entry_dir("train", train.key)
    weights = entry / "state.safetensors"
    good = weights.read_bytes()
    if damage == "truncate weights":
        with open(weights, "r+b") as handle:
            handle.truncate(len(good) // 2)
    else:
        (entry / "manifest.json").unlink()

    assert main(["status", str(warm)]) == 0  # its evaluations are intact: nothing needs the model
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(TRAIN))
    assert "skipped" in line and "not needed" in line
    assert main(["status", str(warm), "--every-cell"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(TRAIN))
    assert "to run" in line and "missing or damaged" in line
    outcome = Runner(plan(load_pipeline(warm)), progress=False, every_cell=True).run()
    assert ran(outcome) == {TRAIN}  # same key, same bits: the evaluations stay valid
    assert weights.read_bytes() == good


def test_a_missing_model_is_trained_again_when_an_evaluation_needs_it(warm):
    cache = Cache(warm.parent / "cache")
    for name in (TRAIN, "evaluate soft k=2 seed=13 on de"):
        cell = cell_of(warm, name)
        assert cache.discard(cell.stage, cell.key)
    assert ran(run(warm)) == {TRAIN, "evaluate soft k=2 seed=13 on de"}


def test_killed_writer_leaves_nothing_trusted(warm):
    cache = Cache(warm.parent / "cache")
    train = cell_of(warm, TRAIN)
    entry = cache.entry_dir("train", train.key)
    half = entry.with_name(f"{train.key}.incomplete-999999-otherhost-abcd")
    shutil.move(entry, half)  # what a writer killed before its rename leaves behind
    assert cache.lookup("train", train.key) is None
    assert ran(Runner(plan(load_pipeline(warm)), progress=False, every_cell=True).run()) == {TRAIN}


# ---------------------------------------------------------------- resume after SIGKILL


SLOW = ["--set", "train.batch_size=1", "--set", "train.checkpoint_every=1"]  # 4 steps per epoch


def killed_at_step_6(project, tmp_path, tiny_encoder_dir, cli):
    """The base pipeline's training killed (SIGKILL) after step 6 with a checkpoint every step,
    and the same pipeline run uninterrupted in a cache of its own (tmp_path / "reference")."""
    marker = tmp_path / "paused"
    process = cli("run", str(project), "--quiet", *SLOW, env={"PAUSE_AT_STEP": "6", "PAUSED_MARKER": str(marker)})
    run(write_project(tmp_path / "reference", tiny_encoder_dir), "train.batch_size=1")  # no checkpoints
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "training never reached step 6"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    config = load_pipeline(project, [SLOW[1], SLOW[3]])
    return config, next(c for c in plan(config).cells if c.name == TRAIN)


def test_killed_training_resumes_from_its_checkpoint_bit_identically(project, tmp_path, tiny_encoder_dir, cli,
                                                                    caplog):
    config, train = killed_at_step_6(project, tmp_path, tiny_encoder_dir, cli)
    cache = Cache(config.cache_dir)
    checkpoint = cache.root / "checkpoints" / f"train-{train.key}.pt"
    assert checkpoint.is_file()
    assert cache.lookup("train", train.key) is None  # the killed run published nothing for train
    leftovers = list((cache.root / "train").glob(f"{train.key}.incomplete-*"))
    assert leftovers  # its half-written entry is there, under a name no lookup trusts

    caplog.set_level(logging.INFO, logger="xprompt.training.loop")
    outcome = Runner(plan(config), progress=False).run()
    assert TRAIN in ran(outcome)
    assert "resuming training" in caplog.text and "epoch 1, batch 2" in caplog.text
    assert not checkpoint.exists()
    resumed = cache.entry_dir("train", train.key) / "state.safetensors"
    uninterrupted = Cache(tmp_path / "reference" / "cache").entry_dir("train", train.key) / "state.safetensors"
    assert file_hash(resumed) == file_hash(uninterrupted)
    referenced = {(c.stage, c.key) for c in plan(config).cells}
    assert set(cache.gc(referenced)) == set(leftovers)  # the dead writer's leftovers go


def test_a_packed_checkpoint_lets_another_cache_finish_the_training_bit_identically(
        project, tmp_path, tiny_encoder_dir, cli, capsys, caplog):
    import tarfile
    config, train = killed_at_step_6(project, tmp_path, tiny_encoder_dir, cli)
    name, fresh = f"train-{train.key}.pt", tmp_path / "fresh-cache"
    pack = ["cache", "pack", str(project), *SLOW, "--checkpoints"]
    archive, again, large = tmp_path / "checkpoints.tar.gz", tmp_path / "again.tar.gz", tmp_path / "large.tar.gz"
    capsys.readouterr()
    assert main([*pack, "-o", str(archive)]) == 0
    assert f"packed 1 checkpoints of the 1 trainings of toy ({name} at step 6)" in capsys.readouterr().out
    assert main([*pack, "-o", str(again), "--skip-in", str(archive)]) == 0  # the same bytes: nothing new
    assert "packed 0 checkpoints of the 1 trainings of toy, 1 left out as already packed" in capsys.readouterr().out
    assert main([*pack, "-o", str(large), "--max-checkpoint-mb", "0.001"]) == 0
    assert "1 left out as larger than 0.001 MB" in capsys.readouterr().out
    assert not again.exists() and not large.exists()

    assert main(["cache", "unpack", str(archive), "--cache-dir", str(fresh)]) == 0
    assert "added 0 entries" in (out := capsys.readouterr().out) and "; 1 checkpoints of trainings under way" in out
    assert main(["status", str(project), *SLOW, "--set", f"cache_dir={fresh}"]) == 0
    assert re.search(rf"{TRAIN} +to run .*; goes on from its checkpoint at step 6\)\n", capsys.readouterr().out)
    caplog.set_level(logging.INFO, logger="xprompt.training.loop")
    outcome = Runner(plan(load_pipeline(project, [SLOW[1], SLOW[3], f"cache_dir={fresh}"])), progress=False).run()
    assert TRAIN in ran(outcome) and "resuming training" in caplog.text and "epoch 1, batch 2" in caplog.text
    resumed = Cache(fresh).entry_dir("train", train.key) / "state.safetensors"
    uninterrupted = Cache(tmp_path / "reference" / "cache").entry_dir("train", train.key) / "state.safetensors"
    assert file_hash(resumed) == file_hash(uninterrupted)
    assert main(["cache", "unpack", str(archive), "--cache-dir", str(fresh)]) == 0  # finished here: left out
    assert "0 checkpoints of trainings under way, 1 left out" in capsys.readouterr().out
    assert not (fresh / "checkpoints" / name).exists()

    tampered, other = tmp_path / "tampered.tar.gz", tmp_path / "other-cache"
    with tarfile.open(archive) as source, tarfile.open(tampered, "w:gz") as tar:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            data = data[:-8] + bytes(8) if member.name.endswith(".pt") else data  # its last bytes zeroed
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    assert main(["cache", "unpack", str(tampered), "--cache-dir", str(other)]) == 2
    assert f"checkpoint {name} is damaged" in capsys.readouterr().err
    assert not (other / "checkpoints" / name).exists()


# ---------------------------------------------------------------- processes sharing a cache


def test_two_concurrent_runs_on_one_cache_compute_each_cell_once(project, tmp_path, cli):
    barrier = tmp_path / "barrier"
    other = cli("run", str(project), "--quiet", "--set", "name=first", env=at_barrier(barrier))
    meet(barrier, other)
    run(project, "name=second")  # here, while the subprocess runs the same grid on the same cache
    finish(other)
    locks = [statuses_in(project.parent / "runs" / name / "xprompt.lock") for name in ("first", "second")]
    assert set(locks[0]) == set(locks[1]) == BASE_CELLS
    for name in BASE_CELLS:
        assert sorted(lock[name] for lock in locks) == ["cached", "ran"], name
    assert (project.parent / "runs" / "first" / "results.csv").is_file()


def test_shards_cover_the_grid_once_and_a_final_run_only_aggregates(project, tmp_path, cli, capsys):
    two_seeds = ["--set", "seeds=[13, 21]"]
    grid = set(keys(project, two_seeds[1]))
    barrier = tmp_path / "barrier"
    other = cli("run", str(project), "--quiet", *two_seeds, "--shard", "1/2", env=at_barrier(barrier))
    meet(barrier, other)
    assert main(["run", str(project), "--quiet", *two_seeds, "--shard", "2/2"]) == 0
    assert "run without --shard" in finish(other)
    run_dir = project.parent / "runs" / "toy"
    locks = [statuses_in(run_dir / f"xprompt.shard-{i}-of-2.lock") for i in (1, 2)]
    assert not any("seed=21" in name for name in locks[0])
    assert not any("seed=13" in name for name in locks[1])
    computed = [{name for name, status in lock.items() if status == "ran"} for lock in locks]
    assert computed[0] | computed[1] == grid
    assert not computed[0] & computed[1]

    capsys.readouterr()
    assert main(["run", str(project), "--quiet", *two_seeds]) == 0
    assert f"{len(grid)} cells: 0 ran, {len(grid)} cached" in capsys.readouterr().out
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results["seed"]) == {13, 21} and set(results["target"]) == {"en", "de"}
    assert set(statuses_in(run_dir / "xprompt.lock").values()) == {"cached"}
    assert not list(run_dir.glob("xprompt.shard*.lock"))  # superseded by the full record


def test_a_cell_another_process_computes_is_put_off_while_other_cells_run(project, monkeypatch):
    import fcntl
    import threading

    config = load_pipeline(project, ["seeds=[13, 21]"])
    runner = Runner(plan(config), progress=False)
    held = cell_of(project, "train soft k=2 seed=13", "seeds=[13, 21]")
    lock_path = Path(config.cache_dir) / "locks" / f"train-{held.key}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    other = open(lock_path, "a")  # "another process": a second open file holds the entry's flock
    fcntl.flock(other, fcntl.LOCK_EX)
    order, compute = [], runner._compute

    def spy(cell, out):
        order.append(cell.name)
        if cell.name == "evaluate soft k=2 seed=21 on de":
            fcntl.flock(other, fcntl.LOCK_UN)  # the other process gives up without publishing
        compute(cell, out)

    monkeypatch.setattr(runner, "_compute", spy)
    outcome = runner.run()
    assert order.index("train soft k=2 seed=21") < order.index("train soft k=2 seed=13")
    assert order.index("evaluate soft k=2 seed=21 on de") < order.index("train soft k=2 seed=13")
    assert order.index("train soft k=2 seed=13") < order.index("evaluate soft k=2 seed=13 on en")
    assert not outcome.failed and len(order) == len(set(order)) == len(plan(config).cells)

    # nothing else to do: the run waits for the holder instead of asking again and again
    other.close()
    runner = Runner(plan(load_pipeline(project, ["train.lr=1e-4"])), progress=False)
    held = cell_of(project, "train soft k=2 seed=13", "train.lr=1e-4")
    other = open(Path(config.cache_dir) / "locks" / f"train-{held.key}.lock", "a")
    fcntl.flock(other, fcntl.LOCK_EX)
    threading.Timer(1.0, lambda: fcntl.flock(other, fcntl.LOCK_UN)).start()
    asked, get_or_compute = [], runner.cache.get_or_compute

    def asking(stage, key, *args, wait=True, **kwargs):
        if key == held.key:
            asked.append(wait)
        return get_or_compute(stage, key, *args, wait=wait, **kwargs)

    monkeypatch.setattr(runner.cache, "get_or_compute", asking)
    outcome = runner.run()
    # pass 1 also reads the cached data cells, pass 2 finds only the held chain left, pass 3 waits
    assert asked == [False, False, True] and not outcome.failed and held.name in ran(outcome)
    other.close()


def test_a_shard_that_finishes_first_then_helps_with_the_others_cells_last_ones_first(project, monkeypatch, capsys):
    three_seeds = ["--set", "seeds=[13, 21, 42]"]
    order, compute = [], Runner._compute

    def spy(self, cell, out):
        order.append(cell.name)
        compute(self, cell, out)

    monkeypatch.setattr(Runner, "_compute", spy)
    assert main(["run", str(project), "--quiet", *three_seeds, "--shard", "1/3", "--then-help"]) == 0
    assert "then helped the other shards: " in capsys.readouterr().out
    trained = [name for name in order if name.startswith("train ")]
    # its own group first (seed 13), then the others' from the end of the list (42, then 21)
    assert trained == ["train soft k=2 seed=13", "train soft k=2 seed=42", "train soft k=2 seed=21"]
    assert len(order) == len(set(order)) == len(keys(project, three_seeds[1]))  # every cell, once
    run_dir = project.parent / "runs" / "toy"
    helped = statuses_in(run_dir / "xprompt.shard-1-of-3-helped.lock")
    assert {name for name, status in helped.items() if status == "ran"} >= {"train soft k=2 seed=42",
                                                                             "evaluate soft k=2 seed=21 on de"}
    capsys.readouterr()
    assert main(["run", str(project), "--quiet", *three_seeds]) == 0
    assert f"{len(order)} cells: 0 ran, {len(order)} cached" in capsys.readouterr().out  # only aggregates
    assert not list(run_dir.glob("xprompt.shard*.lock"))


def test_then_help_needs_a_shard(project, capsys):
    assert main(["run", str(project), "--then-help"]) == 2
    assert "--then-help works with --shard" in capsys.readouterr().err


def test_shard_index_must_be_in_range(project, capsys):
    assert main(["run", str(project), "--dry-run", "--shard", "3/2"]) == 2
    assert "--shard 3/2" in capsys.readouterr().err


def test_shard_without_groups_runs_nothing(project, capsys):
    assert main(["run", str(project), "--quiet", "--shard", "2/2"]) == 0  # one group: shard 2 is empty
    assert "0 cells: 0 ran, 0 cached" in capsys.readouterr().out
    assert not (project.parent / "cache").exists() or not Cache(project.parent / "cache").entries()


# ---------------------------------------------------------------- cache commands


def test_cache_ls_lists_entries_and_gc_removes_unreferenced_ones(warm, capsys):
    cache_dir, runs = str(warm.parent / "cache"), str(warm.parent / "runs")
    old_train = cell_of(warm, TRAIN).key
    assert main(["cache", "ls", "--cache-dir", cache_dir]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == len(BASE_CELLS) and any(old_train in line for line in listed)

    run(warm, "train.lr=1e-4")  # the lock file now names the new train and evaluate entries
    assert main(["cache", "gc", "--cache-dir", cache_dir, "--runs", runs]) == 0
    assert "removed 3 entries" in capsys.readouterr().out
    cache = Cache(cache_dir)
    assert cache.lookup("train", old_train) is None
    assert {(e.stage, e.key) for e in cache.entries()} == {
        (c.stage, c.key) for c in plan(load_pipeline(warm, ["train.lr=1e-4"])).cells}
    assert run(warm, "train.lr=1e-4").ran == 0


def test_unpacked_evaluations_are_reused_and_their_models_trained_only_when_asked(warm, tmp_path, capsys):
    archive, fresh = tmp_path / "results.tar.gz", tmp_path / "fresh-cache"
    assert main(["cache", "pack", str(warm), "-o", str(archive)]) == 0
    assert "packed 2 of the 2 evaluate/ensemble cells" in capsys.readouterr().out
    again = tmp_path / "later.tar.gz"  # a later pack holds only what no earlier one does
    assert main(["cache", "pack", str(warm), "-o", str(again), "--skip-in", str(archive)]) == 0
    assert "packed 0 of the 2 evaluate/ensemble cells of toy, 2 left out" in capsys.readouterr().out
    assert not again.exists()  # nothing new: no file
    assert main(["cache", "pack", str(warm), "-o", str(archive)]) == 2  # never overwritten
    assert "exists already" in capsys.readouterr().err
    assert main(["cache", "unpack", str(archive), "--cache-dir", str(fresh)]) == 0
    assert "added 2 entries" in capsys.readouterr().out
    assert {e.stage for e in Cache(fresh).entries()} == {"evaluate"}

    before = run(warm).rows
    outcome = run(warm, f"cache_dir={fresh}")
    skipped = {s.cell.name for s in outcome.statuses if not s.needed}
    assert skipped == BASE_CELLS - EVALUATIONS and not ran(outcome)  # data, sample, train: nothing to feed
    assert Cache(fresh).lookup("train", cell_of(warm, TRAIN).key) is None
    assert outcome.rows == before and len(before) > 0

    assert main(["run", str(warm), "--quiet", "--every-cell", "--set", f"cache_dir={fresh}"]) == 0
    assert Cache(fresh).lookup("train", cell_of(warm, TRAIN).key) is not None


def test_unpack_refuses_an_entry_whose_files_do_not_match_its_manifest(warm, tmp_path, capsys):
    import tarfile
    archive, fresh = tmp_path / "results.tar.gz", tmp_path / "fresh-cache"
    assert main(["cache", "pack", str(warm), "-o", str(archive)]) == 0
    staged = tmp_path / "staged"
    with tarfile.open(archive) as tar:
        tar.extractall(staged, filter="data")
    metrics = next(staged.glob("evaluate/*/metrics.json"))
    metrics.write_text(metrics.read_text().replace("accuracy", "accuracx"))
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        for file in sorted(p for p in staged.rglob("*") if p.is_file()):
            tar.add(file, arcname=file.relative_to(staged).as_posix())
    capsys.readouterr()
    assert main(["cache", "unpack", str(tampered), "--cache-dir", str(fresh)]) == 2
    error = capsys.readouterr().err
    assert metrics.parent.name in error and "damaged" in error
    assert Cache(fresh).lookup("evaluate", metrics.parent.name) is None


def test_cache_ledger_lists_the_cells_with_their_seconds_and_machine(warm, tmp_path, capsys):
    import pandas as pd
    ledger_csv = tmp_path / "ledger.csv"
    assert main(["cache", "ledger", str(warm), "--csv", str(ledger_csv)]) == 0
    printed = capsys.readouterr().out
    assert f"{len(BASE_CELLS)} of the {len(BASE_CELLS)} cells of toy are cached" in printed
    frame = pd.read_csv(ledger_csv)
    assert set(frame["cell"]) == BASE_CELLS and frame["seconds"].notna().all()
    trained = frame[frame["stage"] == "train"]
    assert (trained["cpu_seconds"] > 0).all() and trained["host"].notna().all()
    total = next(line for line in printed.splitlines() if line.startswith("| total"))
    assert f"| {len(BASE_CELLS)} | {len(BASE_CELLS)} |" in total


def test_a_training_the_cache_never_timed_is_timed_from_an_earlier_ledger(warm, tmp_path, capsys):
    ledger_csv = tmp_path / "ledger.csv"
    assert main(["cache", "ledger", str(warm), "--csv", str(ledger_csv)]) == 0
    # the cache loses its trained model, as one rebuilt from evaluation packs holds none
    shutil.rmtree(next(path for path in (tmp_path / "cache" / "train").iterdir() if path.is_dir()))
    capsys.readouterr()
    status = ["status", str(warm), "--set", "train.lr=1e-4"]
    assert main(status) == 0
    estimate = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("estimated"))
    assert "for 2 cells" in estimate and "1 more with no timed cell of their stage: earlier sessions' ledgers" \
        in estimate
    assert main([*status, "--ledger", str(ledger_csv)]) == 0
    estimate = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("estimated"))
    assert "for 3 cells" in estimate and "no timed cell" not in estimate


def test_cache_gc_refuses_when_it_finds_no_lock_file(warm, capsys):
    cache_dir = str(warm.parent / "cache")
    assert main(["cache", "gc", "--cache-dir", cache_dir, "--runs", str(warm.parent / "no-such-runs")]) == 2
    assert "no lock file" in capsys.readouterr().err
    assert len(Cache(cache_dir).entries()) == len(BASE_CELLS)


# ---------------------------------------------------------------- configuration


def test_unknown_key_is_an_error_naming_the_accepted_keys(project, capsys):
    with pytest.raises(ConfigError, match=r"train\.learning_rate.*accepted keys of pipeline\.train: .*\blr\b"):
        load_pipeline(project, ["train.learning_rate=1e-4"])
    with pytest.raises(ConfigError, match=r"num_token.*num_tokens"):
        plan(load_pipeline(project, ["methods=[{name: soft, settings: {num_token: 4}}]"]))
    assert main(["status", str(project), "--set", "modle.name=x"]) == 2
    assert "unknown key 'pipeline.modle'" in capsys.readouterr().err


def test_values_that_cannot_be_hashed_never_reach_a_key(project):
    """Every keyed value passes typed coercion, so a YAML date (which a cache key cannot
    hold) is a config error; a hand-built config with such a value fails in plan(), naming
    it, before any work: nothing is computed under a key that does not describe it."""
    with pytest.raises(ConfigError, match="init_text"):
        plan(load_pipeline(project, ["methods=[{name: soft, settings: {init: text, init_text: 2024-01-01}}]"]))
    with pytest.raises(ConfigError, match="test_size"):
        load_pipeline(project, ["task.test_size=2024-01-01"])
    config = load_pipeline(project)
    config.task.test_size = Decimal("3")
    with pytest.raises(CacheError, match="test_size.*Decimal"):
        plan(config)


def test_set_overrides_the_pipeline_file(project):
    config = load_pipeline(project, ["train.lr=1e-4", "task.targets=[de, fr]", "seeds=[1, 2]", "shots=4"])
    assert config.train.lr == 1e-4 and config.train.epochs == 2
    assert config.task.targets == ["de", "fr"] and config.seeds == [1, 2] and config.shots == [4]
    assert config.name == "toy"


def test_consistency_is_written_for_parallel_tasks_only(warm, capsys):
    from xprompt.cli import main

    assert main(["run", str(warm), "--quiet"]) == 0
    results = pd.read_csv(warm.parent / "runs" / "toy" / "results.csv")
    assert "consistency" not in set(results["metric"])
    notes = json.loads((warm.parent / "runs" / "toy" / "run.json").read_text())["notes"]
    assert any("not applicable" in line for line in notes)
    assert "not applicable" in (warm.parent / "runs" / "toy" / "report.md").read_text()

    card = yaml.safe_load((warm.parent / "reviews.yaml").read_text())
    (warm.parent / "reviews.yaml").write_text(yaml.safe_dump({**card, "parallel": "row"}, allow_unicode=True))
    assert main(["run", str(warm), "--quiet"]) == 0
    results = pd.read_csv(warm.parent / "runs" / "toy" / "results.csv")
    consistency = results[results["metric"] == "consistency"]
    assert list(consistency["target"]) == ["de"] and 0.0 <= consistency["value"].iloc[0] <= 1.0


# ---------------------------------------------------------------- keys that cannot be stale


def test_fixed_split_key_hashes_the_file_that_is_read(project):
    card = yaml.safe_load((project.parent / "reviews.yaml").read_text())
    card["fixed_shots"] = {"train": "fixed/{lang}/{k}-{seed}/train.csv", "dev": "fixed/{lang}/{k}-{seed}/dev.csv",
                           "shots": [2], "seeds": [13]}
    (project.parent / "reviews.yaml").write_text(yaml.safe_dump(card))
    rows = "text,label\nthe film was good and great,positive\na great good story,positive\n" \
           "the film was bad and terrible,negative\na terrible bad story,negative\n"
    read, shadowed = project.parent / "data" / "fixed" / "en" / "2-13", project.parent / "fixed" / "en" / "2-13"
    for folder in (read, shadowed):  # the data root comes first, the card's own folder second
        folder.mkdir(parents=True)
        for split in ("train", "dev"):
            (folder / f"{split}.csv").write_text(rows)
    sample = "sample en k=2 seed=13"
    before = keys(project)[sample]
    (shadowed / "train.csv").write_text(rows + "bad bad,negative\n")
    assert keys(project)[sample] == before  # a file nobody reads does not matter
    (read / "train.csv").write_text(rows + "good good,positive\n")
    assert keys(project)[sample] != before


def _fake_hub_cache(root: Path, commit: str) -> None:
    repo = root / "models--org--tiny"
    (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


def test_model_revision_is_resolved_to_a_commit_also_from_a_branch(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    first, second = "a" * 40, "b" * 40
    _fake_hub_cache(tmp_path, first)
    assert identity.model_identity("org/tiny", None)["revision"] == first
    assert identity.model_identity("org/tiny", "main")["revision"] == first
    _fake_hub_cache(tmp_path, second)  # the branch moved: keys must follow it
    assert identity.model_identity("org/tiny", "main")["revision"] == second
    assert identity.model_identity("org/tiny", first)["revision"] == first


def test_hub_dataset_revision_enters_the_keys_of_cells_that_read_the_hub(project, monkeypatch):
    card = yaml.safe_load((project.parent / "reviews.yaml").read_text())
    card["hub"] = {"dataset": "org/reviews", "columns": {"text": "text", "label": "label"}}
    card["local"]["files"].pop("test")  # test sets now come from the Hub
    (project.parent / "reviews.yaml").write_text(yaml.safe_dump(card))
    commits = iter(["c" * 40, "d" * 40])
    monkeypatch.setattr(builder, "resolve_revision", lambda repo, revision, kind: next(commits))
    before, after = keys(project), keys(project)
    assert after["prepare de test"] != before["prepare de test"]
    assert after["prepare en train"] == before["prepare en train"]  # read from a local file


def test_gc_during_a_running_pipeline_leaves_it_able_to_finish_with_identical_results(warm, tmp_path, cli,
                                                                                      tiny_encoder_dir):
    paused, go_on = tmp_path / "paused", tmp_path / "continue"
    changed = ["--set", "shots=[3]", "--set", "train.checkpoint_every=1", "--set", "train.batch_size=1"]
    process = cli("run", str(warm), "--quiet", *changed,
                  env={"PAUSE_AT_STEP": "2", "PAUSED_MARKER": str(paused), "CONTINUE_MARKER": str(go_on)})
    reference = write_project(tmp_path / "reference", tiny_encoder_dir)
    run(reference, "shots=[3]", "train.batch_size=1")
    deadline = time.monotonic() + 240
    while not paused.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "training never reached step 2"
        time.sleep(0.05)
    config = load_pipeline(warm, [changed[1], changed[3], changed[5]])
    cache = Cache(config.cache_dir)
    sample = cell_of(warm, "sample en k=3 seed=13", "shots=[3]")
    train = next(c for c in plan(config).cells if c.stage == "train")
    checkpoint = cache.root / "checkpoints" / f"train-{train.key}.pt"
    assert cache.lookup("sample", sample.key) is not None and checkpoint.is_file()
    # the old run's lock file references neither the new sample nor the training in progress
    assert main(["cache", "gc", "--cache-dir", str(cache.root), "--runs", str(warm.parent / "runs")]) == 0
    assert cache.lookup("sample", sample.key) is not None and checkpoint.is_file()
    assert list((cache.root / "train").glob(f"{train.key}.incomplete-*"))  # its work in progress too
    go_on.touch()
    finish(process)
    lock = read_lockfile(warm.parent / "runs" / "toy" / "xprompt.lock")
    assert all(cache.lookup(r.stage, r.key) is not None for r in lock.values())
    ours = pd.read_csv(warm.parent / "runs" / "toy" / "results.csv")
    theirs = pd.DataFrame(run(reference, "shots=[3]", "train.batch_size=1").rows)
    merged = ours.merge(theirs, on=["method", "target", "metric", "seed"], suffixes=("", "_ref"))
    assert len(merged) == len(theirs) and (merged["value"] == merged["value_ref"]).all()
    # once the run is over, gc collects its checkpoint leftovers and stale registrations only
    assert not list((cache.root / "live").glob("*.json"))


def test_gc_collects_checkpoints_and_temp_files_of_dead_writers(warm):
    config = load_pipeline(warm)
    cache = Cache(config.cache_dir)
    folder = cache.root / "checkpoints"
    folder.mkdir(exist_ok=True)
    dead = folder / "train-0123456789abcdef.pt"
    dead.write_bytes(b"x")
    leftover = folder / "train-0123456789abcdef.pt.tmp-999999"
    leftover.write_bytes(b"x")
    mine = folder / f"train-{cell_of(warm, TRAIN).key}.pt"
    mine.write_bytes(b"x")
    removed = set(cache.gc({(c.stage, c.key) for c in plan(config).cells}))
    assert removed == {dead, leftover} and mine.exists()


def test_status_and_dry_run_only_read(warm, capsys):
    config = load_pipeline(warm)
    cache = Cache(config.cache_dir)
    train = cell_of(warm, TRAIN)
    state = cache.entry_dir("train", train.key) / "state.safetensors"
    state.write_bytes(state.read_bytes()[:-4] + b"junk")
    assert main(["status", str(warm), "--every-cell"]) == 0
    assert re.search(rf"{TRAIN}\s+to run", capsys.readouterr().out)
    assert state.exists()  # reported, not removed
    assert main(["run", str(warm), "--dry-run", "--every-cell"]) == 0 and state.exists()
    assert main(["run", str(warm), "--quiet", "--every-cell"]) == 0 and cache.lookup("train", train.key) is not None


@pytest.mark.parametrize("code, cause", [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "permission denied"),
                                         (errno.EROFS, "the file system is read-only")])
def test_disk_errors_end_the_run_with_one_sentence_and_leave_no_entry(project, monkeypatch, capsys, code, cause):
    import xprompt.pipeline.cache.store as store

    def fail(temp, *args):
        raise OSError(code, os.strerror(code), str(temp / "manifest.json"))

    monkeypatch.setattr(store, "write_manifest", fail)
    assert main(["run", str(project), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and cause in error and "manifest.json" in error and "cache_dir" in error
    cache = Cache(load_pipeline(project).cache_dir)
    assert not cache.entries()
    assert not [p for p in cache.root.rglob("*") if ".incomplete-" in p.name]


def test_targets_all_and_exclude(project):
    everything = {c.meta["target"] for c in plan(load_pipeline(project, ["task.targets=all"])).cells
                  if c.stage == "evaluate"}
    assert everything == {"en", "de", "fr"}
    some = {c.meta["target"] for c in plan(load_pipeline(project, ["task.targets={exclude: [fr]}"])).cells
            if c.stage == "evaluate"}
    assert some == {"en", "de"}
    with pytest.raises(DataError, match=r"unknown language .xx."):
        plan(load_pipeline(project, ["task.targets={exclude: [xx]}"]))
    with pytest.raises(DataError, match=r"unknown language .everything."):
        plan(load_pipeline(project, ["task.targets=everything"]))


def test_each_trained_model_is_built_once_for_all_its_languages(project, monkeypatch):
    built = []
    original = Runner.trained_method

    def counting(self, cell):
        built.append(cell.name)
        return original(self, cell)

    monkeypatch.setattr(Runner, "trained_method", counting)
    run(project, "task.targets=all")
    assert built == [TRAIN]  # one build evaluates en, de and fr


def test_model_dtype_enters_the_keys_only_when_it_changes_precision(project):
    base = keys(project)
    assert keys(project, "model.dtype=float32") == base  # auto is float32 on a CPU
    bf16 = keys(project, "model.dtype=bfloat16")
    assert bf16[TRAIN] != base[TRAIN] and all(bf16[n] == base[n] for n in UPSTREAM)
    assert keys(project, "train.gradient_checkpointing=true") == base


def test_a_bfloat16_run_completes_on_the_cpu(project):
    outcome = run(project, "model.dtype=bfloat16", "methods=[{name: uniprompt, settings: {fused_layers: 1}}]")
    assert {row["metric"] for row in outcome.rows} >= {"accuracy", "macro_f1"}


def test_a_bad_target_file_stops_the_run_before_any_training(project, capsys):
    (project.parent / "data" / "fr" / "test.csv").write_text("text,label\nle film,excellent\n")
    assert main(["run", str(project), "--quiet", "--set", "task.targets=[de, fr]"]) == 2
    assert "label 'excellent' is not one of the accepted labels" in capsys.readouterr().err
    cache = Cache(load_pipeline(project).cache_dir)
    assert not [e for e in cache.entries() if e.stage == "train"]  # data first, training never started


def test_keep_going_finishes_what_it_can_and_lists_the_failed_cells(project, capsys):
    (project.parent / "data" / "fr" / "test.csv").write_text("text,label\nle film,excellent\n")
    assert main(["run", str(project), "--quiet", "--keep-going", "--set", "task.targets=[de, fr]"]) == 1
    out = capsys.readouterr().out
    assert "failed: prepare fr test: file" in out and "label 'excellent'" in out
    assert "failed: evaluate soft k=2 seed=13 on fr: its input 'prepare fr test' failed" in out
    results = pd.read_csv(project.parent / "runs" / "toy" / "results.csv")
    assert set(results["target"]) == {"en", "de"}


def test_a_language_lacking_a_class_is_named_with_its_macro_f1_scope(project, capsys):
    (project.parent / "data" / "fr" / "test.csv").write_text("text,label\nle film est bon,positive\nbon bon,positive\n")
    assert main(["run", str(project), "--quiet", "--set", "task.targets=[de, fr]"]) == 0
    assert "fr: the test set has no negative; its macro-F1 averages the 1 classes it has" in capsys.readouterr().out


def test_an_unchanged_rerun_rewrites_no_output(warm, capsys):
    assert main(["run", str(warm), "--quiet"]) == 0
    run_dir = warm.parent / "runs" / "toy"
    written = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()}
    first = capsys.readouterr().out
    assert main(["run", str(warm), "--quiet"]) == 0
    second = capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()} == written
    assert "(unchanged)" in second
    assert second.split("accuracy (%)")[1].split("results:")[0] == first.split("accuracy (%)")[1].split("results:")[0]
    assert main(["run", str(warm), "--quiet", "--set", "task.targets=[de, fr]"]) == 0  # new results: rewritten
    assert (run_dir / "results.csv").stat().st_mtime_ns != written["results.csv"]


def test_full_shots_train_on_the_whole_source_split_beside_k_shots(project):
    assert main(["run", str(project), "--quiet", "--set", "shots=[2, full]", "--set", "task.dev_size=4"]) == 0
    trained = {c.name: c for c in plan(load_pipeline(project, ["shots=[2, full]", "task.dev_size=4"])).cells
               if c.stage == "train"}
    assert set(trained) == {TRAIN, "train soft k=full seed=13"}
    cache = Cache(load_pipeline(project).cache_dir)
    info = json.loads((cache.lookup("train", trained["train soft k=full seed=13"].key) / "train.json").read_text())
    assert (info["train_rows"], info["dev_rows"]) == (6, 4)  # every English training row; dev_size rows of dev
    k2 = json.loads((cache.lookup("train", trained[TRAIN].key) / "train.json").read_text())
    assert k2["train_rows"] == 4
    stored = pd.read_csv(project.parent / "runs" / "toy" / "results.csv", dtype=str)
    assert set(stored["shots"]) == {"2", "full"}
    from xprompt.results.table import read_results
    from xprompt.shots import FULL_SHOTS
    assert set(read_results(project.parent / "runs" / "toy")["shots"]) == {2, FULL_SHOTS}
    assert (project.parent / "runs" / "toy" / "table_kfull_adapt0.csv").is_file()
    assert "the full source training set" in (project.parent / "runs" / "toy" / "report.md").read_text()
    assert keys(project, "shots=[full]", "task.dev_size=4")["train soft k=full seed=13"] != \
        keys(project, "shots=[full]", "task.dev_size=5")["train soft k=full seed=13"]


def test_full_split_holds_shared_dev_rows_out_of_training():
    from xprompt.pipeline.stages import full_split
    card = type("Card", (), {"name": "toy"})()
    pool = pd.DataFrame({"id": [f"en-dev-{i}" for i in range(12)], "text": [f"t{i}" for i in range(12)],
                         "label": [i % 3 for i in range(12)]})
    train_rows, dev_rows = full_split(card, "en", pool, pool, seed=13, dev_size=6)
    assert sorted(dev_rows["label"]) == [0, 0, 1, 1, 2, 2]  # stratified
    assert set(train_rows["id"]) == set(pool["id"]) - set(dev_rows["id"]) and len(train_rows) == 6
    again, other = full_split(card, "en", pool, pool, 13, 6)[1], full_split(card, "en", pool, pool, 21, 6)[1]
    assert again["id"].tolist() == dev_rows["id"].tolist() and other["id"].tolist() != dev_rows["id"].tolist()
    with pytest.raises(DataError, match=r"toy 'en'.*same 12 rows.*set task.dev_size"):
        full_split(card, "en", pool, pool, 13, None)
    separate = pool.assign(id=[f"en-train-{i}" for i in range(12)])  # same texts, other split: kept
    assert len(full_split(card, "en", separate, pool, 13, 6)[0]) == 12


@pytest.mark.parametrize("shots, message", [("[0]", r"shots\[0\] is 0"), ("[fulll]", r"shots\[0\] is 'fulll'"),
                                            ("[4, 4]", "lists a value twice")])
def test_shots_accept_counts_and_full_only(project, shots, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline(project, [f"shots={shots}"])
    with pytest.raises(ConfigError, match=r"task.dev_size is 0"):
        load_pipeline(project, ["task.dev_size=0"])


def test_calibration_is_its_own_method_from_dev_text_never_test(project):
    for lang in ("en", "de"):  # dev texts apart from the test texts (the toy files repeat them)
        dev = project.parent / "data" / lang / "dev.csv"
        frame = pd.read_csv(dev)
        frame.assign(text=frame["text"] + " indeed").to_csv(dev, index=False)
    assert main(["run", str(project), "--quiet", "--set", "eval.calibration=target_text",
                 "--set", "eval.calibration_rows=4"]) == 0
    the_plan = plan(load_pipeline(project, ["eval.calibration=target_text", "eval.calibration_rows=4"]))
    calibrated = [c for c in the_plan.cells if c.name.endswith("calibrated")]
    assert {c.meta["target"] for c in calibrated} == {"en", "de"}
    for cell in calibrated:
        assert cell.inputs["unlabelled"].params["split"] == "dev" and cell.inputs["test"].params["split"] == "test"
        assert the_plan.source_evaluation(cell).name == "evaluate soft k=2 seed=13 on en calibrated"
        assert cell.meta["method"] == "soft+calibration" and cell.params["rows"] == 4
        prior = json.loads((Runner(the_plan, progress=False).entry(cell) / "calibration.json").read_text())
        assert prior["rows"] == 4 and sum(prior["prior"]) == pytest.approx(1.0, abs=1e-5)
    results = pd.read_csv(project.parent / "runs" / "toy" / "results.csv")
    assert set(results["method"]) == {"soft", "soft+calibration"}  # a separate setting, never mixed
    plain = keys(project)
    assert all(plain[name] == key for name, key in keys(project, "eval.calibration=target_text").items()
               if name in plain)  # turning it on adds cells and changes none
    assert keys(project, "eval.calibration=target_text", "eval.calibration_rows=5")[calibrated[0].name] != \
        calibrated[0].key


def test_calibration_never_reads_a_test_text():
    from xprompt.training.calibration import unlabelled_rows
    pool = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "label": [1, 0, 1], "lang": "de"})
    drawn = unlabelled_rows(pool, pool.iloc[[2]].assign(id="other"), rows=5, seed=13)  # a test text: left out
    assert drawn["id"].tolist() == ["a", "b"] and set(drawn["label"]) == {0}  # labels are dropped
    big = pd.DataFrame({"id": [str(i) for i in range(20)], "text": [f"t{i}" for i in range(20)], "label": 0,
                        "lang": "de"})
    draw = {seed: unlabelled_rows(big, big.iloc[:0], 5, seed)["id"].tolist() for seed in (13, 21)}
    assert draw[13] == unlabelled_rows(big.copy(), big.iloc[:0], 5, 13)["id"].tolist() and draw[13] != draw[21]
    with pytest.raises(DataError, match=r"every unlabelled text of 'de' \(3 rows"):
        unlabelled_rows(pool, pool.assign(id="t"), rows=2, seed=13)


def test_seed_average_is_one_model_from_every_seed_evaluated_as_its_own_method(project):
    overrides = ["seeds=[13, 21]", "train.average_seeds=true"]
    assert main(["run", str(project), "--quiet", *[x for o in overrides for x in ("--set", o)]]) == 0
    the_plan = plan(load_pipeline(project, overrides))
    runner = Runner(the_plan, progress=False)
    averaged = next(c for c in the_plan.cells if c.stage == "average")
    seeds = [load_file(str(runner.entry(c) / "state.safetensors")) for c in averaged.inputs.values()]
    mean = load_file(str(runner.entry(averaged) / "state.safetensors"))
    assert set(mean) == set(seeds[0])
    for name in mean:
        torch.testing.assert_close(mean[name], (seeds[0][name] + seeds[1][name]) / 2)
    results = pd.read_csv(project.parent / "runs" / "toy" / "results.csv")
    assert set(results["method"]) == {"soft", "soft+seed-average"}
    assert set(results[results["method"] == "soft+seed-average"]["seed"]) == {-1}
    plain = keys(project, "seeds=[13, 21]")
    assert all(plain[name] == key for name, key in keys(project, *overrides).items() if name in plain)
    # the average is one model: it exports as one prompt, which predicts what the run evaluated
    from xprompt.prompts.export import export_prompt
    from xprompt.prompts.predict import load_prompt
    out = export_prompt(project.parent / "runs" / "toy", "soft+seed-average", project.parent / "averaged")
    exported = load_file(str(out / "prompt.safetensors"))
    for name, tensor in exported.items():
        torch.testing.assert_close(tensor, mean[name])
    info = json.loads((out / "prompt.json").read_text())
    assert info["seed"] == -1 and info["method"]["name"] == "soft"
    evaluated = next(c for c in the_plan.cells if c.stage == "evaluate" and c.inputs["model"] is averaged
                     and c.meta["target"] == "de")
    expected = pd.read_parquet(runner.entry(evaluated) / "predictions.parquet")
    test = pd.read_parquet(runner.entry(evaluated.inputs["test"]) / "table.parquet")
    prompt = load_prompt(out, device="cpu")
    got = prompt.predict_proba(test["text"].tolist(), "de")
    assert got == pytest.approx(expected[["p0", "p1"]].to_numpy(), abs=1e-5)


def test_seed_ensemble_averages_the_seeds_probabilities_on_each_language(project):
    overrides = ["seeds=[13, 21]", "eval.ensemble_seeds=true"]
    assert main(["run", str(project), "--quiet", *[x for o in overrides for x in ("--set", o)]]) == 0
    the_plan = plan(load_pipeline(project, overrides))
    runner = Runner(the_plan, progress=False)
    ensembles = [c for c in the_plan.cells if c.stage == "ensemble"]
    assert {c.meta["target"] for c in ensembles} == {"en", "de"}
    for cell in ensembles:
        members = [pd.read_parquet(runner.entry(c) / "predictions.parquet") for c in cell.inputs.values()]
        mixed = pd.read_parquet(runner.entry(cell) / "predictions.parquet")
        for column in ("p0", "p1"):
            assert mixed[column].tolist() == pytest.approx(((members[0][column] + members[1][column]) / 2).tolist())
        assert (mixed["prediction"] == mixed[["p0", "p1"]].to_numpy().argmax(axis=1)).all()
    results = pd.read_csv(project.parent / "runs" / "toy" / "results.csv")
    assert set(results["method"]) == {"soft", "soft+ensemble"}
    plain = keys(project, "seeds=[13, 21]")
    assert all(plain[name] == key for name, key in keys(project, *overrides).items() if name in plain)
