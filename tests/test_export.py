"""Exported prompts: a tiny pipeline (user task card + CSV files + tiny model, all in tmp)
is run once; its trained methods are exported, loaded back onto the base model and must
predict exactly what the trained model in memory predicts. Also prompt.json's fields, what
is (not) exported, refusal of another base model, the predict command and its input files,
and PEFT's prompt-tuning format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import _tiny_config, _tiny_tokenizer
from safetensors.torch import load_file

from xprompt.cli import main
from xprompt.pipeline.config import PipelineConfig, to_dict
from xprompt.strict import from_dict
from xprompt.errors import CacheError, ConfigError, DataError, ModelError
from xprompt.training.evaluate import predict_proba
from xprompt.prompts.export import export_prompt
from xprompt.pipeline.cells import plan
from xprompt.prompts.base_model import check_base_model
from xprompt.prompts.predict import load_prompt
from xprompt.results.table import read_results, write_results
from xprompt.pipeline.runner import Runner

POSITIVE = {"en": ["the film was good and great", "a great good story", "good acting great music",
                   "good good film", "a great film", "great music and good acting"],
            "de": ["der film war gut", "der film war gut und gut", "gut gut"]}
NEGATIVE = {"en": ["the film was bad and terrible", "a terrible bad story", "bad acting terrible music",
                   "bad bad film", "a terrible film", "terrible music and bad acting"],
            "de": ["der film war schlecht", "der film war schlecht und schlecht", "schlecht schlecht"]}
CARD = {
    "description": "toy reviews, two classes",
    "labels": ["negative", "positive"],
    "languages": ["en", "de"],
    "source_language": "en",
    "local": {"files": {split: f"{{lang}}/{split}.csv" for split in ("train", "dev", "test")},
              "columns": {"text": "text", "label": "label"}},
    "templates": {"en": "{text} It was <mask>.", "de": "{text} Es war <mask>."},
    "verbalizers": {"en": [["bad"], ["good"]], "de": [["schlecht"], ["gut"]]},
}
METHODS = {"uniprompt": {"fused_layers": 2, "language_templates": True}, "soft": {"num_tokens": 3}, "finetune": {},
           "prefix": {"num_tokens": 2, "reparameterize": True, "mlp_hidden": 8}, "lora": {"rank": 2}}
TEXTS = {"en": ["a good story", "terrible acting", "the music was great", "bad"],
         "de": ["der film war gut", "schlecht", "gut und schlecht"]}


pytestmark = pytest.mark.usefixtures("one_thread")


def _save_model(path: Path, hidden: int = 32, kind: str = "xlmr") -> Path:
    """A tiny masked LM; weights drawn wide so that its predictions differ between texts."""
    from transformers import XLMRobertaForMaskedLM

    torch.manual_seed(0)
    tokenizer = _tiny_tokenizer()
    config = _tiny_config(kind, len(tokenizer))
    config.hidden_size, config.initializer_range = hidden, 0.3
    XLMRobertaForMaskedLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A finished run of three methods x two seeds on the toy task, and its exports (seed 1)."""
    root = tmp_path_factory.mktemp("export-run")
    model = _save_model(root / "model")
    for lang in CARD["languages"]:
        for split in ("train", "dev", "test"):
            rows = [(t, "positive") for t in POSITIVE[lang]] + [(t, "negative") for t in NEGATIVE[lang]]
            (root / "task" / lang).mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows, columns=["text", "label"]).to_csv(root / "task" / lang / f"{split}.csv", index=False)
    (root / "task" / "toy.yaml").write_text(yaml.safe_dump(CARD))
    config = from_dict(PipelineConfig, {
        "name": "toy", "model": {"name": str(model), "device": "cpu"},
        "task": {"name": str(root / "task" / "toy.yaml"), "targets": ["de"]},
        "shots": [3], "seeds": [1, 2], "train": {"epochs": 2, "batch_size": 4},
        "methods": [{"name": name, "settings": settings} for name, settings in METHODS.items()],
        "output_dir": str(root / "runs"), "cache_dir": str(root / "cache")}, "test pipeline")
    runner = Runner(plan(config), progress=False)
    outcome = runner.run()
    write_results(outcome.rows, runner.run_dir, {"config": to_dict(config)})
    exports = {name: export_prompt(runner.run_dir, name, root / "exports" / name, seed=1) for name in METHODS}
    return SimpleNamespace(root=root, model=model, runner=runner, run_dir=runner.run_dir, exports=exports)


