"""The results page's verdicts: per run, data size and setting, the method under test (declared before
the runs, or failing that the best by average) against each baseline, with whether it meets the
transfer-quality issue's goal (at least GOAL_POINTS ahead, its 95% interval excluding 0) and what
collapsed seeds do to the difference; then the short "where xprompt is ahead" summary and the
across-tasks tables built from those rows. benchmarks.results_page lays them out on the page."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchmarks.common import markdown_table
from benchmarks.interval_summary import (NO_PAIR, collapsed_here, collapsed_on_a_side, difference,
                                         difference_text)
from xprompt.results.settings import uses_target_text
from xprompt.results.statistics import AVG
from xprompt.shots import shots_text

GOAL_POINTS = 3.0  # the transfer-quality issue's goal: this far above each baseline, interval excluding 0


def averages(spans: pd.DataFrame) -> pd.DataFrame:
    """Zero-shot average-over-targets accuracy rows: method, shots, estimate, ci_low, ci_high, n_seeds."""
    return spans[(spans["metric"] == "accuracy") & (spans["adapt_shots"] == 0) & (spans["target"] == AVG)]


@dataclass(frozen=True)
class Goal:
    """One line of the goal check: a run's method under test against one baseline at one data size."""

    task: str
    run: str
    shots: str
    setting: str
    method: str  # the method under test: declared beforehand, or the best by average
    baseline: str
    difference: str
    verdict: str  # "yes", "no (ahead, by less)", "no (behind)", "no (interval includes 0)" or CARRIED
    declared: bool = False  # the method was named beforehand (--declared), not picked on these test rows
    without: str = ""  # what the row says about collapsed seeds (collapse_remark), if anything

    @property
    def ahead(self) -> bool:
        return self.verdict in ("yes", "no (ahead, by less)")

    @property
    def chosen(self) -> str:
        return "declared beforehand" if self.declared else "best on these test rows"

    def row(self) -> list[str]:
        return [self.task, self.run, self.shots, self.setting, self.method, self.chosen, self.baseline,
                self.difference + (f" ({self.without})" if self.without else ""), self.verdict]


CARRIED = "no (only with a collapsed seed)"


def verdict(found: dict, without: dict | None = None, unpaired: bool = False) -> str:
    """Whether a paired difference meets the goal, and if not, which way its interval points;
    `without`: the same difference without the seeds that collapsed, where a side has one;
    `unpaired`: a side has one and without it no seed is left to pair. A difference whose interval
    excludes 0 only with such a seed in is CARRIED, never a win or a loss."""
    apart = found["low"] > 0 or found["high"] < 0
    if apart and (unpaired or (without is not None and without["low"] <= 0 <= without["high"])):
        return CARRIED
    if found["low"] > 0:
        return "yes" if found["points"] >= GOAL_POINTS else "no (ahead, by less)"
    return "no (behind)" if found["high"] < 0 else "no (interval includes 0)"


def goal_rows(spans: pd.DataFrame, comparisons: pd.DataFrame, task: str, run: str, baselines: list[str],
              families: set[str], declared: list[str] = (), collapsed: pd.DataFrame | None = None,
              without: pd.DataFrame | None = None) -> list[Goal]:
    """Per data size and setting: the method under test and its paired difference to each baseline,
    with whether it meets the goal. The method under test is the first of `declared` (the
    configurations fixed before the runs, in order of preference) that this size and setting has;
    failing that, the best by average, leaving out every variant of the baselines' methods
    (`families`: finetune+checkpoint-average is fine-tuning, never "the best"). `collapsed` and
    `without`: the run's collapsed seeds and its comparisons again without them (collapsed.csv and
    comparisons_without_collapsed.csv), where the run wrote them."""
    rows = []
    table = averages(spans)
    for shots in sorted(table["shots"].unique()):
        here = table[(table["shots"] == shots) & ~table["method"].map(lambda m: m.split("+")[0]).isin(families)]
        for text in (False, True):
            candidates = here[here["method"].map(uses_target_text) == text]
            if candidates.empty:
                continue
            named = [method for method in declared if method in set(candidates["method"])]
            tested = named[0] if named else candidates.loc[candidates["estimate"].idxmax(), "method"]
            for baseline in baselines:
                found = difference(comparisons, int(shots), tested, baseline)
                if found is not None:
                    again = difference(without, int(shots), tested, baseline) if without is not None else None
                    unpaired = again is None and without is not None and \
                        collapsed_on_a_side(collapsed, shots, (tested, baseline))
                    rows.append(Goal(task, run, shots_text(shots),
                                     "zero-shot + unlabelled target text" if text else "zero-shot", tested, baseline,
                                     difference_text(found, mark=False),
                                     verdict(found, again, unpaired), declared=bool(named),
                                     without=collapse_remark(collapsed, shots, (tested, baseline), again, unpaired)))
    return rows


def collapse_remark(collapsed: pd.DataFrame | None, shots, pair: tuple[str, str], again: dict | None,
                    unpaired: bool = False) -> str:
    """What a goal row says about collapsed seeds: the difference again without them where a side
    has one (or that no seed is left to pair, `unpaired`); where a side is a seed ensemble with a
    collapsed member, that it includes it (the ensemble is one model, so no comparison without the
    member exists); else nothing."""
    if again is not None or unpaired:
        return f"without {who_collapsed(collapsed, shots, pair)}: " + (NO_PAIR if unpaired else
                                                                      difference_text(again, mark=False))
    members = who_collapsed(collapsed, shots, tuple(m.removesuffix("+ensemble") for m in pair
                                                    if m.endswith("+ensemble")), fallback="")
    return f"an ensemble here includes {members}" if members else ""


