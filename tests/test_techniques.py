"""Transfer-quality techniques that use unlabelled target text or several source languages:
self-training (confidence, class balance, never a test text, deterministic), multi-source
sampling (counts per source and label, disjoint items), and the unlabelled text file of a card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from xprompt.data import load_card
from xprompt.data.multi_source import sample_sources, shares
from xprompt.data.sampling import sample_k_shot
from xprompt.errors import ConfigError, DataError
from xprompt.pipeline.cells import plan
from xprompt.pipeline.config import load_pipeline, method_train_config
from xprompt.pipeline.runner import Runner
from xprompt.training.self_training import select_confident

from test_pipeline import write_project


@pytest.fixture
def project(tmp_path, tiny_encoder_dir):
    return write_project(tmp_path, tiny_encoder_dir)


UNLABELLED = {"en": ["good good good", "bad bad bad", "a good day"],
              "de": ["gut und gut", "schlecht und schlecht", "ein guter tag", "der film war gut", "sehr gut"],
              "fr": ["bon et bon", "mauvais et mauvais", "un bon jour", "le film est bon"]}


def test_select_confident_keeps_the_threshold_and_at_most_per_class_rows_of_each_class():
    rows = pd.DataFrame({"id": [str(i) for i in range(6)], "text": list("abcdef"), "label": 0})
    probabilities = np.array([[0.95, 0.05], [0.97, 0.03], [0.99, 0.01], [0.2, 0.8], [0.05, 0.95], [0.5, 0.5]])
    picked = select_confident(rows, probabilities, confidence=0.9, per_class=2)
    assert picked["id"].tolist() == ["2", "1", "4"]  # class 0: the two most confident of three; class 1: one row
    assert picked["label"].tolist() == [0, 0, 1] and (picked["confidence"] >= 0.9).all()
    assert select_confident(rows, probabilities, 0.999, 2).empty
    assert select_confident(rows, probabilities, 0.0, 1)["id"].tolist() == ["2", "4"]  # balanced: one each


def with_unlabelled_files(project):
    """The toy card with an `unlabelled` text file per language; one German line is a test text."""
    root = project.parent
    for lang, lines in UNLABELLED.items():
        (root / "data" / lang / "unlabelled.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    card = yaml.safe_load((root / "reviews.yaml").read_text())
    card["unlabelled"] = "{lang}/unlabelled.txt"
    (root / "reviews.yaml").write_text(yaml.safe_dump(card, allow_unicode=True))
    return project


SELF_TRAINING = ["task.unlabelled=file", "task.targets=[de, fr]", "train.self_training.rounds=1",
                 "train.self_training.confidence=0.0", "train.self_training.per_class=1"]


def test_self_training_labels_target_text_never_a_test_text_and_is_its_own_setting(project):
    with_unlabelled_files(project)
    the_plan = plan(load_pipeline(project, SELF_TRAINING))
    outcome = Runner(the_plan, progress=False).run()
    runner = Runner(the_plan, progress=False)
    pseudo = next(c for c in the_plan.cells if c.stage == "pseudo_label")
    unlabelled = [c for name, c in pseudo.inputs.items() if name.startswith("unlabelled ")]
    assert {c.params["split"] for c in unlabelled} == {"unlabelled"}  # the card's file, never a test split
    rows = pd.read_parquet(runner.entry(pseudo) / "rows.parquet")
    tests = set(pd.read_csv(project.parent / "data" / "de" / "test.csv")["text"])
    assert set(rows["lang"]) <= {"de", "fr"} and not set(rows["text"]) & tests  # "der film war gut" left out
    assert set(rows["text"]) <= set(UNLABELLED["de"] + UNLABELLED["fr"])
    for lang, group in rows.groupby("lang"):
        assert group["label"].value_counts().max() <= 1  # per_class=1
    info = json.loads((runner.entry(pseudo) / "pseudo.json").read_text())
    assert info["rows"] == len(rows) and info["languages"]["de"]["labelled"] == 4
    final = next(c for c in the_plan.cells if c.stage == "train" and "pseudo" in c.inputs)
    train = json.loads((runner.entry(final) / "train.json").read_text())
    assert train["train_rows"] == 4 + len(rows)  # 2 shots x 2 classes of English, and the pseudo-labelled rows
    assert {r["method"] for r in outcome.rows} == {"soft+self-training"}
    # deterministic by seed: the same cell in a fresh cache selects the same rows
    again = plan(load_pipeline(project, [*SELF_TRAINING, f"cache_dir={project.parent / 'other'}"]))
    Runner(again, progress=False).run()
    repeated = next(c for c in again.cells if c.stage == "pseudo_label")
    assert repeated.key == pseudo.key
    assert pd.read_parquet(Runner(again, progress=False).entry(repeated) / "rows.parquet").equals(rows)
    # a higher threshold keeps fewer rows, and turning self-training on changes no other cell
    strict = next(c for c in plan(load_pipeline(project, [*SELF_TRAINING, "train.self_training.confidence=0.99"]))
                  .cells if c.stage == "pseudo_label")
    assert strict.key != pseudo.key
    plain = {c.name: c.key for c in plan(load_pipeline(project, SELF_TRAINING[:2])).cells}
    assert plain["train soft k=2 seed=13"] == next(c.key for c in the_plan.cells if c.name == "train soft k=2 seed=13")


def test_unlabelled_file_errors_name_the_card_and_the_line(project):
    with pytest.raises(ConfigError, match=r"names no 'unlabelled' file"):
        plan(load_pipeline(project, SELF_TRAINING))
    card = load_card(str(with_unlabelled_files(project).parent / "reviews.yaml"))
    from xprompt.data.loaders import load_unlabelled
    table = load_unlabelled(card, "de", project.parent / "data")
    assert table["text"].tolist() == UNLABELLED["de"] and set(table["label"]) == {0}
    (project.parent / "data" / "fr" / "unlabelled.txt").unlink()
    with pytest.raises(DataError, match=r"no unlabelled text of 'fr' for reviews: looked for .*fr/unlabelled.txt"):
        load_unlabelled(card, "fr", project.parent / "data")


def parallel_pools(langs=("en", "de", "fr"), items=30, classes=3):
    """A parallel data set (the same ids in every language), `items` rows per language."""
    card = type("Card", (), {"parallel": "id", "labels": tuple(f"c{i}" for i in range(classes)), "name": "toy"})()
    pools = {lang: pd.DataFrame({"id": [f"item{i}" for i in range(items)],
                                 "text": [f"{lang} {i}" for i in range(items)],
                                 "text_pair": None, "label": [i % classes for i in range(items)], "lang": lang,
                                 "split": "train"}) for lang in langs}
    return card, pools


def draw(card):
    return lambda pool, k, seed, excluded: sample_k_shot(pool, k, seed, exclude_ids=excluded, label_names=card.labels)


@pytest.mark.parametrize("mode, expected", [("split", [2, 2, 1]), ("each", [5, 5, 5])])
def test_multi_source_sampling_gives_the_stated_counts_per_source_and_label(mode, expected):
    card, pools = parallel_pools(items=60)
    first_k = expected[0]
    first_train = sample_k_shot(pools["en"], first_k, 13, label_names=card.labels)
    dev = sample_k_shot(pools["en"], 1, 13, exclude_ids=first_train["id"], label_names=card.labels)
    train, got_dev = sample_sources(card, ["en", "de", "fr"], 5, 13, mode, (first_train, dev),
                                    {"de": pools["de"], "fr": pools["fr"]}, draw(card))
    assert got_dev.equals(dev)
    for lang, k in zip(("en", "de", "fr"), expected):
        counts = train[train["lang"] == lang]["label"].value_counts()
        assert sorted(counts.index) == [0, 1, 2] and set(counts) == {k}
    assert train["id"].is_unique and not set(train["id"]) & set(dev["id"])  # no item twice, none a dev item
    again, _ = sample_sources(card, ["en", "de", "fr"], 5, 13, mode, (first_train, dev),
                              {"de": pools["de"], "fr": pools["fr"]}, draw(card))
    assert again.equals(train)
    assert shares(16, 3) == [6, 5, 5] and sum(shares(701, 3)) == 701


def test_multi_source_full_split_deals_each_item_to_one_language():
    card, pools = parallel_pools(items=31)
    dev = pools["en"].iloc[:4]
    first = pools["en"].iloc[4:].reset_index(drop=True)
    train, _ = sample_sources(card, ["en", "de", "fr"], "full", 13, "split", (first, dev),
                              {"de": pools["de"], "fr": pools["fr"]}, draw(card))
    assert len(train) == 27 and train["id"].is_unique and set(train["id"]) == set(first["id"])
    assert sorted(train["lang"].value_counts()) == [9, 9, 9]


def test_a_multi_source_method_trains_on_each_source_and_is_not_evaluated_on_them(project):
    overrides = ["task.targets=[de, fr]", "task.sources=[en, fr]", "task.source_shots=each"]
    the_plan = plan(load_pipeline(project, overrides))
    outcome = Runner(the_plan, progress=False).run()
    assert {r["target"] for r in outcome.rows} == {"en", "de"}  # fr is a source: not zero-shot there
    trained = next(c for c in the_plan.cells if c.stage == "train")
    rows = pd.read_parquet(Runner(the_plan, progress=False).entry(trained.inputs["sample"]) / "train.parquet")
    assert rows.groupby("lang")["label"].value_counts().to_dict() == {("en", 0): 2, ("en", 1): 2, ("fr", 0): 2,
                                                                      ("fr", 1): 2}
    with pytest.raises(ConfigError, match=r"task.sources is \['de', 'en'\]; its first language must be"):
        plan(load_pipeline(project, ["task.sources=[de, en]"]))


def test_a_calibrated_export_predicts_what_the_run_evaluated_and_says_its_fallback(project, caplog):
    from xprompt.prompts.export import export_prompt
    from xprompt.prompts.predict import load_prompt

    with_unlabelled_files(project)
    overrides = ["task.unlabelled=file", "task.targets=[de, fr]", "eval.calibration=target_text"]
    from xprompt.cli import main
    assert main(["run", str(project), "--quiet", *[x for o in overrides for x in ("--set", o)]]) == 0
    the_plan = plan(load_pipeline(project, overrides))
    runner = Runner(the_plan, progress=False)
    out = export_prompt(project.parent / "runs" / "toy", "soft+calibration", project.parent / "calibrated")
    info = json.loads((out / "prompt.json").read_text())
    assert set(info["calibration"]["priors"]) == {"en", "de", "fr"}
    assert "not calibrated" in info["calibration"]["fallback"]
    prompt = load_prompt(out, device="cpu")
    for lang in ("de", "fr"):
        evaluated = next(c for c in the_plan.cells if c.name == f"evaluate soft k=2 seed=13 on {lang} calibrated")
        expected = pd.read_parquet(runner.entry(evaluated) / "predictions.parquet")
        test = pd.read_parquet(runner.entry(evaluated.inputs["test"]) / "table.parquet")
        got = prompt.predict_proba(test["text"].tolist(), lang)
        np.testing.assert_allclose(got, expected[["p0", "p1"]].to_numpy(), atol=1e-5)
    # a language without a prior: the model's own probabilities, with a warning; --calibrate-on adds one
    plain = export_prompt(project.parent / "runs" / "toy", "soft", project.parent / "plain")
    own = load_prompt(plain, device="cpu").predict_proba(["gut gut"], "de")
    info["calibration"]["priors"].pop("de")
    (out / "prompt.json").write_text(json.dumps(info))
    prompt = load_prompt(out, device="cpu")
    with caplog.at_level("WARNING"):
        np.testing.assert_allclose(prompt.predict_proba(["gut gut"], "de"), own, atol=1e-6)
    assert "no class prior for 'de'" in caplog.text
    before = prompt.predict_proba(UNLABELLED["de"], "de").mean(axis=0)
    prior = prompt.calibrate_on(UNLABELLED["de"], "de")
    np.testing.assert_allclose(prior, before, atol=1e-6)  # the prior is the mean predicted distribution
    after = prompt.predict_proba(UNLABELLED["de"], "de").mean(axis=0)
    assert np.abs(after - 0.5).max() <= np.abs(before - 0.5).max() + 1e-6  # moved toward uniform


def test_an_ensemble_export_averages_its_members_as_the_run_did(project):
    from xprompt.cli import main
    from xprompt.prompts.export import export_prompt
    from xprompt.prompts.predict import load_prompt

    overrides = ["seeds=[13, 21]", "eval.ensemble_seeds=true"]
    assert main(["run", str(project), "--quiet", *[x for o in overrides for x in ("--set", o)]]) == 0
    the_plan = plan(load_pipeline(project, overrides))
    out = export_prompt(project.parent / "runs" / "toy", "soft+ensemble", project.parent / "ensemble")
    info = json.loads((out / "prompt.json").read_text())
    assert info["ensemble"]["members"] == ["members/seed-13", "members/seed-21"] and info["seed"] == -1
    prompt = load_prompt(out, device="cpu")
    cell = next(c for c in the_plan.cells if c.name == "ensemble soft k=2 ensemble on de")
    runner = Runner(the_plan, progress=False)
    expected = pd.read_parquet(runner.entry(cell) / "predictions.parquet")
    test = pd.read_parquet(runner.entry(next(iter(cell.inputs.values())).inputs["test"]) / "table.parquet")
    np.testing.assert_allclose(prompt.predict_proba(test["text"].tolist(), "de"), expected[["p0", "p1"]].to_numpy(),
                               atol=1e-5)
    probabilities = prompt.predict_proba(["gut gut", "schlecht"], "de")
    assert [r["label"] for r in prompt.predict(["gut gut", "schlecht"], "de")] == \
        [prompt.labels[i] for i in probabilities.argmax(axis=1)]


def test_interpolation_moves_only_pretrained_tensors_and_its_ends_are_the_two_models():
    from xprompt.training.interpolation import interpolated

    trained = {"encoder.w": torch.tensor([1.0, 3.0]), "head": torch.tensor([5.0])}
    pretrained = {"encoder.w": torch.tensor([-1.0, 1.0])}
    state, moved = interpolated(trained, pretrained, 0.25)
    assert moved == 1
    torch.testing.assert_close(state["encoder.w"], torch.tensor([-0.5, 1.5]))
    torch.testing.assert_close(state["head"], trained["head"])  # what the method adds stays as trained
    for weight, expected in ((1.0, trained["encoder.w"]), (0.0, pretrained["encoder.w"])):
        torch.testing.assert_close(interpolated(trained, pretrained, weight)[0]["encoder.w"], expected)
    with pytest.raises(ValueError, match="encoder.w"):
        interpolated(trained, {"encoder.w": torch.zeros(3)}, 0.5)


def test_interpolated_models_are_evaluated_ensembled_and_exported_as_their_own_methods(project):
    from xprompt.cli import main
    from xprompt.methods import build_method
    from xprompt.prompts.export import export_prompt
    from xprompt.prompts.predict import load_prompt

    overrides = ["methods=[{name: finetune}]", "seeds=[13, 21]", "eval.ensemble_seeds=true",
                 "train.interpolate=[0.5]"]
    plain_keys = {c.name: c.key for c in plan(load_pipeline(project, overrides[:3])).cells}
    assert main(["run", str(project), "--quiet", *[x for o in overrides for x in ("--set", o)]]) == 0
    the_plan = plan(load_pipeline(project, overrides))
    assert all(plain_keys[c.name] == c.key for c in the_plan.cells if c.name in plain_keys)  # nothing retrains
    results = pd.read_csv(project.parent / "runs" / "toy" / "results.csv")
    assert set(results["method"]) == {"finetune", "finetune+ensemble", "finetune+wise-0.5",
                                      "finetune+wise-0.5+ensemble"}
    runner = Runner(the_plan, progress=False)
    moved = next(c for c in the_plan.cells if c.stage == "interpolate" and c.meta["seed"] == 13)
    trained = load_file(str(runner.entry(moved.inputs["model"]) / "state.safetensors"))
    state = load_file(str(runner.entry(moved) / "state.safetensors"))
    fresh = build_method("finetune", {}, runner.backbone(), runner.card)
    pretrained = dict(fresh.named_parameters())
    new = {name for name, p in fresh.named_parameters() if any(p is q for q in fresh.new_parameters())}
    assert new and set(state) - new
    for name in state:  # halfway between the two models, the head as trained
        expected = trained[name] if name in new else (trained[name] + pretrained[name].detach()) / 2
        torch.testing.assert_close(state[name], expected)
    # the interpolated model exports as one model that predicts what the run evaluated
    out = export_prompt(project.parent / "runs" / "toy", "finetune+wise-0.5", project.parent / "wise", seed=13)
    evaluated = next(c for c in the_plan.cells if c.stage == "evaluate" and c.inputs["model"] is moved
                     and c.meta["target"] == "de")
    expected = pd.read_parquet(runner.entry(evaluated) / "predictions.parquet")
    test = pd.read_parquet(runner.entry(evaluated.inputs["test"]) / "table.parquet")
    got = load_prompt(out, device="cpu").predict_proba(test["text"].tolist(), "de")
    np.testing.assert_allclose(got, expected[["p0", "p1"]].to_numpy(), atol=1e-5)


@pytest.mark.parametrize("methods", ["[{name: soft}]", "[{name: probe}]", "[{name: lora}]",
                                     "[{name: ptuning}]", "[{name: discrete, settings: {trained: none}}]"])
def test_interpolating_a_method_that_trains_no_pretrained_weight_is_refused_before_any_work(project, methods):
    with pytest.raises(ConfigError, match=r"train.interpolate is \[0.5\], but .* trains none of the encoder's own"):
        load_pipeline(project, [f"methods={methods}", "train.interpolate=[0.5]"])


def test_interpolation_is_accepted_wherever_the_method_trains_encoder_weights(project):
    for methods in ("[{name: uniprompt}]", "[{name: finetune}]", "[{name: discrete}]",
                    "[{name: ptuning, settings: {freeze_backbone: false}}]",
                    "[{name: finetune, train: {interpolate: [0.5]}}, {name: soft}]"):  # per method entry
        shared = [] if "interpolate" in methods else ["train.interpolate=[0.5]"]
        config = load_pipeline(project, [f"methods={methods}"] + shared)
        assert method_train_config(config, config.methods[0]).interpolate == [0.5], methods


@pytest.mark.parametrize("weights", ["[1.0]", "[0]", "[0.5, 0.5]", "[true]"])
def test_interpolation_weights_outside_zero_to_one_are_refused(project, weights):
    with pytest.raises(ConfigError, match="train.interpolate"):
        load_pipeline(project, [f"train.interpolate={weights}"])
