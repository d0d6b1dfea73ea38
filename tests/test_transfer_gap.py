"""The transfer-gap analysis splits a target-average difference into a source-language difference
and a gap difference, exactly, on the same resampled items."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.transfer_gap import interval, resampled_parts, rows


def items_of(method: str, seed: int, correct: dict[str, list[bool]]) -> pd.DataFrame:
    frames = []
    for target, right in correct.items():
        labels = np.zeros(len(right), dtype=int)
        frames.append(pd.DataFrame({"method": method, "shots": 16, "adapt_shots": 0, "seed": seed, "target": target,
                                    "id": [f"{i}" for i in range(len(right))], "label": labels,
                                    "prediction": np.where(right, 0, 1)}))
    return pd.concat(frames, ignore_index=True)


def test_target_difference_is_source_difference_minus_gap_difference_on_every_resample():
    rng = np.random.default_rng(0)
    def random_run(method, seed, p):
        return items_of(method, seed, {lang: list(rng.random(40) < p) for lang in ("en", "de", "sw")})
    items = pd.concat([random_run("a", 13, 0.9), random_run("a", 21, 0.8), random_run("b", -1, 0.7)])
    parts = resampled_parts(items, ["a", "b"], "en", resamples=200)
    a, b = parts[("a", 16)], parts[("b", 16)]
    np.testing.assert_allclose(a["targets"] - b["targets"],
                               (a["source"] - b["source"]) - (a["gap"] - b["gap"]), atol=1e-12)
    # the point estimate is the plain accuracy: mean over seeds of each language, then over targets
    seeds = items[items["method"] == "a"].assign(right=lambda f: f["label"] == f["prediction"])
    by_language = seeds.groupby("target")["right"].mean()
    assert interval(a["source"])[0] == by_language["en"]
    assert abs(interval(a["targets"])[0] - by_language[["de", "sw"]].mean()) < 1e-12
    low, high = interval(a["gap"])[1:]
    assert low < interval(a["gap"])[0] < high


def test_a_method_that_loses_nothing_in_transfer_has_a_smaller_gap_by_an_interval_that_excludes_zero():
    same = {lang: [True] * 30 + [False] * 10 for lang in ("en", "de", "fr")}  # 75% everywhere: gap 0
    lossy = {"en": [True] * 36 + [False] * 4, "de": [True] * 20 + [False] * 20, "fr": [True] * 20 + [False] * 20}
    items = pd.concat([items_of("prompt", -1, same), items_of("tuned", -1, lossy)])
    parts = resampled_parts(items, ["prompt", "tuned"], "en", resamples=500, parallel="id")  # row i: one sentence
    table = {row[0]: row for row in rows(parts, "tuned")}
    assert table["prompt"][4] == "0.0 [0.0, 0.0]"  # its gap: the same sentences drawn in every language
    drawn = resampled_parts(items, ["prompt", "tuned"], "en", resamples=500)
    independent = {row[0]: row for row in rows(drawn, "tuned")}
    assert independent["prompt"][4].startswith("0.0 [-")  # drawn per language, equal accuracies still vary
    assert table["prompt"][7].startswith("**-40.0 [")  # gap − tuned's: significant
    assert table["tuned"][5:] == ["–"] * 3
