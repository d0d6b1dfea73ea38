"""Batches by length: rows of similar length share a batch, so padding stays
small (MARC reviews padded to a fixed 512 would spend most of the time on pads)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch


def eval_batches(rows: list[dict], batch_size: int, max_tokens: int = 0) -> Iterator[list[int]]:
    """Indices of `rows` in batches of similar length, longest first (peak memory shows early).
    Rows with different "group" values (e.g. templates) never share a batch; with `max_tokens`,
    a batch also holds at most that many tokens, padding included (at least one row)."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i].get("group", ""), -rows[i]["length"]))
    batch: list[int] = []
    for index in order:
        # longest first: the batch's first row sets its padded width
        too_many = max_tokens and (len(batch) + 1) * rows[batch[0]]["length"] > max_tokens if batch else False
        if batch and (len(batch) == batch_size or too_many or rows[index].get("group") != rows[batch[0]].get("group")):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


def train_batches(rows: list[dict], batch_size: int, seed: int, pool_factor: int = 8) -> list[list[int]]:
    """Shuffled batches, each drawn from a pool of pool_factor batches sorted by a jittered
    length: random order and composition for the optimizer, little padding for the CPU.
    The jitter matters for few-shot sets smaller than one pool: sorted by exact length they
    would form the same batches every epoch (and length can follow the label)."""
    rng = random.Random(seed)
    order = list(range(len(rows)))
    rng.shuffle(order)
    jittered = {i: rows[i]["length"] * rng.uniform(0.75, 1.33) for i in order}
    pool = batch_size * pool_factor
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=jittered.__getitem__)
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    """Right-pad to the longest sequence of this batch (not to a fixed maximum)."""
    width = max(len(s) for s in sequences)
    return torch.tensor([list(s) + [value] * (width - len(s)) for s in sequences], dtype=torch.long)


def attention_mask(sequences: list[list[int]]) -> torch.Tensor:
    width = max(len(s) for s in sequences)
    return torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences], dtype=torch.long)


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
