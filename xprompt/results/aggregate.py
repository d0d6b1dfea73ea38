"""Seed statistics over the long results table: mean ± std, averages over languages, transfer gap.

Conventions:
- std is the sample standard deviation over seeds (ddof=1). A cell measured with a single
  seed has std NaN, meaning "spread unknown" (0 would claim a spread of zero); tables then
  print the mean alone and figures draw no band for it.
- The average over target languages is its own target, named AVG ("avg"). From the long table
  it is exact: the targets are averaged per seed, then mean and std are taken over seeds (only
  seeds that have every target count). From an aggregate the seed pairing is lost, so its std
  is NaN.
- Functions that take a `table` accept the long table or an aggregate; a long table is
  aggregated first.
"""

from __future__ import annotations

import math

import pandas as pd

from xprompt.errors import DataError
from xprompt.results.table import RESULT_COLUMNS, validate_results

AVG = "avg"
GROUP_KEYS = [c for c in RESULT_COLUMNS if c not in ("seed", "value")]
AVG_KEYS = [c for c in GROUP_KEYS if c != "target"]
STAT_COLUMNS = ["mean", "std", "n_seeds"]
AGG_COLUMNS = GROUP_KEYS + STAT_COLUMNS
GAP_COLUMNS = GROUP_KEYS + ["source_mean", "target_mean", "gap"]
MISSING_CELL = "–"


