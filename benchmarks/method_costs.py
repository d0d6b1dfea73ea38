"""What each method of a run cost: trainable parameters, optimizer steps and training seconds
(mean over seeds), read from the run's lock file and the train entries of its cache.

    python -m benchmarks.method_costs runs/methods-k16-marc --cache .xprompt-cache
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import markdown_table
from xprompt.pipeline.cache import Cache, read_lockfile
from xprompt.pipeline.entry_files import TRAIN_INFO


def costs(run_dir: Path, cache_dir: Path) -> list[list]:
    cache, per_method = Cache(cache_dir), {}
    for name, record in read_lockfile(run_dir / "xprompt.lock").items():
        if record.stage != "train":
            continue
        entry = cache.lookup("train", record.key, verify="quick")
        if entry is None:
            continue
        info = json.loads((entry / TRAIN_INFO).read_text())
        method = name.removeprefix("train ").rsplit(" k=", 1)[0]
        per_method.setdefault(method, []).append(info)
    rows = []
    for method, infos in per_method.items():
        seconds = [i["train_seconds"] for i in infos]
        rows.append([method, f"{infos[0]['parameters']['trainable'] / 1e6:.3g}M / "
                             f"{infos[0]['parameters']['total'] / 1e6:.1f}M",
                     int(sum(i["steps"] for i in infos) / len(infos)), sum(seconds) / len(seconds), len(infos)])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.method_costs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--cache", type=Path, default=Path(".xprompt-cache"))
    args = parser.parse_args(argv)
    print(markdown_table(["method", "trainable / total parameters", "optimizer steps", "training s (mean)",
                          "seeds"], costs(args.run, args.cache)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
