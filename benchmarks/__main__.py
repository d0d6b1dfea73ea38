"""python -m benchmarks speed-inference|padding|train-step|naive-loss|all [--rows N] [--repeats R]

Prints Markdown tables (with the load average before and after each) and, with --json,
writes every measured number."""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks import common

COMMANDS = ("speed-inference", "padding", "train-step", "naive-loss", "all")


def _backbone_loader(model: str):
    from xprompt.encoder.backbone import load_backbone

    return lambda: load_backbone(model, device="cpu")


def _load(args):
    return common.machine_info()


def run_inference(args, out: dict) -> None:
    from benchmarks.inference import bench_inference
    from xprompt.data import load_card

    backbone = _backbone_loader(args.model)()
    for task in args.tasks:
        card = load_card(task)
        df = common.stratified(card, "en", "test", args.rows, data_root=args.data_root)
        r = bench_inference(backbone, card, df, args.batch_size, args.repeats)
        out.setdefault("speed-inference", {})[task] = r
        print(f"\n### (a) inference, {task} en test, {r['rows']} rows, batch {r['batch_size']}, "
              f"mean {r['real_tokens'] / r['rows']:.1f} tokens/row, prompt {r['prompt_length']} positions, "
              f"{r['fused_layers']}/{r['layers']} layers fused; load {r['loadavg_before']} -> {r['loadavg_after']}")
        print(common.markdown_table(
            ["variant", "median s/pass", "examples/s", "ratio to plain", "all passes (s)"],
            [[n, v["median_s"], v["examples_per_s"], v["ratio_to_plain"], " ".join(f"{t:.2f}" for t in v["seconds"])]
             for n, v in r["variants"].items()]))
        print(f"expected overhead of the prompt positions in the fused layers: "
              f"{100 * r['expected_overhead_from_prompt_positions']:.1f}%; "
              f"max |logit| difference live vs precomputed: {r['max_abs_logit_difference_live_vs_precomputed']:.2e}")


def run_padding(args, out: dict) -> None:
    from benchmarks.padding import bench_padding
    from xprompt.data import load_card

    backbone = _backbone_loader(args.model)()
    for task in args.tasks:
        card = load_card(task)
        df = common.stratified(card, "en", "test", args.padding_rows or args.rows, data_root=args.data_root)
        r = bench_padding(backbone, df, args.batch_size, args.repeats, fixed_length=args.fixed_length)
        out.setdefault("padding", {})[task] = r
        print(f"\n### (b) padding, {task} en test, {r['rows']} rows, batch {r['batch_size']}, mean "
              f"{r['mean_tokens']:.1f} / max {r['max_tokens']} tokens; "
              f"load {r['loadavg_before']} -> {r['loadavg_after']}")
        print(common.markdown_table(
            ["batches", "median s/pass", "examples/s", "speed-up vs fixed", "real-token share", "all passes (s)"],
            [[{"grouped": "length-grouped, dynamic", "random": "random order, dynamic",
               "fixed": f"fixed {r['fixed_length']}"}[n], v["median_s"], v["examples_per_s"], v["speedup_vs_fixed"],
              f"{100 * v['real_token_share']:.0f}%", " ".join(f"{t:.2f}" for t in v["seconds"])]
             for n, v in r["variants"].items()]))


def _train_table(r: dict, memory: dict, title: str) -> None:
    print(f"\n### {title}; load {r['loadavg_before']} -> {r['loadavg_after']}")
    rows = []
    for name, v in r["variants"].items():
        m = memory.get(name, {})
        rows.append([name, f"{v['trainable']:,}", "x".join(map(str, v["batch_shape"])), v["median_s"],
                     v["ratio_to_first"], m.get("rss_after_load_mb", "n/a"), m.get("peak_rss_mb", "n/a"),
                     (m["peak_rss_mb"] - m["rss_after_load_mb"]) if "peak_rss_mb" in m else "n/a"])
    for name, error in r["skipped"].items():
        rows.append([name, "-", "-", "n/a", "n/a", "n/a", "n/a", error.split(":")[0] + " (see JSON)"])
    print(common.markdown_table(["variant", "trainable params", "batch", "median s/step", f"ratio to {r['reference']}",
                                 "RSS after load (MB)", "peak RSS (MB)", "peak - load (MB)"], rows))
    for name, error in r["skipped"].items():
        print(f"- {name}: {error}")


def run_train(args, out: dict, names: list[str], key: str, title: str) -> None:
    from benchmarks.train_step import bench_memory, bench_train_step
    from xprompt.data import load_card

    card = load_card(args.train_task)
    df = common.stratified(card, card.source_language, "test", args.batch, data_root=args.data_root)
    r = bench_train_step(_backbone_loader(args.model), card, df, names, args.repeats)
    memory = {} if args.no_memory else bench_memory(names, args.model, args.train_task, args.batch,
                                                    data_root=args.data_root)
    out[key] = {"timing": r, "memory": memory}
    _train_table(r, memory, f"{title}, {args.train_task} en test rows as training inputs, batch {len(df)}, "
                            f"median of {args.repeats} steps")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--rows", type=int, default=64, help="rows per task for inference/padding (stratified)")
    parser.add_argument("--padding-rows", type=int, default=None, help="rows for padding (default: --rows)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per variant (median reported)")
    parser.add_argument("--batch-size", type=int, default=32, help="inference batch size")
    parser.add_argument("--batch", type=int, default=8, help="training batch (rows, stratified)")
    parser.add_argument("--tasks", default="marc,xnli", help="tasks for inference/padding")
    parser.add_argument("--train-task", default="marc")
    parser.add_argument("--fixed-length", type=int, default=None, help="padding length (default: model max, 512)")
    parser.add_argument("--model", default=common.DEFAULT_MODEL)
    parser.add_argument("--data-root", default=common.DEFAULT_DATA_ROOT)
    parser.add_argument("--no-memory", action="store_true", help="skip the per-variant memory subprocesses")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="write all numbers here")
    args = parser.parse_args(argv)
    args.tasks = [t for t in args.tasks.split(",") if t]
    import torch
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {"machine": common.machine_info(), "argv": sys.argv}
    print(f"machine: {json.dumps({k: v for k, v in out['machine'].items() if k != 'free_g'})}")
    from benchmarks.train_step import METHODS, NAIVE
    if args.command in ("speed-inference", "all"):
        run_inference(args, out)
    if args.command in ("padding", "all"):
        run_padding(args, out)
    if args.command in ("train-step", "all"):
        run_train(args, out, list(METHODS), "train-step", "(e) training step per method")
    if args.command in ("naive-loss", "all"):
        run_train(args, out, ["uniprompt (all)", NAIVE], "naive-loss",
                  "(f) UniPrompt loss path: xprompt vs released-code style")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
