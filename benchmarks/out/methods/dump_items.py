"""Every cached prediction of a pipeline's evaluate cells, as an items table (parquet), for runs
still in progress or made by another xprompt version: run it with the xprompt that made the
cache on the path (it uses only load_pipeline, plan and the cache), e.g.

    PYTHONPATH=/path/to/that/checkout python benchmarks/out/methods/dump_items.py PIPELINE.yaml OUT.parquet
"""

import sys

import pandas as pd

from xprompt.pipeline.config import load_pipeline
from xprompt.pipeline.cells import cache_for, plan

the_plan = plan(load_pipeline(sys.argv[1]))
cache, frames = cache_for(the_plan.config), []
for cell in the_plan.evaluations():
    entry = cache.lookup(cell.stage, cell.key, verify="quick")
    if entry is None:
        continue
    table = pd.read_parquet(entry / "predictions.parquet", columns=["id", "label", "prediction"])
    meta = cell.meta
    frames.append(table.assign(method=meta["method"], shots=meta["shots"], adapt_shots=meta["adapt_shots"],
                               seed=meta["seed"], target=meta["target"]))
items = pd.concat(frames, ignore_index=True)
items.to_parquet(sys.argv[2], index=False)
print(f"{len(frames)} of {len(the_plan.evaluations())} evaluate cells cached; "
      f"{len(items)} predictions -> {sys.argv[2]}")
