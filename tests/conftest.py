"""Tiny models, a tokenizer trained on a few lines, and a toy task, all built here:
unit tests never touch the Hub or the offline model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OFFLINE_MODEL = "intfloat/multilingual-e5-small"

TOY_LINES = [
    "the film was good and great", "a great good story", "good acting great music",
    "the film was bad and terrible", "a terrible bad story", "bad acting terrible music",
    "der film war gut", "der film war schlecht", "le film est bon", "le film est mauvais",
    "it was okay", "this is a topic about science and sport", "yes no maybe",
]


@dataclass
class ToyCard:
    """The part of a TaskCard the methods use."""
    name: str = "toy"
    labels: list = field(default_factory=lambda: ["negative", "positive"])
    languages: list = field(default_factory=lambda: ["en", "de"])
    source_language: str = "en"
    templates: dict = field(default_factory=lambda: {"en": "{text} It was <mask>.", "de": "{text} Es war <mask>."})
    verbalizers: dict = field(default_factory=lambda: {"en": [["bad"], ["good"]], "de": [["schlecht"], ["gut"]]})
    parallel: str | None = None

    def template(self, lang: str) -> str:
        return self.templates.get(lang, self.templates[self.source_language])

    def verbalizer(self, lang: str) -> list:
        return self.verbalizers.get(lang, self.verbalizers[self.source_language])


def _tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(TOY_LINES * 3, trainers.UnigramTrainer(
        vocab_size=200, special_tokens=specials, unk_token="<unk>"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>",
        cls_token="<s>", pad_token="<pad>", mask_token="<mask>")


def _tiny_config(kind: str, vocab_size: int):
    from transformers import BertConfig, XLMRobertaConfig

    sizes = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                 intermediate_size=37, max_position_embeddings=128, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0)
    if kind == "xlmr":
        return XLMRobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, **sizes)
    return BertConfig(pad_token_id=1, **sizes)


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory) -> Path:
    """A 4-layer XLM-R with a masked-LM head (like xlm-roberta-base, tiny)."""
    import torch
    from transformers import XLMRobertaForMaskedLM

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-xlmr-mlm")
    tokenizer = _tiny_tokenizer()
    XLMRobertaForMaskedLM(_tiny_config("xlmr", len(tokenizer))).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A 4-layer BERT encoder without an MLM head (like multilingual-e5, tiny)."""
    import torch
    from transformers import BertModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert-encoder")
    tokenizer = _tiny_tokenizer()
    BertModel(_tiny_config("bert", len(tokenizer)), add_pooling_layer=False).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine run fastest on one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lively(tmp_path_factory):
    """The tiny models with weights drawn 15x wider. At BERT's 0.02 init a 32-wide random
    encoder barely mixes tokens: the <mask> state is its own embedding plus ~1e-3 of context,
    so no prompt can move it and toy-task losses stall for reasons that are not the method's."""
    import torch
    from transformers import BertModel, XLMRobertaForMaskedLM

    tokenizer, paths = _tiny_tokenizer(), {}
    for model, kind, build_model in [("mlm", "xlmr", XLMRobertaForMaskedLM),
                                     ("encoder", "bert", lambda c: BertModel(c, add_pooling_layer=False))]:
        torch.manual_seed(0)
        config = _tiny_config(kind, len(tokenizer))
        config.initializer_range = 0.3
        paths[model] = tmp_path_factory.mktemp(f"lively-{model}")
        build_model(config).save_pretrained(paths[model])
        tokenizer.save_pretrained(paths[model])
    return paths


@pytest.fixture
def toy_card() -> ToyCard:
    return ToyCard()


def toy_frame(lang: str = "en", split: str = "train", repeats: int = 4) -> pd.DataFrame:
    """A separable two-class task: 'good/great' texts are positive, 'bad/terrible' negative."""
    positive = ["the film was good and great", "a great good story", "good acting great music"]
    negative = ["the film was bad and terrible", "a terrible bad story", "bad acting terrible music"]
    texts = (positive + negative) * repeats
    labels = ([1] * len(positive) + [0] * len(negative)) * repeats
    return pd.DataFrame({"id": [f"{lang}-{split}-{i}" for i in range(len(texts))], "text": texts,
                         "text_pair": [None] * len(texts), "label": labels, "lang": lang, "split": split})


@pytest.fixture
def toy_train() -> pd.DataFrame:
    return toy_frame()


@pytest.fixture(scope="session")
def dropout_mlm_dir(tmp_path_factory) -> Path:
    """A tiny XLM-R with a masked-LM head and dropout 0.1 (the other fixtures set it to 0), so
    train/eval modes and the random-number handling of training are really exercised."""
    import torch
    from transformers import XLMRobertaForMaskedLM

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-xlmr-dropout")
    tokenizer = _tiny_tokenizer()
    config = _tiny_config("xlmr", len(tokenizer))
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.1
    config.initializer_range = 0.3
    XLMRobertaForMaskedLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
