"""UniPrompt on tiny models: tower split, precomputed prompt, tower isolation, class-mean
init, no vocabulary-sized tensors, dynamic padding, per-language and soft templates."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from conftest import ToyCard, toy_frame
from xprompt.encoder.backbone import load_backbone
from xprompt.errors import ConfigError
from xprompt.methods import build_method
from xprompt.methods.uniprompt.config import UniPromptConfig
from xprompt.methods.uniprompt.model import UniPrompt


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(params=["tiny_mlm_dir", "tiny_encoder_dir"])
def model_dir(request):
    return request.getfixturevalue(request.param)


def build(model_dir, card=None, **settings) -> UniPrompt:
    torch.manual_seed(0)
    backbone = load_backbone(str(model_dir), device="cpu")
    return UniPrompt(UniPromptConfig(**settings), backbone, card or ToyCard())


def batch_of(method, df):
    return method.collate(method.featurize(df))


def mixed_frame():
    """English rows of different lengths."""
    df = toy_frame(repeats=1)
    df.loc[0, "text"] = "good"
    return df


# ------------------------------------------------------------------ towers

@pytest.mark.parametrize("fused", [1, 2, 3])
def test_towers_split_at_configured_layer(tiny_mlm_dir, fused):
    method = build(tiny_mlm_dir, fused_layers=fused)
    layers = method.backbone.layers
    split = len(layers) - fused
    assert len(method.context_tower) == split and len(method.prompt_tower) == split
    assert len(method.fused_layers) == fused
    assert all(a is b for a, b in zip(method.context_tower, layers[:split]))  # the backbone's own layers
    assert all(a is b for a, b in zip(method.fused_layers, layers[split:]))
    for prompt_layer, context_layer in zip(method.prompt_tower, method.context_tower):
        assert prompt_layer is not context_layer
        prompt_params, context_params = dict(prompt_layer.named_parameters()), dict(context_layer.named_parameters())
        assert prompt_params.keys() == context_params.keys()
        for name, parameter in prompt_params.items():
            assert parameter is not context_params[name]
            assert torch.equal(parameter, context_params[name])  # pretrained init: equal copies


def test_random_prompt_tower_init_differs(tiny_mlm_dir):
    method = build(tiny_mlm_dir, prompt_init="random")
    prompt_weight = method.prompt_tower[0].attention.self.query.weight
    context_weight = method.context_tower[0].attention.self.query.weight
    assert not torch.equal(prompt_weight, context_weight)


@pytest.mark.parametrize("fused", [4, 5])
def test_fused_layers_must_leave_a_tower(tiny_mlm_dir, fused):
    with pytest.raises(ConfigError, match=r"fused_layers is %d .* 4 layers; accepted: 1\.\.3" % fused):
        build(tiny_mlm_dir, fused_layers=fused)


def test_fused_layers_at_least_one():
    with pytest.raises(ConfigError, match="fused_layers"):
        UniPromptConfig(fused_layers=0)


def test_bad_template_in_settings_is_a_config_error():
    with pytest.raises(ConfigError, match="uniprompt.template"):
        UniPromptConfig(template="{text} no mask here")


def test_built_through_the_registry(tiny_mlm_dir):
    backbone = load_backbone(str(tiny_mlm_dir), device="cpu")
    method = build_method("uniprompt", {"fused_layers": 2}, backbone, ToyCard())
    assert isinstance(method, UniPrompt) and len(method.fused_layers) == 2
    with pytest.raises(ConfigError, match="unknown key 'method.settings.layers'"):
        build_method("uniprompt", {"layers": 2}, backbone, ToyCard())


# ------------------------------------------------------- prompt precompute

def test_precomputed_prompt_equals_live_forward(model_dir):
    method = build(model_dir)
    method.initialize(toy_frame(repeats=1))
    method.eval()
    batch = batch_of(method, mixed_frame())
    batch.pop("labels")
    method.precomputed.clear()
    with torch.enable_grad():
        live = method(**batch).detach()
        live_states = method.prompt_states(batch["template"]).detach()
    assert not method.precomputed  # the live pass with gradients did not cache anything
    method.precompute(["en"], drop_prompt_tower=True)
    assert method.prompt_tower is None
    assert not any(name.startswith("prompt_tower.") for name in method.state_dict())
    assert_close(method.precomputed[batch["template"]], live_states, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        assert_close(method(**batch), live, rtol=1e-5, atol=1e-5)


def test_dropped_tower_without_precompute_says_so(tiny_mlm_dir):
    method = build(tiny_mlm_dir, language_templates=True)
    method.precompute(["en"], drop_prompt_tower=True)
    with pytest.raises(RuntimeError, match="Es war"):
        method.prompt_states(method.template_text("de"))


def test_training_mode_clears_the_cache(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    method.eval()
    method.precompute(["en"])
    assert method.precomputed and not method.training
    method.train()
    assert not method.precomputed  # the prompt tower is about to change


def test_drop_prompt_tower_from_training_mode_keeps_the_prompt(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    assert method.training  # as train() leaves a method trained without a dev set
    batch = batch_of(method, mixed_frame())
    batch.pop("labels")
    with torch.no_grad():
        live = method(**batch)
    method.precompute(["en"], drop_prompt_tower=True)
    assert method.training and method.prompt_tower is None
    assert set(method.precomputed) == {"{text} It was <mask>."}
    method.eval()
    with torch.no_grad():
        assert_close(method(**batch), live, rtol=1e-5, atol=1e-5)


def test_inference_uses_the_cached_prompt(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    batch = batch_of(method, mixed_frame())
    batch.pop("labels")
    calls = []
    method.prompt_tower[0].register_forward_hook(lambda *args: calls.append(1))
    method.eval()
    with torch.no_grad():
        method(**batch)
        method(**batch)
    assert len(calls) == 1


def test_loaded_weights_invalidate_the_cache(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    state = {k: v.clone() for k, v in method.state_dict().items()}
    batch = batch_of(method, mixed_frame())
    batch.pop("labels")
    method.eval()
    with torch.no_grad():
        before = method(**batch)
        for parameter in method.prompt_tower.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
        method.precomputed.clear()
        changed = method(**batch)  # computed with the new weights, then cached
        method.load_state_dict(state)  # as train() restores its best epoch
        assert_close(method(**batch), before)
    assert not torch.allclose(changed, before)


# ----------------------------------------------------------- tower isolation

def test_context_tower_never_sees_the_prompt(tiny_mlm_dir):
    first = build(tiny_mlm_dir, template="{text} It was <mask>.")
    second = build(tiny_mlm_dir, template="<mask> : {text} , a review of a film")
    df = mixed_frame()
    outputs, contexts = [], []
    for method in (first, second):
        method.eval()
        captured = []
        method.context_tower[-1].register_forward_hook(lambda module, args, out: captured.append(out))
        batch = batch_of(method, df)
        batch.pop("labels")
        with torch.no_grad():
            outputs.append(method(**batch))
        contexts.append(captured[0][0] if isinstance(captured[0], tuple) else captured[0])
    assert_close(contexts[0], contexts[1], rtol=0, atol=0)  # same input, same context states
    assert not torch.allclose(outputs[0], outputs[1])  # the template still shapes the scores


def test_prompt_states_do_not_depend_on_the_input(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    method.train()  # no caching: every call runs the prompt tower
    template = method.template_text("en")
    first = batch_of(method, toy_frame(repeats=1))
    second = batch_of(method, toy_frame(repeats=1).iloc[::-1].reset_index(drop=True))
    states = []
    with torch.no_grad():
        for batch in (first, second):
            captured = []
            handle = method.prompt_tower[-1].register_forward_hook(lambda m, a, out: captured.append(out))
            logits = method(**{k: v for k, v in batch.items() if k != "labels"})
            handle.remove()
            states.append(captured[0][0] if isinstance(captured[0], tuple) else captured[0])
    assert states[0].shape[0] == 1  # one prompt, not one per row
    assert_close(states[0], states[1], rtol=0, atol=0)
    assert_close(states[0], method.prompt_states(template).detach(), rtol=0, atol=0)
    assert logits.shape == (len(first["labels"]), 2)


def test_changing_the_input_changes_the_scores(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    method.eval()
    df = toy_frame(repeats=1)
    batch = batch_of(method, df)
    batch.pop("labels")
    with torch.no_grad():
        logits = method(**batch)
    assert not torch.allclose(logits[0], logits[3])


# --------------------------------------------------------------- label init

def test_dynamic_init_is_class_mean_of_mask_features(model_dir):
    method = build(model_dir)
    df = mixed_frame()
    method.initialize(df)
    assert method.training  # initialize leaves the mode as it found it
    method.eval()
    rows = method.featurize(df)
    features = []
    with torch.no_grad():
        for row in rows:  # one at a time: no padding at all
            batch = method.collate([row])
            features.append(method.mask_features(batch["input_ids"], batch["attention_mask"], batch["template"])[0])
    features = torch.stack(features)
    labels = torch.tensor(df["label"].to_numpy())
    means = torch.stack([features[labels == c].mean(dim=0) for c in range(method.num_labels)])
    assert_close(method.label_vectors.detach(), means, rtol=1e-5, atol=1e-5)
    assert_close(method.label_bias.detach(), -0.5 * means.pow(2).sum(dim=1), rtol=1e-5, atol=1e-4)
    # the untrained scorer is exactly nearest class mean
    with torch.no_grad():
        batch = method.collate(rows)
        logits = method(**{k: v for k, v in batch.items() if k != "labels"})
    nearest = torch.cdist(features, means).argmin(dim=1)
    assert torch.equal(logits.argmax(dim=1), nearest)


def test_word_init_is_mean_label_word_embedding(tiny_mlm_dir):
    method = build(tiny_mlm_dir, label_init="words")
    method.initialize(toy_frame(repeats=1))
    table = method.embeddings.word_embeddings.weight
    for label, words in enumerate(ToyCard().verbalizer("en")):
        pieces = [i for piece in method.backbone.word_embedding_ids(words) for i in piece]
        assert_close(method.label_vectors[label].detach(), table[pieces].mean(dim=0))


def test_random_init_leaves_vectors_alone(tiny_mlm_dir):
    method = build(tiny_mlm_dir, label_init="random")
    before = method.label_vectors.detach().clone()
    method.initialize(toy_frame(repeats=1))
    assert torch.equal(method.label_vectors.detach(), before)


# ------------------------------------------------------ memory and padding

def test_no_vocabulary_sized_tensor_is_built(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    vocabulary = method.embeddings.word_embeddings.weight.shape[0]
    assert vocabulary not in (method.backbone.hidden_size, method.backbone.config.intermediate_size)
    shapes = []

    def record(module, args, output):
        for item in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(item, torch.Tensor):
                shapes.append(tuple(item.shape))

    for module in method.modules():
        module.register_forward_hook(record)
    method.initialize(toy_frame(repeats=1))
    batch = batch_of(method, mixed_frame())
    logits = method(**batch)
    torch.nn.functional.cross_entropy(logits, batch["labels"]).backward()
    assert shapes, "the hooks saw nothing"
    assert not [s for s in shapes if len(s) > 2 and s[-1] == vocabulary]
    assert not [s for s in shapes if len(s) == 2 and s[-1] == vocabulary]


def test_batches_are_padded_to_their_longest_row(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    rows = method.featurize(mixed_frame())
    lengths = [row["length"] for row in rows]
    assert min(lengths) < max(lengths)
    assert all(len(row["input_ids"]) == row["length"] for row in rows)
    short = sorted(rows, key=lambda row: row["length"])[:2]
    for group in (rows, short):
        batch = method.collate(group)
        assert batch["input_ids"].shape[1] == max(row["length"] for row in group)
        assert batch["attention_mask"].sum(dim=1).tolist() == [row["length"] for row in group]
    assert method.collate(short)["input_ids"].shape[1] < method.config.max_length


def test_long_inputs_are_truncated_to_max_length(tiny_mlm_dir):
    method = build(tiny_mlm_dir, max_length=12)
    df = toy_frame(repeats=1)
    df.loc[0, "text"] = " ".join(["good film"] * 40)
    rows = method.featurize(df)
    assert max(row["length"] for row in rows) == 12


# ---------------------------------------------------------------- templates

def test_one_unified_template_by_default(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    rows = method.featurize(toy_frame(lang="de", repeats=1))
    assert {row["template"] for row in rows} == {"{text} It was <mask>."}


def test_language_templates(tiny_mlm_dir):
    method = build(tiny_mlm_dir, language_templates=True)
    method.eval()
    english, german = toy_frame(lang="en", repeats=1), toy_frame(lang="de", repeats=1)
    assert {row["template"] for row in method.featurize(german)} == {"{text} Es war <mask>."}
    assert {row["template"] for row in method.featurize(english)} == {"{text} It was <mask>."}
    method.precompute(["en", "de"])
    assert set(method.precomputed) == {"{text} It was <mask>.", "{text} Es war <mask>."}
    with torch.no_grad():
        scores = [method(**{k: v for k, v in batch_of(method, df).items() if k != "labels"})
                  for df in (english, german)]
    assert not torch.allclose(scores[0], scores[1])  # same texts, different prompts


def test_mixed_language_batch_is_refused(tiny_mlm_dir):
    method = build(tiny_mlm_dir, language_templates=True)
    rows = method.featurize(toy_frame(lang="en", repeats=1)) + method.featurize(toy_frame(lang="de", repeats=1))
    with pytest.raises(ValueError, match="one template"):
        method.collate(rows)


def test_soft_template_trains_soft_embeddings(model_dir):
    method = build(model_dir, template="[soft:3] <mask>")
    assert method.soft_embeddings.shape == (3, method.backbone.hidden_size)
    assert method.mask_index("[soft:3] <mask>") == 4
    method.initialize(toy_frame(repeats=1))
    method.train()
    batch = batch_of(method, mixed_frame())
    logits = method(**batch)
    assert logits.shape == (len(batch["labels"]), 2)
    torch.nn.functional.cross_entropy(logits, batch["labels"]).backward()
    assert method.soft_embeddings.grad is not None
    assert method.soft_embeddings.grad.abs().sum(dim=1).min() > 0  # every soft token gets a gradient
    assert method.label_vectors.grad is not None


def test_soft_embeddings_replace_their_positions(tiny_mlm_dir):
    method = build(tiny_mlm_dir, template="{text} [soft:2] <mask>")
    method.train()
    template = method.template_text("en")
    with torch.no_grad():
        before = method.prompt_states(template).clone()
        method.soft_embeddings.add_(torch.randn_like(method.soft_embeddings))  # not a constant: LayerNorm
        after = method.prompt_states(template)
    assert not torch.allclose(before, after)


# ---------------------------------------------------------------- training

def test_trainable_sets(tiny_mlm_dir):
    full = build(tiny_mlm_dir)
    assert not full.embeddings.word_embeddings.weight.requires_grad  # frozen by default
    assert full.context_tower[0].output.dense.weight.requires_grad
    unfrozen = build(tiny_mlm_dir, freeze_word_embeddings=False)
    assert unfrozen.embeddings.word_embeddings.weight.requires_grad
    prompt_only = build(tiny_mlm_dir, trained="prompt")
    trainable = {name for name, p in prompt_only.named_parameters() if p.requires_grad}
    assert {"label_vectors", "label_bias", "soft_embeddings"} <= trainable
    assert all(name.startswith("prompt_tower.") for name in trainable - {"label_vectors", "label_bias",
                                                                         "soft_embeddings"})
    assert any(name.startswith("prompt_tower.") for name in trainable)
    assert not any(p.requires_grad for p in prompt_only.backbone.encoder.parameters())
