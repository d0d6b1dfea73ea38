"""AutoPrompt trigger search on tiny models: accepted steps never increase the loss, the reported
template's words re-tokenize to the trigger ids, the backbone is untouched, and the template
found runs as the template of uniprompt, soft and discrete."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import yaml
from conftest import ToyCard, toy_frame

from xprompt.encoder.backbone import load_backbone
from xprompt.cli import main
from xprompt.errors import ConfigError, DataError, ModelError
from xprompt.methods import build_method
from xprompt.search import TriggerSearchConfig, search_triggers
from xprompt.search.autoprompt import parse_search
from xprompt.search.objective import Objective, nearest_mean_logits
from xprompt.encoder.templates import parse_template, render

# the tiny tokenizer has few whole words ("a", "wa", "th", ...); "the" is two pieces in it
SEARCH = dict(iterations=6, candidates=5, batch_size=12, init_word="a")


pytestmark = pytest.mark.usefixtures("one_thread")


def search(path, **settings):
    backbone = load_backbone(str(path), device="cpu")
    config = TriggerSearchConfig(**{**SEARCH, **settings})
    return search_triggers(backbone, ToyCard(), toy_frame(), config), backbone


@pytest.mark.parametrize("model,verbalizer", [("encoder", "vectors"), ("mlm", "vectors"), ("mlm", "label_words")])
def test_accepted_steps_never_increase_the_loss(lively, model, verbalizer):
    result, backbone = search(lively[model], verbalizer=verbalizer)
    assert result.trace and result.accepted >= 1  # the lively models do find better words
    loss = result.initial_loss
    for step in result.trace:
        assert step["loss_before"] == loss  # the loss is a function of the template: no drift between steps
        if step["accepted"]:
            assert step["best_candidate_loss"] < step["loss_before"]
            assert step["best_candidate_loss"] == min(step["candidate_losses"])
        assert step["loss_after"] == (step["best_candidate_loss"] if step["accepted"] else loss)
        loss = step["loss_after"]
    assert result.final_loss == loss <= result.initial_loss
    assert result.final_loss < result.initial_loss
    # measured afresh, the reported template has the reported loss
    rows = toy_frame().set_index("id").loc[result.row_ids].reset_index()
    objective = Objective(backbone, ToyCard(), rows, parse_search(result.search_template, 3),
                          result.verbalizer, "en")
    assert objective.loss(result.token_ids) == pytest.approx(result.final_loss, abs=1e-6)


def test_template_words_reencode_to_the_trigger_ids(lively):
    result, backbone = search(lively["encoder"])
    tokenizer = backbone.tokenizer
    assert result.reencodes and result.search_template == "{text} It was [T] [T] [T] <mask>."
    assert result.template == "{text} It was " + " ".join(result.tokens) + " <mask>."
    for word, token in zip(result.tokens, result.token_ids):
        assert tokenizer.decode([token]).strip() == word
        assert tokenizer(" " + word, add_special_tokens=False)["input_ids"] == [token]
    # the written template, rendered as the methods render it, holds the ids right before the mask
    rendered = render(parse_template(result.template), tokenizer, "a great good story")
    assert rendered.input_ids[rendered.mask_index - 3:rendered.mask_index] == result.token_ids


def test_backbone_weights_are_bit_identical_and_flags_restored(lively):
    backbone = load_backbone(str(lively["mlm"]), device="cpu")
    before = {name: tensor.clone() for name, tensor in backbone.encoder.state_dict().items()}
    head_before = {name: tensor.clone() for name, tensor in backbone.mask_head.state_dict().items()}
    flags = [p.requires_grad for p in backbone.encoder.parameters()]
    search_triggers(backbone, ToyCard(), toy_frame(), TriggerSearchConfig(**SEARCH))
    for name, tensor in backbone.encoder.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    for name, tensor in backbone.mask_head.state_dict().items():
        assert torch.equal(tensor, head_before[name]), name
    assert [p.requires_grad for p in backbone.encoder.parameters()] == flags
    assert all(p.grad is None for p in backbone.encoder.parameters())


def test_label_words_needs_an_mlm_head(tiny_mlm_dir, tiny_encoder_dir):
    result, _ = search(tiny_mlm_dir, verbalizer="label_words", iterations=2)
    assert result.verbalizer == "label_words" and result.final_loss <= result.initial_loss
    with pytest.raises(ModelError, match="no masked-LM head"):
        search(tiny_encoder_dir, verbalizer="label_words")


def test_found_template_runs_as_uniprompt_soft_and_discrete(lively):
    result, _ = search(lively["mlm"])
    parse_template(result.template)
    rows = toy_frame(repeats=1)
    for name, settings in [("uniprompt", {"fused_layers": 2}), ("soft", {"num_tokens": 2}), ("discrete", {})]:
        backbone = load_backbone(str(lively["mlm"]), device="cpu")
        method = build_method(name, {**settings, "template": result.template}, backbone, ToyCard())
        method.initialize(rows)
        with torch.no_grad():
            logits = method(**method.collate(method.featurize(rows)))
        assert logits.shape == (len(rows), 2) and torch.isfinite(logits).all(), name


def test_user_template_with_markers(lively):
    result, _ = search(lively["encoder"], placement="template", template="[T] {text} [T] <mask>", num_triggers=2)
    first, second = result.tokens
    assert result.template == f"{first} {{text}} {second} <mask>" and result.reencodes
    assert len(result.token_ids) == 2 and result.final_loss <= result.initial_loss


def test_nearest_mean_logits_leave_one_out():
    torch.manual_seed(0)
    features, labels = torch.randn(7, 5), torch.tensor([0, 0, 1, 1, 1, 2, 2])
    logits = nearest_mean_logits(features, labels, 3)
    for row in range(7):
        keep = torch.arange(7) != row
        means = torch.stack([features[keep & (labels == c)].mean(0) for c in range(3)])
        expected = features[row] @ means.T - 0.5 * means.pow(2).sum(1)  # the methods' class-mean scorer
        torch.testing.assert_close(logits[row], expected)


def test_bad_settings_are_clear_errors(lively):
    with pytest.raises(ConfigError, match="2 \\[T\\] markers"):
        TriggerSearchConfig(placement="template", template="{text} [T] [T] <mask>", num_triggers=3)
    with pytest.raises(ConfigError, match="placement: template"):
        TriggerSearchConfig(template="{text} [T] <mask>", num_triggers=1)
    with pytest.raises(ConfigError, match="no \\[soft\\]"):
        TriggerSearchConfig(placement="template", template="{text} [soft:2] [T] <mask>", num_triggers=1)
    with pytest.raises(ConfigError, match="exactly one <mask>"):
        TriggerSearchConfig(placement="template", template="{text} [T]", num_triggers=1)
    with pytest.raises(ConfigError, match="init_word 'the'"):
        search(lively["encoder"], init_word="the")
    with pytest.raises(ConfigError, match="at least 4"):
        search(lively["encoder"], batch_size=3)
    one_negative = toy_frame()[lambda df: (df["label"] == 1) | (df.index == 3)]
    with pytest.raises(DataError, match="negative"):
        search_triggers(load_backbone(str(lively["encoder"]), device="cpu"), ToyCard(), one_negative,
                        TriggerSearchConfig(**SEARCH))


def test_search_template_command(lively, tmp_path, capsys):
    card = {"labels": ["negative", "positive"], "languages": ["en"], "source_language": "en",
            "local": {"files": {s: f"{{lang}}/{s}.csv" for s in ("train", "dev", "test")},
                      "columns": {"text": "text", "label": "label"}},
            "templates": {"en": "{text} It was <mask>."}, "verbalizers": {"en": [["bad"], ["good"]]}}
    (tmp_path / "en").mkdir()
    frame = toy_frame(repeats=2)
    for split in ("train", "dev", "test"):
        pd.DataFrame({"text": frame["text"], "label": frame["label"].map({0: "negative", 1: "positive"})}) \
            .to_csv(tmp_path / "en" / f"{split}.csv", index=False)
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(card))
    out = tmp_path / "found.json"
    code = main(["search-template", "--task", str(tmp_path / "toy.yaml"), "--model", str(lively["encoder"]),
                 "--shots", "4", "--iterations", "3", "--candidates", "3", "--batch-size", "8", "--device", "cpu",
                 "--init-word", "a",
                 "--data-root", str(tmp_path), "-o", str(out)])
    assert code == 0
    record = json.loads(out.read_text())
    assert record["shots"] == 4 and len(record["trace"]) >= 1 and record["final_loss"] <= record["initial_loss"]
    printed = capsys.readouterr().out
    snippet = printed[printed.index("settings:"):]
    assert yaml.safe_load(snippet)["settings"]["template"] == record["template"]
