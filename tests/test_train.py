"""The training loop and evaluation on the toy task with tiny models: it learns, it is
deterministic, frozen weights stay frozen, the schedule, checkpoint/resume, model
selection; metrics and prediction order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.testing import assert_close
from transformers import get_linear_schedule_with_warmup

import xprompt.training.loop as training
from conftest import ToyCard, toy_frame
from xprompt.encoder.backbone import load_backbone
from xprompt.pipeline.config import TrainConfig
from xprompt.training.evaluate import evaluate, predict_proba, scores
from xprompt.methods.uniprompt.config import UniPromptConfig
from xprompt.methods.uniprompt.model import UniPrompt
from xprompt.training.loop import make_optimizer, train, trainable_state, warmup_linear


pytestmark = pytest.mark.usefixtures("one_thread")


def build(model_dir, **settings) -> UniPrompt:
    torch.manual_seed(0)
    backbone = load_backbone(str(model_dir), device="cpu")
    return UniPrompt(UniPromptConfig(**settings), backbone, ToyCard())


def toy_loss(method, df) -> float:
    method.eval()
    with torch.no_grad():
        batch = method.collate(method.featurize(df))
        return torch.nn.functional.cross_entropy(method(**batch), batch["labels"]).item()


def short_config(**changes) -> TrainConfig:
    """A few mini-batch steps: enough to move every trainable weight."""
    settings = dict(epochs=3, batch_size=4, lr=1e-3, prompt_lr=3e-3)
    settings.update(changes)
    return TrainConfig(**settings)


def assert_states_equal(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


# ------------------------------------------------------------------ learning

def test_loss_decreases_on_the_toy_task(tiny_mlm_dir):
    # The tiny random model's mask features barely depend on the input (as its [CLS] output
    # does), so class-mean init starts at chance-level confidence; full-batch steps learn.
    train_df = toy_frame(repeats=2)
    method = build(tiny_mlm_dir)
    method.initialize(train_df)
    before = toy_loss(method, train_df)
    config = TrainConfig(epochs=40, batch_size=len(train_df), lr=1e-3, prompt_lr=3e-3)
    # no dev set: its accuracy is 1.0 from the start, so selection would keep epoch 1
    result = train(method, train_df, None, config, seed=13, progress=False)
    after = toy_loss(method, train_df)
    assert before == pytest.approx(np.log(2), abs=0.01)
    assert after < 0.5 * before, (before, after)
    assert result.steps == 40 and result.best_epoch == -1
    metrics, _ = evaluate(method, toy_frame(lang="de", split="test", repeats=1))
    assert metrics["accuracy"] == 1.0


# ------------------------------------------------------------- determinism

def test_same_seed_same_weights_other_seed_other_weights(tiny_mlm_dir):
    train_df = toy_frame(repeats=2)
    states = []
    for seed in (13, 13, 21):
        method = build(tiny_mlm_dir)
        train(method, train_df, None, short_config(epochs=2), seed=seed, progress=False)
        states.append(trainable_state(method))
    assert_states_equal(states[0], states[1])
    assert any(not torch.equal(states[0][name], states[2][name]) for name in states[0])


# ------------------------------------------------------------- frozen weights

def test_frozen_word_embeddings_stay_put_and_skip_the_optimizer(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    words = method.embeddings.word_embeddings.weight
    before = {name: p.detach().clone() for name, p in method.named_parameters()}
    optimized = {id(p) for group in make_optimizer(method, short_config()).param_groups for p in group["params"]}
    assert id(words) not in optimized
    assert optimized == {id(p) for p in method.parameters() if p.requires_grad}
    train(method, toy_frame(repeats=2), None, short_config(), seed=13, progress=False)
    assert torch.equal(words, before["embeddings.word_embeddings.weight"])
    assert not torch.equal(method.context_tower[0].output.dense.weight,
                           before["context_tower.0.output.dense.weight"])  # the rest did train
    # the MLM decoder shares the frozen matrix
    assert torch.equal(method.backbone.mask_head.decoder_weight, before["embeddings.word_embeddings.weight"])


def test_prompt_only_training_leaves_the_base_model_unchanged(tiny_encoder_dir):
    method = build(tiny_encoder_dir, trained="prompt")
    encoder_before = {name: p.detach().clone() for name, p in method.backbone.encoder.named_parameters()}
    tower_before = method.prompt_tower[0].output.dense.weight.detach().clone()
    train(method, toy_frame(repeats=2), None, short_config(), seed=13, progress=False)
    for name, parameter in method.backbone.encoder.named_parameters():
        assert torch.equal(parameter, encoder_before[name]), name
    assert not torch.equal(method.prompt_tower[0].output.dense.weight, tower_before)


def test_new_parameters_get_the_prompt_learning_rate(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    optimizer = make_optimizer(method, short_config(lr=1e-4, prompt_lr=1e-2, weight_decay=0.1))
    new = {id(p) for p in method.new_parameters()}
    pretrained_group, new_group = optimizer.param_groups
    assert {id(p) for p in new_group["params"]} == new
    assert new_group["lr"] == 1e-2 and new_group["weight_decay"] == 0.0
    assert pretrained_group["lr"] == 1e-4 and pretrained_group["weight_decay"] == 0.1


# ------------------------------------------------------------------ schedule

def test_warmup_then_linear_decay_values():
    schedule = warmup_linear(10, 0.2)
    assert [schedule(step) for step in range(11)] == pytest.approx(
        [0.0, 0.5, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0.0])


@pytest.mark.parametrize("total, ratio", [(10, 0.2), (10, 0.1), (25, 0.1), (7, 0.0), (6, 0.1)])
def test_schedule_matches_transformers(total, ratio):
    parameter = torch.nn.Parameter(torch.zeros(1))
    ours = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([parameter], lr=0.5), warmup_linear(total, ratio))
    optimizer = torch.optim.SGD([parameter], lr=0.5)
    # warmup steps as Hugging Face's Trainer counts them from a ratio
    theirs = get_linear_schedule_with_warmup(optimizer, int(np.ceil(total * ratio)), total)
    for _ in range(total):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr())
        ours.optimizer.step(), ours.step(), optimizer.step(), theirs.step()


def test_no_warmup_starts_at_full_rate():
    assert warmup_linear(10, 0.0)(0) == 1.0


def test_learning_rates_seen_by_the_optimizer(tiny_mlm_dir, monkeypatch):
    method = build(tiny_mlm_dir)
    seen = []
    original_step = torch.optim.AdamW.step

    def record(self, *args, **kwargs):
        seen.append([group["lr"] for group in self.param_groups])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", record)
    config = short_config(epochs=2, lr=1e-3, prompt_lr=1e-2, warmup_ratio=0.2)  # 3 + 3 steps, 2 warm
    train(method, toy_frame(repeats=2), None, config, seed=13, progress=False)
    factors = [0.0, 0.5, 1.0, 0.75, 0.5, 0.25]
    assert [lrs[0] for lrs in seen] == pytest.approx([1e-3 * f for f in factors])
    assert [lrs[1] for lrs in seen] == pytest.approx([1e-2 * f for f in factors])


# ---------------------------------------------------------- checkpoint/resume

class Killed(Exception):
    pass


@pytest.mark.parametrize("kill_after, average", [(4, "none"), (3, "none"), (4, "checkpoints")])  # mid-epoch; after
def test_resume_after_kill_equals_uninterrupted_run(tiny_mlm_dir, tmp_path, monkeypatch, kill_after, average):
    train_df, dev_df = toy_frame(repeats=2), toy_frame(split="dev", repeats=1)  # the last step of an epoch
    config = short_config(checkpoint_every=1, average=average)  # 3 epochs of 3 steps

    reference = build(tiny_mlm_dir)
    expected = train(reference, train_df, dev_df, config, seed=13, progress=False)

    checkpoint = tmp_path / "train.ckpt"
    original_save, saves = training._save, []

    def save_then_die(*args, **kwargs):
        original_save(*args, **kwargs)
        saves.append(1)
        if len(saves) == kill_after:
            raise Killed

    monkeypatch.setattr(training, "_save", save_then_die)
    with pytest.raises(Killed):
        train(build(tiny_mlm_dir), train_df, dev_df, config, seed=13, checkpoint_path=checkpoint, progress=False)
    monkeypatch.setattr(training, "_save", original_save)
    assert checkpoint.exists()
    assert not list(tmp_path.glob("*.tmp-*"))  # written atomically

    resumed = build(tiny_mlm_dir)
    result = train(resumed, train_df, dev_df, config, seed=13, checkpoint_path=checkpoint, progress=False)
    assert_states_equal(trainable_state(resumed), trainable_state(reference))
    assert result.steps == expected.steps == 9
    assert result.history == expected.history
    assert (result.best_epoch, result.best_dev_accuracy) == (expected.best_epoch, expected.best_dev_accuracy)
    # what the killed process spent up to its last checkpoint is kept, for the ledger to add
    assert not expected.earlier and result.earlier["seconds"] > 0 and result.earlier["cpu_seconds"] > 0
    assert result.seconds >= result.earlier["seconds"] and result.cpu_seconds >= result.earlier["cpu_seconds"]


def test_unreadable_checkpoint_restarts(tiny_mlm_dir, tmp_path):
    checkpoint = tmp_path / "train.ckpt"
    checkpoint.write_bytes(b"half a checkpoint")
    train_df = toy_frame(repeats=1)
    fresh = build(tiny_mlm_dir)
    result = train(fresh, train_df, None, short_config(epochs=1, checkpoint_every=1), seed=13,
                   checkpoint_path=checkpoint, progress=False)
    assert result.steps == 2
    reference = build(tiny_mlm_dir)
    train(reference, train_df, None, short_config(epochs=1), seed=13, progress=False)
    assert_states_equal(trainable_state(fresh), trainable_state(reference))


class _Planted:
    """Unpickling this would run code: a shared cache must never do that."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_checkpoint_that_would_run_code_is_refused_and_training_restarts(tiny_mlm_dir, tmp_path):
    checkpoint, marker = tmp_path / "train.ckpt", tmp_path / "unpickled"
    torch.save({"model": {}, "payload": _Planted(marker)}, checkpoint)
    train_df = toy_frame(repeats=1)
    fresh = build(tiny_mlm_dir)
    result = train(fresh, train_df, None, short_config(epochs=1), seed=13, checkpoint_path=checkpoint, progress=False)
    assert not marker.exists() and result.steps == 2


