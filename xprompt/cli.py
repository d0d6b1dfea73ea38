"""`xprompt run | status | report | methods | data | cache` (export and predict live in export.py)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from xprompt.errors import XPromptError


def _run(args) -> int:
    from xprompt.training import distributed
    from xprompt.pipeline.config import load_pipeline, to_dict
    from xprompt.pipeline.cells import plan, shard_of
    from xprompt.pipeline.runner import Runner

    config = load_pipeline(args.pipeline, args.set)
    the_plan = plan(config)
    runner = Runner(the_plan, progress=not args.quiet, keep_going=getattr(args, "keep_going", False))
    shard = _parse_shard(args.shard) if args.shard else None
    groups = shard_of(the_plan, *shard) if shard else None
    if args.dry_run:
        if not distributed.is_main():
            return 0
        _print_status(runner.status(runner._cells_for(groups)))
        return 0
    distributed.setup()  # under torchrun / accelerate launch: train cells run data-parallel
    finished = False
    try:
        outcome = runner.run(groups, lock_name=f"xprompt.shard-{shard[0]}-of-{shard[1]}.lock" if shard else None)
        if distributed.is_main():  # rank 0 reports and writes the outputs
            failed = f", {len(outcome.failed)} failed" if outcome.failed else ""
            print(f"{len(outcome.statuses)} cells: {outcome.ran} ran, "
                  f"{len(outcome.statuses) - outcome.ran - len(outcome.failed)} cached{failed} ({outcome.seconds:.1f} s)")
            if outcome.stage_seconds:
                print("time per stage: " + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds
                                                     in outcome.stage_seconds.items())
                      + (f"; {outcome.evaluated_rows} test rows evaluated, "
                         f"{outcome.evaluated_rows / outcome.stage_seconds['evaluate']:.1f} rows/s"
                         if outcome.evaluated_rows else ""))
            if groups is not None:
                print(f"shard {args.shard} done; run without --shard to aggregate the whole grid")
            elif outcome.rows:
                _write_outputs(runner, outcome, to_dict(config))
            for name, why in outcome.failed.items():
                print(f"failed: {name}: {why}")
        finished = True
    finally:
        distributed.teardown(finished)
    return 1 if outcome.failed else 0


def _write_outputs(runner, outcome, config_dict: dict) -> None:
    from xprompt.results.aggregate import summary_table
    from xprompt.files import atomic_write_text
    from xprompt.results.table import write_results
    from xprompt.results.significance import best_method_lines, interval_table, read_uncertainty, write_uncertainty

    run_dir = runner.run_dir
    notes = [] if runner.card.parallel else [
        f"consistency: not applicable, the {runner.card.name} test sets are not parallel across languages"]
    for lang, classes in runner.missing_classes().items():
        notes.append(f"{lang}: the test set has no {', '.join(classes)}; its macro-F1 averages the "
                     f"{len(runner.card.labels) - len(classes)} classes it has")
    if runner.config.adapt.shots:
        notes.append("few-shot adaptation: target shots exclude the translations of the source training shots "
                     "(parallel data set)" if runner.card.parallel else
                     "few-shot adaptation: target shots drawn per language with the run's seed (the data set is "
                     "not parallel, so no item is shared with the source shots)")
    fingerprint = _outputs_fingerprint(outcome.rows, config_dict, notes)
    unchanged = _unchanged_outputs(run_dir, fingerprint)
    if not unchanged:
        write_results(outcome.rows, run_dir, {"config": config_dict, "notes": notes})
    for line in notes:
        print(line)
    rows = _frame(outcome.rows)
    if unchanged:  # same results, same configuration: the files on disk already say all of it
        spans, comparisons = read_uncertainty(run_dir)
    else:
        spans, comparisons = write_uncertainty(runner.items(), run_dir, runner.plan.source, len(runner.card.labels),
                                               runner.card.parallel)
    pairs = rows[["shots", "adapt_shots"]].drop_duplicates().sort_values(["shots", "adapt_shots"])
    for shots, adapt in pairs.itertuples(index=False):
        table = interval_table(spans, int(shots), int(adapt), order=runner.plan.targets)
        kind = "zero-shot" if adapt == 0 else f"few-shot (k={adapt} target examples per class)"
        print(f"\naccuracy (%) [95% bootstrap interval over test items and seeds], {runner.plan.source} "
              f"{_source_data(shots)}, {kind}:")
        print(table.to_string())
        for line in best_method_lines(spans, comparisons, int(shots), int(adapt)):
            print(line)
        if not unchanged:
            atomic_write_text(run_dir / f"table_k{_shots_name(shots)}_adapt{adapt}.csv",
                              summary_table(rows, "accuracy", shots=int(shots), adapt_shots=int(adapt)).to_csv())
    if unchanged:
        report = run_dir / "report.md"
    else:
        from xprompt.results.report import build_report  # matplotlib: only when the report changes
        report = build_report(rows, run_dir)
    if not unchanged:
        atomic_write_text(run_dir / OUTPUTS_FINGERPRINT, fingerprint + "\n")
    print(f"\nresults: {run_dir / 'results.csv'}\nreport:  {report}" + ("  (unchanged)" if unchanged else ""))


OUTPUTS_FINGERPRINT = ".outputs.sha256"


def _shots_name(shots) -> str:
    from xprompt.pipeline.config import shots_text
    return shots_text(shots)


def _source_data(shots) -> str:
    from xprompt.pipeline.config import shots_text
    return "full training set" if shots_text(shots) == "full" else f"k={shots} per class"


def _outputs_fingerprint(rows, config_dict: dict, notes: list[str]) -> str:
    import hashlib
    import json

    from xprompt import __version__
    payload = json.dumps({"rows": rows, "config": config_dict, "notes": notes, "version": __version__},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _unchanged_outputs(run_dir: Path, fingerprint: str) -> bool:
    """True when the run folder's outputs were written from exactly these results and settings."""
    needed = [OUTPUTS_FINGERPRINT, "results.csv", "intervals.csv", "comparisons.csv", "report.md"]
    if not all((run_dir / name).is_file() for name in needed):
        return False
    return (run_dir / OUTPUTS_FINGERPRINT).read_text().strip() == fingerprint


