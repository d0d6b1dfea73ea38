"""Intervals and paired comparisons of what a pipeline's cache already holds, while its run is
still going (in shards, in the background): nothing is computed, missing cells are left out.

    python -m benchmarks.interim pipelines/quality-sib200.yaml --set cache_dir=... -o runs/quality-sib200-interim
    python -m benchmarks.interval_summary runs/quality-sib200-interim --versus finetune,probe

Writes items.parquet, intervals.csv, comparisons.csv and a run.json naming the pipeline into the
output folder, and prints how many evaluations of the plan were found (run.json says "interim"
while some are missing). A method with fewer seeds than the others says so in the tables' seed
column."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xprompt.errors import XPromptError


def main(argv: list[str] | None = None) -> int:
    from xprompt.pipeline.cells import plan
    from xprompt.pipeline.config import load_pipeline, to_dict
    from xprompt.pipeline.runner import Runner
    from xprompt.results.significance import write_uncertainty

    parser = argparse.ArgumentParser(prog="python -m benchmarks.interim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        config = load_pipeline(args.pipeline, args.set)
        the_plan = plan(config)
        runner = Runner(the_plan, progress=False)
        items = runner.items()
        if items.empty:
            print("no evaluation of the plan is cached yet", file=sys.stderr)
            return 1
        groups = items.groupby(["method", "shots", "seed", "target"]).ngroups
        planned = len(the_plan.evaluations())
        args.output.mkdir(parents=True, exist_ok=True)
        write_uncertainty(items, args.output, the_plan.source, len(the_plan.card.labels), the_plan.card.parallel)
        info = {"config": to_dict(config), "interim": groups < planned, "evaluations": [groups, planned]}
        (args.output / "run.json").write_text(json.dumps(info, default=str))
    except XPromptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{groups:,} of {planned:,} evaluations cached; written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
