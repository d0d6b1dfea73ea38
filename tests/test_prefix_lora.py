"""Prefix tuning / P-tuning v2 and LoRA on tiny models: prefixes reach attention only through
keys and values, parameter counts equal their formulas, reparameterised and folded prefixes
give identical logits, LoRA trains only adapters and head; soft prompt placement; the
standard fine-tuning head; UniPrompt's paper recipe."""

from __future__ import annotations

import pytest
import torch
from conftest import ToyCard, toy_frame

from xprompt.encoder.backbone import load_backbone
from xprompt.errors import ConfigError, ModelError
from xprompt.methods import build_method, parameter_counts
from xprompt.methods.prefix.model import run_with_prefixes

pytestmark = pytest.mark.usefixtures("one_thread")


def build(path, name, settings=None, seed=0):
    torch.manual_seed(seed)
    backbone = load_backbone(str(path), device="cpu")
    return build_method(name, settings or {}, backbone, ToyCard()), backbone


def logits(method, df):
    method.eval()
    with torch.no_grad():
        return method(**method.collate(method.featurize(df)))


def _batch(backbone):
    encoded = backbone.tokenizer(["a good story", "the film was bad and terrible"], padding=True,
                                 return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


@pytest.mark.parametrize("model", ["mlm", "encoder"])
def test_masked_out_prefixes_leave_the_encoder_output_unchanged(lively, model):
    backbone = load_backbone(str(lively[model]), device="cpu")
    ids, mask = _batch(backbone)
    layers, hidden = len(backbone.layers), backbone.hidden_size
    with torch.no_grad():
        embedded = backbone.embed(mask, input_ids=ids)
        plain = backbone.run_layers(backbone.layers, embedded, mask)
        prefixes = torch.randn(layers, 2, 3, hidden)
        hidden_out = run_with_prefixes(backbone, embedded, mask, prefixes, prefix_mask=torch.zeros(2, 3).long())
        attended = run_with_prefixes(backbone, embedded, mask, prefixes)
    real = mask.bool()
    torch.testing.assert_close(hidden_out[real], plain[real])
    assert (attended[real] - plain[real]).abs().max() > 1e-2  # attended prefixes do change the states


def test_prefixes_add_no_positions_and_are_attended_to(lively):
    """The output has the input's positions only (unlike `deep`); even all-zero prefixes are
    attended to (score 0 next to the real keys), so they are not a no-op."""
    backbone = load_backbone(str(lively["encoder"]), device="cpu")
    ids, mask = _batch(backbone)
    prefixes = torch.zeros(len(backbone.layers), 2, 4, backbone.hidden_size)
    with torch.no_grad():
        embedded = backbone.embed(mask, input_ids=ids)
        plain = backbone.run_layers(backbone.layers, embedded, mask)
        out = run_with_prefixes(backbone, embedded, mask, prefixes)
    assert out.shape == plain.shape  # no extra positions
    # zero keys get weight exp(0) next to the real keys' scores: values of zero still dilute attention
    assert not torch.allclose(out[mask.bool()], plain[mask.bool()])


def test_prefix_parameter_count_follows_the_formula(paths_pair):
    encoder_path = paths_pair["encoder"]
    method, backbone = build(encoder_path, "prefix", {"num_tokens": 5})
    layers, hidden, labels = len(backbone.layers), backbone.hidden_size, len(ToyCard().labels)
    head = hidden * labels + labels
    frozen = parameter_counts(backbone.encoder)["total"]
    trainable = layers * 5 * 2 * hidden + head
    assert parameter_counts(method) == {"trainable": trainable, "total": frozen + trainable}


def test_reparameterised_and_folded_prefixes_give_identical_logits(lively):
    method, _ = build(lively["encoder"], "prefix", {"num_tokens": 3, "reparameterize": True, "mlp_hidden": 8})
    df = toy_frame()
    before = logits(method, df)
    assert method.export_form(["en"]) == {"reparameterize": False}
    assert method.encoder.prefix_mlp is None and method.encoder.prefixes.shape == (4, 2, 3, 32)
    torch.testing.assert_close(logits(method, df), before)
    plain, _ = build(lively["encoder"], "prefix", {"num_tokens": 3}, seed=5)
    plain.load_state_dict({n: p for n, p in method.state_dict().items() if "encoder.layers" not in n}, strict=False)
    torch.testing.assert_close(logits(plain, df), before)


def test_prefix_refuses_encoders_whose_attention_it_cannot_reach(tmp_path):
    from conftest import _tiny_tokenizer
    from transformers import DistilBertConfig, DistilBertModel

    tokenizer = _tiny_tokenizer()
    DistilBertModel(DistilBertConfig(vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                     pad_token_id=1)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelError, match="is a 'distilbert' model, which xprompt cannot run"):
        load_backbone(str(tmp_path), device="cpu")  # refused for every method, before any work


def test_lora_trains_only_adapters_and_head_and_counts_them(lively):
    method, backbone = build(lively["encoder"], "lora", {"rank": 4})
    trainable = {n for n, p in method.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("verbalizer.") for n in trainable)
    layers, hidden = len(backbone.layers), backbone.hidden_size
    adapters = layers * 2 * (hidden * 4 + 4 * hidden)  # query and value: A [r, h] and B [h, r]
    assert parameter_counts(method)["trainable"] == adapters + hidden * 2 + 2
    with pytest.raises(ConfigError, match="lora.target_modules names 'q_proj', which .* does not have; its linear "
                                          "layers: dense, key, query, value"):
        build(lively["encoder"], "lora", {"target_modules": ["q_proj"]})


def test_lora_with_zero_b_starts_as_the_plain_encoder(lively):
    """PEFT initialises B to zero, so before training the adapted encoder equals the base one."""
    method, backbone = build(lively["encoder"], "lora", {"readout": "mask", "label_init": "random"})
    df = toy_frame()
    states, _ = method.mask_states(df)
    rows = method.featurize(df)
    batch = method.collate(rows)
    with torch.no_grad():
        hidden = backbone.run_layers(backbone.layers, backbone.embed(batch["attention_mask"],
                                     input_ids=batch["input_ids"]), batch["attention_mask"])
    expected = hidden[torch.arange(len(rows)), batch["mask_index"]]
    torch.testing.assert_close(states, expected)


def test_soft_prepend_puts_the_tokens_before_the_first_special_token(lively):
    method, backbone = build(lively["encoder"], "soft", {"num_tokens": 3})
    after, _ = build(lively["encoder"], "soft", {"num_tokens": 3, "position": "after_cls"})
    row, other = method.featurize(toy_frame()[:1])[0], after.featurize(toy_frame()[:1])[0]
    cls = backbone.tokenizer.cls_token_id
    assert row["soft_positions"] == [0, 1, 2] and row["input_ids"][3] == cls
    assert other["soft_positions"] == [1, 2, 3] and other["input_ids"][0] == cls
    assert row["mask_index"] == other["mask_index"] and len(row["input_ids"]) == len(other["input_ids"])
    with pytest.raises(ConfigError, match="position: prepend puts them before the input"):
        build(lively["encoder"], "soft", {"num_tokens": 2, "template": "[soft:2] {text} <mask>"})


def test_finetune_standard_head_is_dense_tanh_linear(paths_pair):
    method, backbone = build(paths_pair["encoder"], "finetune", {"head": "standard"})
    kinds = [type(m).__name__ for m in method.head]
    assert kinds == ["Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    hidden = backbone.hidden_size
    assert parameter_counts(method.head)["total"] == hidden * hidden + hidden + hidden * 2 + 2


def test_uniprompt_paper_recipe_inits_label_vectors_with_raw_mask_means(paths_pair):
    method, backbone = build(paths_pair["mlm"], "uniprompt", {"recipe": "paper", "fused_layers": 2})
    assert method.config.max_length == 512 and method.config.freeze_word_embeddings is False
    assert method.embeddings.word_embeddings.weight.requires_grad  # its own copy trains
    assert not backbone.embeddings.word_embeddings.weight.requires_grad  # the shared one does not
    df = toy_frame()
    method.initialize(df)
    method.eval()
    rows = method.featurize(df)
    batch = method.collate(rows)
    with torch.no_grad():
        raw = method.mask_features(batch["input_ids"], batch["attention_mask"], batch["template"], transform=False)
    labels = torch.tensor(df["label"].to_numpy())
    for label in (0, 1):
        torch.testing.assert_close(method.label_vectors[label], raw[labels == label].mean(0))
    assert torch.count_nonzero(method.label_bias) == 0
    default, _ = build(paths_pair["mlm"], "uniprompt", {"fused_layers": 2})
    default.initialize(df)
    assert torch.all(default.label_bias < 0)  # -|mean|^2 / 2 of the transformed means
    with pytest.raises(ConfigError, match="recipe: paper reads inputs up to 512 tokens"):
        build(paths_pair["mlm"], "uniprompt", {"recipe": "paper", "max_length": 128})


@pytest.fixture
def paths_pair(tiny_mlm_dir, tiny_encoder_dir):
    return {"mlm": tiny_mlm_dir, "encoder": tiny_encoder_dir}
