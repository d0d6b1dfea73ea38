"""Tokenising a training table: one tokenizer call per row (what xprompt did before) against
`render_many` / the batched `tokenize_rows` (what it does now), interleaved in one process.

    python -m benchmarks.tokenisation [--task xnli] [--lang en] [--split dev] [--repeats 3]

Needs the offline model's tokenizer (HF_HUB_OFFLINE=1) and the data set's files ($XPROMPT_DATA
or --data-root). Both ways give the same ids (tests/test_templates.py); only time is compared."""

from __future__ import annotations

import argparse
import sys

from benchmarks.common import interleaved, loadavg, markdown_table, median


PAIRS = (("template, one call per row", "template, render_many"),
         ("plain pair, one call per row", "plain pair, tokenize_rows"))


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tokenisation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="intfloat/multilingual-e5-small")
    parser.add_argument("--task", default="xnli")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    return parser


def speed_rows(times: dict[str, list[float]], rows: int) -> list[list]:
    """One table row per way: median seconds, rows per second, and the speed-up over the way of
    its pair that calls the tokenizer once per row."""
    table = []
    for base, batched in PAIRS:
        for name in (base, batched):
            seconds = median(times[name])
            table.append([name, seconds, rows / seconds, median(times[base]) / seconds])
    return table


def main(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    from transformers import AutoTokenizer

    from xprompt.data import load_card, load_split
    from xprompt.methods.base import tokenize_rows
    from xprompt.encoder.templates import parse_template, render, render_many

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    card = load_card(args.task)
    table = load_split(card, args.lang, args.split, args.data_root)
    template = parse_template(card.template(args.lang))
    texts = list(table["text"])
    pairs = [p if isinstance(p, str) else None for p in table["text_pair"]]

    def per_row_pairs():
        return [tokenizer(t, p, truncation=True, max_length=256) for t, p in zip(texts, pairs)]

    variants = {
        "template, one call per row": lambda: [render(template, tokenizer, t, p, 256) for t, p in zip(texts, pairs)],
        "template, render_many": lambda: render_many(template, tokenizer, texts, pairs, 256),
        "plain pair, one call per row": per_row_pairs,
        "plain pair, tokenize_rows": lambda: tokenize_rows(tokenizer, table, 256),
    }
    before = loadavg()
    times = interleaved(variants, args.repeats)
    rows = speed_rows(times, len(texts))
    print(f"{args.task} {args.lang} {args.split}: {len(texts)} rows, tokenizer {type(tokenizer).__name__}; "
          f"load {before} -> {loadavg()}\n")
    print(markdown_table(["way", "s (median)", "rows/s", "speed-up vs one call per row"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