# ------------------------------------------------------------ model selection

@pytest.mark.parametrize("script, best", [([0.5, 1.0, 0.75], 2), ([0.5, 0.5, 0.25], 1)])
def test_dev_selection_restores_the_best_epoch(tiny_mlm_dir, monkeypatch, script, best):
    train_df, dev_df = toy_frame(repeats=2), toy_frame(split="dev", repeats=1)
    method = build(tiny_mlm_dir)
    states, probabilities = [], []
    real_accuracy = training._accuracy

    def scripted_accuracy(method, df, rows, dtype=None):
        real_accuracy(method, df, rows)  # runs inference as usual (and fills the prompt cache)
        states.append(trainable_state(method))
        probabilities.append(predict_proba(method, df))
        return script[len(states) - 1]

    monkeypatch.setattr(training, "_accuracy", scripted_accuracy)
    result = train(method, train_df, dev_df, short_config(), seed=13, progress=False)
    assert [entry["dev_accuracy"] for entry in result.history] == script
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3]
    assert result.best_epoch == best and result.best_dev_accuracy == max(script)
    assert_states_equal(trainable_state(method), states[best - 1])
    assert not torch.equal(states[best - 1]["label_vectors"], states[-1]["label_vectors"])
    # predictions come from the restored epoch, not from a prompt cached at the last one
    assert_close(predict_proba(method, dev_df), probabilities[best - 1])


