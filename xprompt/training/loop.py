"""The training loop: batch, forward, loss, backward, clip, step, evaluate on the
English dev set, keep the best, checkpoint. One checkpoint is one dict."""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from xprompt.training import distributed
from xprompt.encoder.batching import to_device, train_batches
from xprompt.pipeline.config import TrainConfig
from xprompt.training.evaluate import predict_proba
from xprompt.files import atomic_write
from xprompt.encoder.precision import autocast, grad_scaler

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # one entry per evaluation
    best_epoch: int = -1
    best_dev_accuracy: float = float("nan")
    best_step: int = -1
    steps: int = 0
    seconds: float = 0.0  # wall seconds of training, across the processes a resumed run took
    cpu_seconds: float = 0.0  # ... and CPU seconds (a checkpoint written before 2026-12-05 has none)
    averaged_checkpoints: int = 0  # with train.average: checkpoints, how many were averaged
    earlier: dict = field(default_factory=dict)  # a resumed run: what the earlier processes spent up
    # to the checkpoint it resumed from ({"seconds", "cpu_seconds"}), which this process did not


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def trainable_state(method) -> dict[str, torch.Tensor]:
    """A copy of the trained tensors (and the method's recorded ones, e.g. a soft prompt's start)
    on the CPU: the best state kept during training costs no GPU memory."""
    trained = {name: p for name, p in method.named_parameters() if p.requires_grad}
    return {name: t.detach().to("cpu", copy=True) for name, t in {**trained, **method.recorded_state()}.items()}


def make_optimizer(method, config: TrainConfig) -> torch.optim.AdamW:
    """Only trainable parameters reach the optimizer, so frozen ones cost no state.
    New parameters (prompts, label vectors) learn faster than pretrained ones."""
    new_ids = {id(p) for p in method.new_parameters()}
    trainable = [p for p in method.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in new_ids], "lr": config.lr},
        {"params": [p for p in trainable if id(p) in new_ids], "lr": config.prompt_lr, "weight_decay": 0.0},
    ]
    # the fused kernel updates all tensors in one pass: on a CPU 12.6x faster than the default loop
    # for a 96M-row embedding matrix (benchmarks/RESULTS.md), on a GPU the usual choice
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in trainable)
    return torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=config.weight_decay,
                             fused=fused or None)


def warmup_linear(total_steps: int, warmup_ratio: float):
    warmup = math.ceil(total_steps * warmup_ratio)  # as Hugging Face's Trainer counts it; 0 means no warmup
    decay = max(1, total_steps - warmup)
    return lambda step: step / warmup if step < warmup else max(0.0, (total_steps - step) / decay)


