"""(e) Seconds per training step and peak memory of every method at the same batch, and
(f) xprompt's UniPrompt loss path vs a reimplementation of the released code's loss path.

Timing: all variants live in one process, each on its own copy of the backbone (methods
freeze backbone weights in place), and their steps are interleaved A B C A B C ...
Memory: a fresh subprocess per variant (`python -m benchmarks.train_step --child ...`)
reports `ru_maxrss` after loading and after its training steps."""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys

import torch
from torch import nn

from benchmarks.common import DEFAULT_MODEL, interleaved, loadavg, median
from xprompt.pipeline.config import TrainConfig
from xprompt.methods import base, build_method, parameter_counts
from xprompt.methods.uniprompt.model import UniPrompt
from xprompt.training.loop import make_optimizer

# name -> (registry method, settings)
METHODS = {
    "finetune": ("finetune", {}),
    "uniprompt (all)": ("uniprompt", {"trained": "all"}),
    "uniprompt (prompt)": ("uniprompt", {"trained": "prompt"}),
    "soft": ("soft", {}),
    "ptuning": ("ptuning", {}),
    "deep": ("deep", {}),
    "discrete": ("discrete", {}),
    "uniprompt (paper recipe)": ("uniprompt", {"recipe": "paper"}),
    "prefix": ("prefix", {}),
    "lora": ("lora", {}),
    "probe": ("probe", {}),
}
NAIVE = "uniprompt naive loss"


class NaiveLossUniPrompt(nn.Module):
    """The released code's loss path on xprompt's UniPrompt: an MLM head (transform +
    decoder tied to the word embeddings) applied to every position, a [batch, length,
    vocabulary] logit tensor, and the label-word logits at the mask gathered in a Python
    loop over the batch. The head is randomly initialised (multilingual-e5 ships none):
    the time and memory of the path do not depend on the head's values."""

    def __init__(self, model: UniPrompt, label_word_ids: list[int]):
        super().__init__()
        self.model = model
        hidden = model.backbone.hidden_size
        self.transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden))
        base.reinitialise(self.transform, model.backbone.config.initializer_range)
        self.decoder_bias = nn.Parameter(torch.zeros(model.embeddings.word_embeddings.weight.shape[0]))
        self.label_word_ids = torch.tensor(label_word_ids, dtype=torch.long)
        self.num_labels = model.num_labels

    def new_parameters(self):
        return [*self.model.new_parameters(), *self.transform.parameters(), self.decoder_bias]

    def featurize(self, df):
        return self.model.featurize(df)

    def collate(self, rows):
        return self.model.collate(rows)

    def forward(self, input_ids, attention_mask, template, token_type_ids=None, labels=None):
        m, backbone = self.model, self.model.backbone
        context = backbone.embed(attention_mask, input_ids=input_ids, token_type_ids=token_type_ids)
        context = backbone.run_layers(m.context_tower, context, attention_mask)
        prompt = m.prompt_states(template)
        batch = input_ids.shape[0]
        fused = torch.cat([prompt.expand(batch, -1, -1), context], dim=1)
        mask = torch.cat([attention_mask.new_ones(batch, prompt.shape[1]), attention_mask], dim=1)
        fused = backbone.run_layers(m.fused_layers, fused, mask)
        logits = self.transform(fused) @ m.embeddings.word_embeddings.weight.T + self.decoder_bias  # [B, L, V]
        mask_index = m.mask_index(template)
        scores = []
        for i in range(batch):  # as the released code does: one row at a time
            scores.append(logits[i, mask_index, self.label_word_ids])
        return torch.stack(scores)


def label_word_ids(backbone, card) -> list[int]:
    """First piece of each class's first source-language label word."""
    words = [label_words[0] for label_words in card.verbalizer(card.source_language)]
    return [pieces[0] for pieces in backbone.word_embedding_ids(words)]


def build_variant(name: str, backbone, card):
    if name == NAIVE:
        model = build_method("uniprompt", {"trained": "all"}, backbone, card)
        return NaiveLossUniPrompt(model, label_word_ids(backbone, card)).to(backbone.device)
    method, settings = METHODS[name]
    return build_method(method, settings, backbone, card)