def test_step_budget_and_step_evaluation(tiny_mlm_dir, monkeypatch):
    """max_steps runs exactly that many steps across passes; eval_every_steps evaluates at its
    multiples and at the end, and keeps the best step's weights."""
    train_df, dev_df = toy_frame(repeats=2), toy_frame(split="dev", repeats=1)  # 12 rows: 3 steps a pass
    script = iter([0.5, 0.9, 0.6])
    real_accuracy, kept = training._accuracy, []

    def scripted(method, df, rows, dtype=None):
        real_accuracy(method, df, rows)
        kept.append(trainable_state(method))
        return next(script)

    monkeypatch.setattr(training, "_accuracy", scripted)
    method = build(tiny_mlm_dir)
    result = train(method, train_df, dev_df, short_config(epochs=1, max_steps=7, eval_every_steps=3),
                   seed=13, progress=False)
    assert result.steps == 7
    assert [(e["step"], e["epoch"]) for e in result.history] == [(3, 1), (6, 2), (7, 3)]
    assert (result.best_step, result.best_epoch, result.best_dev_accuracy) == (6, 2, 0.9)
    assert_states_equal(trainable_state(method), kept[1])


def test_max_steps_sets_the_schedule_length(tiny_mlm_dir, monkeypatch):
    seen = []
    monkeypatch.setattr(training, "warmup_linear", lambda total, ratio: seen.append(total) or (lambda step: 1.0))
    train(build(tiny_mlm_dir), toy_frame(repeats=1), None, short_config(max_steps=5), seed=13, progress=False)
    assert seen == [5]


