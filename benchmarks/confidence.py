"""How confident a run's trained models are on unlabelled target-language text: percentiles of
the top class probability and the predicted class counts (what self-training's `confidence`
threshold and `per_class` cap act on). Reads no label and no test row.

    python -m benchmarks.confidence pipelines/quality-sib200.yaml --set cache_dir=... \\
        --cell "train uniprompt k=16 seed=13" --lang deu_Latn --rows 128
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from xprompt.pipeline.builder import CellBuilder
    from xprompt.pipeline.cells import plan
    from xprompt.pipeline.config import load_pipeline
    from xprompt.pipeline.runner import Runner
    from xprompt.training.evaluate import predict_proba

    parser = argparse.ArgumentParser(prog="python -m benchmarks.confidence", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cell", action="append", required=True, help="a trained model's cell name (repeat)")
    parser.add_argument("--lang", action="append", required=True, help="a target language (repeat)")
    parser.add_argument("--rows", type=int, default=128, help="first N rows of the unlabelled text")
    args = parser.parse_args(argv)
    config = load_pipeline(args.pipeline, args.set)
    the_plan = plan(config)
    runner, builder = Runner(the_plan, progress=False), CellBuilder(config)
    print("| model | language | top probability p10 / p50 / p90 / p99 | predicted class counts |")
    print("|---|---|---|---|")
    for name in args.cell:
        cell = next((c for c in the_plan.cells if c.name == name), None)
        if cell is None or runner.cache.lookup(cell.stage, cell.key, verify="quick") is None:
            print(f"error: {name!r} is not a cached cell of {args.pipeline}", file=sys.stderr)
            return 2
        method = runner.trained_method(cell)
        for lang in args.lang:
            text = builder.unlabelled(lang)
            rows = runner.table(text).iloc[: args.rows].assign(label=0)  # labels are never read
            probabilities = predict_proba(method, rows)
            top = np.percentile(probabilities.max(axis=1), [10, 50, 90, 99])
            counts = np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])
            print(f"| {name} | {lang} ({len(rows)} rows of its {text.params['split']} text) | "
                  f"{' / '.join(f'{v:.2f}' for v in top)} | {' '.join(map(str, counts))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