def _frame(rows):
    import pandas as pd
    return pd.DataFrame(rows)


def _parse_shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()):
        raise XPromptError(f"--shard {text!r} must look like I/N, e.g. 1/4")
    return int(index), int(count)


def _print_status(statuses) -> None:
    width = max((len(s.cell.name) for s in statuses), default=0)
    for status in statuses:
        state = "cached" if status.cached else "to run"
        why = "" if status.cached else f"  ({status.reason})"
        print(f"{status.cell.name:<{width}}  {state}{why}")
    todo = sum(not s.cached for s in statuses)
    print(f"\n{len(statuses)} cells: {todo} to run, {len(statuses) - todo} cached")


def _status(args) -> int:
    args.dry_run, args.shard, args.quiet = True, None, True
    return _run(args)


def _report(args) -> int:
    from xprompt.results.report import report_from_run
    print(report_from_run(Path(args.run)))
    return 0


def _methods(args) -> int:
    from xprompt.methods import registry
    for name, spec in sorted(registry().items()):
        print(f"{name}: {spec.summary}")
        print(f"    paper: {spec.paper}")
        print(f"    trained: {spec.trained}")
        for f in dataclasses.fields(spec.config_class):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            default = getattr(default, "value", default)
            print(f"    {f.name} = {default!r}  {f.metadata.get('help', '')}")
    return 0


def _data(args) -> int:
    from xprompt.data import known_tasks, load_card, load_split
    if args.data_command == "check":
        from xprompt.data.check import check_command
        return check_command(args.task, args.data_root, args.langs)
    if args.data_command == "tasks":
        for name in known_tasks():
            card = load_card(name)
            print(f"{name}: {len(card.labels)} classes, {len(card.languages)} languages — {card.description}")
        return 0
    card = load_card(args.task)
    table = load_split(card, args.lang or card.source_language, args.split, args.data_root)
    print(f"{card.name} {args.lang or card.source_language} {args.split}: {len(table)} rows; labels: "
          + ", ".join(f"{card.labels[i]}={n}" for i, n in sorted(table["label"].value_counts().items())))
    print(table.head(args.rows).to_string())
    return 0


