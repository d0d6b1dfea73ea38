"""`xprompt run` and `xprompt status`: plan, run what is missing, write the results, intervals,
tables and report (nothing is rewritten when the outputs would not change)."""

from __future__ import annotations

from pathlib import Path

from xprompt.errors import XPromptError
from xprompt.shots import FULL, shots_text


def add_commands(commands) -> None:
    for name, handler, text in (("run", _run, "run a pipeline (cached stages are reused)"),
                                ("status", _status, "show every cell as cached or to run, with why")):
        command = commands.add_parser(name, help=text)
        command.add_argument("pipeline", help="pipeline YAML file")
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                             help="override a key, e.g. --set train.lr=1e-4 --set task.targets=[de,fr]")
        command.add_argument("--every-cell", action="store_true",
                             help="also compute missing cells that only feed cached results (e.g. the trained "
                                  "models of evaluations added by `xprompt cache unpack`, so export finds them)")
        if name == "run":
            command.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
            command.add_argument("--shard", help="I/N: run the I-th of N parts of the grid")
            command.add_argument("--then-help", action="store_true",
                                 help="with --shard, on a cache the shards share: after its own part, compute "
                                      "the other parts' cells that no process has started, last ones first")
            command.add_argument("--quiet", action="store_true", help="no progress bars")
            command.add_argument("--keep-going", action="store_true",
                                 help="finish every cell that can be and list the failed ones at the end")
        else:
            command.add_argument("--ledger", type=Path, nargs="+", default=[], metavar="CSV",
                                 help="ledgers of earlier sessions (`xprompt cache ledger --csv`) whose recorded "
                                      "times join the cached cells' in the estimate of the time left")
        command.set_defaults(handler=handler)


def _run(args) -> int:
    from xprompt.training import distributed
    from xprompt.pipeline.config import load_pipeline, to_dict
    from xprompt.pipeline.cells import other_shards, plan, shard_of
    from xprompt.pipeline.runner import Runner

    config = load_pipeline(args.pipeline, args.set)
    the_plan = plan(config)
    runner = Runner(the_plan, progress=not args.quiet, keep_going=getattr(args, "keep_going", False),
                    every_cell=args.every_cell)
    shard = _parse_shard(args.shard) if args.shard else None
    then_help = getattr(args, "then_help", False)  # `status` has no such option
    if then_help and not shard:
        raise XPromptError("--then-help works with --shard I/N only; a run without --shard does every cell already")
    groups = shard_of(the_plan, *shard) if shard else None
    if args.dry_run:
        return _print_plan(runner, groups, getattr(args, "ledger", []))
    distributed.setup()  # under torchrun / accelerate launch: train cells run data-parallel
    finished = False
    try:
        lock_name = f"xprompt.shard-{shard[0]}-of-{shard[1]}.lock" if shard else None
        outcome = runner.run(groups, lock_name=lock_name)
        if distributed.is_main():  # rank 0 reports and writes the outputs
            _print_outcome(outcome)
            if groups is not None:
                print(f"shard {args.shard} done; run without --shard to aggregate the whole grid")
            elif outcome.rows:
                _write_outputs(runner, outcome, to_dict(config))
        failed = dict(outcome.failed)
        if then_help:
            failed |= _help_other_shards(runner, other_shards(the_plan, *shard), lock_name)
        if distributed.is_main():
            for name, why in failed.items():
                print(f"failed: {name}: {why}")
        finished = True
    finally:
        distributed.teardown(finished)
    return 1 if failed else 0


def _print_plan(runner, groups, ledgers: list) -> int:
    """--dry-run and `status`: each cell's state and the time the missing ones would take; nothing runs."""
    from xprompt.training import distributed

    if distributed.is_main():
        statuses = runner.status(runner.cells_for(groups))
        _print_status(statuses)
        _print_estimate(statuses, runner, ledgers)
    return 0


def _help_other_shards(runner, groups, lock_name: str) -> dict:
    """--then-help: the other shards' cells that no process holds (one another process is computing
    is waited for); returns the failed ones."""
    from xprompt.training import distributed

    helped = runner.run(groups, lock_name=lock_name.replace(".lock", "-helped.lock"))
    if distributed.is_main():
        print("then helped the other shards: ", end="")
        _print_outcome(helped)
    return helped.failed


def _print_outcome(outcome) -> None:
    failed = f", {len(outcome.failed)} failed" if outcome.failed else ""
    skipped = f", {outcome.skipped} not needed" if outcome.skipped else ""
    cached = len(outcome.statuses) - outcome.ran - outcome.skipped - len(outcome.failed)
    print(f"{len(outcome.statuses)} cells: {outcome.ran} ran, {cached} cached{skipped}{failed} "
          f"({outcome.seconds:.1f} s)")
    if outcome.stage_seconds:
        print("time per stage: " + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds
                                             in outcome.stage_seconds.items())
              + (f"; {outcome.evaluated_rows} test rows evaluated, "
                 f"{outcome.evaluated_rows / outcome.stage_seconds['evaluate']:.1f} rows/s"
                 if outcome.evaluated_rows else ""))


