"""The real offline model on a few dozen rows of each task from ../shared/data.
Skipped (with the reason) where the offline model or data is not installed."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from conftest import OFFLINE_MODEL, SHARED_DATA
from xprompt.pipeline import stages
from xprompt.pipeline.config import TrainConfig
from xprompt.data import load_card
from xprompt.training.evaluate import evaluate, predict_proba
from xprompt.methods import build_method

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backbone():
    from xprompt.encoder.backbone import load_backbone
    from xprompt.errors import ModelError

    if not SHARED_DATA.is_dir():
        pytest.skip(f"offline data not found at {SHARED_DATA}")
    try:
        return load_backbone(OFFLINE_MODEL, device="cpu")
    except ModelError as error:
        pytest.skip(f"offline model not installed: {error}")


def test_offline_model_has_no_mlm_head(backbone):
    assert not backbone.has_mlm_head
    assert len(backbone.layers) == 12 and backbone.hidden_size == 384


@pytest.mark.parametrize("task, source, target", [
    ("sib200", "eng_Latn", "deu_Latn"), ("xnli", "en", "de"), ("pawsx", "en", "fr"), ("marc", "en", "es"),
])
def test_each_task_runs_through_uniprompt(backbone, task, source, target):
    """Sample 4 shots per class, class-mean init, one training epoch, evaluate a few rows
    in a target language with the precomputed prompt; check the live forward agrees."""
    card = load_card(task)
    train_rows, dev_rows = stages.sample(card, source, 4, 13, 2, SHARED_DATA)
    assert len(train_rows) == 4 * len(card.labels)
    test = stages.prepare(card, target, "test", SHARED_DATA, test_size=8 * len(card.labels))
    trained = stages.fit(backbone, card, "uniprompt", {}, TrainConfig(epochs=1, batch_size=8), 13,
                         train_rows, dev_rows.head(2 * len(card.labels)), progress=False)
    method = stages.load_trained(backbone, card, "uniprompt", {}, trained.state)
    metrics, predictions = evaluate(method, test, batch_size=16)
    assert metrics["n"] == len(test)
    correct = predictions["prediction"].to_numpy() == test["label"].to_numpy()
    assert metrics["accuracy"] == pytest.approx(correct.mean())
    assert list(predictions["id"]) == list(test["id"])  # one prediction per row, in the table's order
    assert set(predictions["prediction"]) <= set(range(len(card.labels)))
    live = copy.deepcopy(method)
    live.precomputed.clear()
    with torch.enable_grad():  # no caching: the prompt tower really runs
        rows = live.featurize(test.head(4))
        batch = live.collate(rows)
        batch.pop("labels")
        live_logits = live(**batch).detach()
    with torch.no_grad():
        precomputed_logits = method(**batch)
    torch.testing.assert_close(live_logits, precomputed_logits, rtol=1e-4, atol=1e-4)


def test_sib200_transfer_is_above_chance(backbone):
    """Class-mean label vectors from 8 English shots already transfer: German accuracy
    on 35 rows must clear chance (1/7) by a wide margin."""
    card = load_card("sib200")
    train_rows, _ = stages.sample(card, "eng_Latn", 8, 13, 2, SHARED_DATA)
    torch.manual_seed(13)
    method = build_method("uniprompt", {}, copy.deepcopy(backbone), card)
    method.initialize(train_rows)
    test = stages.prepare(card, "deu_Latn", "test", SHARED_DATA, test_size=35)
    probabilities = predict_proba(method, test, batch_size=16)
    accuracy = float(np.mean(probabilities.argmax(1) == test["label"].to_numpy()))
    assert accuracy > 2 / 7, f"German accuracy {accuracy:.2f} is not clearly above chance (0.14)"


def test_self_trained_calibrated_and_ensembled_prompts_export_and_predict_as_the_run_did(backbone, tmp_path):
    """The real model through the CLI: two seeds, one round of self-training on German unlabelled
    text (SIB-200's train split, labels dropped), calibration and the seed ensemble; each exported
    prompt then predicts the run's own German test rows with the run's probabilities."""
    import json

    import pandas as pd
    import yaml

    from xprompt.cli import main
    from xprompt.pipeline.cells import plan
    from xprompt.pipeline.config import load_pipeline
    from xprompt.pipeline.runner import Runner

    pipeline = tmp_path / "st.yaml"
    pipeline.write_text(yaml.safe_dump({
        "name": "st-real", "model": {"name": OFFLINE_MODEL},
        "task": {"name": "sib200", "data_root": str(SHARED_DATA), "targets": ["deu_Latn"], "test_size": 14,
                 "dev_shots": 1, "unlabelled": "train"},
        "shots": [2], "seeds": [13, 21],
        "train": {"epochs": 1, "batch_size": 8, "self_training": {"rounds": 1, "rows": 16, "per_class": 1}},
        "eval": {"batch_size": 16, "calibration": "target_text", "calibration_rows": 16, "ensemble_seeds": True},
        "methods": [{"name": "uniprompt"}],
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "runs")}))
    assert main(["run", str(pipeline), "--quiet"]) == 0
    the_plan = plan(load_pipeline(pipeline))
    runner = Runner(the_plan, progress=False)
    evaluations = {c.name: c for c in the_plan.evaluations()}
    labels = load_card("sib200").labels
    cases = {"uniprompt+self-training+calibration": "evaluate uniprompt k=2 seed=13 on deu_Latn calibrated",
             "uniprompt+self-training+ensemble": "ensemble uniprompt+self-training k=2 ensemble on deu_Latn"}
    for method, cell_name in cases.items():
        cell = evaluations[cell_name]
        assert cell.meta["method"] == method
        expected = pd.read_parquet(runner.entry(cell) / "predictions.parquet")
        evaluation = cell if cell.stage == "evaluate" else next(iter(cell.inputs.values()))
        test = pd.read_parquet(runner.entry(evaluation.inputs["test"]) / "table.parquet")
        out, rows, predicted = tmp_path / method, tmp_path / f"{method}.csv", tmp_path / f"{method}-out.csv"
        seed = ["--seed", "-1"] if cell.stage == "ensemble" else ["--seed", "13"]
        assert main(["export", str(tmp_path / "runs" / "st-real"), "--method", method, "-o", str(out), *seed]) == 0
        info = json.loads((out / "prompt.json").read_text())
        assert ("calibration" in info, "ensemble" in info) == (cell.stage == "evaluate", cell.stage == "ensemble")
        test[["text"]].to_csv(rows, index=False)
        assert main(["predict", "--prompt", str(out), "--input", str(rows), "--lang", "deu_Latn",
                     "--output", str(predicted), "--device", "cpu"]) == 0
        got = pd.read_csv(predicted)
        np.testing.assert_allclose(got[[f"prob_{label}" for label in labels]].to_numpy(),
                                   expected[[f"p{i}" for i in range(len(labels))]].to_numpy(), atol=1e-4)
        assert list(got["prediction"]) == [labels[i] for i in expected["prediction"]]
