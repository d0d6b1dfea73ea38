"""The cost and speed part of the results page, read from one run of benchmarks.speed_suite: each
benchmark printed its own Markdown table (with the machine and load), and this module sets them
under one heading each with the command that produced it (from speed_suite.SUITE, the list the
suite runs). Nothing is measured or edited here.

    python -m benchmarks.results_page RUN ... --speed benchmarks/out/quiet-20261204"""

from __future__ import annotations

from pathlib import Path

from benchmarks.speed_suite import SUITE, shown
from xprompt.errors import ConfigError


def speed_section(folder: Path) -> str:
    """The '## Cost and speed' section from the files of one speed-suite run in `folder`."""
    if not folder.is_dir():
        raise ConfigError(f"--speed {folder} is not a folder; give the OUT folder of `python -m benchmarks.speed_suite`")
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
        else:  # the benchmark's own headings sit under this section's
            text = "\n".join("#" + line if line.startswith("### ") else line for line in text.splitlines())
        commands = "\n".join(f"    {shown(command)}" for command in step.commands)
        out += [f"### {step.title}", "", commands, "", step.reading[0].upper() + step.reading[1:], "", text, ""]
    return "\n".join(out)
