"""The headline quality section of benchmarks/RESULTS.md, regenerated from run folders: per task
and source data size, every method's average target accuracy with its 95% interval and its
paired difference to each baseline; a figure of accuracy against data size per method with
intervals; and the goal check of the transfer-quality issue (the configuration declared before the
runs, or failing that the best method, at least 3 points above each baseline, with an interval
that excludes 0), kept apart for the two settings
"zero-shot" and "zero-shot + unlabelled target text".

    python -m benchmarks.interim pipelines/quality-grid-sib200.yaml --set cache_dir=... -o runs/grid-sib200
    python -m benchmarks.results_page runs/grid-sib200 runs/grid-marc runs/grid-xnli \\
        --versus finetune+checkpoint-average+ensemble,probe+checkpoint-average+ensemble \\
        --declared uniprompt+checkpoint-average+ensemble,uniprompt+checkpoint-average+self-training+ensemble \\
        --figures benchmarks/figures --speed benchmarks/out/quiet-20261204 --into benchmarks/RESULTS.md

Each folder holds intervals.csv, comparisons.csv and run.json (written by `xprompt run` or by
benchmarks.interim), and where the run wrote them collapsed.csv and
comparisons_without_collapsed.csv (its collapsed seeds, and the comparisons with one on a side
again without it). With --into, the text between the lines `<!-- results_page start -->` and
`<!-- results_page end -->` of that file is replaced; without it the section is printed.
--speed adds the cost and speed tables of one run of benchmarks.speed_suite (see
benchmarks.speed_tables) and the GPU table of one run of benchmarks/gpu_session.sh named by --gpu
(or a line saying no GPU has been measured); --ledger adds, per grid folder
(benchmarks/out/<pipeline>), where and when its cells ran and their wall and CPU hours, from the
ledger-*.csv files benchmarks/grid.sh writes beside its packs. The verdicts (goal check, where
xprompt is ahead, across tasks) come from benchmarks.goal_check. Nothing is recomputed: every
number is a run's own."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.common import markdown_table
from benchmarks.goal_check import GOAL_POINTS, across_tasks, averages, goal_rows, size_text, where_ahead
from benchmarks.interval_summary import load, load_collapse, versus_table
from benchmarks.page_notes import collapse_note, incomplete, interim_count, parallel_task, width_note
from benchmarks.published import published_table
from benchmarks.speed_tables import gpu_section, speed_section
from xprompt.errors import ConfigError
from xprompt.results.settings import uses_target_text
from xprompt.results.statistics import AVG, format_interval
from xprompt.shots import shots_text

START, END = "<!-- results_page start -->", "<!-- results_page end -->"


def plot_against_size(spans: pd.DataFrame, task: str, path: Path) -> None:
    """Average target accuracy against source data size, one line per method, 95% intervals as bars."""
    import numpy as np
    from matplotlib.figure import Figure

    from xprompt.results.figure_parts import method_styles
    from xprompt.results.figures import save_figure

    table = averages(spans)
    sizes = sorted(table["shots"].unique())
    methods = list(pd.unique(table.sort_values("estimate", ascending=False)["method"]))
    styles = method_styles(methods)
    figure = Figure(figsize=(10, 4.8), layout="constrained")
    ax = figure.subplots()
    width = 0.6 / max(len(methods), 1)
    for index, method in enumerate(methods):
        part = table[table["method"] == method].set_index("shots").reindex(sizes)
        x = np.arange(len(sizes)) + (index - (len(methods) - 1) / 2) * width
        estimate = part["estimate"].to_numpy(float) * 100
        bars = [estimate - part["ci_low"].to_numpy(float) * 100, part["ci_high"].to_numpy(float) * 100 - estimate]
        colour, marker = styles[method]
        ax.errorbar(x, estimate, yerr=bars, fmt=marker, color=colour, capsize=3, linewidth=1.2,
                    markersize=4, label=method,
                    linestyle=("--" if uses_target_text(method) else "-") if len(sizes) > 1 else "none")
    ax.set_xticks(np.arange(len(sizes)), labels=[f"K = {shots_text(s)}" if shots_text(s) != "full" else "full"
                                                 for s in sizes])
    ax.set_ylabel("accuracy (%), average over targets")
    ax.set_title(f"{task}: zero-shot transfer from English, 95% intervals (dashed: + unlabelled target text)",
                 fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)  # beside the plot, off the bars
    save_figure(figure, path)


@dataclass
class TaskBlock:
    """What one run folder gives the page: its own lines, and its share of the page's summaries."""
    name: str
    lines: list[str]
    goals: list  # goal_rows of every source size
    ours: dict  # (task, size, method, targets) -> its average target accuracy, for the published table
    unpaired: list[str]  # sizes where no baseline ran
    planned: list[str]  # the source sizes the run's configuration asks for


