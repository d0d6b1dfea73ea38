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
                                ("distilbert", DistilBertModel, distil), ("deberta-v2", DebertaV2Model, DebertaV2Config)):
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