class Stepper:
    """One training step exactly as xprompt.training.loop.train takes it: forward, cross-entropy,
    backward, clip, AdamW step (make_optimizer's groups), zero_grad."""

    def __init__(self, method, batch: dict, config: TrainConfig):
        self.method, self.batch, self.config = method, batch, config
        self.optimizer = make_optimizer(method, config)
        self.trainable = [p for p in method.parameters() if p.requires_grad]

    def __call__(self) -> None:
        self.method.train()
        loss = nn.functional.cross_entropy(self.method(**self.batch), self.batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trainable, self.config.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def make_stepper(name: str, backbone, card, df, config: TrainConfig) -> Stepper:
    torch.manual_seed(0)
    method = build_variant(name, backbone, card)
    rows = method.featurize(df)
    batch = method.collate(rows)  # the whole df is the batch
    return Stepper(method, batch, config)


def bench_train_step(load_backbone, card, df, names: list[str], repeats: int = 3, warmup: int = 1) -> dict:
    """Median seconds per step of each variant on the batch `df`; `load_backbone()` gives a fresh
    backbone per variant. A variant that cannot be built (discrete on a checkpoint without an
    MLM head) is reported with its error."""
    config = TrainConfig(batch_size=len(df))
    steppers, skipped, info = {}, {}, {}
    for name in names:
        try:
            steppers[name] = make_stepper(name, load_backbone(), card, df, config)
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            skipped[name] = f"{type(error).__name__}: {str(error)[:160]}"
            continue
        counts = parameter_counts(steppers[name].method)
        info[name] = {**counts, "batch_shape": list(steppers[name].batch["input_ids"].shape)}
    load_before = loadavg()
    times = interleaved(steppers, repeats, warmup)
    result = {"batch_size": len(df), "repeats": repeats, "loadavg_before": load_before,
              "loadavg_after": loadavg(), "skipped": skipped, "variants": {}}
    reference = next(iter(times), None)
    for name, seconds in times.items():
        result["variants"][name] = {**info[name], "seconds": seconds, "median_s": median(seconds),
                                    "ratio_to_first": median(seconds) / median(times[reference])}
    result["reference"] = reference
    return result


# -- memory: one fresh subprocess per variant --------------------------------------

def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(name: str, model: str, task: str, rows: int, steps: int, data_root: str | None) -> dict:
    from benchmarks.common import stratified
    from xprompt.encoder.backbone import load_backbone
    from xprompt.data import load_card

    card = load_card(task)
    df = stratified(card, card.source_language, "test", rows, data_root=data_root)
    backbone = load_backbone(model, device="cpu")
    load_peak = _rss_mb()
    try:
        stepper = make_stepper(name, backbone, card, df, TrainConfig(batch_size=len(df)))
    except Exception as error:  # noqa: BLE001
        return {"name": name, "error": f"{type(error).__name__}: {str(error)[:160]}"}
    gc.collect()
    # loading the checkpoint peaks far above the loaded model (ru_maxrss cannot be reset), so the
    # kernel's high-water mark VmHWM is reset here (clear_refs 5) and read after the steps
    reset = _reset_peak()
    before = _status_mb("VmRSS")
    for _ in range(steps):
        stepper()
    return {"name": name, "ru_maxrss_mb": _rss_mb(), "load_peak_ru_maxrss_mb": load_peak,
            "rss_after_load_mb": before, "peak_rss_mb": _status_mb("VmHWM") if reset else _rss_mb(),
            "peak_reset": reset, "batch_shape": list(stepper.batch["input_ids"].shape), "steps": steps}


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    return float("nan")


def bench_memory(names: list[str], model: str, task: str, rows: int, steps: int = 2,
                 data_root: str | None = None) -> dict:
    """Peak RSS (ru_maxrss) of a fresh process per variant: load, build, `steps` training steps."""
    results = {}
    for name in names:
        command = [sys.executable, "-m", "benchmarks.train_step", "--child", name, "--model", model,
                   "--task", task, "--rows", str(rows), "--steps", str(steps)]
        if data_root:
            command += ["--data-root", data_root]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        results[name] = json.loads(lines[-1]) if lines else {"name": name, "error": done.stderr[-400:]}
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--task", default="marc")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    a = parser.parse_args()
    print(json.dumps(child(a.child, a.model, a.task, a.rows, a.steps, a.data_root)))
