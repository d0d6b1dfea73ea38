"""(c) Train once and evaluate N languages (xprompt) vs retrain per target language (what the
UniPrompt paper's released code does), on the demo pipeline, each from an empty cache.

    HF_HUB_OFFLINE=1 python -m benchmarks.retrain [--targets deu_Latn,fra_Latn,...] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import loadavg, markdown_table


def timed_run(pipeline: str, cache: Path, runs: Path, targets: list[str]) -> float:
    command = [sys.executable, "-m", "xprompt.cli", "run", pipeline, "--quiet",
               "--set", f"cache_dir={cache}", "--set", f"output_dir={runs}",
               "--set", f"task.targets=[{', '.join(targets)}]"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="pipelines/demo.yaml")
    parser.add_argument("--targets", default="deu_Latn,fra_Latn,rus_Cyrl,zho_Hans,hin_Deva")
    parser.add_argument("--work", default="/tmp/xprompt-retrain")
    args = parser.parse_args()
    targets, work = args.targets.split(","), Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    load_before = loadavg()
    once = timed_run(args.pipeline, work / "once-cache", work / "once-runs", targets)
    per_language = [timed_run(args.pipeline, work / f"{t}-cache", work / f"{t}-runs", [t]) for t in targets]
    print(f"load {load_before} -> {loadavg()}")
    total = sum(per_language)
    print(markdown_table(["variant", "trainings", "wall (s)", "ratio"], [
        [f"train once, evaluate {len(targets)} targets + source", 1, f"{once:.1f}", 1],
        [f"retrain per target ({', '.join(f'{t} {s:.0f}' for t, s in zip(targets, per_language))})",
         len(targets), f"{total:.1f}", f"{total / once:.2f}"]]))


if __name__ == "__main__":
    main()
