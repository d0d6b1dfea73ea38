"""Start-up cost of the command line, interleaved in one run: `xprompt --help`, a warm no-op
`xprompt run PIPELINE` (every cell cached, outputs unchanged), and `python -c "import torch"`
as the yardstick.

    python -m benchmarks.cli_startup [--pipeline pipelines/demo.yaml] [--set KEY=VALUE ...] [--repeats 5]

Run the pipeline once beforehand, so its cells are cached and its outputs written."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from benchmarks.common import loadavg, markdown_table, median


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cli_startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="pipelines/demo.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to the timed `xprompt run` (e.g. cache_dir=...)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    commands = {
        "xprompt --help": [sys.executable, "-m", "xprompt.cli", "--help"],
        f"xprompt run {args.pipeline} (warm, no-op)": [sys.executable, "-m", "xprompt.cli", "run", args.pipeline,
                                                       "--quiet", *(f"--set={item}" for item in args.set)],
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
    }
    unchanged = subprocess.run(commands[list(commands)[1]], capture_output=True, text=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout
    if "(unchanged)" not in unchanged:
        print(f"warning: {args.pipeline} was not a no-op (not every cell cached or its outputs changed); "
              f"this first call made it one")
    before = loadavg()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(timed(command))
    torch_seconds = median(times['python -c "import torch"'])
    rows = [[name, median(values), min(values), max(values), median(values) / torch_seconds]
            for name, values in times.items()]
    print(f"{args.repeats} interleaved calls each; load {before} -> {loadavg()}\n")
    print(markdown_table(["command", "s (median)", "min", "max", "ratio to import torch"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
