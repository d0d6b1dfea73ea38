"""The cost and speed part of the results page, read from one run of benchmarks.speed_suite: each
benchmark printed its own Markdown table (with the machine and load), and this module sets them
under one heading each with the command that produced it (from speed_suite.SUITE, the list the
suite runs). Nothing is measured or edited here.

    python -m benchmarks.results_page RUN ... --speed benchmarks/out/quiet-20261204"""

from __future__ import annotations

from pathlib import Path

from benchmarks.speed_suite import SUITE, shown
from xprompt.errors import ConfigError


def demoted(text: str) -> str:
    """A benchmark's own table text with its ### headings one level down, to sit under a section's."""
    return "\n".join("#" + line if line.startswith("### ") else line for line in text.splitlines())


def speed_section(folder: Path) -> str:
    """The '## Cost and speed' section from the files of one speed-suite run in `folder`."""
    if not folder.is_dir():
        raise ConfigError(f"--speed {folder} is not a folder; "
                          "give the OUT folder of `python -m benchmarks.speed_suite`")
    found = [step for step in SUITE if (folder / step.file).is_file()]
    if not found:
        raise ConfigError(f"--speed {folder} holds none of {', '.join(s.file for s in SUITE)}; "
                          f"run `python -m benchmarks.speed_suite {folder}` first")
    missing = [step.file for step in SUITE if step not in found]
    out = ["## Cost and speed", "",
           f"One run of `python -m benchmarks.speed_suite {folder.as_posix()}` on a quiet machine (the background "
           "grids stopped); each table runs its variants side by side in one process, so read its ratios, not its "
           "absolute seconds. In the commands, OUT is that folder, WORK a scratch folder emptied first and DATA "
           "the data root." + (f" Not in this run: {', '.join(missing)}." if missing else ""), ""]
    for step in found:
        text = (folder / step.file).read_text(encoding="utf-8").strip()
        if step.file.endswith(".txt"):
            text = f"```\n{text}\n```"
        else:
            text = demoted(text)
        commands = "\n".join(f"    {shown(command)}" for command in step.commands)
        out += [f"### {step.title}", "", commands, "", step.reading[0].upper() + step.reading[1:], "", text, ""]
    return "\n".join(out)


GPU_SCRIPT = "bash benchmarks/gpu_session.sh"


def gpu_section(folder: Path | None) -> str:
    """The GPU table from one run of benchmarks/gpu_session.sh (its machine.txt and one table per
    encoder shape), or, with no folder, a line saying that no GPU has been measured and how to."""
    out = ["### On a GPU: each method's training step, evaluation and peak memory against a plain Hugging Face step",
           ""]
    if folder is None:
        return "\n".join(out + [f"Not measured: no session has had a GPU yet. `{GPU_SCRIPT}` is the one script to "
                                "run when one is lent (about ten minutes; see its head).", ""])
    paths = [folder / f"{shape}.md" for shape in ("large", "base")]
    tables = [text for text in (p.read_text(encoding="utf-8").strip() for p in paths if p.is_file()) if text]
    if not (folder / "machine.txt").is_file() or not tables:
        raise ConfigError(f"--gpu {folder} holds no machine.txt and large.md or base.md; give a folder "
                          f"`{GPU_SCRIPT}` wrote (benchmarks/out/gpu/<stamp>)")
    machine = (folder / "machine.txt").read_text(encoding="utf-8").strip()
    out += [f"`{GPU_SCRIPT}` (`python -m benchmarks.gpu --shape large|base --device cuda --dtypes float32,bfloat16`), "
            f"written to `{folder.as_posix()}`: encoders of XLM-R's shapes with random weights (fine for speed and "
            "memory, never for accuracy); ratios are to the plain step in the same dtype.", "",
            "```", machine, "```", ""]
    for text in tables:
        out += [demoted(text), ""]
    return "\n".join(out)
