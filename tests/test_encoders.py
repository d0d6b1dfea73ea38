"""Encoder families: BERT (mBERT), XLM-R and RoBERTa run every method; DistilBERT and mDeBERTa-v3
(DeBERTa-v2 architecture) stop before any work with one sentence naming the model type."""

from __future__ import annotations

import pytest
import torch
import yaml
from conftest import ToyCard, _tiny_tokenizer, toy_frame

from xprompt.encoder.backbone import load_backbone
from xprompt.pipeline.config import load_pipeline
from xprompt.errors import ModelError
from xprompt.methods import registry, build_method
from xprompt.pipeline.cells import plan

pytestmark = pytest.mark.usefixtures("one_thread")
SIZES = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37,
             max_position_embeddings=128)


def _save(path, model_class, config) -> str:
    torch.manual_seed(0)
    tokenizer = _tiny_tokenizer()
    model_class(config(vocab_size=len(tokenizer), pad_token_id=1, **SIZES)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    from transformers import (BertForMaskedLM, BertConfig, DebertaV2Config, DebertaV2Model, DistilBertConfig,
                              DistilBertModel, RobertaConfig, RobertaForMaskedLM, XLMRobertaConfig,
                              XLMRobertaForMaskedLM)

    def distil(vocab_size, pad_token_id, **_):
        return DistilBertConfig(vocab_size=vocab_size, pad_token_id=pad_token_id, dim=32, n_layers=2, n_heads=4,
                                hidden_dim=37)

    made = {}
    for name, model, config in (("bert", BertForMaskedLM, BertConfig), ("xlm-roberta", XLMRobertaForMaskedLM,
                                XLMRobertaConfig), ("roberta", RobertaForMaskedLM, RobertaConfig),
                                ("distilbert", DistilBertModel, distil),
                                ("deberta-v2", DebertaV2Model, DebertaV2Config)):
        made[name] = _save(tmp_path_factory.mktemp(name), model, config)
    return made


@pytest.mark.parametrize("family", ["bert", "xlm-roberta", "roberta"])
@pytest.mark.parametrize("method", sorted(registry()))
def test_every_method_runs_on_every_supported_family(families, family, method):
    backbone = load_backbone(families[family], device="cpu")
    settings = {"fused_layers": 1} if method == "uniprompt" else {}
    built = build_method(method, settings, backbone, ToyCard())
    df = toy_frame(repeats=1)
    built.initialize(df)
    built.eval()
    with torch.no_grad():
        logits = built(**{k: v for k, v in built.collate(built.featurize(df)).items() if k != "labels"})
    assert logits.shape == (len(df), 2) and torch.isfinite(logits).all()


@pytest.mark.parametrize("family, kind", [("distilbert", "distilbert"), ("deberta-v2", "deberta-v2")])
def test_unsupported_families_stop_before_any_work(families, tmp_path, family, kind):
    with pytest.raises(ModelError, match=rf"is a '{kind}' model, which xprompt cannot run .* supported model "
                                         rf"types: bert, roberta, xlm-roberta, camembert"):
        load_backbone(families[family], device="cpu")
    card = {"labels": ["negative", "positive"], "languages": ["en"], "source_language": "en",
            "local": {"files": {"test": "x.csv"}, "columns": {"text": "t", "label": "l"}},
            "templates": {"en": "{text} <mask>."}}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(card))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"model": {"name": families[family]},
                                                     "task": {"name": str(tmp_path / "card.yaml")}}))
    with pytest.raises(ModelError, match=rf"'{kind}' model"):
        plan(load_pipeline(tmp_path / "p.yaml"))  # at planning time: nothing has run


@pytest.mark.parametrize("family", ["bert", "xlm-roberta"])
def test_the_last_layer_at_one_position_equals_the_full_layer(families, family):
    """Inference computes the last layer at the read position only: the same state as the full
    layer, with padding in the batch, for one shared position and for one position per row."""
    from xprompt.encoder.backbone import _bert_style
    backbone = load_backbone(families[family], device="cpu")
    layers = backbone.layers
    assert _bert_style(layers[-1]) and not layers[-1].training  # the one-position path is the one tested
    torch.manual_seed(0)
    hidden = torch.randn(3, 7, backbone.hidden_size)
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
    with torch.no_grad():
        full = backbone.run_layers(layers, hidden, mask)
        torch.testing.assert_close(backbone.run_layers_at(layers, hidden, mask, 2), full[:, 2], atol=1e-5, rtol=1e-5)
        rows = torch.tensor([0, 4, 1])
        torch.testing.assert_close(backbone.run_layers_at(layers[1:], hidden, mask, rows),
                                   backbone.run_layers(layers[1:], hidden, mask)[torch.arange(3), rows],
                                   atol=1e-5, rtol=1e-5)
    assert not torch.equal(full[:, 2], full[:, 3])  # the position matters: a wrong index would fail
