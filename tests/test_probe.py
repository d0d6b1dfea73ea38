import torch

from conftest import ToyCard, toy_frame
from xprompt.encoder.backbone import load_backbone
from xprompt.pipeline.config import TrainConfig
from xprompt.methods import build_method, parameter_counts
from xprompt.training.loop import train


def test_probe_trains_only_a_linear_layer_on_frozen_pooled_states(tiny_encoder_dir, one_thread):
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    before = {k: v.clone() for k, v in backbone.encoder.state_dict().items()}
    method = build_method("probe", {}, backbone, ToyCard())
    hidden, classes = backbone.hidden_size, 2
    assert parameter_counts(method)["trainable"] == hidden * classes + classes

    rows = method.featurize(toy_frame())
    batch = method.collate(rows)
    labels = batch.pop("labels")
    initial = torch.nn.functional.cross_entropy(method(**batch), labels).item()
    result = train(method, toy_frame(), None, TrainConfig(epochs=30, batch_size=12, lr=1e-3, prompt_lr=0.5,
                                                          warmup_ratio=0.0), seed=1, progress=False)
    final = torch.nn.functional.cross_entropy(method(**batch), labels).item()
    assert result.steps == 30 * 2 and final < 0.5 * initial  # 24 rows, 2 batches an epoch
    for name, tensor in backbone.encoder.state_dict().items():
        assert torch.equal(tensor, before[name]), f"{name} changed"


def test_probe_features_are_the_masked_mean_of_final_states(tiny_encoder_dir, one_thread):
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    method = build_method("probe", {}, backbone, ToyCard()).eval()
    batch = method.collate(method.featurize(toy_frame(repeats=1)))
    pooled = method.pooled(batch["input_ids"], batch["attention_mask"])
    with torch.no_grad():
        output = backbone.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        states = output.last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(pooled, (states * mask).sum(1) / mask.sum(1), rtol=1e-5, atol=1e-5)