def _seed_stats(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    stats = rows.groupby(keys, sort=False)["value"].agg(["mean", "std", "count"])
    stats = stats.rename(columns={"count": "n_seeds"}).reset_index()
    return stats.astype({"mean": "float64", "std": "float64", "n_seeds": "int64"})


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof=1; NaN for one seed) and n_seeds per GROUP_KEYS, in first-seen order."""
    rows = validate_results(df)
    return _seed_stats(rows, GROUP_KEYS)[AGG_COLUMNS]


def _is_long(table: pd.DataFrame) -> bool:
    return "value" in table.columns and "mean" not in table.columns


def _check_aggregate(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in AGG_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"aggregate table lacks column {missing[0]!r}; pass the long results table "
                        f"or the output of aggregate() (columns {', '.join(AGG_COLUMNS)}).")
    return table


def as_aggregate(table: pd.DataFrame) -> pd.DataFrame:
    """The aggregate of a long table, or an aggregate checked and returned as it is."""
    return aggregate(table) if _is_long(table) else _check_aggregate(table)


def _pick_targets(frame: pd.DataFrame, exclude_source: bool) -> pd.DataFrame:
    keep = frame["target"] != AVG
    if exclude_source:
        keep &= frame["target"] != frame["source"]
    return frame[keep]


def _average_long(rows: pd.DataFrame) -> pd.DataFrame:
    per_seed = rows.groupby(AVG_KEYS + ["seed"], sort=False)["value"]
    per_seed = per_seed.agg(value="mean", n_targets="count").reset_index()
    most = per_seed.groupby(AVG_KEYS, sort=False)["n_targets"].transform("max")
    per_seed = per_seed[(per_seed["n_targets"] == most) & (most > 0)]
    stats = _seed_stats(per_seed, AVG_KEYS)
    counts = per_seed.groupby(AVG_KEYS, sort=False)["n_targets"].max().reset_index()
    return stats.merge(counts, on=AVG_KEYS).assign(target=AVG)


def _average_aggregate(agg: pd.DataFrame) -> pd.DataFrame:
    grouped = agg.groupby(AVG_KEYS, sort=False)
    out = grouped.agg(mean=("mean", "mean"), n_seeds=("n_seeds", "min"),
                      n_targets=("target", "nunique")).reset_index()
    return out.assign(std=float("nan"), target=AVG)


def average_over_targets(agg: pd.DataFrame, exclude_source: bool = True) -> pd.DataFrame:
    """The aggregate plus one AVG row per method/model/task/source/shots/adapt_shots/metric.

    The AVG row is the mean over target languages (without the source language when
    exclude_source). Adds `n_targets`: 1 on language rows, the number averaged on AVG rows.
    """
    if _is_long(agg):
        rows = validate_results(agg)
        per_language = aggregate(rows)
        averages = _average_long(_pick_targets(rows, exclude_source))
    else:
        per_language = _check_aggregate(agg)
        per_language = per_language[per_language["target"] != AVG]
        averages = _average_aggregate(_pick_targets(per_language, exclude_source))
    per_language = per_language[AGG_COLUMNS].assign(n_targets=1)
    if averages.empty:
        return per_language.reset_index(drop=True)
    combined = pd.concat([per_language, averages[AGG_COLUMNS + ["n_targets"]]], ignore_index=True)
    return combined.astype({"n_seeds": "int64", "n_targets": "int64"})


def transfer_gap(agg: pd.DataFrame) -> pd.DataFrame:
    """Source-language score minus each target's score, plus an AVG row (the mean gap).

    The source score is taken at the same adapt_shots when the source language has such a row,
    else at adapt_shots=0 (the English-trained model before adaptation).
    """
    table = as_aggregate(agg)
    table = table[table["target"] != AVG]
    is_source = table["target"] == table["source"]
    sources = table.loc[is_source, AVG_KEYS + ["mean"]].rename(columns={"mean": "source_mean"})
    unadapted = sources[sources["adapt_shots"] == 0].drop(columns="adapt_shots")
    unadapted = unadapted.rename(columns={"source_mean": "unadapted_mean"})
    gaps = table[~is_source].rename(columns={"mean": "target_mean"})
    gaps = gaps.merge(sources, on=AVG_KEYS, how="left")
    gaps = gaps.merge(unadapted, on=[k for k in AVG_KEYS if k != "adapt_shots"], how="left")
    gaps["source_mean"] = gaps["source_mean"].fillna(gaps.pop("unadapted_mean"))
    gaps = gaps.dropna(subset=["source_mean"])
    gaps["gap"] = gaps["source_mean"] - gaps["target_mean"]
    if gaps.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    means = gaps.groupby(AVG_KEYS, sort=False)[["source_mean", "target_mean", "gap"]].mean()
    averages = means.reset_index().assign(target=AVG)
    return pd.concat([gaps[GAP_COLUMNS], averages[GAP_COLUMNS]], ignore_index=True)


def metric_scale(values) -> float:
    """100 when every value lies in [0, 1] (shown as percent), else 1."""
    numbers = pd.Series(values, dtype="float64").dropna()
    return 100.0 if len(numbers) and numbers.between(0, 1).all() else 1.0


def format_mean_std(mean: float, std: float, scale: float = 1.0, digits: int = 1) -> str:
    """'71.2 ± 0.8'; the mean alone when std is NaN (one seed); '–' when the mean is missing."""
    if mean is None or math.isnan(mean):
        return MISSING_CELL
    if std is None or math.isnan(std):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def series_labels(frame: pd.DataFrame) -> pd.Series:
    """The method name, with model / task / source appended only when those vary in `frame`."""
    varying = [c for c in ("model", "task", "source") if frame[c].nunique() > 1]
    labels = frame["method"].astype(str)
    for column in varying:
        labels = labels + " · " + frame[column].astype(str).str.split("/").str[-1]
    return labels


def target_order(frame: pd.DataFrame) -> list[str]:
    """Source language(s) first, then targets in first-seen order, AVG last."""
    targets = list(pd.unique(frame["target"]))
    sources = [t for t in pd.unique(frame["source"]) if t in targets]
    rest = [t for t in targets if t not in sources and t != AVG]
    return sources + rest + ([AVG] if AVG in targets else [])


def summary_table(agg: pd.DataFrame, metric: str = "accuracy", shots: int | None = None,
                  adapt_shots: int = 0, percent: bool | None = None, digits: int = 1) -> pd.DataFrame:
    """Wide table, target language × method, of 'mean ± std' strings with an 'avg' row.

    shots=None picks the largest shots value; percent=None multiplies by 100 when every value
    of the metric lies in [0, 1]. Missing cells read '–'.
    """
    table = agg if AVG in set(agg.get("target", [])) else average_over_targets(agg)
    table = as_aggregate(table)
    chosen = table[(table["metric"] == metric) & (table["adapt_shots"] == adapt_shots)]
    if chosen.empty:
        raise DataError(f"no results for metric {metric!r} with adapt_shots={adapt_shots}; available "
                        f"metrics: {', '.join(pd.unique(table['metric']))}; adapt_shots: "
                        f"{', '.join(map(str, sorted(pd.unique(table['adapt_shots']))))}.")
    shots = int(chosen["shots"].max()) if shots is None else shots
    if not (chosen["shots"] == shots).any():
        raise DataError(f"no results for shots={shots} ({metric}, adapt_shots={adapt_shots}); "
                        f"available: {', '.join(map(str, sorted(pd.unique(chosen['shots']))))}.")
    chosen = chosen[chosen["shots"] == shots].assign(label=lambda f: series_labels(f))
    if percent is None:
        scale = metric_scale(table.loc[table["metric"] == metric, "mean"])
    else:
        scale = 100.0 if percent else 1.0
    chosen["cell"] = [format_mean_std(m, s, scale, digits)
                      for m, s in zip(chosen["mean"], chosen["std"])]
    wide = chosen.pivot_table(index="target", columns="label", values="cell", aggfunc="first")
    wide = wide.reindex(index=target_order(chosen), columns=list(pd.unique(chosen["label"])))
    wide = wide.fillna(MISSING_CELL)
    wide.index.name, wide.columns.name = "target", None
    return wide