def train(method, train_df: pd.DataFrame, dev_df: pd.DataFrame | None, config: TrainConfig, seed: int,
          checkpoint_path: Path | None = None, progress: bool = True, initialize: bool = True,
          dtype: torch.dtype = torch.float32) -> TrainResult:
    """Train `method` in place; `initialize=False` continues from its current weights (adaptation).
    `dtype`: forward passes under autocast (weights and optimizer stay float32)."""
    set_seed(seed)
    if not any(p.requires_grad for p in method.parameters()):
        return TrainResult()  # nothing to train (zero-shot prompting, e.g. discrete with trained: none)
    device = next(method.parameters()).device
    rows = method.featurize(train_df)
    dev_rows = method.featurize(dev_df) if dev_df is not None and len(dev_df) else None
    steps_per_epoch = math.ceil(math.ceil(len(rows) / config.batch_size) / config.accumulate)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    optimizer = make_optimizer(method, config)
    scaler = grad_scaler(device, dtype)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(total_steps, config.warmup_ratio))
    state = _resume(checkpoint_path, method, optimizer, scheduler)
    if state is None:
        if initialize:
            with autocast(device, dtype):
                method.initialize(train_df)
        state = {"epoch": 0, "batch": 0, "result": TrainResult(), "best": None, "average": None}
    model = distributed.data_parallel(method)  # under torchrun: DistributedDataParallel, rank 0's weights
    result, started = state["result"], time.perf_counter() - state["result"].seconds
    cpu_started = time.process_time() - result.cpu_seconds
    last_loss = state.get("loss", float("nan"))  # a run resumed at an epoch's end has taken no step yet
    bar = tqdm(total=total_steps, initial=result.steps, desc="train", unit="step", disable=not progress, leave=False)
    for epoch in range(state["epoch"], math.ceil(total_steps / steps_per_epoch)):
        method.train()
        batches = train_batches(rows, config.batch_size, seed + epoch)
        steps = [batches[i:i + config.accumulate] for i in range(0, len(batches), config.accumulate)]
        for number, step_batches in enumerate(steps):
            if epoch == state["epoch"] and number < state["batch"]:
                continue  # resumed mid-epoch: these batches were already taken
            if result.steps >= total_steps:
                break  # max_steps reached inside the last pass
            last_loss = backward_step(model, method, rows, step_batches, device, dtype, scaler)
            scaler.unscale_(optimizer)  # float16: clip the true gradients
            torch.nn.utils.clip_grad_norm_([p for p in method.parameters() if p.requires_grad], config.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.3f}")
            if config.eval_every_steps and (result.steps % config.eval_every_steps == 0 or result.steps == total_steps):
                _checkpoint_point(method, config, dev_df, dev_rows, result, state, epoch + 1, last_loss, dtype)
                method.train()
            if (checkpoint_path and config.checkpoint_every and result.steps % config.checkpoint_every == 0
                    and distributed.is_main()):
                result.seconds, result.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
                _save(checkpoint_path, method, optimizer, scheduler, epoch, number + 1, result, state, last_loss)
        state["batch"] = 0
        last_epoch = result.steps >= total_steps
        if not config.eval_every_steps and ((epoch + 1) % config.eval_every == 0 or last_epoch):
            _checkpoint_point(method, config, dev_df, dev_rows, result, state, epoch + 1, last_loss, dtype)
    bar.close()
    if config.average == "checkpoints" and state["average"] is not None:
        total, count = state["average"]["sum"], state["average"]["count"]
        method.load_state_dict({name: value / count for name, value in total.items()}, strict=False)  # cast on copy
        result.averaged_checkpoints = count
    elif state["best"] is not None:
        method.load_state_dict(state["best"], strict=False)
    result.seconds, result.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return result


def _checkpoint_point(method, config: TrainConfig, dev_df, dev_rows, result: TrainResult, state: dict, epoch: int,
                      loss: float, dtype: torch.dtype) -> None:
    """Every train.eval_every epochs (or eval_every_steps steps): dev selection when there is a dev set,
    and with `train.average: checkpoints` the trained tensors join the running sum (Free Lunch: the
    uniform average of the checkpoints along the run replaces the dev-selected one)."""
    if dev_rows:
        _select(method, dev_df, dev_rows, result, state, epoch, loss, dtype)
    if config.average == "checkpoints":
        current = trainable_state(method)
        if state["average"] is None:
            state["average"] = {"sum": {n: t.double() for n, t in current.items()}, "count": 1}
        else:
            for name, tensor in current.items():
                state["average"]["sum"][name] += tensor.double()
            state["average"]["count"] += 1


def _select(method, dev_df, dev_rows, result: TrainResult, state: dict, epoch: int, loss: float,
            dtype: torch.dtype = torch.float32) -> None:
    """Dev accuracy now; keep these weights if they are the best so far (ties keep the earlier)."""
    accuracy = distributed.broadcast(_accuracy(method, dev_df, dev_rows, dtype) if distributed.is_main() else None)
    result.history.append({"epoch": epoch, "step": result.steps, "loss": loss, "dev_accuracy": accuracy})
    if not accuracy <= result.best_dev_accuracy:  # also true for the first (NaN) comparison
        result.best_dev_accuracy, result.best_epoch, result.best_step = accuracy, epoch, result.steps
        state["best"] = trainable_state(method)