def complete_averages(task: str, average: pd.DataFrame, gaps: dict, targets: int) -> dict:
    """(task, shots, method, number of targets) -> 'estimate [interval]' of every average whose cells
    are all there: a paper's number is set beside complete cells only."""
    ours = {}
    for _, row in average.iterrows():
        if row["method"] not in gaps.get(row["shots"], {}):
            ours.setdefault((task, shots_text(row["shots"]), row["method"], targets),
                            format_interval(row["estimate"], row["ci_low"], row["ci_high"]))
    return ours


def heading(task: str, name: str, info: dict, sizes: pd.Series, average: pd.DataFrame,
            collapsed: pd.DataFrame) -> list[str]:
    """A run's title, what it covers (targets, test rows, seeds; how far an interim run is), how wide
    its intervals are, and which seeds collapsed."""
    config = info.get("config", {})
    out = [f"### {task} ({name})", "",
           f"{config.get('name', name)}: {len(sizes) - 1} targets, {int(sizes.min())}-{int(sizes.max())} "
           f"test rows per language, seeds {', '.join(str(s) for s in config.get('seeds', []))}"
           + (f" (interim: {interim_count(info)}what the cache held when this was written; a method "
              "with evaluations still missing averages fewer targets, and its differences pair only the "
              "targets both methods have)" if info.get("interim") else "") + ".", ""]
    out += [width_note(average, int(sizes.median()), len(sizes) - 1,
                       config.get("task", {}).get("test_size") is None, parallel_task(config)), ""]
    note = collapse_note(collapsed)
    return out + ([note, ""] if note else [])


def task_block(folder: Path, baselines: list[str], figures: Path | None, relative_to: Path | None,
               declared: list[str]) -> TaskBlock:
    spans, comparisons, info = load(folder)
    collapsed, without = load_collapse(folder)
    config = info.get("config", {})
    task = config.get("task", {}).get("name", folder.name)
    chosen = spans[(spans["metric"] == "accuracy") & (spans["target"] != AVG) & (spans["adapt_shots"] == 0)]
    sizes = chosen.groupby("target")["n"].max()
    average = averages(spans)
    gaps = {shots: incomplete(chosen, shots, len(config.get("seeds", [])))
            for shots in average["shots"].unique()} if info.get("interim") else {}
    ours = complete_averages(task, average, gaps, len(sizes) - 1)
    out = heading(task, folder.name, info, sizes, average, collapsed)
    present = [b for b in baselines if b in set(average["method"])]
    unpaired = []
    for shots in sorted(average["shots"].unique()):
        label = "the whole training set" if shots_text(shots) == "full" else f"K = {int(shots)} per class"
        out += [f"Source data: {label}", "",
                versus_table(spans, comparisons, int(shots), present, without, collapsed), ""]
        missing = [f"{method} ({what})" for method, what in gaps.get(shots, {}).items()]
        if missing:
            out += ["Still incomplete at this size (its average and differences cover only what ran): "
                    + "; ".join(missing) + ".", ""]
        if not set(average.loc[average["shots"] == shots, "method"]) & set(baselines):
            unpaired.append(f"{task} {size_text(shots)} ({folder.name})")
    if figures is not None:
        figures.mkdir(parents=True, exist_ok=True)
        path = figures / f"accuracy_by_size_{folder.name}.png"
        plot_against_size(spans, task, path)
        link = path.relative_to(relative_to) if relative_to else path
        out += [f"![{task}: accuracy against source data size]({link.as_posix()})", ""]
    families = {b.split("+")[0] for b in baselines}
    goals = goal_rows(spans, comparisons, task, folder.name, present, families, declared, collapsed, without)
    return TaskBlock(folder.name, out, goals, ours, unpaired,
                     [shots_text(shots) for shots in config.get("shots", [])])


def section(folders: list[Path], baselines: list[str], figures: Path | None, relative_to: Path | None,
            declared: list[str] = ()) -> str:
    blocks = [task_block(folder, baselines, figures, relative_to, declared) for folder in folders]
    goals = [goal for block in blocks for goal in block.goals]
    ours = {}
    for block in blocks:  # the first run of a setting is the one set beside the paper
        for setting, value in block.ours.items():
            ours.setdefault(setting, value)
    head = ["## Headline grid: the best configuration against fine-tuning and the probe", "",
            "Regenerated by `python -m benchmarks.results_page " + " ".join(str(f) for f in folders)
            + f" --versus {','.join(baselines)}" + (f" --declared {','.join(declared)}" if declared else "")
            + "`. Differences are paired (same items and seeds; an ensemble is "
            "paired with each seed of the other method), 95% bootstrap intervals; **bold**: the interval "
            "excludes 0.", ""]
    published = ["### Beside the published numbers", "",
                 "Each paper's own average target accuracy beside xprompt's in the closest setting it ran; the "
                 "last column says how the settings differ (a smaller encoder here, among others), so read "
                 "these as context, not as paired comparisons.", "", published_table(ours), ""]
    return "\n".join(head + where_ahead(goals, [u for block in blocks for u in block.unpaired])
                     + across_tasks(goals, {block.name: block.planned for block in blocks})
                     + goal_check(goals, declared) + published + [line for block in blocks for line in block.lines])