def who_collapsed(collapsed: pd.DataFrame | None, shots, methods: tuple[str, ...],
                  fallback: str = "the collapsed seeds") -> str:
    """'finetune's collapsed seed 42' (or seeds 13, 21) for these methods at this size; `fallback`
    where none of them has one."""
    here = collapsed_here(collapsed, shots, methods)
    parts = []
    for method, rows in here.groupby("method", sort=False):
        seeds = [str(int(seed)) for seed in rows["seed"]]
        parts.append(f"{method}'s collapsed seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}")
    return " and ".join(parts) or fallback


def size_text(shots) -> str:
    """'full' or 'K = 16': a source data size in running text."""
    text = shots_text(shots)
    return text if text == "full" else f"K = {text}"


def where_ahead(goals: list[Goal], unpaired: list[str]) -> list[str]:
    """The short summary: the method under test's paired differences to each baseline, named ahead or
    behind only where the interval excludes 0; the rest is said to show no difference."""
    def cell(goal: Goal) -> str:
        return (f"{goal.task} {size_text(goal.shots)} ({goal.run}, {goal.setting}): "
                f"{goal.method} − {goal.baseline} {goal.difference}"
                + ("" if goal.declared else " (best on these test rows)")
                + (f"; {goal.without}" if goal.without else ""))
    ahead = [cell(goal) for goal in goals if goal.ahead]
    behind = [cell(goal) for goal in goals if goal.verdict == "no (behind)"]
    level = [cell(goal) for goal in goals if goal.verdict == "no (interval includes 0)"]
    carried = [cell(goal) for goal in goals if goal.verdict == CARRIED]
    out = ["### Where xprompt is ahead, and where it is not", "",
           "From the goal check below (read its note on picking the best): a difference is called ahead or "
           "behind only when its 95% interval excludes 0.", ""]
    always = (("Ahead", ahead), ("Behind", behind), ("No difference shown (the interval includes 0)", level))
    when_any = (("Apart only through a seed that collapsed (without it the interval includes 0, or no seed is "
                 "left to pair)", carried),
                ("No baseline run yet", unpaired))
    for title, rows in always + when_any:
        if rows or title in dict(always):
            out += [f"- **{title}**:" + ("" if rows else " none.")] + [f"  - {row}" for row in rows]
    return out + [""]


def _kind_table(kind: str, mine: list[Goal], planned: dict[str, list[str]]) -> list[str]:
    """across_tasks' table for one method under test: a row per task, run and baseline, a column per
    source data size any of its runs plans or has."""
    runs = {goal.run for goal in mine}
    sizes = sorted({size for run in runs for size in planned.get(run, [])} | {goal.shots for goal in mine},
                   key=lambda text: (text == "full", int(text) if text.isdigit() else 0))
    one_method = len({goal.method for goal in mine}) == 1
    cells: dict[tuple, dict[str, str]] = {}
    for goal in mine:
        bold = "**" if goal.verdict not in ("no (interval includes 0)", CARRIED) else ""
        cells.setdefault((goal.task, goal.run, goal.baseline), {})[goal.shots] = (
            f"{bold}{goal.difference}{bold}" + ("†" if goal.verdict == CARRIED else "")
            + ("" if one_method else f" ({goal.method})"))
    rows = [[task, run, baseline] + [found.get(size, "not run yet" if size in planned.get(run, []) else "–")
                                     for size in sizes] for (task, run, baseline), found in cells.items()]
    tested = f"{kind} minus each baseline" if one_method else "the method under test (in brackets) minus each baseline"
    header = ["task", "run", "baseline"] + [size_text(size) for size in sizes]
    return [f"{tested}:", "", markdown_table(header, rows), ""]


def across_tasks(goals: list[Goal], planned: dict[str, list[str]]) -> list[str]:
    """The goal check's zero-shot rows condensed to one table per method under test (each run is
    filed under the method it tests first, so the headline grids' best configuration and the
    every-method grids' plain UniPrompt get a table each): per task its first run of that kind on
    the page and each baseline, the difference at each source data size; `planned`: per run, the
    sizes its pipeline plans ('not run yet' where one has no result, '–' where the run has no such
    size)."""
    kept = [goal for goal in goals if goal.setting == "zero-shot"]
    if not kept:
        return []
    kind_of: dict[str, str] = {}  # run -> the method it tests first
    for goal in kept:
        kind_of.setdefault(goal.run, goal.method)
    tables = []
    for kind in dict.fromkeys(kind_of.values()):
        first_run: dict[str, str] = {}
        for goal in kept:
            if kind_of[goal.run] == kind:
                first_run.setdefault(goal.task, goal.run)
        tables += _kind_table(kind, [goal for goal in kept if goal.run == first_run.get(goal.task)], planned)
    marked = any("†" in line for line in tables)
    return ["### Across tasks", "",
            "The goal check's zero-shot rows in one table per method under test: per task the first run of the "
            "page that tests it, the method minus each baseline, points [95% CI]; **bold**: the interval "
            "excludes 0; " + ("†: apart only through a seed that collapsed (without it the interval includes "
                              "0); " if marked else "")
            + "–: a size that run does not plan (its section says why).", ""] + tables