# ------------------------------------------------------------------ evaluate

def test_scores_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    predictions = np.array([0, 1, 0, 1, 2, 2, 2, 0])
    # class 0: tp 2, predicted 3, actual 3 -> 2*2/6; class 1: tp 1, 2, 2 -> 1/2; class 2: tp 2, 3, 3 -> 4/6
    expected_f1 = (4 / 6 + 2 / 4 + 4 / 6) / 3
    result = scores(labels, predictions, num_labels=4)  # class 3 is absent from both: skipped
    assert result["accuracy"] == pytest.approx(5 / 8)
    assert result["macro_f1"] == pytest.approx(expected_f1)


def test_macro_f1_covers_the_classes_the_test_set_has():
    result = scores(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1]), num_labels=3)
    # class 0: 2*1/(1+2); class 1: 2*2/(2+2); class 2 is absent from this set: not averaged, but
    # its one prediction is an error of class 0
    assert result["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)
    assert result["accuracy"] == pytest.approx(3 / 4)


def test_predictions_in_input_order_for_mixed_lengths(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    method.initialize(toy_frame(repeats=1))
    df = toy_frame(split="test", repeats=2)
    df.loc[0, "text"], df.loc[4, "text"] = "good", "the film was bad and terrible and bad and terrible"
    metrics, table = evaluate(method, df, batch_size=3)
    rows = method.featurize(df)
    assert len({row["length"] for row in rows}) > 3
    method.eval()
    with torch.no_grad():
        one_by_one = np.stack([torch.softmax(method(**{k: v for k, v in method.collate([row]).items()
                                                       if k != "labels"}), dim=-1)[0].numpy() for row in rows])
    assert table["id"].tolist() == df["id"].tolist()
    assert table["label"].tolist() == df["label"].tolist()
    np.testing.assert_allclose(table[["p0", "p1"]].to_numpy(), one_by_one, rtol=1e-4, atol=1e-6)
    assert table["prediction"].tolist() == one_by_one.argmax(axis=1).tolist()
    assert metrics["n"] == len(df)
    assert metrics["accuracy"] == pytest.approx(np.mean(one_by_one.argmax(axis=1) == df["label"].to_numpy()))


def test_accumulated_small_batches_equal_one_large_batch(tiny_mlm_dir):
    """Two batches of 4 accumulated per step take the same step as one batch of 8 (same rows)."""
    df = toy_frame(repeats=2)  # 12 rows
    large, small = build(tiny_mlm_dir, label_init="random"), build(tiny_mlm_dir, label_init="random")
    rows = large.featurize(df)
    for method, batches in ((large, [list(range(8))]), (small, [list(range(4)), list(range(4, 8))])):
        method.train()
        training.backward_step(method, method, rows, batches, torch.device("cpu"))
    for (name, a), (_, b) in zip(large.named_parameters(), small.named_parameters()):
        if a.grad is not None:
            assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5), name


def test_accumulate_counts_optimizer_steps(tiny_mlm_dir):
    result = train(build(tiny_mlm_dir), toy_frame(repeats=2), None, short_config(batch_size=2, accumulate=3),
                   seed=13, progress=False)
    assert result.steps == 3 * 2  # 12 rows / 2 per batch = 6 batches = 2 steps per epoch, 3 epochs


def test_eval_batches_respect_a_token_budget():
    from xprompt.encoder.batching import eval_batches

    rows = [{"length": n} for n in (10, 50, 12, 48, 11, 9)]
    batches = list(eval_batches(rows, batch_size=32, max_tokens=100))
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(len(b) * max(rows[i]["length"] for i in b) <= 100 for b in batches)
    assert list(eval_batches(rows, batch_size=32)) == [[1, 3, 2, 4, 0, 5]]
    assert list(eval_batches([{"length": 500}], 4, max_tokens=100)) == [[0]]  # one row always fits


def test_bfloat16_autocast_trains_and_predicts_close_to_float32(tiny_mlm_dir):
    df = toy_frame(repeats=2)
    method = build(tiny_mlm_dir, label_init="random")
    before = toy_loss(method, df)
    train(method, df, None, short_config(), seed=13, progress=False, dtype=torch.bfloat16)
    assert toy_loss(method, df) < before
    assert all(p.dtype == torch.float32 for p in method.parameters())  # weights stay float32
    low = predict_proba(method, df, dtype=torch.bfloat16)
    assert_close(torch.as_tensor(low), torch.as_tensor(predict_proba(method, df)), atol=0.05, rtol=0)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_mlm_dir):
    df = toy_frame(repeats=1)
    grads = []
    for checkpointing in (False, True):
        method = build(tiny_mlm_dir, label_init="random")
        method.backbone.checkpointing = checkpointing
        method.train()
        training.backward_step(method, method, method.featurize(df), [list(range(6))], torch.device("cpu"))
        grads.append({n: p.grad.clone() for n, p in method.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5)


def test_precision_options_are_checked():
    from xprompt.errors import ConfigError
    from xprompt.encoder.precision import resolve_dtype

    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == torch.float32 and resolve_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="float16 needs a GPU"):
        resolve_dtype("float16", cpu)
    with pytest.raises(ConfigError, match="model.dtype is 'half'; accepted: auto, float32, bfloat16, float16"):
        resolve_dtype("half", cpu)


