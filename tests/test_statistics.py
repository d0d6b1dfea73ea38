"""Bootstrap intervals and paired comparisons against closed forms and planted differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xprompt.results.statistics import AVG, intervals, paired


def _items(method: str, correct: np.ndarray, seed: int = 13, target: str = "de", classes: int = 2,
           rng=None) -> pd.DataFrame:
    rng = rng or np.random.default_rng(0)
    labels = rng.integers(0, classes, len(correct))
    wrong = (labels + 1 + rng.integers(0, classes - 1, len(correct))) % classes
    return pd.DataFrame({"method": method, "shots": 16, "adapt_shots": 0, "seed": seed, "target": target,
                         "id": [str(i) for i in range(len(correct))], "label": labels,
                         "prediction": np.where(correct, labels, wrong)})


def test_one_seed_interval_matches_the_binomial_normal_interval():
    rng = np.random.default_rng(3)
    correct = rng.random(900) < 0.62
    spans = intervals(_items("a", correct), source="en", classes=2, resamples=4000)
    row = spans[(spans["metric"] == "accuracy") & (spans["target"] == "de")].iloc[0]
    p = correct.mean()
    half = 1.96 * np.sqrt(p * (1 - p) / len(correct))
    assert row["estimate"] == pytest.approx(p)
    assert row["ci_low"] == pytest.approx(p - half, abs=0.006)
    assert row["ci_high"] == pytest.approx(p + half, abs=0.006)
    assert (row["n"], row["n_seeds"]) == (900, 1)


def test_seeds_widen_the_interval_when_they_disagree():
    rng = np.random.default_rng(4)
    agree = pd.concat([_items("a", rng.random(300) < 0.7, seed=s) for s in (1, 2, 3)])
    shared = rng.random(300) < 0.7
    spread = pd.concat([_items("a", shared | (rng.random(300) < bump), seed=s)
                        for s, bump in ((1, 0.0), (2, 0.5), (3, 0.9))])
    width = {}
    for name, table in (("agree", agree), ("spread", spread)):
        row = intervals(table, "en", 2).query("metric == 'accuracy' and target == 'de'").iloc[0]
        width[name] = row["ci_high"] - row["ci_low"]
    assert width["spread"] > 1.5 * width["agree"]


def test_average_over_targets_leaves_the_source_out_and_has_an_interval():
    rng = np.random.default_rng(5)
    table = pd.concat([_items("a", rng.random(200) < p, target=t) for t, p in (("en", 0.95), ("de", 0.6), ("fr", 0.7))])
    spans = intervals(table, "en", 2).query("metric == 'accuracy'").set_index("target")
    assert spans.loc[AVG, "estimate"] == pytest.approx((spans.loc["de", "estimate"] + spans.loc["fr", "estimate"]) / 2)
    assert spans.loc[AVG, "n"] == 2
    assert spans.loc[AVG, "ci_high"] - spans.loc[AVG, "ci_low"] < spans.loc["de", "ci_high"] - spans.loc["de", "ci_low"]


def test_macro_f1_interval_contains_its_estimate():
    rng = np.random.default_rng(6)
    spans = intervals(_items("a", rng.random(300) < 0.5, classes=4, rng=rng), "en", 4)
    row = spans.query("metric == 'macro_f1'").iloc[0]
    assert row["ci_low"] < row["estimate"] < row["ci_high"]


def test_paired_test_finds_a_planted_difference_and_not_a_null_one():
    rng = np.random.default_rng(7)
    base = rng.random(500) < 0.6
    better = base | (rng.random(500) < 0.15)          # B fixes ~6 points of A's errors, on the same items
    same = np.where(rng.random(500) < 0.5, base, rng.permutation(base))  # same accuracy, shuffled errors
    table = pd.concat([_items(name, correct, seed=seed, rng=np.random.default_rng(1))
                       for seed in (13, 21) for name, correct in (("a", base), ("b", better), ("c", same))])
    result = paired(table, "en").query("target == 'de'").set_index(["method", "versus"])
    planted = result.loc[("a", "b")]
    assert planted["difference"] < 0 and planted["ci_high"] < 0 and planted["significant"]
    assert planted["p_value"] < 0.01
    null = result.loc[("a", "c")]
    assert null["ci_low"] < 0 < null["ci_high"] and not null["significant"] and null["p_value"] > 0.05


def test_consistency_interval_on_a_parallel_set_aligns_items_across_languages():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 3, 400)
    english = np.where(rng.random(400) < 0.8, labels, (labels + 1) % 3)
    german = np.where(rng.random(400) < 0.7, english, (english + 1) % 3)  # agrees with English 70% of the time
    frames = [pd.DataFrame({"method": "a", "shots": 16, "adapt_shots": 0, "seed": 13, "target": lang,
                            "id": [f"{lang}-test-{i}" for i in range(400)], "label": labels, "prediction": p})
              for lang, p in (("en", english), ("de", german))]
    spans = intervals(pd.concat(frames), "en", 3, parallel="row").query("metric == 'consistency'")
    row = spans[spans["target"] == "de"].iloc[0]
    assert row["estimate"] == pytest.approx((german == english).mean())
    assert row["ci_low"] < row["estimate"] < row["ci_high"] and row["ci_high"] - row["ci_low"] < 0.1
    assert "en" not in set(spans["target"])


def test_a_model_made_from_every_seed_is_paired_with_each_seed_of_the_other_method():
    rng = np.random.default_rng(9)
    base = {seed: rng.random(400) < 0.6 for seed in (13, 21, 42)}
    averaged = base[13] | (rng.random(400) < 0.2)  # one model (seed -1), ahead of every seed
    table = pd.concat([_items("plain", base[s], seed=s, rng=np.random.default_rng(1)) for s in base]
                      + [_items("plain+seed-average", averaged, seed=-1, rng=np.random.default_rng(1))])
    row = paired(table, "en").query("target == 'de'").iloc[0]
    expected = np.mean([averaged.mean() - base[s].mean() for s in base])
    assert (row["method"], row["versus"], row["n_seeds"]) == ("plain", "plain+seed-average", 3)
    assert row["difference"] == pytest.approx(-expected) and row["significant"]


def test_a_seed_missing_a_target_is_left_out_of_intervals_and_comparisons():
    rng = np.random.default_rng(10)
    table = pd.concat([_items(m, rng.random(200) < 0.7, seed=s, target=t)
                       for m in ("a", "b") for s in (13, 21) for t in ("en", "de", "fr")
                       if not (m == "a" and s == 21 and t == "fr")])  # a's seed 21 has not reached fr yet
    spans = intervals(table, "en", 2).query("metric == 'accuracy' and method == 'a'")
    assert set(spans["n_seeds"]) == {1}
    row = paired(table, "en").query("target == 'avg'").iloc[0]
    assert row["n_seeds"] == 1


def _parallel(method: str, correct_by_lang: dict[str, np.ndarray], seed: int = 13) -> pd.DataFrame:
    """Items of a parallel set: id "{lang}-test-{i}" is sentence i in every language (parallel: row)."""
    return pd.concat([pd.DataFrame({"method": method, "shots": 16, "adapt_shots": 0, "seed": seed, "target": lang,
                                    "id": [f"{lang}-test-{i}" for i in range(len(c))], "label": 0,
                                    "prediction": np.where(c, 0, 1)}) for lang, c in correct_by_lang.items()])


def _accuracy(spans: pd.DataFrame) -> pd.DataFrame:
    return spans.query("metric == 'accuracy'").set_index("target")


def _span(spans: pd.DataFrame, target: str) -> tuple[float, float]:
    return spans.loc[target, "ci_low"], spans.loc[target, "ci_high"]


def _width(spans: pd.DataFrame, target: str) -> float:
    return spans.loc[target, "ci_high"] - spans.loc[target, "ci_low"]


def test_on_a_parallel_set_one_draw_of_sentences_serves_every_language():
    rng = np.random.default_rng(10)
    hard = rng.random(300) < 0.3  # the same sentences are missed in every language
    table = _parallel("a", {"en": ~hard, "de": ~hard, "fr": ~hard})
    joint = _accuracy(intervals(table, "en", 2, metrics=("accuracy",), parallel="row"))
    alone = _accuracy(intervals(table, "en", 2, metrics=("accuracy",)))
    # one draw: the average of two identical languages is as uncertain as one of them
    assert _span(joint, AVG) == _span(joint, "de")
    # drawn per language, as if the translations were fresh samples, the average looks about sqrt(2) surer
    assert _width(alone, AVG) < 0.8 * _width(joint, AVG)
    assert joint.loc[AVG, "estimate"] == alone.loc[AVG, "estimate"] == pytest.approx(1 - hard.mean())
    # English errs on the same sentences as the targets: the transfer gap is 0 on every joint draw
    gap = intervals(table, "en", 2, metrics=("accuracy",), parallel="row").query("metric == 'transfer_gap'")
    assert gap[["target", "estimate", "ci_low", "ci_high"]].values.tolist() == [[AVG, 0.0, 0.0, 0.0]]
    # the same for a paired difference whose sentences differ alike in every language
    other = rng.random(300) < 0.2
    b = _parallel("b", {"en": ~other, "de": ~other, "fr": ~other})
    pairs = paired(pd.concat([table, b]), "en", parallel="row").set_index("target")
    assert _span(pairs, AVG) == _span(pairs, "de")
    independent = paired(pd.concat([table, b]), "en").set_index("target")
    assert _width(independent, AVG) < 0.8 * _width(pairs, AVG)


def test_a_language_lacking_some_sentences_of_a_parallel_set_is_scored_on_the_ones_it_has():
    rng = np.random.default_rng(11)
    correct = {lang: rng.random(200) < 0.7 for lang in ("en", "de", "fr")}
    table = _parallel("a", correct)
    table = table[~((table["target"] == "fr") & table["id"].isin([f"fr-test-{i}" for i in range(150, 200)]))]
    spans = _accuracy(intervals(table, "en", 2, metrics=("accuracy",), parallel="row"))
    assert spans.loc["fr", "n"] == 150 and spans.loc["fr", "estimate"] == pytest.approx(correct["fr"][:150].mean())
    assert spans.loc["fr", "ci_low"] < spans.loc["fr", "estimate"] < spans.loc["fr", "ci_high"]
    assert spans.loc["de", "n"] == 200


def test_the_transfer_gap_is_source_accuracy_minus_the_average_and_shows_under_it():
    from xprompt.results.significance import interval_table

    rng = np.random.default_rng(12)
    table = pd.concat([_items("a", rng.random(300) < p, target=t) for t, p in (("en", 0.9), ("de", 0.6), ("fr", 0.7))])
    spans = intervals(table, "en", 2)
    accuracy = spans.query("metric == 'accuracy'").set_index("target")["estimate"]
    gap = spans.query("metric == 'transfer_gap'").iloc[0]
    assert gap["target"] == AVG and gap["estimate"] == pytest.approx(accuracy["en"] - accuracy[AVG])
    assert 0 < gap["ci_low"] < gap["estimate"] < gap["ci_high"]
    shown = interval_table(spans, 16, 0)
    assert list(shown.index) == ["en", "de", "fr", AVG, "transfer gap"]
    assert intervals(table[table["target"] != "en"], "en", 2).query("metric == 'transfer_gap'").empty  # no source row


def test_per_language_p_values_are_holm_adjusted_over_the_languages_of_a_pair():
    rng = np.random.default_rng(13)
    a, b = [], []
    for lang, shift in (("en", 0.0), ("de", 0.25), ("fr", 0.0), ("sw", 0.0), ("yo", 0.0)):
        base = rng.random(200) < 0.6
        a.append(_items("a", base | (rng.random(200) < shift), target=lang, rng=np.random.default_rng(1)))
        b.append(_items("b", base, target=lang, rng=np.random.default_rng(1)))
    pairs = paired(pd.concat(a + b), "en").set_index("target")
    languages = pairs.drop(index=AVG).sort_values("p_value")
    expected = np.maximum.accumulate(np.minimum(1.0, (len(languages) - np.arange(len(languages)))
                                                * languages["p_value"].to_numpy()))
    np.testing.assert_allclose(languages["p_holm"].to_numpy(), expected)
    assert languages.index[0] == "de" and languages.loc["de", "p_holm"] < 0.05  # the planted gain survives
    assert (languages["p_holm"] >= languages["p_value"]).all()
    assert pairs.loc[AVG, "p_holm"] == pairs.loc[AVG, "p_value"]