def _train_cell(run, method: str, seed: int = 1):
    return next(c for c in run.runner.plan.cells if c.stage == "train" and c.meta["method"] == method
                and c.meta["seed"] == seed)


def _frame(texts: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(t, lang) for lang, items in texts.items() for t in items]
    return pd.DataFrame({"id": [str(i) for i in range(len(rows))], "text": [t for t, _ in rows],
                         "text_pair": None, "label": 0, "lang": [lang for _, lang in rows], "split": "test"})


def _info(directory: Path) -> dict:
    return json.loads((directory / "prompt.json").read_text())


@pytest.mark.parametrize("method", list(METHODS))
def test_loaded_prompt_predicts_what_the_trained_model_predicts(toy_run, method):
    trained = toy_run.runner.trained_method(_train_cell(toy_run, method))
    frame = _frame(TEXTS)
    expected = torch.from_numpy(predict_proba(trained, frame))
    prompt = load_prompt(toy_run.exports[method], device="cpu")
    got = torch.from_numpy(prompt.predict_proba(frame["text"].tolist(), langs=frame["lang"].tolist()))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    assert expected[:, 1].std() > 1e-3  # the texts get different scores: the comparison is not vacuous
    results = prompt.predict(TEXTS["de"], lang="de")
    assert [r["label"] for r in results] == [prompt.labels[i] for i in expected[len(TEXTS["en"]):].argmax(dim=1)]
    for result, row in zip(results, expected[len(TEXTS["en"]):]):
        assert result["probabilities"] == pytest.approx(dict(zip(prompt.labels, row.tolist())), abs=1e-5)


def test_prompt_json_records_base_model_method_task_and_scores(toy_run):
    directory = toy_run.exports["uniprompt"]
    text = (directory / "prompt.json").read_text()
    info = json.loads(text)
    assert text == json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert info["format"] == "xprompt-prompt" and info["xprompt_version"] == "0.1.0"
    assert info["base_model"]["id"] == str(toy_run.model) and info["base_model"]["weights_sha256"]
    assert info["base_model"]["hidden_size"] == 32 and info["base_model"]["num_layers"] == 4
    # every resolved option (as the cache key saw it), so a later xprompt with other defaults rebuilds the same method
    assert (info["method"]["name"], info["method"]["display_name"]) == ("uniprompt", "uniprompt")
    assert info["method"]["settings"].items() >= METHODS["uniprompt"].items()
    from xprompt.methods.uniprompt.config import UniPromptConfig
    assert set(info["method"]["settings"]) >= {"fused_layers", "label_init", "max_length", "trained"}
    assert UniPromptConfig(**info["method"]["settings"]).fused_layers == 2
    assert info["labels"] == ["negative", "positive"] and info["task"]["name"] == "toy"
    assert info["task"]["templates"] == CARD["templates"] and info["task"]["verbalizers"] == CARD["verbalizers"]
    assert info["templates"] == {"en": "{text} It was <mask>.", "de": "{text} Es war <mask>."}
    assert (info["shots"], info["seed"]) == (3, 1)
    results = read_results(toy_run.run_dir)
    mine = results[(results["method"] == "uniprompt") & (results["seed"] == 1) & (results["metric"] == "accuracy")]
    assert set(info["languages"]) == {"en", "de"}
    for row in mine.itertuples():
        assert info["languages"][row.target]["accuracy"] == pytest.approx(row.value)
    stored = load_file(str(directory / "prompt.safetensors"))
    assert set(stored) == set(info["tensors"])
    for name, tensor in stored.items():
        assert info["tensors"][name]["shape"] == list(tensor.shape) and info["tensors"][name]["what"]
    assert info["run"]["train_cell"] == "train uniprompt k=3 seed=1"


def test_uniprompt_export_holds_prompt_states_instead_of_the_prompt_tower(toy_run):
    info = _info(toy_run.exports["uniprompt"])
    names = set(info["tensors"])
    assert not any(n.startswith("prompt_tower") or "word_embeddings" in n for n in names)
    assert "soft_embeddings" not in names
    templates = {info["tensors"][n]["template"] for n in names if n.startswith("prompt_states.")}
    assert templates == {"{text} It was <mask>.", "{text} Es war <mask>."}
    assert {"label_vectors", "label_bias"} <= names and any(n.startswith("fused_layers.") for n in names)
    prompt = load_prompt(toy_run.exports["uniprompt"], device="cpu")
    assert prompt.method.prompt_tower is None and set(prompt.method.precomputed) == templates


