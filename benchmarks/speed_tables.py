"""The cost and speed part of the results page, read from one run of benchmarks/speed_suite.sh: each
benchmark printed its own Markdown table (with the machine and load), and this module sets them
under one heading each with the command that produced them. Nothing is measured or edited here.

    python -m benchmarks.results_page RUN ... --speed benchmarks/out/quiet-20261204"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xprompt.errors import ConfigError


@dataclass(frozen=True)
class SpeedTable:
    file: str  # what speed_suite.sh wrote
    title: str
    command: str  # as speed_suite.sh runs it
    reading: str  # how to read the ratio, one sentence


SPEED_TABLES = (
    SpeedTable("costs.md", "Cost per method", "python -m benchmarks.costs --task sib200",
               "trainable parameters, one training step on the same 8 English rows, peak memory of a fresh "
               "process, export size and inference rows/s in each method's export form."),
    SpeedTable("inference.md", "Inference: precomputed prompt, live two towers and the plain encoder",
               "python -m benchmarks speed-inference --tasks marc,xnli --rows 64 --repeats 5",
               "ratio to plain below 1: the method's inference is faster than a bare forward over the same text."),
    SpeedTable("padding.md", "Length-grouped dynamic padding against fixed padding",
               "python -m benchmarks padding --padding-rows 32 --batch-size 8 --repeats 3 --tasks xnli,marc",
               "speed-up of each batching over padding every row to the model's maximum."),
    SpeedTable("train-step.md", "A training step per method, same batch",
               "python -m benchmarks train-step --batch 8 --repeats 3", "seconds per step as a ratio to the first row."),
    SpeedTable("naive-loss.md", "UniPrompt's loss path against the released code's",
               "python -m benchmarks naive-loss --batch 8 --repeats 3 --no-memory",
               "the released code's path as a ratio to xprompt's."),
    SpeedTable("eval-throughput.md", "Many-language evaluation against the plain encoder",
               "python -m benchmarks.eval_throughput benchmarks/out/sib200-all/throughput-20.yaml",
               "evaluation rows/s over a 22-language run as a ratio to the plain encoder's on the same rows, "
               "each plain forward right after its evaluation."),
    SpeedTable("retrain.md", "Train once and evaluate five languages, against retraining per language",
               "python -m benchmarks.retrain", "wall time of separate `xprompt run` processes, each from an empty cache."),
    SpeedTable("rerun.txt", "The demo pipeline cold, warm, and with one more target language",
               "xprompt run pipelines/demo.yaml (three times, one cache; /usr/bin/time)",
               "the warm rerun is start-up and imports only; one more language computes two cells."),
    SpeedTable("cli-startup.md", "Command-line start-up", "python -m benchmarks.cli_startup --repeats 7",
               "ratio to `python -c \"import torch\"`, interleaved calls."),
)


def speed_section(folder: Path) -> str:
    """The '## Cost and speed' section from the files of one speed-suite run in `folder`."""
    if not folder.is_dir():
        raise ConfigError(f"--speed {folder} is not a folder; give the OUT folder of benchmarks/speed_suite.sh")
    found = [table for table in SPEED_TABLES if (folder / table.file).is_file()]
    if not found:
        raise ConfigError(f"--speed {folder} holds none of {', '.join(t.file for t in SPEED_TABLES)}; "
                          f"run `bash benchmarks/speed_suite.sh {folder}` first")
    missing = [table.file for table in SPEED_TABLES if table not in found]
    out = ["## Cost and speed", "",
           f"One run of `bash benchmarks/speed_suite.sh {folder.as_posix()}` on a quiet machine (the background grids "
           "stopped); each table runs its variants side by side in one process, so read its ratios, not its "
           "absolute seconds." + (f" Not in this run: {', '.join(missing)}." if missing else ""), ""]
    for table in found:
        text = (folder / table.file).read_text(encoding="utf-8").strip()
        if table.file.endswith(".txt"):
            text = f"```\n{text}\n```"
        else:  # the benchmark's own headings sit under this section's
            text = "\n".join("#" + line if line.startswith("### ") else line for line in text.splitlines())
        out += [f"### {table.title}", "", f"`{table.command}`: {table.reading}", "", text, ""]
    return "\n".join(out)
