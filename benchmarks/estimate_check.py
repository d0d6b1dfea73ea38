"""How well `xprompt status` times trainings it has never seen: every train cell of a pipeline is
planned as not run and timed from the ledgers given alone (e.g. another task's), by the
characters of the training texts and, for comparison, by rows alone (the ledgers without their
`chars` column); each cell's recorded time, where the cache holds it, is printed beside them.

    xprompt cache ledger pipelines/methods-grid-xnli.yaml --set cache_dir=CACHE --csv xnli-ledger.csv
    python -m benchmarks.estimate_check pipelines/methods-grid-pawsx.yaml --set cache_dir=CACHE \\
        --set "shots=[full]" --set "methods=[{name: finetune, train: {lr: 1.0e-4}}]" --ledger xnli-ledger.csv
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.common import markdown_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estimate_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--ledger", nargs="+", required=True, help="the ledgers to time the cells from")
    args = parser.parse_args(argv)

    from xprompt.pipeline.cache.estimate import estimate
    from xprompt.pipeline.cache.ledger import entry_cost, read_ledgers
    from xprompt.pipeline.cells import plan
    from xprompt.pipeline.config import load_pipeline
    from xprompt.pipeline.runner import Runner

    runner = Runner(plan(load_pipeline(args.pipeline, args.set)), progress=False)
    ledgers = read_ledgers(args.ledger)
    rows = []
    for status in runner.status(runner.cells_for(None)):
        if status.cell.stage != "train":
            continue
        recorded = entry_cost(runner.cache, "train", status.cell.key).get("seconds") if status.cached else None
        status.cached = False  # as if it had not run: timed from the ledgers only
        by_chars = estimate([status], runner.cache, ledgers)
        by_rows = estimate([status], runner.cache, ledgers.drop(columns="chars"))
        rows.append([status.cell.name, *(f"{e.seconds:.0f}" if e.timed else "–" for e in (by_chars, by_rows)),
                     "–" if recorded is None else f"{recorded:.0f}"])
    print(markdown_table(["train cell", "estimate by characters, s", "estimate by rows, s", "recorded, s"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
