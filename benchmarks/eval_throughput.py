"""Evaluation throughput of a whole run against the plain encoder, in one process.

    python -m benchmarks.eval_throughput PIPELINE [--set KEY=VALUE ...] [--shard I/N] [--out FILE]

Runs the pipeline's cells through the Runner (cached training is reused; evaluations that are
not cached are computed and timed, each from building its trained model to writing its
predictions). Right after a timed evaluation (every N-th one with --plain-every N) the plain base
encoder (no prompt, no head) runs over the same test rows with the same batching, timing its
tokenisation and forward passes: the two are measured side by side, so a change of machine load
during a long run moves both rates alike. The ratio of the two rates (evaluation rows/s over plain
rows/s) is what a user pays for the method over the bare encoder; it cannot be measured when
every evaluation was cached.

It works on older xprompt commits too (it times `Runner._compute_evaluate`), so the same
command gives the before and after of a change (PYTHONPATH=<a worktree of the old commit>)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from benchmarks.common import loadavg, markdown_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.eval_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--shard", help="I/N, as `xprompt run --shard`")
    parser.add_argument("--out", help="also write the numbers as JSON here")
    parser.add_argument("--plain-every", type=int, default=1, metavar="N",
                        help="run the plain encoder after every N-th timed evaluation only (a rate needs "
                             "no more; with 204 languages N=4 saves most of its cost)")
    args = parser.parse_args(argv)

    try:  # this layout, or the flat one of commits before 2026-12-03 (for "before" measurements)
        from xprompt.pipeline.cells import plan, shard_of
        from xprompt.pipeline.config import load_pipeline
        from xprompt.pipeline.runner import Runner
    except ImportError:
        from xprompt.config import load_pipeline
        from xprompt.pipeline import plan, shard_of
        from xprompt.runner import Runner

    config = load_pipeline(args.pipeline, args.set)
    the_plan = plan(config)
    groups = shard_of(the_plan, *map(int, args.shard.split("/"))) if args.shard else None
    runner = Runner(the_plan, progress=False)
    timed, plain, paired = _time_evaluations(runner, config, args.plain_every)
    before = loadavg()
    started = time.perf_counter()
    lock = f"xprompt.shard-{args.shard.replace('/', '-of-')}.lock" if args.shard else None
    runner.run(groups, lock_name=lock)
    run_seconds = time.perf_counter() - started - plain["seconds"]
    if not timed["cells"]:
        print("every evaluation was cached: nothing was timed (use a fresh cache_dir)")
        return 1
    _report(args, timed, plain, paired, run_seconds, f"{before} -> {loadavg()}")
    return 0


def _time_evaluations(runner, config, plain_every: int) -> tuple[dict, dict, dict]:
    """Wrap the runner's evaluation so each one computed is timed, and every `plain_every`-th is
    followed by the plain encoder over the same rows; returns the running totals it fills in:
    (timed evaluations, plain forwards, the timed evaluations a plain forward followed)."""
    timed = {"seconds": 0.0, "rows": 0, "cells": 0}
    plain = {"seconds": 0.0, "rows": 0, "cells": 0}
    paired = {"seconds": 0.0, "rows": 0}
    compute = runner._compute_evaluate

    def timed_evaluate(cell, out):
        started = time.perf_counter()
        compute(cell, out)
        seconds, rows = time.perf_counter() - started, json.loads((out / "metrics.json").read_text())["n"]
        timed["seconds"] += seconds
        timed["rows"] += rows
        timed["cells"] += 1
        if (timed["cells"] - 1) % plain_every == 0:
            paired["seconds"] += seconds
            paired["rows"] += rows
            plain_rows, plain_seconds = plain_forward(runner, cell.inputs["test"], config)
            plain["rows"] += plain_rows
            plain["seconds"] += plain_seconds
            plain["cells"] += 1

    runner._compute_evaluate = timed_evaluate
    return timed, plain, paired


def _report(args, timed: dict, plain: dict, paired: dict, run_seconds: float, load: str) -> None:
    """Print the two rates and their ratio, and write them as JSON to --out."""
    import torch

    plain_rows, plain_seconds = plain["rows"], plain["seconds"]
    evaluation_rate, plain_rate = timed["rows"] / timed["seconds"], plain_rows / plain_seconds
    paired_rate = paired["rows"] / paired["seconds"]
    numbers = {"pipeline": args.pipeline, "overrides": args.set, "shard": args.shard,
               "evaluate_cells": timed["cells"], "evaluated_rows": timed["rows"],
               "evaluate_seconds": round(timed["seconds"], 1), "evaluation_rows_per_s": round(evaluation_rate, 2),
               "plain_rows": plain_rows, "plain_seconds": round(plain_seconds, 1), "plain_every": args.plain_every,
               "plain_cells": plain["cells"], "plain_rows_per_s": round(plain_rate, 2),
               "ratio": round(evaluation_rate / plain_rate, 3), "paired_ratio": round(paired_rate / plain_rate, 3),
               "run_seconds": round(run_seconds, 1), "threads": torch.get_num_threads(),
               "load": load}
    print(markdown_table(["", "rows", "seconds", "rows/s"], [
        [f"evaluation ({timed['cells']} cells)", timed["rows"], timed["seconds"], evaluation_rate],
        [f"plain encoder forward, same rows, right after ({plain['cells']} cells"
         f"{f', every {args.plain_every}th' if args.plain_every > 1 else ''})",
         plain_rows, plain_seconds, plain_rate]]))
    print(f"\nratio {evaluation_rate / plain_rate:.3f} (only the evaluations a plain forward followed: "
          f"{paired_rate / plain_rate:.3f}); whole run {run_seconds:.0f} s without the plain forwards; "
          f"load {numbers['load']}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(numbers, handle, indent=2)


def plain_forward(runner, test_cell, config) -> tuple[int, float]:
    """(rows, seconds) of tokenising the test rows of one prepared test split and running the bare
    encoder over them, batched as the evaluation batches them."""
    import pandas as pd
    import torch

    try:
        from xprompt.encoder.batching import eval_batches, to_device
    except ImportError:  # the flat layout of earlier commits
        from xprompt.batching import eval_batches, to_device
    from xprompt.methods.base import collate_token_rows, encode, tokenize_rows

    backbone = runner.backbone()
    table = pd.read_parquet(runner.entry(test_cell) / "table.parquet")
    started = time.perf_counter()
    rows = tokenize_rows(backbone.tokenizer, table, 256)
    with torch.no_grad():
        max_tokens = getattr(config.eval, "max_tokens", 0)  # earlier commits have no token bound
        batches = eval_batches(rows, config.eval.batch_size, max_tokens) if max_tokens else \
            eval_batches(rows, config.eval.batch_size)
        for indices in batches:
            batch = to_device(collate_token_rows([rows[i] for i in indices], backbone.tokenizer.pad_token_id),
                              backbone.device)
            encode(backbone, backbone.layers, batch["attention_mask"], input_ids=batch["input_ids"],
                   token_type_ids=batch.get("token_type_ids"))
    return len(table), time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