def backward_step(model, method, rows: list[dict], batches: list[list[int]], device,
                  dtype: torch.dtype = torch.float32, scaler=None) -> float:
    """Forward and backward of one optimizer step's batches (several with train.accumulate);
    returns the mean loss over their rows and leaves the gradient of that mean. Data-parallel
    (`model` is DistributedDataParallel): each rank takes its slice of every batch and weights its
    loss by its share of the rows, so DDP's average over ranks is the full-batch mean gradient;
    gradients are synchronised once per step, on the last batch."""
    world, total = distributed.world_size(), sum(len(indices) for indices in batches)
    loss_sum = torch.zeros((), device=device)
    for number, indices in enumerate(batches):
        part = indices[distributed.rank()::world]
        # a batch smaller than the ranks leaves some without rows: they run one row at weight 0, so that
        # every rank joins DDP's gradient synchronisation
        batch = to_device(method.collate([rows[i] for i in part or indices[:1]]), device)
        synchronise = number == len(batches) - 1 or not distributed.is_distributed()
        with contextlib.nullcontext() if synchronise else model.no_sync():
            with autocast(device, dtype):
                loss = torch.nn.functional.cross_entropy(model(**batch).float(), batch["labels"])
            share = loss * (len(part) * world / total)
            (scaler.scale(share) if scaler is not None else share).backward()
        loss_sum = loss_sum + loss.detach() * len(part)
    return distributed.sum_over_ranks(loss_sum).item() / total


def _accuracy(method, df: pd.DataFrame, rows: list[dict], dtype: torch.dtype = torch.float32) -> float:
    probabilities = predict_proba(method, df, rows=rows, dtype=dtype)
    return float(np.mean(probabilities.argmax(axis=1) == df["label"].to_numpy()))


def _save(path: Path, method, optimizer, scheduler, epoch, batch, result, state: dict, loss) -> None:
    """Everything needed to continue as if never stopped, written atomically."""
    checkpoint = {"model": trainable_state(method), "optimizer": optimizer.state_dict(),
                  "scheduler": scheduler.state_dict(), "epoch": epoch, "batch": batch,
                  "result": result.__dict__, "best": state["best"], "loss": loss, "rng": _rng_state()}
    if state.get("average") is not None:
        checkpoint["average"] = state["average"]
    atomic_write(path, lambda temporary: torch.save(checkpoint, temporary))


def _resume(path: Path | None, method, optimizer, scheduler) -> dict | None:
    if path is None or not path.exists():
        return None
    try:
        checkpoint = torch.load(path, weights_only=True)  # a shared cache must not unpickle code
    except Exception as error:  # a checkpoint we cannot read is restarted, never half-trusted
        log.warning("ignoring unreadable checkpoint %s (%s); training from the start", path, error)
        return None
    method.load_state_dict(checkpoint["model"], strict=False)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    _set_rng_state(checkpoint["rng"])
    log.info("resuming training from %s at epoch %d, batch %d", path, checkpoint["epoch"], checkpoint["batch"])
    recorded = checkpoint["result"]
    earlier = {"seconds": recorded.get("seconds", 0.0), "cpu_seconds": recorded.get("cpu_seconds")}
    return {"epoch": checkpoint["epoch"], "batch": checkpoint["batch"],
            "result": TrainResult(**{**recorded, "earlier": earlier}), "best": checkpoint["best"],
            "loss": checkpoint.get("loss", float("nan")), "average": checkpoint.get("average")}


def _rng_state() -> dict:
    """Every generator's state in types `torch.load(weights_only=True)` accepts."""
    version, mt, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {"python": [version, list(mt), gauss], "torch": torch.get_rng_state(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
