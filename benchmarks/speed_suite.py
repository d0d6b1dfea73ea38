"""The speed and memory tables of benchmarks/RESULTS.md, one after another, on a quiet machine
(nothing else running: stop background grids first, e.g. `kill -STOP` their processes and
`kill -CONT` them afterwards). Each table runs its variants side by side in one process and reports
ratios; every printed table, JSON and error log goes to OUT. About 25 minutes with the offline
model on 2 cores.

    HF_HUB_OFFLINE=1 python -m benchmarks.speed_suite [OUT] [--only NAME,...] [--dry-run]

SUITE is the one list of what runs: this module runs it, and benchmarks.speed_tables sets each
step's table on the results page under the same command."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import DEFAULT_DATA_ROOT

ROOT = Path(__file__).resolve().parent.parent
DEMO_SEVEN = "task.targets=[deu_Latn, fra_Latn, rus_Cyrl, zho_Hans, hin_Deva, yor_Latn, ita_Latn]"


@dataclass(frozen=True)
class SuiteStep:
    name: str
    file: str  # what the step leaves in OUT for the page: the benchmark's own table
    title: str
    reading: str  # how to read the ratio, one sentence
    commands: tuple[tuple[str, ...], ...]  # {out}, {work} and {data} are filled in when run


def bench(name: str, *args: str) -> tuple[str, ...]:
    """`python -m benchmarks NAME ...` (costs and eval_throughput are modules of their own)."""
    module = ("-m", f"benchmarks.{name}") if name in ("costs", "eval_throughput", "retrain", "cli_startup") \
        else ("-m", "benchmarks", name)
    return ("python", *module, *args)


def timed_demo(label: str, *extra: str) -> tuple[str, ...]:
    return ("/usr/bin/time", "-a", "-o", "{out}/rerun.txt", "-f", f"{label} %e s wall, %M kB peak",
            "python", "-m", "xprompt.cli", "run", "pipelines/demo.yaml", "--quiet",
            "--set", "cache_dir={work}/rerun-cache", "--set", "output_dir={work}/rerun-runs",
            "--set", "task.data_root={data}", *extra)


SUITE = (
    SuiteStep("costs", "costs.md", "Cost per method",
              "trainable parameters, one training step on the same 8 English rows, peak memory of a fresh "
              "process, export size and inference rows/s in each method's export form.",
              (bench("costs", "--task", "sib200", "--data-root", "{data}", "--json", "{out}/costs.json"),)),
    SuiteStep("inference", "inference.md", "Inference: precomputed prompt, live two towers and the plain encoder",
              "ratio to plain below 1: the method's inference is faster than a bare forward over the same text.",
              (bench("speed-inference", "--tasks", "marc,xnli", "--rows", "64", "--repeats", "5",
                     "--data-root", "{data}", "--json", "{out}/inference.json"),)),
    SuiteStep("padding", "padding.md", "Length-grouped dynamic padding against fixed padding",
              "speed-up of each batching over padding every row to the model's maximum.",
              (bench("padding", "--padding-rows", "32", "--batch-size", "8", "--repeats", "3", "--tasks", "xnli,marc",
                     "--data-root", "{data}", "--json", "{out}/padding.json"),)),
    SuiteStep("train-step", "train-step.md", "A training step per method, same batch",
              "seconds per step as a ratio to the first row.",
              (bench("train-step", "--batch", "8", "--repeats", "3", "--data-root", "{data}",
                     "--json", "{out}/train-step.json"),)),
    SuiteStep("naive-loss", "naive-loss.md", "UniPrompt's loss path against the released code's",
              "the released code's path as a ratio to xprompt's.",
              (bench("naive-loss", "--batch", "8", "--repeats", "3", "--no-memory", "--data-root", "{data}",
                     "--json", "{out}/naive-loss.json"),)),
    SuiteStep("eval-throughput", "eval-throughput.md", "Many-language evaluation against the plain encoder",
              "evaluation rows/s over a 22-language run as a ratio to the plain encoder's on the same rows, "
              "each plain forward right after its evaluation.",
              (bench("eval_throughput", "benchmarks/out/sib200-all/throughput-20.yaml",
                     "--set", "task.data_root={data}",
                     "--set", "cache_dir={work}/throughput-cache", "--set", "output_dir={work}/throughput-runs",
                     "--out", "{out}/eval-throughput.json"),)),
    SuiteStep("retrain", "retrain.md", "Train once and evaluate five languages, against retraining per language",
              "wall time of separate `xprompt run` processes, each from an empty cache.",
              (bench("retrain", "--work", "{work}/retrain"),)),
    SuiteStep("rerun", "rerun.txt", "The demo pipeline cold, warm, and with one more target language",
              "the warm rerun is start-up and imports only; one more language computes two cells.",
              (timed_demo("cold"), timed_demo("warm"), timed_demo("one-more", "--set", DEMO_SEVEN))),
    SuiteStep("cli-startup", "cli-startup.md", "Command-line start-up",
              "ratio to `python -c \"import torch\"`, interleaved calls "
              "(the demo pipeline is cached by the step before).",
              (bench("cli_startup", "--pipeline", "pipelines/demo.yaml", "--repeats", "7",
                     "--set", "cache_dir={work}/rerun-cache", "--set", "output_dir={work}/rerun-runs",
                     "--set", "task.data_root={data}"),)),
)


def shown(command: tuple[str, ...]) -> str:
    """The command as the page prints it: OUT, WORK and DATA for the folders of the run."""
    filled = (part.format(out="OUT", work="WORK", data="DATA") for part in command)
    return shlex.join(filled)


def run_step(step: SuiteStep, out: Path, work: Path, data: str) -> int:
    """Runs the step's commands; stdout of a single command is its table, the commands of a longer
    step append to its file themselves (emptied first); stderr goes to NAME.err."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    if len(step.commands) > 1:
        (out / step.file).unlink(missing_ok=True)
    with open(out / f"{step.name}.err", "w", encoding="utf-8") as err:
        for command in step.commands:
            argv = [sys.executable if part == "python" else part.format(out=out, work=work, data=data)
                    for part in command]
            table = open(out / step.file, "w", encoding="utf-8") if len(step.commands) == 1 else subprocess.DEVNULL
            try:
                code = subprocess.run(argv, cwd=ROOT, env=env, stdout=table, stderr=err).returncode
            finally:
                if table is not subprocess.DEVNULL:
                    table.close()
            if code:
                return code
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=None, help="default benchmarks/out/quiet-<date>")
    parser.add_argument("--only", default="", help="comma-separated step names: " + ",".join(s.name for s in SUITE))
    parser.add_argument("--work", type=Path, default=Path("/tmp/xprompt-speed"), help="scratch caches (emptied)")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name]
    unknown = sorted(set(names) - {step.name for step in SUITE})
    if unknown:
        print(f"--only {','.join(unknown)}: no such step; the steps are {', '.join(s.name for s in SUITE)}",
              file=sys.stderr)
        return 2
    steps = [step for step in SUITE if not names or step.name in names]
    if args.dry_run:
        print("\n".join(shown(command) for step in steps for command in step.commands))
        return 0
    out = args.out or ROOT / "benchmarks" / "out" / f"quiet-{time.strftime('%Y%m%d', time.gmtime())}"
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    with open(out / "suite.log", "a", encoding="utf-8") as log:
        for step in steps:
            print(time.strftime("%H:%M:%S", time.gmtime()), step.name, file=log, flush=True)
            code = run_step(step, out.resolve(), args.work.resolve(), str(Path(args.data_root).resolve()))
            if code:
                print(f"{step.name} failed (exit {code}); see {out / (step.name + '.err')}", file=sys.stderr)
                return code
        print(time.strftime("%H:%M:%S", time.gmtime()), "done", file=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
