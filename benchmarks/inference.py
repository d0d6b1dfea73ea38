"""(a) UniPrompt inference with the precomputed prompt vs the live two-tower forward vs a
plain forward of the base encoder, on the same pre-collated batches."""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, loadavg, median
from xprompt.encoder.batching import eval_batches
from xprompt.methods import base
from xprompt.methods.uniprompt.config import UniPromptConfig
from xprompt.methods.uniprompt.model import UniPrompt


def bench_inference(backbone, card, df, batch_size: int = 32, repeats: int = 3, warmup: int = 1) -> dict:
    """Seconds per pass over `df` (eval mode, no_grad) of four variants:
    - plain: the base encoder (all layers) on the input alone, the [CLS]-free cost floor;
    - live: UniPrompt with its prompt tower run for every batch (the cache cleared per batch);
    - precomputed: UniPrompt after `precompute(langs, drop_prompt_tower=True)`;
    - precomputed, full last layer: the same, with its last fused layer computed at every
      position and the <mask> row read afterwards (xprompt before it computed that row only).
    Batches are length-grouped and collated once, outside the timed region, so only
    the forward passes are timed. Both UniPrompt models share the backbone's layers."""
    live = UniPrompt(UniPromptConfig(), backbone, card).eval()
    fast = UniPrompt(UniPromptConfig(), backbone, card).eval()
    fast.load_state_dict(live.state_dict())  # same label vectors and prompt tower
    langs = sorted(set(df["lang"]))
    fast.precompute(langs, drop_prompt_tower=True)
    rows = live.featurize(df)
    batches = [live.collate([rows[i] for i in indices]) for indices in eval_batches(rows, batch_size)]
    template = batches[0]["template"]
    prompt_length = fast.precomputed[template].shape[1]

    difference = _live_minus_precomputed(live, fast, batches[0])
    load_before = loadavg()
    times = interleaved(_variants(backbone, live, fast, batches), repeats, warmup)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["attention_mask"].numel() for b in batches)
    result = {"rows": len(df), "batch_size": batch_size, "batches": len(batches), "repeats": repeats,
              "real_tokens": tokens, "padded_tokens": padded, "prompt_length": prompt_length,
              "fused_layers": len(fast.fused_layers), "layers": len(backbone.layers),
              "max_abs_logit_difference_live_vs_precomputed": difference,
              "loadavg_before": load_before, "loadavg_after": loadavg(),
              "variants": _variant_times(times, len(df))}
    # what the extra prompt positions should cost: fused layers see P more positions per row
    mean_len = tokens / len(df)
    result["expected_overhead_from_prompt_positions"] = (
        len(fast.fused_layers) / len(backbone.layers)) * prompt_length / mean_len
    return result


def _live_minus_precomputed(live: UniPrompt, fast: UniPrompt, batch: dict) -> float:
    """The largest absolute logit difference on one batch between the live prompt tower and the
    precomputed prompt: the variants must compute the same thing for their times to compare."""
    with torch.no_grad():
        live.precomputed.clear()
        template = batch["template"]
        return (live(batch["input_ids"], batch["attention_mask"], template)
                - fast(batch["input_ids"], batch["attention_mask"], template)).abs().max().item()


def _variant_times(times: dict[str, list[float]], rows: int) -> dict:
    """Per variant: its repeats' seconds, their median, rows per second and the ratio to plain."""
    medians = {name: median(seconds) for name, seconds in times.items()}
    return {name: {"seconds": times[name], "median_s": m, "examples_per_s": rows / m,
                   "ratio_to_plain": m / medians["plain"]} for name, m in medians.items()}


def _variants(backbone, live: UniPrompt, fast: UniPrompt, batches: list[dict]) -> dict:
    """The four passes bench_inference times, each over every batch, by name."""
    @torch.no_grad()
    def plain():
        for b in batches:
            base.encode(backbone, backbone.layers, b["attention_mask"], input_ids=b["input_ids"],
                        token_type_ids=b.get("token_type_ids"))

    @torch.no_grad()
    def run_live():
        for b in batches:
            live.precomputed.clear()  # the two-tower forward: the prompt tower runs for every batch
            live(b["input_ids"], b["attention_mask"], b["template"], b.get("token_type_ids"))

    @torch.no_grad()
    def run_precomputed():
        for b in batches:
            fast(b["input_ids"], b["attention_mask"], b["template"], b.get("token_type_ids"))

    @torch.no_grad()
    def run_full_last_layer():
        for b in batches:
            context = backbone.run_layers(fast.context_tower, backbone.embed(b["attention_mask"], b["input_ids"]),
                                          b["attention_mask"])
            prompt = fast.prompt_states(b["template"]).expand(len(context), -1, -1)
            mask = torch.cat([b["attention_mask"].new_ones(len(context), prompt.shape[1]), b["attention_mask"]], 1)
            state = backbone.run_layers(fast.fused_layers, torch.cat([prompt, context], 1), mask)[
                :, fast.mask_index(b["template"])]
            fast.mask_transform(state) @ fast.label_vectors.T + fast.label_bias

    return {"plain": plain, "live": run_live, "precomputed": run_precomputed,
            "precomputed, full last layer": run_full_last_layer}