def test_soft_export_is_the_prompt_its_start_and_label_vectors_only(toy_run):
    info = _info(toy_run.exports["soft"])
    assert set(info["tensors"]) == {"encoder.prompt.prompt_embeddings", "encoder.prompt.initial_prompt",
                                    "verbalizer.label_vectors", "verbalizer.label_bias"}
    assert info["tensors"]["encoder.prompt.prompt_embeddings"]["shape"] == [3, 32]
    assert "before training" in info["tensors"]["encoder.prompt.initial_prompt"]["what"]


def test_without_shots_and_seed_the_best_average_target_accuracy_is_exported(toy_run, tmp_path):
    results = read_results(toy_run.run_dir)
    target = results[(results["method"] == "soft") & (results["metric"] == "accuracy") & (results["target"] == "de")]
    best = target.sort_values(["value", "seed"], ascending=[False, True]).iloc[0]
    out = export_prompt(toy_run.run_dir, "soft", tmp_path / "best")
    assert _info(out)["seed"] == best["seed"]
    assert _info(export_prompt(toy_run.run_dir, "soft", tmp_path / "two", shots=3, seed=2))["seed"] == 2


def test_another_base_model_is_refused_naming_both(toy_run, tiny_encoder_dir, tmp_path):
    with pytest.raises(ModelError, match=r"trained on .*model \(weights sha256 \w+\); loaded .*tiny-bert"):
        load_prompt(toy_run.exports["soft"], device="cpu", model=str(tiny_encoder_dir))
    # a model of another width: prompt.json pointed at it, with no digest to compare
    wide = _save_model(tmp_path / "wide-model", hidden=48)
    copy = shutil.copytree(toy_run.exports["soft"], tmp_path / "edited")
    info = _info(copy)
    info["base_model"].update(id=str(wide), weights_sha256=None)
    (copy / "prompt.json").write_text(json.dumps(info))
    with pytest.raises(ModelError, match=rf"prompt in {copy} does not fit the soft method built on {wide}: it holds "
                                         rf".* shape \[3, 32\], but this method needs \[3, 48\]; "
                                         rf"it was trained on {wide}"):
        load_prompt(copy, device="cpu")


def test_another_revision_of_a_hub_model_is_refused():
    backbone = SimpleNamespace(model_id="org/model", revision="bbb222",
                               config=SimpleNamespace(model_type="bert", hidden_size=32, num_hidden_layers=4))
    recorded = {"id": "org/model", "revision": "aaa111", "weights_sha256": None}
    with pytest.raises(ModelError, match="prompt in out was trained on org/model revision aaa111; "
                                         "loaded org/model revision bbb222"):
        check_base_model(recorded, backbone, Path("out"))
    check_base_model({**recorded, "revision": "bbb222"}, backbone, Path("out"))


def test_unknown_method_uncached_model_and_other_seeds_are_refused(toy_run, tmp_path):
    with pytest.raises(ConfigError, match="has no method 'ptuning'; its methods: uniprompt, soft, finetune"):
        export_prompt(toy_run.run_dir, "ptuning", tmp_path / "x")
    with pytest.raises(ConfigError, match=r"seeds \[1, 2\]; shots=None seed=7 is not one of them"):
        export_prompt(toy_run.run_dir, "soft", tmp_path / "x", seed=7)
    moved = tmp_path / "runs" / "toy"
    shutil.copytree(toy_run.run_dir, moved)
    stored = json.loads((moved / "run.json").read_text())
    stored["config"]["cache_dir"] = str(tmp_path / "empty-cache")
    (moved / "run.json").write_text(json.dumps(stored))
    with pytest.raises(CacheError, match="'train soft k=3 seed=1' of run .* is not in the cache"):
        export_prompt(moved, "soft", tmp_path / "x", seed=1)
    assert not (tmp_path / "x").exists()


def test_relative_paths_of_a_run_are_read_from_where_it_ran(toy_run, tmp_path, monkeypatch, caplog):
    """run.json's cache_dir 'cache' is relative to the folder holding runs/<name>, not the cwd;
    an option an older xprompt wrote and this one does not know is ignored with a warning."""
    project = tmp_path / "project"
    shutil.copytree(toy_run.run_dir, project / "runs" / "toy")
    (project / "cache").symlink_to(toy_run.root / "cache")
    stored = json.loads((project / "runs" / "toy" / "run.json").read_text())
    stored["config"].update(cache_dir="cache", output_dir="runs")
    stored["config"]["train"]["max_length"] = 256
    (project / "runs" / "toy" / "run.json").write_text(json.dumps(stored))
    monkeypatch.chdir(tmp_path)
    out = export_prompt("project/runs/toy", "finetune", "out", seed=1)
    assert (tmp_path / "out" / "prompt.safetensors").is_file() and _info(out)["seed"] == 1
    assert "ignoring config keys this xprompt does not know: train.max_length" in caplog.text


