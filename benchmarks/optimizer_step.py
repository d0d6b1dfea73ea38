"""AdamW step time on a CPU for a multilingual encoder's trainable tensors: the default
implementation, foreach, and the fused kernel xprompt uses (train.make_optimizer), interleaved.

    python -m benchmarks.optimizer_step [--vocab 250000] [--hidden 384] [--rest 37000000] [--repeats 5]

The tensors are the word-embedding matrix (vocab x hidden) and one flat tensor standing for the
rest of the encoder, with random gradients; only the optimizer step is timed."""

from __future__ import annotations

import argparse
import sys

import torch

from benchmarks.common import interleaved, loadavg, markdown_table, median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.optimizer_step", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=250000)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--rest", type=int, default=37_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    before = loadavg()
    variants = {}
    for name, options in (("default", {}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
        params = [torch.nn.Parameter(torch.randn(args.vocab, args.hidden)), torch.nn.Parameter(torch.randn(args.rest))]
        for p in params:
            p.grad = torch.randn_like(p)
        optimizer = torch.optim.AdamW(params, lr=1e-5, **options)
        variants[name] = optimizer.step
    times = interleaved(variants, args.repeats)
    base = median(times["default"])
    rows = [[name, median(t), base / median(t)] for name, t in times.items()]
    print(f"AdamW step, {args.vocab} x {args.hidden} embeddings + {args.rest} other parameters, "
          f"{torch.get_num_threads()} threads; load {before} -> {loadavg()}\n")
    print(markdown_table(["implementation", "s/step (median)", "speed-up vs default"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