# ---------------------------------------------------------- checkpoint averaging

def test_averaging_checkpoints_gives_the_mean_of_the_states_at_every_evaluation(tiny_mlm_dir, monkeypatch):
    """With train.average: checkpoints the final weights are the mean of the trained tensors at each
    epoch's end (here 3), whatever the dev accuracy; the best-dev state is not used."""
    seen = []
    original = training.trainable_state

    def recording(method):
        state = original(method)
        seen.append(state)
        return state

    monkeypatch.setattr(training, "trainable_state", recording)
    method = build(tiny_mlm_dir)
    result = train(method, toy_frame(repeats=2), None, short_config(average="checkpoints"), seed=13, progress=False)
    assert result.averaged_checkpoints == 3 and len(seen) == 3  # no dev set: only the averaging points
    expected = {name: sum(state[name].double() for state in seen) / 3 for name in seen[0]}
    got = {name: p.detach() for name, p in method.named_parameters() if p.requires_grad}
    assert set(got) == set(expected)
    for name in got:
        assert_close(got[name].double(), expected[name], atol=1e-6, rtol=1e-6)
    assert not torch.equal(got["label_vectors"], seen[-1]["label_vectors"])  # not simply the last state


def test_averaging_copies_of_one_state_returns_that_state(tiny_mlm_dir):
    method = build(tiny_mlm_dir)
    config = short_config(average="checkpoints", lr=0.0, prompt_lr=0.0, epochs=2)  # nothing moves: every
    method.initialize(toy_frame())  # averaging point holds the starting state
    before = {n: p.detach().clone() for n, p in method.named_parameters() if p.requires_grad}
    train(method, toy_frame(repeats=2), None, config, seed=13, progress=False, initialize=False)
    for name, p in method.named_parameters():
        if p.requires_grad:
            assert_close(p.detach(), before[name], atol=1e-7, rtol=0)


def test_average_is_a_checked_option_out_of_keys_at_its_neutral_value():
    from xprompt.pipeline.graph import NOT_IN_KEYS
    from xprompt.pipeline.config import ConfigError, key_params
    assert "average" not in key_params(TrainConfig(), NOT_IN_KEYS)
    assert key_params(TrainConfig(average="checkpoints"), NOT_IN_KEYS)["average"] == "checkpoints"
    with pytest.raises(ConfigError, match="train.average is 'swa'; accepted: none, checkpoints"):
        TrainConfig(average="swa")


def test_calibration_divides_out_the_prior_and_moves_the_mean_toward_uniform():
    from xprompt.training.calibration import calibrate
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 3)) + np.array([1.5, 0.0, -1.0])  # a prediction biased to class 0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    prior = probabilities.mean(axis=0)
    calibrated = calibrate(probabilities, prior)
    expected = probabilities / prior
    assert_close(torch.as_tensor(calibrated), torch.as_tensor(expected / expected.sum(axis=1, keepdims=True)))
    uniform = np.full(3, 1 / 3)
    assert np.abs(calibrated.mean(axis=0) - uniform).max() < 0.5 * np.abs(prior - uniform).max()
    assert_close(torch.as_tensor(calibrate(probabilities, uniform)), torch.as_tensor(probabilities))
