"""`xprompt report`: rebuild a run's report from its results."""

from __future__ import annotations

from pathlib import Path


def add_commands(commands) -> None:
    report = commands.add_parser("report", help="rebuild report.md and figures from a run's results")
    report.add_argument("run", help="run directory (runs/<name>) or a results file")
    report.set_defaults(handler=_report)


def _report(args) -> int:
    from xprompt.results.report import report_from_run
    print(report_from_run(Path(args.run)))
    return 0
