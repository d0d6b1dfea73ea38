"""Golden outputs: every stage of every method on a tiny deterministic model and data set has a
recorded fingerprint, filed under the stage's version (and, for train and adapt, the method's
output version). Code that changes a stage's output without a bump of its version in
xprompt/pipeline/graph.py (or of the method's `output_version` in its SPEC) fails here, naming the
stage, so a cache can never serve entries computed by older code under the same key.

Re-record after bumping a version: XPROMPT_RECORD_GOLDEN=1 python -m pytest tests/test_golden.py"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from safetensors.torch import load_file

from xprompt.methods import registry
from xprompt.pipeline.config import load_pipeline
from xprompt.training.evaluate import predict_proba
from xprompt.pipeline.cells import plan
from xprompt.pipeline.graph import VERSIONS
from xprompt.pipeline.runner import Runner

GOLDEN = Path(__file__).parent / "golden" / "fingerprints.json"
METHODS = [{"name": "uniprompt", "settings": {"fused_layers": 2}}, {"name": "finetune"}, {"name": "discrete"},
           {"name": "soft", "settings": {"num_tokens": 2}}, {"name": "ptuning", "settings": {"num_tokens": 2}},
           {"name": "deep", "settings": {"num_tokens": 2}}, {"name": "prefix", "settings": {"num_tokens": 2}},
           {"name": "lora", "settings": {"rank": 2}}, {"name": "probe"}]
TEXTS = {"en": (["the film was good and great", "a great good story", "good acting great music"],
                ["the film was bad and terrible", "a terrible bad story", "bad acting terrible music"]),
         "de": (["der film war gut", "gut gut", "der film war gut und gut"],
                ["der film war schlecht", "schlecht schlecht", "der film war schlecht und schlecht"])}
PROBE = pd.DataFrame({"id": ["p0", "p1", "p2"], "text": ["good story", "terrible film", "der film"],
                      "text_pair": None, "label": 0, "lang": ["en", "en", "de"], "split": "test"})

pytestmark = pytest.mark.usefixtures("one_thread")


def _project(root: Path, model: Path, methods: list[dict]) -> Path:
    for lang, (positive, negative) in TEXTS.items():
        (root / "data" / lang).mkdir(parents=True, exist_ok=True)
        rows = [(t, "positive") for t in positive] + [(t, "negative") for t in negative]
        for split in ("train", "dev", "test"):
            pd.DataFrame(rows, columns=["text", "label"]).to_csv(root / "data" / lang / f"{split}.csv", index=False)
    card = {"labels": ["negative", "positive"], "languages": ["en", "de"], "source_language": "en",
            "local": {"files": {s: f"{{lang}}/{s}.csv" for s in ("train", "dev", "test")},
                      "columns": {"text": "text", "label": "label"}},
            "templates": {"en": "{text} It was <mask>.", "de": "{text} Es war <mask>."},
            "verbalizers": {"en": [["bad"], ["good"]], "de": [["schlecht"], ["gut"]]}}
    (root / "card.yaml").write_text(yaml.safe_dump(card))
    config = {"name": "golden", "model": {"name": str(model), "device": "cpu"},
              "task": {"name": str(root / "card.yaml"), "targets": ["de"], "data_root": str(root / "data")},
              "shots": [2], "seeds": [13], "methods": methods, "train": {"epochs": 2, "batch_size": 2},
              "adapt": {"shots": [1]}, "cache_dir": str(root / "cache"), "output_dir": str(root / "runs")}
    (root / "golden.yaml").write_text(yaml.safe_dump(config))
    return root / "golden.yaml"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _table(frame: pd.DataFrame) -> str:
    return _digest(frame.astype(str).to_dict(orient="list"))


def _probabilities(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 2).tolist()  # robust to last-bit float noise


def fingerprints(pipeline_file: Path) -> dict[str, dict[str, str]]:
    """{stage: {cell name: fingerprint}} of a complete run of `pipeline_file`."""
    runner = Runner(plan(load_pipeline(pipeline_file)), progress=False)
    runner.run()
    found: dict[str, dict[str, str]] = {}
    for cell in runner.plan.cells:
        entry = runner.entry(cell)
        if cell.stage == "prepare":
            value = _table(pd.read_parquet(entry / "table.parquet"))
        elif cell.stage == "sample":
            value = _digest([_table(pd.read_parquet(entry / f"{s}.parquet")) for s in ("train", "dev")])
        elif cell.stage in ("train", "adapt"):
            method = runner.trained_method(cell)
            state = load_file(str(entry / "state.safetensors"))  # what the cache keeps, recorded tensors too
            value = _digest({"tensors": sorted((n, list(t.shape)) for n, t in state.items()),
                             "probe": _probabilities(predict_proba(method, PROBE))})
        else:
            predictions = pd.read_parquet(entry / "predictions.parquet")
            value = _digest({"ids": predictions["id"].tolist(), "prediction": predictions["prediction"].tolist(),
                             "p": _probabilities(predictions.filter(regex=r"^p\d+$").to_numpy())})
        found.setdefault(cell.stage, {})[cell.name] = value
    return found


def method_versions() -> dict[str, int]:
    return {name: spec.output_version for name, spec in registry().items()}


def stale_stages(found: dict, recorded: dict) -> list[str]:
    """Sentences naming each stage whose outputs differ from the record at an unchanged version."""
    problems, versions, recorded_versions = [], method_versions(), recorded.get("method_versions", {})
    for stage, cells in sorted(found.items()):
        if stage in ("train", "adapt"):  # cell names read "<stage> <method> k=..."
            bumped = {name for name in cells if versions[name.split()[1]] != recorded_versions.get(name.split()[1], 1)}
            problems += [f"method '{name.split()[1]}' is at output version {versions[name.split()[1]]} but the golden "
                         f"outputs of {name} were recorded at {recorded_versions.get(name.split()[1], 1)}; re-record "
                         f"them (XPROMPT_RECORD_GOLDEN=1)" for name in sorted(bumped)]
            cells = {name: value for name, value in cells.items() if name not in bumped}
        version = VERSIONS[stage]
        if recorded["versions"].get(stage) != version:
            problems.append(f"stage '{stage}' is at version {version} but the golden outputs were recorded at "
                            f"{recorded['versions'].get(stage)}; re-record them (XPROMPT_RECORD_GOLDEN=1)")
            continue
        changed = sorted(name for name, value in cells.items()
                         if name in recorded["fingerprints"].get(stage, {})
                         and recorded["fingerprints"][stage][name] != value)
        if changed:
            problems.append(f"outputs of stage '{stage}' changed ({', '.join(changed[:3])}) but its version is still "
                            f"{version}: bump VERSIONS['{stage}'] in xprompt/pipeline/graph.py (or, for one "
                            f"method's trained state, its SPEC's output_version), then re-record")
    return problems


@pytest.fixture(scope="module")
def golden_run(lively, tmp_path_factory):
    return fingerprints(_project(tmp_path_factory.mktemp("golden"), lively["mlm"], METHODS))


def test_every_stage_of_every_method_matches_its_recorded_outputs(golden_run):
    if os.environ.get("XPROMPT_RECORD_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps({"versions": VERSIONS, "method_versions": method_versions(),
                                      "fingerprints": golden_run}, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {GOLDEN}")
    recorded = json.loads(GOLDEN.read_text())
    assert set(golden_run) == {"prepare", "sample", "train", "adapt", "evaluate"}
    fingerprinted = {n for cells in recorded["fingerprints"].values() for n in cells}
    assert {n for cells in golden_run.values() for n in cells} <= fingerprinted
    assert stale_stages(golden_run, recorded) == []


def test_a_changed_output_at_an_unchanged_version_is_caught(lively, tmp_path, monkeypatch):
    """A test copy of the code with one constant changed (the label vectors' class-mean bias)."""
    import xprompt.methods.verbalizers as verbalizers

    recorded = json.loads(GOLDEN.read_text())
    original = verbalizers.LabelVectors.initialize

    def half_bias(self, method, train_df):
        original(self, method, train_df)
        self.label_bias.data.mul_(0.5)

    monkeypatch.setattr(verbalizers.LabelVectors, "initialize", half_bias)
    found = fingerprints(_project(tmp_path, lively["mlm"], [{"name": "soft", "settings": {"num_tokens": 2}}]))
    problems = stale_stages(found, recorded)
    assert any("stage 'train' changed" in p or "outputs of stage 'train'" in p for p in problems), problems
    assert not any("'prepare'" in p or "'sample'" in p for p in problems)