def goal_check(goals: list, declared: list[str]) -> list[str]:
    return ["### Goal check", "",
            f"Each setting's method under test against each baseline; the goal is at least {GOAL_POINTS:.0f} points "
            "with an interval excluding 0. The method under test is the configuration declared before the runs "
            + (f"(`--declared`: the first of {', '.join(declared)} that the setting has) " if declared else "")
            + "where the setting has one (\"declared beforehand\"); otherwise it is the best by average, baselines "
            "excluded, picked on the same test rows (\"best on these test rows\"), which favours it where a run "
            "holds many variants: there the difference is an upper reading.", "",
            markdown_table(["task", "run", "source data", "setting", "method under test", "chosen", "baseline",
                            "difference, points [95% CI]", "goal met"], [goal.row() for goal in goals])
            if goals else "(no comparison yet)", ""]


def ledger_section(folders: list[Path]) -> str:
    """Per grid: its cached cells by day and machine, merged over the ledgers of every session."""
    from xprompt.pipeline.cache.ledger import read_ledgers, summary_markdown

    out = ["### Where and when the cells ran", "",
           "From the ledgers `benchmarks/grid.sh` writes beside each pack (`xprompt cache ledger`): every cell "
           "of the grid that the cache held at a pack, by the day it was computed and the machine it ran on. "
           "Cells computed before commit aced51c (2026-12-04) did not record their seconds or machine.", ""]
    for folder in folders:
        paths = sorted(folder.glob("ledger-*.csv"))
        if not paths:
            raise ConfigError(f"--ledger {folder} holds no ledger-*.csv; `bash benchmarks/grid.sh PIPELINE "
                              f"--pack-only` writes one")
        out += [f"`{folder.as_posix()}` ({len(paths)} ledger{'s' if len(paths) > 1 else ''}):", "",
                summary_markdown(read_ledgers(paths)), ""]
    return "\n".join(out)


def replace_section(path: Path, text: str) -> None:
    page = path.read_text(encoding="utf-8")
    if START not in page or END not in page:
        raise ConfigError(f"{path} has no '{START}' ... '{END}' lines; add them where the section belongs")
    before, rest = page.split(START, 1)
    after = rest.split(END, 1)[1]
    path.write_text(f"{before}{START}\n{text.rstrip()}\n{END}{after}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.results_page", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (intervals.csv, comparisons.csv, run.json)")
    parser.add_argument("--versus", required=True, help="comma-separated baseline methods")
    parser.add_argument("--declared", default="", help="comma-separated configurations fixed before the runs, in "
                        "order of preference: the goal check tests the first one a setting has instead of the "
                        "best on the test rows")
    parser.add_argument("--figures", type=Path, help="folder for the accuracy-by-size figures")
    parser.add_argument("--speed", type=Path,
                        help="OUT folder of `python -m benchmarks.speed_suite` (cost and speed tables)")
    parser.add_argument("--gpu", type=Path, help="a folder benchmarks/gpu_session.sh wrote (the GPU table); with "
                        "--speed and without --gpu the page says no GPU has been measured")
    parser.add_argument("--ledger", type=Path, nargs="+", default=[],
                        help="grid folders holding ledger-*.csv (benchmarks/out/<pipeline>)")
    parser.add_argument("--into", type=Path, help="Markdown file whose results_page section is replaced")
    args = parser.parse_args(argv)
    baselines = [b.strip() for b in args.versus.split(",") if b.strip()]
    declared = [d.strip() for d in args.declared.split(",") if d.strip()]
    try:
        text = section(args.runs, baselines, args.figures, args.into.parent if args.into else None, declared)
        if args.ledger:
            text += "\n" + ledger_section(args.ledger)
        if args.speed:
            text += "\n" + speed_section(args.speed)
        if args.speed or args.gpu:
            text += "\n" + gpu_section(args.gpu)
        if args.into:
            replace_section(args.into, text)
            print(f"wrote the results_page section of {args.into}")
        else:
            print(text)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
