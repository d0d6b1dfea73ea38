"""Where a method's lead over another comes from: its source-language (English) accuracy, and its
cross-lingual transfer gap (source accuracy minus the average over targets, as in XTREME, Hu et
al. 2020). A method ahead on the target average is ahead either because it learns the source task
better or because it loses less in transfer; the target-average difference of A and B is exactly
the source difference minus the gap difference. Read from the cached predictions of a pipeline;
nothing is computed.

    HF_HUB_OFFLINE=1 python -m benchmarks.transfer_gap pipelines/quality-grid-sib200.yaml --set cache_dir=... \\
        --methods uniprompt+checkpoint-average+ensemble,finetune+checkpoint-average+ensemble \\
        --versus finetune+checkpoint-average+ensemble

Intervals: 95% percentile bootstrap; each resample draws the test items with replacement (the same
draw for every method, so differences are paired on items): per language, or on a parallel data
set such as SIB-200 or XNLI once for all languages, the same sentences in each; and, for a method
with several seeds, its seeds (a seed ensemble is one model). Zero-shot evaluations only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import markdown_table
from benchmarks.interval_summary import difference_text
from xprompt.errors import XPromptError
from xprompt.results.bootstrap import accuracy_of, draw_items, draw_seeds, generator, item_keys
from xprompt.results.statistics import format_interval
from xprompt.shots import shots_text

PARTS = ("source", "targets", "gap")


def aligned_items(at_size: pd.DataFrame, present: list[str]) -> dict[str, list[str]]:
    """Per language that every method in `present` was tested on: the item ids every (method, seed)
    has there (a language some method lacks is left out, so the comparison stays paired)."""
    ids = {}
    for target, frame in at_size.groupby("target", sort=True):
        if set(frame["method"]) == set(present):
            ids[target] = sorted(set.intersection(*(set(part["id"]) for _, part in frame.groupby(["method", "seed"]))))
    return ids


def resampled_parts(items: pd.DataFrame, methods: list[str], source: str, resamples: int = 2000,
                    seed: int = 0, parallel: str | None = None) -> dict[tuple[str, object], dict[str, np.ndarray]]:
    """Per (method, shots): [resamples + 1] values of source accuracy, target-average accuracy and
    their gap; the last entry is the point estimate (every item and seed once). Every method sees
    the same draws of items, made as the run's intervals make them (xprompt.results.statistics:
    per language, or on a parallel data set one draw of sentences for every language)."""
    out = {}
    zero = items[(items["adapt_shots"] == 0) & items["method"].isin(methods)]
    for shots, at_size in zero.groupby("shots", sort=True):
        present = [m for m in methods if m in set(at_size["method"])]
        ids = aligned_items(at_size, present)
        if source not in ids or len(ids) < 2:
            continue
        keyed = {t: item_keys(found, t, parallel) for t, found in ids.items()}
        draws = draw_items(lambda name: generator(seed, "gap", shots, name), keyed, resamples, parallel)
        per_language = {t: (at_size[at_size["target"] == t], found, np.vstack([draws[t], np.ones((1, len(found)))]))
                        for t, found in ids.items()}
        for method in present:
            seeds = sorted(at_size.loc[at_size["method"] == method, "seed"].unique())
            seed_counts = draw_seeds(generator(seed, "gap", method, shots), len(seeds), resamples)
            seed_counts = np.vstack([seed_counts, np.ones((1, len(seeds)))])
            accuracy = {}
            for target, (frame, found, counts) in per_language.items():
                mine = frame[frame["method"] == method].set_index(["seed", "id"])
                correct = np.stack([(mine.loc[s].loc[found, "label"] == mine.loc[s].loc[found, "prediction"]).to_numpy()
                                    for s in seeds]).astype(np.float64)  # [seeds, items]
                accuracy[target] = (accuracy_of(correct, counts) * seed_counts).sum(axis=1) / len(seeds)
            targets = np.mean([v for t, v in accuracy.items() if t != source], axis=0)
            out[(method, shots)] = {"source": accuracy[source], "targets": targets, "gap": accuracy[source] - targets}
    return out


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """(point, low, high) from [resamples + 1] values whose last is the point estimate."""
    low, high = np.percentile(values[:-1], [2.5, 97.5])
    return float(values[-1]), float(low), float(high)


def rows(parts: dict, versus: str | None) -> list[list[str]]:
    out = []
    for (method, shots), mine in parts.items():
        row = [method, shots_text(shots)] + [format_interval(*interval(mine[p])) for p in PARTS]
        other = parts.get((versus, shots)) if versus else None
        if other is None or method == versus:
            row += ["–"] * 3
        else:
            for part in PARTS:
                point, low, high = interval(mine[part] - other[part])
                row.append(difference_text({"points": 100 * point, "low": 100 * low, "high": 100 * high}))
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    from xprompt.pipeline.cells import plan
    from xprompt.pipeline.config import load_pipeline
    from xprompt.pipeline.runner import Runner

    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer_gap", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--methods", required=True, help="comma-separated methods as the run's tables name them")
    parser.add_argument("--versus", help="the method each difference is taken against")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        the_plan = plan(load_pipeline(args.pipeline, args.set))
        items = Runner(the_plan, progress=False).items()
    except XPromptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    unknown = sorted(set(methods + ([args.versus] if args.versus else [])) - set(items.get("method", [])))
    if unknown:
        print(f"error: --methods/--versus name {', '.join(unknown)}, which {args.pipeline} has no cached "
              f"evaluation of; accepted: {', '.join(sorted(set(items.get('method', []))))}", file=sys.stderr)
        return 2
    parts = resampled_parts(items, methods + ([args.versus] if args.versus and args.versus not in methods else []),
                            the_plan.source, parallel=the_plan.card.parallel)
    against = f" − {args.versus}" if args.versus else ""
    print(markdown_table(["method", "source data", f"{the_plan.source} (source)", "target average", "transfer gap",
                          f"source{against}", f"target average{against}", f"gap{against}"], rows(parts, args.versus)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
