"""Methods on tiny models: training lowers the loss, frozen weights stay bit-identical,
parameter counts match their formulas, state dicts round-trip, and discrete label-word
scores equal a full masked-LM forward."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import ToyCard, toy_frame

from xprompt.encoder.backbone import WORD_EMBEDDINGS, load_backbone
from xprompt.pipeline.config import TrainConfig
from xprompt.errors import ConfigError, DataError, ModelError
from xprompt.methods import registry, build_method, method_config, parameter_counts
from xprompt.training.loop import make_optimizer, train


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def paths(tiny_mlm_dir, tiny_encoder_dir):
    return {"mlm": tiny_mlm_dir, "encoder": tiny_encoder_dir}


def build(paths, name, settings=None, model="mlm", card=None, seed=0):
    torch.manual_seed(seed)
    backbone = load_backbone(str(paths[model]), device="cpu")
    return build_method(name, settings or {}, backbone, card or ToyCard()), backbone


def logits(method, df):
    method.eval()
    with torch.no_grad():
        return method(**method.collate(method.featurize(df)))


def mean_loss(method, df) -> float:
    rows = method.featurize(df)
    return F.cross_entropy(logits(method, df), torch.tensor([r["label"] for r in rows])).item()


def fit(method, df, epochs=16, lr=1e-3, prompt_lr=3e-2):
    config = TrainConfig(epochs=epochs, batch_size=8, lr=lr, prompt_lr=prompt_lr, warmup_ratio=0.0)
    return train(method, df, None, config, seed=1, progress=False)


def count(*modules) -> int:
    return sum(parameter_counts(m)["total"] for m in modules)


# -- every method: the loss falls, frozen weights do not move ---------------------------------

TRAINING_CASES = [
    ("finetune", {}, "encoder"),
    ("discrete", {}, "mlm"),
    ("soft", {"label_init": "random"}, "encoder"),
    ("soft", {"verbalizer": "label_words"}, "mlm"),
    ("ptuning", {"label_init": "random"}, "encoder"),
    ("ptuning", {"encoder": "mlp", "label_init": "random"}, "mlm"),
    ("ptuning", {"freeze_backbone": False, "label_init": "random"}, "encoder"),
    ("deep", {"label_init": "random"}, "encoder"),
    ("deep", {"reparameterize": True, "mlp_hidden": 16, "verbalizer": "label_words"}, "mlm"),
    ("uniprompt", {"trained": "prompt", "label_init": "random"}, "encoder"),
    ("prefix", {}, "encoder"),
    ("prefix", {"readout": "mask", "reparameterize": True, "mlp_hidden": 16, "label_init": "random"}, "mlm"),
    ("lora", {"rank": 4}, "encoder"),
    ("lora", {"readout": "mask", "target_modules": ["query", "key", "value"], "label_init": "random"}, "mlm"),
    ("soft", {"position": "after_cls", "label_init": "random"}, "encoder"),
]


@pytest.mark.parametrize("name,settings,model", TRAINING_CASES)
def test_training_lowers_loss_and_leaves_frozen_weights_alone(lively, name, settings, model):
    method, _ = build(lively, name, settings, model)
    df = toy_frame()
    frozen = {n: p.detach().clone() for n, p in method.named_parameters() if not p.requires_grad}
    optimized = {id(p) for group in make_optimizer(method, TrainConfig()).param_groups for p in group["params"]}
    assert optimized == {id(p) for p in method.parameters() if p.requires_grad}
    assert {id(p) for p in method.new_parameters()} <= optimized
    method.initialize(df)
    before = mean_loss(method, df)
    fit(method, df)
    after = mean_loss(method, df)
    assert after < 0.75 * before, (before, after)
    for n, p in method.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
            assert p.grad is None, n


# -- parameter counts --------------------------------------------------------------------------

def label_part(card, hidden):
    return len(card.labels) * hidden + len(card.labels)


def test_soft_parameter_count(paths):
    method, backbone = build(paths, "soft", {"num_tokens": 5}, "mlm")
    hidden, card = backbone.hidden_size, ToyCard()
    trainable = 5 * hidden + label_part(card, hidden)
    frozen = count(backbone.embeddings, backbone.layers, backbone.mask_head.transform)
    assert parameter_counts(method) == {"trainable": trainable, "total": frozen + trainable}


def test_deep_parameter_count(paths):
    method, backbone = build(paths, "deep", {"num_tokens": 3}, "encoder")
    layers, hidden = len(backbone.layers), backbone.hidden_size
    trainable = layers * 3 * hidden + label_part(ToyCard(), hidden)
    frozen = count(backbone.embeddings, backbone.layers)
    assert parameter_counts(method) == {"trainable": trainable, "total": frozen + trainable}
    words, _ = build(paths, "deep", {"num_tokens": 3, "verbalizer": "label_words"}, "mlm")
    assert parameter_counts(words)["trainable"] == layers * 3 * hidden


def test_deep_reparameterized_parameter_count(paths):
    method, backbone = build(paths, "deep", {"num_tokens": 3, "reparameterize": True, "mlp_hidden": 16}, "encoder")
    layers, hidden = len(backbone.layers), backbone.hidden_size
    mlp = 3 * hidden + (hidden * 16 + 16) + (16 * layers * hidden + layers * hidden)
    assert parameter_counts(method)["trainable"] == mlp + label_part(ToyCard(), hidden)


def test_ptuning_parameter_count(paths):
    method, backbone = build(paths, "ptuning", {"num_tokens": 4}, "encoder")
    hidden, half = backbone.hidden_size, backbone.hidden_size // 2
    lstm = 2 * 2 * (4 * half * (hidden + half) + 8 * half)  # 2 layers x 2 directions (input 2*half = hidden)
    mlp = 2 * (hidden * hidden + hidden)
    trainable = 4 * hidden + lstm + mlp + label_part(ToyCard(), hidden)
    assert parameter_counts(method) == {"trainable": trainable,
                                        "total": count(backbone.embeddings, backbone.layers) + trainable}


def test_finetune_trains_everything_but_the_word_embeddings(paths):
    method, backbone = build(paths, "finetune", {}, "encoder")
    hidden, card = backbone.hidden_size, ToyCard()
    total = count(backbone.embeddings, backbone.layers) + label_part(card, hidden)
    words = backbone.embeddings.word_embeddings.weight.numel()
    assert parameter_counts(method) == {"trainable": total - words, "total": total}
    unfrozen, _ = build(paths, "finetune", {"freeze_word_embeddings": False}, "encoder")
    assert parameter_counts(unfrozen)["trainable"] == total


def test_discrete_counts(paths):
    method, backbone = build(paths, "discrete", {})
    head = backbone.mask_head
    total = count(backbone.embeddings, backbone.layers, head.transform) + head.decoder_bias.numel()
    words = backbone.embeddings.word_embeddings.weight.numel()  # also the tied output embedding
    assert parameter_counts(method) == {"trainable": total - words, "total": total}
    assert method.new_parameters() == []


# -- state dict round trip ---------------------------------------------------------------------

ROUND_TRIP_CASES = [("finetune", {}), ("discrete", {}), ("soft", {}), ("soft", {"verbalizer": "label_words"}),
                    ("ptuning", {}), ("deep", {}), ("deep", {"reparameterize": True, "mlp_hidden": 8})]


@pytest.mark.parametrize("name,settings", ROUND_TRIP_CASES)
def test_state_dict_round_trip_restores_predictions(paths, name, settings):
    df = toy_frame(repeats=1)
    method, _ = build(paths, name, settings, seed=0)
    method.initialize(df)
    fit(method, df, epochs=2)  # the first step runs at learning rate 0 (warmup)
    expected = logits(method, df)
    fresh, _ = build(paths, name, settings, seed=1)
    assert not torch.equal(logits(fresh, df), expected)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(logits(fresh, df), expected)


def test_deep_materialized_prompts_load_into_a_plain_deep_method(paths):
    df = toy_frame(repeats=1)
    method, _ = build(paths, "deep", {"reparameterize": True, "mlp_hidden": 8, "label_init": "random"})
    fit(method, df, epochs=2)
    expected = logits(method, df)
    method.encoder.fold()
    torch.testing.assert_close(logits(method, df), expected)
    plain, backbone = build(paths, "deep", {"label_init": "random"}, seed=3)
    plain.load_state_dict(method.state_dict())
    torch.testing.assert_close(logits(plain, df), expected)
    layers, hidden = len(backbone.layers), backbone.hidden_size
    assert parameter_counts(method)["trainable"] == layers * 8 * hidden + label_part(ToyCard(), hidden)


# -- discrete: label-word scores are the MLM logits at the mask --------------------------------

def two_language_frame() -> pd.DataFrame:
    en, de = toy_frame("en", repeats=1), toy_frame("de", repeats=1).iloc[:3]
    de = de.assign(text=["der film war gut", "der film war schlecht", "le film est bon"])
    return pd.concat([en, de], ignore_index=True)


def test_discrete_scores_equal_mask_lm_logits_of_label_words(paths):
    from transformers import XLMRobertaForMaskedLM

    card = ToyCard(verbalizers={"en": [["bad", "terrible"], ["good"]], "de": [["schlecht"], ["gut", "great"]]})
    method, backbone = build(paths, "discrete", {"trained": "none"}, card=card)
    mlm = XLMRobertaForMaskedLM.from_pretrained(paths["mlm"]).eval()
    df = two_language_frame()
    rows = method.featurize(df)
    assert len({r["length"] for r in rows}) > 1  # the batch is padded
    scores = logits(method, df)
    for row, lang, score in zip(rows, df["lang"], scores):
        with torch.no_grad():
            full = mlm(input_ids=torch.tensor([row["input_ids"]])).logits[0, row["mask_index"]]
        expected = []
        for words in card.verbalizer(lang):
            pieces = backbone.word_embedding_ids(words)
            expected.append(torch.stack([full[ids].mean() for ids in pieces]).mean())
        torch.testing.assert_close(score, torch.stack(expected), rtol=1e-5, atol=1e-5)


def test_discrete_handles_multi_token_label_words(paths):
    card = ToyCard(verbalizers={"en": [["terrible"], ["wonderful"]]})
    method, backbone = build(paths, "discrete", {}, card=card)
    assert all(len(ids) > 3 for ids in backbone.word_embedding_ids(["terrible", "wonderful"]))
    from transformers import XLMRobertaForMaskedLM

    df = toy_frame(repeats=1)
    scores = logits(method, df)
    mlm = XLMRobertaForMaskedLM.from_pretrained(paths["mlm"]).eval()
    for row, score in zip(method.featurize(df), scores):  # the mean of the pieces' MLM logits, per class
        with torch.no_grad():
            full = mlm(input_ids=torch.tensor([row["input_ids"]])).logits[0, row["mask_index"]]
        expected = [full[backbone.word_embedding_ids([w])[0]].mean() for w in ("terrible", "wonderful")]
        torch.testing.assert_close(score, torch.stack(expected), rtol=1e-5, atol=1e-5)


def test_discrete_zero_shot_has_nothing_to_train(paths):
    method, _ = build(paths, "discrete", {"trained": "none"})
    df = toy_frame(repeats=1)
    expected = logits(method, df)
    assert parameter_counts(method)["trainable"] == 0 and method.new_parameters() == []
    result = fit(method, df)
    assert result.steps == 0
    assert torch.equal(logits(method, df), expected)


@pytest.mark.parametrize("name,settings", [("discrete", {}), ("soft", {"verbalizer": "label_words"}),
                                           ("deep", {"verbalizer": "label_words"})])
def test_label_words_without_mlm_head_name_the_methods_that_work(paths, name, settings):
    with pytest.raises(ModelError, match="no masked-LM head") as error:
        build(paths, name, settings, "encoder")
    message = str(error.value)
    assert all(method in message for method in ("uniprompt", "soft", "ptuning", "deep", "finetune"))


def test_unencodable_label_word_names_word_and_language(paths):
    card = ToyCard(verbalizers={"en": [["bad"], ["good"]], "de": [["schlecht"], ["zzz"]]})
    with pytest.raises(DataError, match="'zzz' of language 'de'"):
        build(paths, "discrete", {}, card=card)


def test_unlisted_language_reads_the_source_label_words(paths):
    method, _ = build(paths, "discrete", {"trained": "none"})
    df = toy_frame("fr", repeats=1)
    torch.testing.assert_close(logits(method, df), logits(method, df.assign(lang="en")))


# -- soft prompts and templates ----------------------------------------------------------------

def test_soft_tokens_follow_the_first_special_token_with_after_cls(paths):
    method, _ = build(paths, "soft", {"num_tokens": 4, "position": "after_cls"})
    row = method.featurize(toy_frame(repeats=1))[0]
    assert row["soft_positions"] == [1, 2, 3, 4]
    assert row["input_ids"][row["mask_index"]] == method.inputs.tokenizer.mask_token_id


def test_soft_tokens_at_template_positions(paths):
    method, _ = build(paths, "ptuning", {"num_tokens": 3, "template": "{text} [soft:2] <mask> [soft:1]"})
    row = method.featurize(toy_frame(repeats=1))[0]
    assert row["soft_positions"] == [row["mask_index"] - 2, row["mask_index"] - 1, row["mask_index"] + 1]
    with pytest.raises(ConfigError, match="2 soft tokens but num_tokens is 4"):
        method_config("soft", {"num_tokens": 4, "position": "after_cls", "template": "{text} [soft:2] <mask>"})
    for name in ("deep", "discrete"):
        with pytest.raises(ConfigError, match="places no tokens in the input"):
            method_config(name, {"template": "{text} [soft:2] <mask>"})
    with pytest.raises(ConfigError, match="no {text} slot"):
        build(paths, "soft", {"template": "It was <mask>."})


def test_soft_init_from_text_and_vocabulary(paths):
    method, backbone = build(paths, "soft", {"num_tokens": 5, "init": "text", "init_text": "good story"})
    table = backbone.embeddings.word_embeddings.weight
    ids = backbone.tokenizer("good story", add_special_tokens=False)["input_ids"]
    expected = table[(ids * 5)[:5]]
    assert torch.equal(method.encoder.prompt.prompt_embeddings, expected)
    vocab, backbone = build(paths, "soft", {"num_tokens": 5, "init": "vocab"})
    prompt = vocab.encoder.prompt.prompt_embeddings
    table = backbone.embeddings.word_embeddings.weight
    assert all((table == row).all(dim=1).any() for row in prompt)
    with pytest.raises(ConfigError, match="init_text"):
        method_config("soft", {"init": "text"})


def test_pair_rows_need_a_text_pair_slot(paths):
    method, _ = build(paths, "soft", {"template": "{text} It was <mask>."})
    pairs = toy_frame(repeats=1).assign(text_pair="a great good story")
    with pytest.raises(ConfigError, match="text_pair"):
        method.featurize(pairs)


def test_dynamic_label_init_sets_class_means(paths):
    method, _ = build(paths, "soft", {}, "encoder")
    df = toy_frame(repeats=1)
    method.initialize(df)
    states, labels = method.mask_states(df)
    for label in (0, 1):
        torch.testing.assert_close(method.verbalizer.label_vectors[label], states[labels == label].mean(0))
    assert (logits(method, df).argmax(1) == labels).float().mean() > 0.5


def test_every_config_has_help_and_rejects_unknown_keys():
    for name, spec in registry().items():
        assert all(f.metadata.get("help") for f in dataclasses.fields(spec.config_class)), name
        with pytest.raises(ConfigError, match="unknown key"):
            method_config(name, {"no_such_option": 1})


# -- UniPrompt variants ------------------------------------------------------------------------

def test_uniprompt_trained_prompt_leaves_the_base_encoder_identical(paths):
    method, backbone = build(paths, "uniprompt", {"trained": "prompt"}, "mlm")
    base_weights = {n: p.detach().clone() for n, p in backbone.encoder.named_parameters()}
    tower = [p.detach().clone() for p in method.prompt_tower.parameters()]
    fit(method, toy_frame(repeats=1), epochs=2)
    assert all(torch.equal(p, base_weights[n]) for n, p in backbone.encoder.named_parameters())
    assert any(not torch.equal(p, q) for p, q in zip(method.prompt_tower.parameters(), tower))


def test_uniprompt_soft_token_template(lively):
    settings = {"template": "[soft:3] It was <mask>.", "label_init": "random"}
    method, _ = build(lively, "uniprompt", settings, "encoder")
    assert method.soft_embeddings.shape == (3, 32)
    start = method.soft_embeddings.detach().clone()
    df = toy_frame()
    before = mean_loss(method, df)
    fit(method, df)
    assert mean_loss(method, df) < 0.75 * before
    assert not torch.equal(method.soft_embeddings, start)


def test_uniprompt_label_init_words_and_random(paths):
    card = ToyCard()
    method, backbone = build(paths, "uniprompt", {"label_init": "words"}, "mlm", card=card)
    method.initialize(toy_frame(repeats=1))
    table = backbone.embeddings.word_embeddings.weight
    for label, words in enumerate(card.verbalizer("en")):
        ids = [i for pieces in backbone.word_embedding_ids(words) for i in pieces]
        torch.testing.assert_close(method.label_vectors[label], table[ids].mean(0))
    random, _ = build(paths, "uniprompt", {"label_init": "random"}, "mlm")
    start = random.label_vectors.detach().clone()
    random.initialize(toy_frame(repeats=1))
    assert torch.equal(random.label_vectors, start)


# -- with dropout: modes and random numbers --------------------------------------------------

@pytest.mark.parametrize("name, settings", [("uniprompt", {"fused_layers": 2}), ("soft", {}), ("prefix", {}),
                                            ("lora", {}), ("finetune", {})])
def test_dropout_is_on_in_training_off_in_evaluation_and_training_is_seeded(dropout_mlm_dir, name, settings):
    paths = {"mlm": dropout_mlm_dir}
    method, _ = build(paths, name, settings)
    df = toy_frame(repeats=1)
    batch = {k: v for k, v in method.collate(method.featurize(df)).items() if k != "labels"}
    method.train()
    with torch.no_grad():
        assert not torch.equal(method(**batch), method(**batch))  # dropout draws differ
    method.eval()
    with torch.no_grad():
        torch.testing.assert_close(method(**batch), method(**batch), rtol=0, atol=0)
    trained = []
    for _ in range(2):  # the same seed gives the same weights, dropout masks included
        method, _ = build(paths, name, settings)
        fit(method, toy_frame(), epochs=2)
        trained.append({n: p.detach().clone() for n, p in method.named_parameters() if p.requires_grad})
    assert all(torch.equal(trained[0][n], trained[1][n]) for n in trained[0])


@pytest.mark.parametrize("name", ["soft", "uniprompt", "finetune"])
def test_featurize_of_interleaved_languages_keeps_row_order(paths, name):
    method, _ = build(paths, name)
    frame = pd.concat([toy_frame("en"), toy_frame("de")]).sample(frac=1, random_state=3).reset_index(drop=True)
    together = method.featurize(frame)
    one_by_one = [method.featurize(frame.iloc[[i]])[0] for i in range(len(frame))]
    assert together == one_by_one
    if name == "soft":  # German rows read German label words: the languages really were interleaved
        assert [r["language"] for r in together] == [0 if lang == "en" else 1 for lang in frame["lang"]]


SHARING_CASES = TRAINING_CASES + [("uniprompt", {"label_init": "random"}, "mlm"), ("probe", {}, "encoder"),
                                  ("finetune", {"freeze_word_embeddings": False}, "encoder"),
                                  ("discrete", {"trained": "none"}, "mlm")]


@pytest.mark.parametrize("name,settings,model", SHARING_CASES)
def test_methods_never_change_the_backbone_they_are_given(lively, name, settings, model):
    """A method trains its own copies of the weights it trains and shares every other one: after
    building and training it, the backbone's weights, their requires_grad and its modules are as loaded."""
    torch.manual_seed(0)
    backbone = load_backbone(str(lively[model]), device="cpu")
    weights = {n: (p.detach().clone(), p.requires_grad) for n, p in backbone.named_weights()}
    modules = [n for n, _ in backbone.encoder.named_modules()]
    method = build_method(name, settings, backbone, ToyCard())
    method.initialize(toy_frame())
    fit(method, toy_frame(), epochs=2)
    assert [n for n, _ in backbone.encoder.named_modules()] == modules  # no adapter was injected into it
    for n, p in backbone.named_weights():
        assert torch.equal(p, weights[n][0]) and p.requires_grad is weights[n][1] is False, n
    shared = {id(p) for _, p in backbone.named_weights()}
    trained = [n for n, p in method.named_parameters() if p.requires_grad and id(p) in shared]
    assert not trained, trained  # nothing the method trains is a backbone tensor
    words = backbone.embeddings.word_embeddings.weight
    method_words = [p for n, p in method.named_parameters(remove_duplicate=False) if n.endswith(WORD_EMBEDDINGS)]
    if not settings.get("freeze_word_embeddings", True) is False:  # frozen vocabulary: the same tensor, no copy
        assert method_words and all(p is words for p in method_words), name
