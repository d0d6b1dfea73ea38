"""What each method costs, side by side in one run: trainable parameters, seconds per training
step and peak memory while training (benchmarks.train_step: interleaved steps on one batch, a
fresh process per method for memory), the size of its exported prompt (the tensors its export
form holds), and inference rows per second in that export form (UniPrompt with its prompt
precomputed), tokenising included, interleaved over the same test rows. The probe encodes its
training rows once with the frozen encoder (in featurize) and then trains only its head, so its
"step" excludes that one pass over the training set.

    HF_HUB_OFFLINE=1 python -m benchmarks.costs [--task sib200] [--rows 64] [--batch 8] [--repeats 3]

Prints one Markdown table; --json writes every timing. Read seconds as ratios (the machine may
be shared); the parameter counts and export sizes do not depend on load."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from benchmarks.common import DEFAULT_DATA_ROOT, DEFAULT_MODEL, interleaved, loadavg, markdown_table, median
from benchmarks.train_step import bench_memory, bench_train_step, build_variant

COST_METHODS = ["uniprompt (all)", "uniprompt (prompt)", "uniprompt (paper recipe)", "deep", "prefix", "soft",
                "ptuning", "lora", "finetune", "probe"]


def export_bytes(method, languages: list[str]) -> int:
    """Bytes of the tensors an export of `method` holds (after turning it into its export form)."""
    method.export_form(languages)
    return sum(t.numel() * t.element_size() for t, _ in method.exported_tensors().values())


def _first_pass(method, test, batch_size: int):
    """Inference over `test` as on new rows: tokenising included, and a method that caches row
    features (the probe) starts without them, so every timed round is a first pass."""
    from xprompt.training.evaluate import predict_proba

    clear = getattr(method, "clear_feature_cache", None)
    if clear is not None:
        clear()
    return predict_proba(method, test, batch_size=batch_size)


def bench_inference_forms(backbone, card, test, names: list[str], batch_size: int, repeats: int) -> dict:
    runs, sizes = {}, {}
    languages = [card.source_language]
    for name in names:
        torch.manual_seed(0)
        method = build_variant(name, backbone, card)
        sizes[name] = export_bytes(method, languages)
        runs[name] = (lambda m=method: _first_pass(m, test, batch_size))
    with torch.no_grad():
        times = interleaved(runs, repeats, warmup=1)
    return {name: {"export_bytes": sizes[name], "seconds": times[name],
                   "rows_per_s": len(test) / median(times[name])} for name in names}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import stratified
    from xprompt.data import load_card
    from xprompt.encoder.backbone import load_backbone

    parser = argparse.ArgumentParser(prog="python -m benchmarks.costs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--task", default="sib200")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--rows", type=int, default=64, help="test rows timed for inference")
    parser.add_argument("--batch", type=int, default=8, help="training batch (rows)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    card = load_card(args.task)
    backbone = load_backbone(args.model, device="cpu")
    test = stratified(card, card.source_language, "test", args.rows, data_root=args.data_root)
    batch = stratified(card, card.source_language, "test", args.batch, seed=1, data_root=args.data_root)
    load_before = loadavg()
    steps = bench_train_step(lambda: backbone, card, batch, COST_METHODS, repeats=args.repeats)
    inference = bench_inference_forms(backbone, card, test, list(steps["variants"]), 32, args.repeats)
    memory = bench_memory(list(steps["variants"]), args.model, args.task, args.batch, data_root=args.data_root)
    rows = []
    for name, step in steps["variants"].items():
        peak = memory[name].get("peak_rss_mb")
        rows.append([name, f"{step['trainable'] / 1e6:.3g}M / {step['total'] / 1e6:.4g}M",
                     f"{step['median_s']:.3f}", f"{step['ratio_to_first']:.2f}",
                     f"{peak:.0f}" if peak else memory[name].get("error", "–")[:60],
                     f"{inference[name]['export_bytes'] / 1e6:.3g}", f"{inference[name]['rows_per_s']:.1f}"])
    print(f"{args.model}, {args.task}; training batch {args.batch} rows, inference {args.rows} rows in batches of "
          f"32; load {load_before} -> {loadavg()}; skipped: {steps['skipped'] or 'none'}\n")
    print(markdown_table(["method", "trainable / total parameters", "s per training step (median)",
                          f"ratio to {steps['reference']}", "peak RSS while training, MB", "export, MB",
                          "inference rows/s (export form)"], rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"steps": steps, "inference": inference, "memory": memory}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