def test_predict_command_prints_label_and_probability_per_text(toy_run, capsys):
    expected = load_prompt(toy_run.exports["uniprompt"], device="cpu").predict(TEXTS["de"], lang="de")
    args = ["predict", "--prompt", str(toy_run.exports["uniprompt"]), "--lang", "de", "--device", "cpu"]
    assert main(args + [a for t in TEXTS["de"] for a in ("--text", t)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(TEXTS["de"])
    for line, text, result in zip(lines, TEXTS["de"], expected):
        label, probability, printed = line.split("\t")
        assert (label, printed) == (result["label"], text)
        assert float(probability) == pytest.approx(result["probabilities"][label], abs=1e-3)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_predict_command_reads_and_writes_tables(toy_run, tmp_path, suffix):
    frame = pd.DataFrame({"review": TEXTS["en"], "lang": "en", "id": range(len(TEXTS["en"]))})
    source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    if suffix == ".jsonl":
        frame.to_json(source, orient="records", lines=True)
    else:
        frame.to_csv(source, sep="\t" if suffix == ".tsv" else ",", index=False)
    assert main(["predict", "--prompt", str(toy_run.exports["soft"]), "--input", str(source), "--output",
                 str(out), "--text-column", "review", "--lang-column", "lang", "--device", "cpu"]) == 0
    written = pd.read_json(out, lines=True) if suffix == ".jsonl" else pd.read_csv(
        out, sep="\t" if suffix == ".tsv" else ",")
    expected = load_prompt(toy_run.exports["soft"], device="cpu").predict(TEXTS["en"])
    assert written["prediction"].tolist() == [r["label"] for r in expected]
    assert written["prob_positive"].tolist() == pytest.approx([r["probabilities"]["positive"] for r in expected],
                                                              abs=1e-5)
    assert written["review"].tolist() == TEXTS["en"] and "probability" in written


def test_predict_command_names_the_file_and_column_at_fault(toy_run, tmp_path, capsys):
    prompt = str(toy_run.exports["soft"])
    empty, wrong, binary = tmp_path / "empty.csv", tmp_path / "wrong.csv", tmp_path / "binary.csv"
    empty.write_text("")
    pd.DataFrame({"sentence": ["good"], "lang": ["en"]}).to_csv(wrong, index=False)
    binary.write_bytes(b"text\n\xff\xfe\x00\x81 not utf-8\n")
    cases = [(empty, [], f"input file {empty} holds no rows"),
             (wrong, [], f"input file {wrong} has no column 'text'; columns found: sentence, lang"),
             (wrong, ["--text-column", "sentence", "--pair-column", "hypothesis"],
              f"input file {wrong} has no column 'hypothesis'; columns found: sentence, lang"),
             (binary, [], f"input file {binary} cannot be read as csv"),
             (tmp_path / "missing.tsv", [], "does not exist"),
             (tmp_path / "notes.txt", [], "has suffix '.txt'; accepted: .csv, .tsv, .jsonl")]
    for path, extra, message in cases:
        assert main(["predict", "--prompt", prompt, "--input", str(path), *extra]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error


def test_predict_api_checks_pairs_and_returns_probabilities(toy_run):
    prompt = load_prompt(toy_run.exports["finetune"], device="cpu")
    results = prompt.predict("a good story")
    assert len(results) == 1 and sum(results[0]["probabilities"].values()) == pytest.approx(1.0)
    assert prompt.predict([]) == []
    with pytest.raises(DataError, match="classifies single texts, but second texts were given"):
        prompt.predict(["a"], text_pairs=["b"])
    frame = prompt.predict_frame(pd.DataFrame({"text": TEXTS["en"]}))
    assert list(frame.columns) == ["text", "prediction", "probability", "prob_negative", "prob_positive"]
    with pytest.raises(DataError, match="the table has no column 'sentence'; columns found: text"):
        prompt.predict_frame(pd.DataFrame({"text": ["a"]}), text_column="sentence")


def _peft_model(out: Path, model_dir: Path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModel

    return peft.PeftModel.from_pretrained(AutoModel.from_pretrained(model_dir), str(out)).eval()


@pytest.mark.filterwarnings("ignore::FutureWarning")  # raised inside PEFT/transformers
def test_soft_prompt_in_peft_format_gives_xprompt_predictions(toy_run, tmp_path, capsys):
    peft = pytest.importorskip("peft")
    out = tmp_path / "soft-peft"
    assert main(["export", str(toy_run.run_dir), "--method", "soft", "--seed", "1", "-o", str(out), "--peft"]) == 0
    assert "exported soft (k=3, seed=1)" in capsys.readouterr().out
    config = peft.PeftConfig.from_pretrained(str(out))
    assert (config.peft_type, config.num_virtual_tokens, config.token_dim) == ("PROMPT_TUNING", 3, 32)
    assert config.base_model_name_or_path == str(toy_run.model)
    assert "note" not in _info(out)["peft"]  # position: prepend is what PEFT does
    model = _peft_model(out, toy_run.model)
    method = toy_run.runner.trained_method(_train_cell(toy_run, "soft")).eval()
    frame = _frame(TEXTS)
    rows = method.featurize(frame)
    with torch.no_grad():
        ours = predict_proba(method, frame)
        for row, expected in zip(rows, ours):
            ids = torch.tensor([row["input_ids"][3:]])  # PEFT adds the 3 virtual tokens itself
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            logits = method.verbalizer(hidden[:, row["mask_index"]], torch.tensor([row["language"]]))
            torch.testing.assert_close(logits.softmax(-1)[0], torch.as_tensor(expected), atol=1e-5, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lora_exports_adapter_that_peft_loads_with_identical_predictions(toy_run, tmp_path):
    peft = pytest.importorskip("peft")
    out = export_prompt(toy_run.run_dir, "lora", tmp_path / "lora-peft", seed=1, peft=True)
    config = peft.PeftConfig.from_pretrained(str(out))
    assert (config.peft_type, config.r, sorted(config.target_modules)) == ("LORA", 2, ["query", "value"])
    ours = load_file(str(out / "prompt.safetensors"))
    assert ours and all("lora_" in name or name.startswith("verbalizer.") for name in ours)  # adapters + head only
    model = _peft_model(out, toy_run.model)
    method = toy_run.runner.trained_method(_train_cell(toy_run, "lora")).eval()
    loaded = load_prompt(out, device="cpu")
    frame = _frame(TEXTS)
    expected = predict_proba(method, frame)
    np.testing.assert_allclose(loaded.predict_proba(frame["text"].tolist(), langs=frame["lang"].tolist()),
                               expected, atol=1e-6)
    with torch.no_grad():
        for text, row in zip(frame["text"], expected):
            ids = method.inputs.tokenizer(text, return_tensors="pt")["input_ids"]
            first = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[:, 0]
            torch.testing.assert_close(method.verbalizer(first).softmax(-1)[0], torch.as_tensor(row),
                                       atol=1e-5, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_an_export_without_peft_removes_the_peft_files_of_an_earlier_one_into_the_same_folder(toy_run, tmp_path):
    pytest.importorskip("peft")
    out = export_prompt(toy_run.run_dir, "lora", tmp_path / "lora", seed=1, peft=True)
    peft_files = [out / "adapter_config.json", out / "adapter_model.safetensors"]
    assert all(path.exists() for path in peft_files) and "peft" in _info(out)
    export_prompt(toy_run.run_dir, "lora", out, seed=1)
    assert not any(path.exists() for path in peft_files) and "peft" not in _info(out)
    loaded, frame = load_prompt(out, device="cpu"), _frame(TEXTS)  # the plain export still loads and predicts
    probabilities = loaded.predict_proba(frame["text"].tolist(), langs=frame["lang"].tolist())
    assert probabilities.shape == (len(frame), len(loaded.labels))


def test_reparameterised_prefixes_are_folded_at_export(toy_run):
    info = _info(toy_run.exports["prefix"])
    assert info["method"]["settings"]["reparameterize"] is False
    names = set(load_file(str(toy_run.exports["prefix"] / "prompt.safetensors")))
    assert "encoder.prefixes" in names and not any("prefix_mlp" in n for n in names)


def test_peft_format_is_refused_for_methods_without_an_input_soft_prompt(toy_run, tmp_path):
    with pytest.raises(ConfigError, match="the uniprompt method: PEFT has no format for it"):
        export_prompt(toy_run.run_dir, "uniprompt", tmp_path / "x", seed=1, peft=True)
    assert not (tmp_path / "x").exists()
