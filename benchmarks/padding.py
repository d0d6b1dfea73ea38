"""(b) Length-grouped dynamic padding vs padding to a fixed maximum (and vs dynamic padding of
randomly ordered batches), plain encoder forward, examples per second."""

from __future__ import annotations

import random

import torch

from benchmarks.common import interleaved, loadavg, median
from xprompt.encoder.batching import eval_batches
from xprompt.methods import base


def _collate(rows, indices, pad_id, width=None):
    ids = [rows[i]["input_ids"] for i in indices]
    width = width or max(len(s) for s in ids)
    input_ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in ids], dtype=torch.long)
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in ids], dtype=torch.long)
    return input_ids, mask


def bench_padding(backbone, df, batch_size: int = 32, repeats: int = 3, warmup: int = 1,
                  fixed_length: int | None = None, seed: int = 0) -> dict:
    """Seconds per pass over `df` of the base encoder (eval, no_grad) with batches:
    - grouped: xprompt's eval_batches (sorted by length) padded to each batch's longest row;
    - random: the same batch size in a random order, padded to each batch's longest row;
    - fixed: random order, every row padded to `fixed_length` (default: the model maximum,
      512 for multilingual-e5-small / XLM-R; the released UniPrompt code pads to 512)."""
    tokenizer = backbone.tokenizer
    fixed_length = fixed_length or min(getattr(tokenizer, "model_max_length", 512), 512,
                                       backbone.config.max_position_embeddings)
    rows = base.tokenize_rows(tokenizer, df, fixed_length)
    plans = _batch_plans(rows, batch_size, tokenizer.pad_token_id, fixed_length, seed)

    def runner(batches):
        @torch.no_grad()
        def run():
            for input_ids, mask in batches:
                base.encode(backbone, backbone.layers, mask, input_ids=input_ids)
        return run

    load_before = loadavg()
    times = interleaved({name: runner(batches) for name, batches in plans.items()}, repeats, warmup)
    real = sum(r["length"] for r in rows)
    result = {"rows": len(df), "batch_size": batch_size, "fixed_length": fixed_length, "repeats": repeats,
              "mean_tokens": real / len(rows), "max_tokens": max(r["length"] for r in rows),
              "loadavg_before": load_before, "loadavg_after": loadavg(), "variants": {}}
    fixed_median = median(times["fixed"])
    for name, seconds in times.items():
        padded = sum(mask.numel() for _, mask in plans[name])
        m = median(seconds)
        result["variants"][name] = {"seconds": seconds, "median_s": m, "examples_per_s": len(rows) / m,
                                    "padded_tokens": padded, "real_token_share": real / padded,
                                    "speedup_vs_fixed": fixed_median / m}
    return result


def _batch_plans(rows: list[dict], batch_size: int, pad_id: int, fixed_length: int, seed: int) -> dict:
    """The three ways to batch the rows, collated outside the timed region (see bench_padding)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    random_batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return {
        "grouped": [_collate(rows, idx, pad_id) for idx in eval_batches(rows, batch_size)],
        "random": [_collate(rows, idx, pad_id) for idx in random_batches],
        "fixed": [_collate(rows, idx, pad_id, fixed_length) for idx in random_batches],
    }