def _write_outputs(runner, outcome, config_dict: dict) -> None:
    from xprompt.files import atomic_write_text
    from xprompt.results.table import write_results
    from xprompt.results.collapse import collapse_lines
    from xprompt.results.significance import read_items, read_uncertainty, write_uncertainty

    run_dir = runner.run_dir
    notes = _run_notes(runner)
    fingerprint = _outputs_fingerprint(outcome.rows, config_dict, notes)
    unchanged = _unchanged_outputs(run_dir, fingerprint)
    if not unchanged:
        write_results(outcome.rows, run_dir, {"config": config_dict, "notes": notes})
    for line in notes:
        print(line)
    rows = _frame(outcome.rows)
    if unchanged:  # same results, same configuration: the files on disk already say all of it
        spans, comparisons = read_uncertainty(run_dir)
        items = read_items(run_dir)
    else:
        items = runner.items()
        spans, comparisons = write_uncertainty(items, run_dir, runner.plan.source, len(runner.card.labels),
                                               runner.card.parallel)
    _print_tables(runner, rows, spans, comparisons, write=not unchanged)
    collapsed = collapse_lines(items, runner.plan.source)
    if collapsed:
        print("", *collapsed, sep="\n")
    if unchanged:
        report = run_dir / "report.md"
    else:
        from xprompt.results.report import build_report  # matplotlib: only when the report changes
        report = build_report(rows, run_dir)
        atomic_write_text(run_dir / OUTPUTS_FINGERPRINT, fingerprint + "\n")
    print(f"\nresults: {run_dir / 'results.csv'}\nreport:  {report}" + ("  (unchanged)" if unchanged else ""))


def _run_notes(runner) -> list[str]:
    """What a reader of the run's results must know about its data: written beside them and printed."""
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
    return notes


def _print_tables(runner, rows, spans, comparisons, write: bool) -> None:
    """One accuracy table with intervals per source size and adaptation, and the best method's
    comparisons; with `write`, each table's seed summary as table_k<K>_adapt<k>.csv too."""
    from xprompt.files import atomic_write_text
    from xprompt.results.aggregate import summary_table
    from xprompt.results.significance import best_method_lines, interval_table

    pairs = rows[["shots", "adapt_shots"]].drop_duplicates().sort_values(["shots", "adapt_shots"])
    for shots, adapt in pairs.itertuples(index=False):
        table = interval_table(spans, int(shots), int(adapt), order=runner.plan.targets)
        kind = "zero-shot" if adapt == 0 else f"few-shot (k={adapt} target examples per class)"
        print(f"\naccuracy (%) [95% bootstrap interval over test items and seeds], {runner.plan.source} "
              f"{_source_data(shots)}, {kind}:")
        print(table.to_string())
        for line in best_method_lines(spans, comparisons, int(shots), int(adapt)):
            print(line)
        if write:
            atomic_write_text(runner.run_dir / f"table_k{shots_text(shots)}_adapt{adapt}.csv",
                              summary_table(rows, "accuracy", shots=int(shots), adapt_shots=int(adapt)).to_csv())


OUTPUTS_FINGERPRINT = ".outputs.sha256"


def _source_data(shots) -> str:
    return "full training set" if shots_text(shots) == FULL else f"k={shots} per class"


def _outputs_fingerprint(rows, config_dict: dict, notes: list[str]) -> str:
    import hashlib
    import json

    from xprompt import __version__
    from xprompt.results.statistics import STATISTICS_VERSION
    payload = json.dumps({"rows": rows, "config": config_dict, "notes": notes, "version": __version__,
                          "statistics": STATISTICS_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _unchanged_outputs(run_dir: Path, fingerprint: str) -> bool:
    """True when the run folder's outputs were written from exactly these results and settings."""
    from xprompt.results.collapse import COLLAPSED_FILE

    needed = [OUTPUTS_FINGERPRINT, "results.csv", "intervals.csv", "comparisons.csv", COLLAPSED_FILE, "report.md"]
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
        state = "cached" if status.cached else "to run" if status.needed else "skipped"
        why = "" if status.cached else f"  ({status.reason})"
        print(f"{status.cell.name:<{width}}  {state}{why}")
    todo = sum(not s.cached and s.needed for s in statuses)
    skipped = sum(not s.needed for s in statuses)
    entries = len({(s.cell.stage, s.cell.key) for s in statuses if not s.cached and s.needed})
    shared = (f" ({entries} computation{'s' if entries != 1 else ''}: cells that share a cache entry "
              "compute it once)" if entries < todo else "")
    print(f"\n{len(statuses)} cells: {todo} to run{shared}, {len(statuses) - todo - skipped} cached"
          + (f", {skipped} not needed" if skipped else ""))


def _print_estimate(statuses, runner, ledger_paths: list[Path]) -> None:
    from xprompt.pipeline.cache.estimate import estimate
    from xprompt.pipeline.cache.ledger import read_ledgers

    earlier = {name: (record.stage, record.key) for name, record in runner.previous.items()}
    found = estimate(statuses, runner.cache, read_ledgers(ledger_paths) if ledger_paths else None, earlier)
    if not found.timed + found.untimed:
        return
    caveats = ([f"{found.from_other_sizes} of them timed from cells of another method or K"]
               if found.from_other_sizes else [])
    if found.under_way:
        many = found.under_way > 1
        caveats.append(f"{found.under_way} training{'s go' if many else ' goes'} on from a checkpoint, so only "
                       f"what {'they have' if many else 'it has'} not spent yet counts")
    if found.untimed:  # a cache rebuilt from evaluation packs holds no trained model to time a training by
        caveats.append(f"{found.untimed} more with no timed cell of their stage"
                       + ("" if ledger_paths else ": earlier sessions' ledgers (--ledger CSV ...) may time them"))
    print(f"estimated time left: {_duration(found.seconds)} of compute for {found.timed} cells, one after another "
          f"(the median recorded time of the most like timed cells{'; ' + '; '.join(caveats) if caveats else ''}); "
          f"N shards on N cores take about 1/N of it")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _status(args) -> int:
    args.dry_run, args.shard, args.quiet = True, None, True
    return _run(args)
