"""The sentences the results page sets under a task's table (benchmarks/results_page.py): seeds that
collapsed, methods an interim run still lacks, and how wide the intervals are against the page's aim
and what the test rows alone allow."""

from __future__ import annotations

import math

import pandas as pd

from benchmarks.goal_check import size_text
from xprompt.errors import XPromptError
from xprompt.shots import shots_text

WIDTH_AIM = 1.5  # the results page issue: each average's 95% interval at most this many points either side


def collapse_note(collapsed: pd.DataFrame | None) -> str:
    """One sentence naming a run's collapsed seeds (empty when none did, or the run predates the file)."""
    if collapsed is None or collapsed.empty:
        return ""
    named = "; ".join(f"{row.method} {size_text(shots_text(row.shots))}"
                      + (f" adapted with {int(row.adapt_shots)} per class" if row.adapt_shots else "")
                      + f" seed {int(row.seed)} ({100 * row.majority:.1f}%)"
                      for row in collapsed.itertuples(index=False))
    return ("Seeds that collapsed (one class predicted for at least 99% of the target items; they never learned "
            f"the task, and averages over seeds include them): {named}. Each difference with one of them on a "
            "side is given again without it (the run's comparisons_without_collapsed.csv), in the tables below "
            "and in the summary and goal check above.")


def incomplete(per_language: pd.DataFrame, shots, seeds: int) -> dict[str, str]:
    """The methods of an interim run that, at this data size, still lack seeds or languages that
    the run's other methods have (a seed ensemble counts as one seed), each with what it lacks.
    `per_language`: the run's zero-shot accuracy rows of single languages (no average)."""
    languages = per_language["target"].nunique()
    here = per_language[per_language["shots"] == shots].groupby("method").agg(found=("target", "nunique"),
                                                                              seeds=("n_seeds", "min"))
    out = {}
    for method, row in here.iterrows():
        planned = 1 if method.endswith("+ensemble") else seeds
        missing = ([f"{int(row['seeds'])} of {planned} seeds"] if row["seeds"] < planned else []) + (
            [f"{int(row['found'])} of {languages} languages"] if row["found"] < languages else [])
        if missing:
            out[method] = ", ".join(missing)
    return out


def width_note(average: pd.DataFrame, rows_per_target: int, targets: int, whole: bool, parallel: bool = False) -> str:
    """How wide the averages' 95% intervals are against the page's aim of ±WIDTH_AIM points, and
    what the test rows alone allow: a binomial interval at the run's mean accuracy over all target
    rows, and the rows per target that ±WIDTH_AIM would need. On a parallel data set the targets'
    rows translate the same sentences (one draw of sentences serves every language), so the rows
    allow something between that and one language's binomial interval, and only more sentences
    narrow it. What is wider than the rows allow is seeds."""
    half = (average["ci_high"] - average["ci_low"]) * 50
    within = int((half <= WIDTH_AIM + 1e-9).sum())
    accuracy = float(average["estimate"].mean())
    spread = accuracy * (1 - accuracy)
    items_alone = 196 * math.sqrt(spread / (rows_per_target * targets))
    one_language = 196 * math.sqrt(spread / rows_per_target)
    needed = math.ceil(spread * (1.96 / (WIDTH_AIM / 100)) ** 2 / (1 if parallel else targets))
    head = (f"Interval widths: the averages' 95% intervals are ±{half.min():.1f} to ±{half.max():.1f} points; "
            f"{within} of {len(half)} {'is' if within == 1 else 'are'} within the ±{WIDTH_AIM} aimed at. ")
    if parallel:
        rows = (f"The {targets} targets' test rows translate the same {rows_per_target:,} sentences, so the rows "
                f"alone allow between about ±{items_alone:.1f} (had the languages erred on different sentences) and "
                f"±{one_language:.1f} (had they all erred on the same ones) at {accuracy:.0%} accuracy, and more "
                f"languages do not narrow an average; ±{WIDTH_AIM} could need up to {needed:,} sentences")
        ceiling = one_language
    else:
        rows = (f"The test rows alone allow about ±{items_alone:.1f} here ({rows_per_target * targets:,} target rows "
                f"at {accuracy:.0%} accuracy); ±{WIDTH_AIM} would need about {needed:,} rows per target")
        ceiling = items_alone
    return (head + rows + (", more than the whole test sets hold" if whole and needed > rows_per_target else "")
            + "." + (" What is wider than that is the spread between seeds (a seed ensemble counts as one model)."
                     if half.max() > 1.1 * ceiling else ""))


def parallel_task(config: dict) -> bool:
    """Whether the run's task card declares its test sets parallel across languages (False for a
    card this installation cannot find: the page then treats its test sets as independent)."""
    from xprompt.data.card_files import load_card

    try:
        return load_card(config.get("task", {}).get("name", "")).parallel is not None
    except XPromptError:
        return False


def interim_count(info: dict) -> str:
    found = info.get("evaluations")
    return f"{found[0]:,} of the plan's {found[1]:,} evaluations, " if found else ""
