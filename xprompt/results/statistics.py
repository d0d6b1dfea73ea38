"""Uncertainty of every result: 95% bootstrap intervals over test items and seeds, and paired
comparisons of methods on the same items.

The input is the items table: one row per (method, shots, adapt_shots, seed, target, item) with
the item's label and the prediction. Conventions:
- A resample draws the test items of each target language with replacement and, when there are
  several, the seeds with replacement (the same seeds for every language, since one seed's model
  made all of its predictions). Items are drawn independently per language, except on a parallel
  data set (the card's `parallel`: SIB-200, XNLI), whose items are sentences that every language
  translates: there one draw of sentences serves every language, so that a sentence hard in every
  language counts once per draw, not once per language as if the languages' test sets were
  independent samples (which makes the interval of an average over targets too narrow). The
  statistic is the mean over the drawn seeds of the metric on the drawn items; the interval is
  the 2.5 and 97.5 percentiles of B resamples (percentile bootstrap, B = 2,000 by default; each
  group, language and metric draws from a generator seeded by its own name, so an interval does
  not move when other methods or languages join the run; on a parallel data set the one draw of
  sentences has its own name in each group and metric).
- The average over targets ("avg", without the source language) is resampled the same way and
  averaged per resample, so its interval accounts for every language's items at once.
- A paired comparison of methods A and B uses only the seeds both have and only the items both
  were tested on (a method made from every seed at once, seed -1, is set beside each seed of the
  other), and resamples the per-item difference (A correct - B correct); its two-sided
  p-value is twice the share of resamples on the far side of 0 (at least 1/B). A difference is
  called a win only when its interval excludes 0. Per language there are as many tests as
  languages, so `p_holm` adjusts each language's p-value over them (Holm): a claim that one
  particular language differs should rest on p_holm < 0.05.
Resampling is done with multinomial counts, so the cost is one matrix product per language (the
draws and the metrics on them are in bootstrap.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from xprompt.results.bootstrap import (accuracy_of, complete_seeds, draw_items, draw_seeds, generator, item_key,
                                       item_keys, metric_of, percentile_interval, seed_item_matrices)
from xprompt.results.settings import SINGLE_MODEL_SEED

AVG = "avg"
TRANSFER_GAP = "transfer_gap"  # metric of an "avg" row: source accuracy minus the average over targets
# Bump when an interval or comparison would come out differently from the same items: a run folder's
# outputs written under another version are written again (see pipeline/commands.py).
# 2 (2026-12-04): one draw of sentences for every language of a parallel data set.
# 3 (2026-12-04): the transfer gap (source accuracy minus avg) as a row of its own; p_holm.
STATISTICS_VERSION = 3
GROUP = ["method", "shots", "adapt_shots"]
ITEM_COLUMNS = GROUP + ["seed", "target", "id", "label", "prediction"]
INTERVAL_COLUMNS = GROUP + ["target", "metric", "estimate", "ci_low", "ci_high", "n_seeds", "n"]
PAIRED_COLUMNS = ["shots", "adapt_shots", "method", "versus", "target", "metric", "difference", "ci_low",
                  "ci_high", "p_value", "significant", "n_seeds", "p_holm"]


def intervals(items: pd.DataFrame, source: str, classes: int, resamples: int = 2000,
              seed: int = 0, metrics: tuple[str, ...] = ("accuracy", "macro_f1"),
              parallel: str | None = None) -> pd.DataFrame:
    """Per (method, shots, adapt_shots, target incl. avg, metric): the point estimate (mean over
    seeds), the 95% bootstrap interval, and the numbers of seeds and items behind it. Where the source
    language was tested too, the "avg" row of `transfer_gap`: its accuracy minus the average over
    targets (XTREME's cross-lingual transfer gap). On a parallel data set (`parallel`: row or id)
    also `consistency`: how often a target's prediction equals the source-language prediction of
    the same item by the English-trained model of the same seed."""
    rows = []
    if items.empty:
        return pd.DataFrame(columns=INTERVAL_COLUMNS)
    if parallel is not None:
        rows += _consistency_rows(items, source, parallel, seed, resamples)
    for key, group in items.groupby(GROUP, sort=False):
        seeds = complete_seeds(group)
        group = group[group["seed"].isin(seeds)]
        seed_counts = draw_seeds(generator(seed, key, "seeds"), len(seeds), resamples)
        frames = dict(list(group.groupby("target", sort=False)))
        matrices = {target: seed_item_matrices(frame, seeds) for target, frame in frames.items()}
        keyed = {target: item_keys(ids, target, parallel) for target, (_, _, ids) in matrices.items()}
        for metric in metrics:
            points, stats = {}, {}
            draws = draw_items(lambda name: generator(seed, key, name, metric), keyed, resamples, parallel)
            for target, frame in frames.items():
                labels, predictions, _ = matrices[target]
                values = metric_of(labels, predictions, metric, classes, draws[target])
                point = metric_of(labels, predictions, metric, classes, None)
                stat = (values * seed_counts).sum(axis=1) / len(seeds)
                points[target], stats[target] = float(point.mean()), stat
                rows.append(_row(key, target, metric, points[target], stat, len(seeds), frame["id"].nunique()))
            if len(points) > 1:
                rows += _average_rows(key, metric, points, stats, source, len(seeds))
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


def _averaged_targets(languages, source: str) -> list[str]:
    """The languages an average over targets covers: every tested one but the source language, or
    all of them when no other was tested."""
    return [t for t in languages if t != source] or list(languages)


def _average_rows(key, metric: str, points: dict[str, float], stats: dict[str, np.ndarray], source: str,
                  seeds: int) -> list[dict]:
    """The average over targets (the source language left out when others were tested) and, for
    accuracy, the cross-lingual transfer gap (XTREME): the source's accuracy minus that average, on
    the same draws of items and seeds as both."""
    kept = _averaged_targets(points, source)
    stat = np.mean([stats[t] for t in kept], axis=0)
    point = float(np.mean([points[t] for t in kept]))
    rows = [_row(key, AVG, metric, point, stat, seeds, len(kept))]
    if metric == "accuracy" and source in stats and source not in kept:
        rows.append(_row(key, AVG, TRANSFER_GAP, points[source] - point, stats[source] - stat, seeds, len(kept)))
    return rows


def _consistency_rows(items: pd.DataFrame, source: str, parallel: str, seed: int, resamples: int) -> list[dict]:
    rows = []
    for key, group in items.groupby(GROUP, sort=False):
        rng = generator(seed, key, "consistency")
        method, shots, _adapt = key
        english = items[(items["method"] == method) & (items["shots"] == shots) & (items["adapt_shots"] == 0)
                        & (items["target"] == source)]
        seeds = sorted(set(group["seed"]) & set(english["seed"]))
        if not seeds:
            continue
        seed_counts = draw_seeds(rng, len(seeds), resamples)
        stats, points, agreed = {}, {}, {}
        for target, frame in group.groupby("target", sort=False):
            if target != source:
                agree, keys = _agreement(frame, english, seeds, target, source, parallel)
                if agree.shape[1]:
                    agreed[target] = (agree, keys)
        keyed = {t: k for t, (_, k) in agreed.items()}
        draws = draw_items(lambda name: generator(seed, key, "consistency", name), keyed, resamples, parallel)
        for target, (agree, _) in agreed.items():
            stats[target] = (accuracy_of(agree, draws[target]) * seed_counts).sum(1) / len(seeds)
            points[target] = float(agree.mean())
            rows.append(_row(key, target, "consistency", points[target], stats[target], len(seeds), agree.shape[1]))
        if len(stats) > 1:
            rows.append(_row(key, AVG, "consistency", float(np.mean(list(points.values()))),
                             np.mean(list(stats.values()), axis=0), len(seeds), len(stats)))
    return rows


def _agreement(frame: pd.DataFrame, english: pd.DataFrame, seeds: list[int], target: str, source: str,
               parallel: str) -> tuple[np.ndarray, list[str]]:
    """[seeds, items] 1 where the target prediction equals the source prediction of the same item,
    on the items every seed has in both languages, and those items' keys."""
    joined = {}
    for s in seeds:
        ours = frame[frame["seed"] == s].assign(item=lambda f: item_key(f["id"], target, parallel))
        theirs = english[english["seed"] == s].assign(item=lambda f: item_key(f["id"], source, parallel))
        both = ours.merge(theirs[["item", "prediction"]], on="item", suffixes=("", "_source"))
        joined[s] = both.set_index("item")
    keys = sorted(set.intersection(*(set(j.index) for j in joined.values())))
    same = [joined[s].loc[keys, "prediction"] == joined[s].loc[keys, "prediction_source"] for s in seeds]
    agree = np.stack([s.to_numpy(np.float64) for s in same]) if keys else np.zeros((len(seeds), 0))
    return agree, keys


def _row(key, target, metric, point, stat, seeds, n) -> dict:
    low, high = percentile_interval(stat)
    return {**dict(zip(GROUP, key)), "target": target, "metric": metric, "estimate": point,
            "ci_low": low, "ci_high": high, "n_seeds": seeds, "n": n}


def paired(items: pd.DataFrame, source: str, resamples: int = 2000, seed: int = 0,
           parallel: str | None = None, wanted=None) -> pd.DataFrame:
    """Accuracy difference A - B of every pair of methods at the same shots and adapt_shots, per
    target and on the average over targets: estimate, 95% interval, two-sided p-value (on a
    `parallel` data set one draw of sentences serves every language, see the module's note).
    `wanted(shots, adapt_shots, a, b)`: compare only the pairs it accepts (default: every pair)."""
    rows = []
    if items.empty:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    for (shots, adapt), group in items.groupby(["shots", "adapt_shots"], sort=False):
        for first, second in itertools.combinations(list(pd.unique(group["method"])), 2):
            if wanted is not None and not wanted(shots, adapt, first, second):
                continue
            a, b = _single_model_beside(group[group["method"] == first], group[group["method"] == second])
            seeds = sorted(set(complete_seeds(a)) & set(complete_seeds(b)))
            if not seeds:
                continue
            pair = (shots, adapt, first, second)
            seed_counts = draw_seeds(generator(seed, pair, "seeds"), len(seeds), resamples)
            stats, points, differences = {}, {}, {}
            for target in [t for t in pd.unique(a["target"]) if t in set(b["target"])]:
                diff, ids = _difference(a[a["target"] == target], b[b["target"] == target], seeds)
                differences[target] = (diff, item_keys(ids, target, parallel))
            keyed = {t: k for t, (_, k) in differences.items()}
            draws = draw_items(lambda name: generator(seed, pair, name), keyed, resamples, parallel)
            for target, (diff, _) in differences.items():
                stats[target] = (accuracy_of(diff, draws[target]) * seed_counts).sum(axis=1) / len(seeds)
                points[target] = float(diff.mean())
            kept = _averaged_targets(stats, source)
            if len(stats) > 1:
                stats[AVG] = np.mean([stats[t] for t in kept], axis=0)
                points[AVG] = float(np.mean([points[t] for t in kept]))
            rows += _with_holm([_difference_row(pair, target, points[target], stat, len(seeds), resamples)
                                for target, stat in stats.items()])
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def _difference_row(pair: tuple, target: str, point: float, stat: np.ndarray, seeds: int, resamples: int) -> dict:
    """One row of `paired`: the difference, its percentile interval and its two-sided bootstrap
    p-value (never below one over the number of draws)."""
    shots, adapt, first, second = pair
    low, high = percentile_interval(stat)
    tail = min((stat <= 0).mean(), (stat >= 0).mean())
    return {"shots": shots, "adapt_shots": adapt, "method": first, "versus": second, "target": target,
            "metric": "accuracy", "difference": point, "ci_low": low, "ci_high": high,
            "p_value": float(max(min(1.0, 2 * tail), 1 / resamples)), "significant": bool(low > 0 or high < 0),
            "n_seeds": seeds}


def _with_holm(found: list[dict]) -> list[dict]:
    """`p_holm`: each language's p-value adjusted by Holm's step-down over the pair's languages (the
    source's and every target's), so that "some language differs" holds at 5% family-wise; the
    average over targets is one claim of its own and keeps its p-value."""
    languages = sorted((row for row in found if row["target"] != AVG), key=lambda row: row["p_value"])
    running = 0.0
    for rank, row in enumerate(languages):
        running = max(running, min(1.0, (len(languages) - rank) * row["p_value"]))
        row["p_holm"] = running
    for row in found:
        row.setdefault("p_holm", row["p_value"])
    return found


def _single_model_beside(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A method made from every seed at once (a seed average or ensemble: seed -1) set beside a
    method of several seeds: its one set of predictions is compared with each of their seeds."""
    def single(frame):
        return set(frame["seed"]) == {SINGLE_MODEL_SEED}
    if single(a) and not single(b):
        a = pd.concat([a.assign(seed=s) for s in sorted(set(b["seed"]))], ignore_index=True)
    elif single(b) and not single(a):
        b = pd.concat([b.assign(seed=s) for s in sorted(set(a["seed"]))], ignore_index=True)
    return a, b


def _difference(a: pd.DataFrame, b: pd.DataFrame, seeds: list[int]) -> tuple[np.ndarray, list[str]]:
    """[seeds, items] A correct - B correct on the items both were tested on, and those items' ids."""
    la, pa, ids_a = seed_item_matrices(a, seeds)
    lb, pb, ids_b = seed_item_matrices(b, seeds)
    common = sorted(set(ids_a) & set(ids_b))
    ia, ib = [ids_a.index(i) for i in common], [ids_b.index(i) for i in common]
    return (la[:, ia] == pa[:, ia]).astype(np.float64) - (lb[:, ib] == pb[:, ib]).astype(np.float64), common


def format_interval(estimate: float, low: float, high: float, scale: float = 100.0, digits: int = 1) -> str:
    """'71.2 [68.9, 73.4]'."""
    if estimate is None or np.isnan(estimate):
        return "–"
    return f"{estimate * scale:.{digits}f} [{low * scale:.{digits}f}, {high * scale:.{digits}f}]"
