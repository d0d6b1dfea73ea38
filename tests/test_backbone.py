"""Backbone: MLM head detection from checkpoint keys, layer slices that reproduce the
Hugging Face forward pass, position ids, label-word scoring, offline errors."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch.testing import assert_close
from transformers import AutoModel, AutoModelForMaskedLM
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaEmbeddings

from xprompt.encoder.backbone import load_backbone
from xprompt.errors import ModelError

TEXTS = ["the film was good and great", "bad", "a terrible bad story"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(params=["tiny_mlm_dir", "tiny_encoder_dir"])
def model_dir(request):
    return request.getfixturevalue(request.param)


def padded_batch(tokenizer):
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert batch["attention_mask"].min() == 0, "the batch must hold padding for these tests to mean anything"
    return batch


def test_mlm_head_detected_from_checkpoint_keys(tiny_mlm_dir, tiny_encoder_dir):
    with_head = load_backbone(str(tiny_mlm_dir), device="cpu")
    without_head = load_backbone(str(tiny_encoder_dir), device="cpu")
    assert with_head.has_mlm_head and with_head.mask_head is not None
    # the BERT checkpoint loads into BertForMaskedLM too, but its head keys are missing: no head
    assert not without_head.has_mlm_head and without_head.mask_head is None
    assert len(with_head.layers) == len(without_head.layers) == 4


def test_mlm_head_uses_the_checkpoint_weights(tiny_mlm_dir):
    backbone = load_backbone(str(tiny_mlm_dir), device="cpu")
    reference = AutoModelForMaskedLM.from_pretrained(str(tiny_mlm_dir))
    assert_close(backbone.mask_head.transform.dense.weight, reference.lm_head.dense.weight, rtol=0, atol=0)
    assert_close(backbone.mask_head.decoder_bias, reference.lm_head.bias, rtol=0, atol=0)


def test_run_layers_equals_hugging_face_forward(model_dir):
    backbone = load_backbone(str(model_dir), device="cpu")
    backbone.encoder.eval()
    batch = padded_batch(backbone.tokenizer)
    mask = batch["attention_mask"]
    reference = AutoModel.from_pretrained(str(model_dir)).eval()
    with torch.no_grad():
        expected = reference(**batch).last_hidden_state
        own = backbone.encoder(**batch).last_hidden_state
        hidden = backbone.embed(mask, input_ids=batch["input_ids"], token_type_ids=batch.get("token_type_ids"))
        ours = backbone.run_layers(backbone.layers, hidden, mask)
    real = mask.bool()
    assert_close(ours[real], expected[real])
    assert_close(ours[real], own[real])


def test_run_layers_in_two_slices_equals_all_layers(tiny_mlm_dir):
    backbone = load_backbone(str(tiny_mlm_dir), device="cpu")
    batch = padded_batch(backbone.tokenizer)
    mask = batch["attention_mask"]
    with torch.no_grad():
        hidden = backbone.embed(mask, input_ids=batch["input_ids"])
        whole = backbone.run_layers(backbone.layers, hidden, mask)
        split = backbone.run_layers(backbone.layers[2:], backbone.run_layers(backbone.layers[:2], hidden, mask), mask)
    assert_close(split, whole, rtol=0, atol=0)


def test_position_ids_xlmr_start_after_padding_idx(tiny_mlm_dir):
    backbone = load_backbone(str(tiny_mlm_dir), device="cpu")
    batch = padded_batch(backbone.tokenizer)
    padding_idx = backbone.embeddings.padding_idx
    assert padding_idx == backbone.tokenizer.pad_token_id == 1
    positions = backbone.position_ids(batch["attention_mask"])
    expected = XLMRobertaEmbeddings.create_position_ids_from_input_ids(batch["input_ids"], padding_idx)
    assert torch.equal(positions, expected)
    short = int(batch["attention_mask"][1].sum())
    assert positions[1, :short].tolist() == list(range(2, short + 2))
    assert set(positions[1, short:].tolist()) == {padding_idx}


def test_position_ids_bert_count_from_zero(tiny_encoder_dir):
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    assert backbone.position_ids(mask).tolist() == [[0, 1, 2, 3], [0, 1, 0, 0]]


def test_score_tokens_equals_full_mlm_logits_at_label_ids(tiny_mlm_dir):
    backbone = load_backbone(str(tiny_mlm_dir), device="cpu")
    reference = AutoModelForMaskedLM.from_pretrained(str(tiny_mlm_dir)).eval()
    batch = padded_batch(backbone.tokenizer)
    mask = batch["attention_mask"]
    label_ids = torch.tensor([5, 7, 11, 5])  # repeats allowed: multi-piece verbalizers share pieces
    position = 3
    with torch.no_grad():
        logits = reference(**batch).logits  # [batch, length, vocabulary]: fine in a test, never in xprompt
        hidden = backbone.run_layers(backbone.layers, backbone.embed(mask, input_ids=batch["input_ids"]), mask)
        scores = backbone.mask_head.score_tokens(hidden[:, position], label_ids)
    assert scores.shape == (len(TEXTS), len(label_ids))
    assert_close(scores, logits[:, position][:, label_ids])


def test_word_embedding_ids_have_no_special_tokens(tiny_mlm_dir):
    backbone = load_backbone(str(tiny_mlm_dir), device="cpu")
    tokenizer = backbone.tokenizer
    ids = backbone.word_embedding_ids(["good", " bad "])
    assert len(ids) == 2 and all(ids)
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    assert not specials & {i for piece in ids for i in piece}
    assert ids[1] == backbone.word_embedding_ids(["bad"])[0]


def test_missing_model_offline_says_how_to_install(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_id = "xprompt-tests/no-such-model-anywhere"
    with pytest.raises(ModelError) as error:
        load_backbone(model_id, device="cpu")
    message = str(error.value)
    assert model_id in message
    assert f"hf download {model_id}" in message
    assert "local directory" in message
    assert "HF_HUB_OFFLINE=1" in message  # and it does not claim the Hub was searched
    assert "nor on the Hub" not in message


def test_missing_local_directory_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_backbone(str(tmp_path / "nowhere"), device="cpu")


def test_incomplete_local_directory_names_what_it_needs(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(ModelError) as error:
        load_backbone(str(tmp_path / "model"), device="cpu")
    message = str(error.value)
    assert str(tmp_path / "model") in message and "config.json" in message
    assert "hf download" not in message


def test_local_directory_without_weights_names_what_it_needs(tiny_mlm_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_mlm_dir, model)
    for weights in model.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelError) as error:
        load_backbone(str(model), device="cpu")
    assert f"model directory {model} could not be loaded" in str(error.value)
    assert "the weights" in str(error.value)