def _cache(args) -> int:
    from xprompt.pipeline.cache import Cache, read_lockfile
    cache = Cache(Path(args.cache_dir))
    if args.cache_command == "ls":
        for entry in cache.entries():
            print(f"{entry.stage:<9} {entry.key}  {entry.size / 1e6:9.2f} MB  {entry.created}")
        return 0
    referenced = set()
    locks = sorted(Path(args.runs).glob("**/xprompt*.lock"))
    if not locks and cache.entries():  # a mistyped --runs must not empty a shared cache
        raise XPromptError(f"no lock file (xprompt.lock) under {args.runs}, so every cache entry would be "
                           f"removed; pass --runs with the output folder of the runs to keep")
    for lock in locks:
        referenced |= {(r.stage, r.key) for r in read_lockfile(lock).values()}
    removed = cache.gc(referenced)
    print(f"removed {len(removed)} entries, checkpoints and leftovers used by no lock file under {args.runs} "
          f"and by no run in progress")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xprompt", description="Cross-lingual prompt transfer.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, text in (("run", _run, "run a pipeline (cached stages are reused)"),
                                ("status", _status, "show every cell as cached or to run, with why")):
        command = commands.add_parser(name, help=text)
        command.add_argument("pipeline", help="pipeline YAML file")
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                             help="override a key, e.g. --set train.lr=1e-4 --set task.targets=[de,fr]")
        if name == "run":
            command.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
            command.add_argument("--shard", help="I/N: run the I-th of N parts of the grid")
            command.add_argument("--quiet", action="store_true", help="no progress bars")
            command.add_argument("--keep-going", action="store_true",
                                 help="finish every cell that can be and list the failed ones at the end")
        command.set_defaults(handler=handler)
    report = commands.add_parser("report", help="rebuild report.md and figures from a run's results")
    report.add_argument("run", help="run directory (runs/<name>) or a results file")
    report.set_defaults(handler=_report)
    commands.add_parser("methods", help="list methods and their options").set_defaults(handler=_methods)
    _add_data_and_cache(commands)
    _add_export_commands(commands)
    _add_library_commands(commands)
    _add_search_commands(commands)
    return parser


def _add_data_and_cache(commands) -> None:
    data = commands.add_parser("data", help="look at task cards and data")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    data_commands.add_parser("tasks", help="list known tasks")
    show = data_commands.add_parser("show", help="load one split and print a few rows")
    show.add_argument("task")
    show.add_argument("--lang")
    show.add_argument("--split", default="test")
    show.add_argument("--data-root")
    show.add_argument("--rows", type=int, default=5)
    check = data_commands.add_parser("check", help="load every language and split of a task card and "
                                                   "report classes, empty texts, duplicates and overlaps")
    check.add_argument("task", help="known task or path to a task card YAML")
    check.add_argument("--data-root", help="folder with the card's files (default: task.data_root / $XPROMPT_DATA)")
    check.add_argument("--langs", nargs="+", help="only these languages (default: all of the card's)")
    data.set_defaults(handler=_data)
    cache = commands.add_parser("cache", help="list or clean the stage cache")
    cache.add_argument("cache_command", choices=["ls", "gc"])
    cache.add_argument("--cache-dir", default=".xprompt-cache")
    cache.add_argument("--runs", default="runs", help="folder whose lock files say what is still used (gc)")
    cache.set_defaults(handler=_cache)


def _add_export_commands(commands) -> None:
    from xprompt.prompts.commands import add_commands
    add_commands(commands)


def _add_library_commands(commands) -> None:
    from xprompt.prompts.library_commands import add_commands
    add_commands(commands)


def _add_search_commands(commands) -> None:
    from xprompt.search import add_commands
    add_commands(commands)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.handler(args)
    except XPromptError as error:
        print(f"xprompt: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        from xprompt.pipeline.cache.store import DISK_ERRORS
        if error.errno not in DISK_ERRORS:
            raise
        print(f"xprompt: error: cannot write {error.filename or 'the output'} ({DISK_ERRORS[error.errno]}); free "
              f"space or fix permissions there, or choose another output_dir / cache_dir", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
