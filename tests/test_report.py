"""Results table, aggregation and report: numbers checked against hand computations."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from xprompt.results.aggregate import (AVG, aggregate, average_over_targets, format_mean_std,
                               summary_table, transfer_gap)
from xprompt.errors import DataError
from xprompt.results.report import build_report, report_from_run
from xprompt.results.table import (RESULT_COLUMNS, collect_versions, read_results, validate_results,
                             write_results)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# accuracy per (method, target) for seeds 1, 2, 3; en is the source language.
HAND_VALUES = {
    ("A", "en"): (0.80, 0.82, 0.84),  # mean 0.82, std 0.02
    ("A", "de"): (0.70, 0.74, 0.72),  # mean 0.72, std 0.02
    ("A", "fr"): (0.66, 0.70, 0.68),  # mean 0.68, std 0.02
    ("B", "en"): (0.90, 0.90, 0.90),  # mean 0.90, std 0.00
    ("B", "de"): (0.60, 0.66, 0.63),  # mean 0.63, std 0.03
    ("B", "fr"): (0.61, 0.65, 0.60),  # mean 0.62, std sqrt(0.0007)
}


def row(method, target, seed, value, metric="accuracy", shots=16, adapt_shots=0):
    return {"method": method, "model": "tiny-xlmr", "task": "xnli", "source": "en",
            "target": target, "shots": shots, "adapt_shots": adapt_shots, "seed": seed,
            "metric": metric, "value": value}


@pytest.fixture
def hand_table() -> pd.DataFrame:
    rows = [row(m, t, seed, v) for (m, t), values in HAND_VALUES.items()
            for seed, v in zip((1, 2, 3), values)]
    return pd.DataFrame(rows)


def synthetic_results(methods=("finetune", "soft", "uniprompt"),
                      targets=("en", "de", "fr", "es", "zh", "sw"), shots=(16, 64),
                      adapt_shots=(0, 16), seeds=(13, 42, 87), consistency=True):
    """A plausible results table: English best, low-resource languages worse, more shots better."""
    rng = np.random.default_rng(0)
    rows = []
    for m, method in enumerate(methods):
        for t, target in enumerate(targets):
            for k in shots:
                for a in adapt_shots:
                    base = (0.55 + 0.05 * m - 0.035 * t + 0.02 * np.log2(max(k, 1) / 16)
                            + 0.004 * a)
                    for seed in seeds:
                        accuracy = float(np.clip(base + rng.normal(0, 0.012), 0, 1))
                        rows.append(row(method, target, seed, accuracy, shots=k, adapt_shots=a))
                        rows.append(row(method, target, seed, accuracy - 0.02, "macro_f1", k, a))
                        if consistency:
                            agreement = min(1.0, accuracy + 0.1)
                            rows.append(row(method, target, seed, agreement, "consistency", k, a))
    return pd.DataFrame(rows)


def stats(frame, **equal):
    for column, value in equal.items():
        frame = frame[frame[column] == value]
    assert len(frame) == 1, equal
    return frame.iloc[0]


# ----------------------------------------------------------------------------- aggregation
def test_aggregate_matches_hand_computation(hand_table):
    agg = aggregate(hand_table)
    assert len(agg) == 6 and set(agg["n_seeds"]) == {3}
    expected = {("A", "en"): (0.82, 0.02), ("A", "de"): (0.72, 0.02), ("A", "fr"): (0.68, 0.02),
                ("B", "en"): (0.90, 0.0), ("B", "de"): (0.63, 0.03),
                ("B", "fr"): (0.62, math.sqrt(0.0007))}
    for (method, target), (mean, std) in expected.items():
        cell = stats(agg, method=method, target=target)
        assert cell["mean"] == pytest.approx(mean) and cell["std"] == pytest.approx(std, abs=1e-12)


def test_single_seed_has_nan_std_and_prints_mean_only():
    agg = aggregate(pd.DataFrame([row("A", "en", 1, 0.75), row("A", "de", 1, 0.5)]))
    assert agg["n_seeds"].tolist() == [1, 1] and agg["std"].isna().all()
    table = summary_table(agg)
    assert table.loc["en", "A"] == "75.0" and table.loc["de", "A"] == "50.0"
    assert format_mean_std(float("nan"), float("nan")) == "–"


def test_average_over_targets_from_long_table_is_exact(hand_table):
    table = average_over_targets(hand_table)
    a, b = stats(table, method="A", target=AVG), stats(table, method="B", target=AVG)
    # per-seed averages of de and fr: A 0.68, 0.72, 0.70; B 0.605, 0.655, 0.615
    assert a["mean"] == pytest.approx(0.70) and a["std"] == pytest.approx(0.02)
    assert b["mean"] == pytest.approx(0.625) and b["std"] == pytest.approx(math.sqrt(0.0007))
    assert a["n_targets"] == 2 and a["n_seeds"] == 3
    assert stats(table, method="A", target="de")["n_targets"] == 1


def test_average_over_targets_from_aggregate(hand_table):
    agg = aggregate(hand_table)
    table = average_over_targets(agg)
    a = stats(table, method="A", target=AVG)
    assert a["mean"] == pytest.approx(0.70) and math.isnan(a["std"])  # seed pairing is lost
    with_source = average_over_targets(agg, exclude_source=False)
    assert stats(with_source, method="A", target=AVG)["mean"] == pytest.approx((0.82 + 0.72 + 0.68) / 3)
    again = average_over_targets(table)  # idempotent: the AVG rows are not averaged again
    pd.testing.assert_frame_equal(again.reset_index(drop=True), table.reset_index(drop=True))


def test_transfer_gap_by_hand(hand_table):
    gaps = transfer_gap(aggregate(hand_table))
    expected = {("A", "de"): 0.10, ("A", "fr"): 0.14, ("A", AVG): 0.12,
                ("B", "de"): 0.27, ("B", "fr"): 0.28, ("B", AVG): 0.275}
    assert len(gaps) == len(expected)
    for (method, target), gap in expected.items():
        assert stats(gaps, method=method, target=target)["gap"] == pytest.approx(gap)
    assert stats(gaps, method="B", target="de")["source_mean"] == pytest.approx(0.90)


def test_transfer_gap_after_adaptation_uses_unadapted_source():
    rows = [row("A", "en", 1, 0.9), row("A", "de", 1, 0.6), row("A", "de", 1, 0.8, adapt_shots=8)]
    gaps = transfer_gap(pd.DataFrame(rows))
    assert stats(gaps, target="de", adapt_shots=8)["gap"] == pytest.approx(0.1)


def test_summary_table_strings(hand_table):
    table = summary_table(hand_table, metric="accuracy", shots=16, adapt_shots=0)
    assert list(table.index) == ["en", "de", "fr", AVG] and list(table.columns) == ["A", "B"]
    assert table.loc["en", "A"] == "82.0 ± 2.0" and table.loc["en", "B"] == "90.0 ± 0.0"
    assert table.loc["fr", "B"] == "62.0 ± 2.6" and table.loc[AVG, "A"] == "70.0 ± 2.0"
    assert table.loc[AVG, "B"] == "62.5 ± 2.6"
    raw = summary_table(hand_table, percent=False, digits=2)
    assert raw.loc["de", "B"] == "0.63 ± 0.03"
    with pytest.raises(DataError, match="macro_f1"):
        summary_table(hand_table.assign(metric="macro_f1"), metric="accuracy")
    with pytest.raises(DataError, match="shots=64"):
        summary_table(hand_table, shots=64)


# ----------------------------------------------------------------------------- results files
def test_validate_names_missing_column_and_file(hand_table, tmp_path):
    with pytest.raises(DataError, match="'adapt_shots'"):
        validate_results(hand_table.drop(columns="adapt_shots"))
    path = tmp_path / "broken.csv"
    hand_table.drop(columns=["seed"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"broken\.csv.*'seed'"):
        read_results(path)


def test_validate_rejects_bad_values(hand_table):
    bad_value = hand_table.astype({"value": object})
    bad_value.loc[4, "value"] = "high"
    with pytest.raises(DataError, match=r"'value'.*'high'.*data row 5"):
        validate_results(bad_value)
    with pytest.raises(DataError, match="'shots'"):
        validate_results(hand_table.assign(shots=-1))
    with pytest.raises(DataError, match="appear once"):
        validate_results(pd.concat([hand_table, hand_table.iloc[:1]]))
    assert validate_results(hand_table)[RESULT_COLUMNS].dtypes["seed"] == "int64"


def test_write_read_round_trip(hand_table, tmp_path):
    rows = hand_table.to_dict(orient="records")
    rows[0]["value"] = float("nan")  # an undefined metric survives as missing
    run_dir = write_results(rows, tmp_path / "run", {"config": {"lr": 0.001}, "git_hash": "abc123"})
    from_csv = read_results(run_dir)
    from_jsonl = read_results(run_dir / "results.jsonl")
    from_csv.attrs, from_jsonl.attrs = {}, {}
    pd.testing.assert_frame_equal(from_csv, from_jsonl)
    pd.testing.assert_frame_equal(from_csv, validate_results(pd.DataFrame(rows)))
    assert list(from_csv.columns) == RESULT_COLUMNS and math.isnan(from_csv.loc[0, "value"])
    info = json.loads((run_dir / "run.json").read_text())
    assert info["config"] == {"lr": 0.001} and info["git_hash"] == "abc123"
    assert info["date"] and info["results"]["rows"] == len(rows)
    assert set(info["versions"]) == {"python", "torch", "transformers", "datasets", "pandas", "xprompt"}
    assert not list(run_dir.glob("*.tmp"))


def test_collect_versions_is_best_effort():
    versions = collect_versions()
    assert versions["python"] and versions["pandas"] == pd.__version__


def test_read_results_errors(tmp_path):
    with pytest.raises(DataError, match="holds no results.csv"):
        read_results(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"method": "A"}\nnot json\n')
    with pytest.raises(DataError, match="line 2"):
        read_results(tmp_path / "bad.jsonl")


# ----------------------------------------------------------------------------- report
def assert_png(path):
    """A PNG that decodes to a picture of some size with more than one colour in it."""
    from matplotlib.image import imread

    assert path.is_file(), path
    assert path.read_bytes().startswith(PNG_SIGNATURE), path
    pixels = imread(path)
    assert pixels.shape[0] >= 200 and pixels.shape[1] >= 300, (path, pixels.shape)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 10, path  # not a blank canvas


def test_report_draws_every_figure(tmp_path):
    run_dir = write_results(synthetic_results(), tmp_path / "run", {"config": {"task": "xnli"}})
    report = report_from_run(run_dir)
    assert report == run_dir / "report.md"
    for name in ("heatmap_accuracy.png", "accuracy_vs_shots.png", "zero_vs_few_shot.png",
                 "transfer_gap.png", "consistency.png"):
        assert_png(run_dir / name)
        assert f"({name})" in report.read_text()
        assert f'src="{name}"' in (run_dir / "report.html").read_text()
    text = report.read_text()
    assert "not drawn" not in text and '"task": "xnli"' in text
    assert "| target | finetune | soft | uniprompt |" in text and "| avg |" in text
    assert (run_dir / "aggregate.csv").is_file()


def test_report_skips_figures_that_do_not_apply(tmp_path):
    results = synthetic_results(shots=(16,), adapt_shots=(0,), consistency=False)
    results.to_csv(tmp_path / "results.csv", index=False)
    stale = tmp_path / "out" / "consistency.png"
    stale.parent.mkdir()
    stale.write_bytes(PNG_SIGNATURE)
    text = build_report(tmp_path / "results.csv", tmp_path / "out").read_text()
    assert_png(tmp_path / "out" / "heatmap_accuracy.png")
    assert_png(tmp_path / "out" / "transfer_gap.png")
    for name, reason in (("accuracy_vs_shots.png", "only one shots value"),
                         ("zero_vs_few_shot.png", "no target-language adaptation"),
                         ("consistency.png", "no zero-shot consistency")):
        assert not (tmp_path / "out" / name).exists()
        assert f"`{name}` not drawn: {reason}" in text
    assert "no run.json found" in text
    assert report_from_run(tmp_path / "results.csv") == tmp_path / "report.md"  # a file works too


def test_report_without_source_rows_skips_transfer_gap(tmp_path):
    results = synthetic_results(targets=("de", "fr"), shots=(16,), adapt_shots=(0,), seeds=(1,),
                                consistency=False)
    text = build_report(results, tmp_path).read_text()
    assert "`transfer_gap.png` not drawn" in text
    assert_png(tmp_path / "heatmap_accuracy.png")


def test_report_shows_intervals_paired_differences_and_interval_bands(tmp_path):
    from xprompt.results.significance import write_uncertainty

    rng = np.random.default_rng(0)
    items, rows = [], []
    for method, skill in (("uniprompt", 0.8), ("finetune", 0.6)):
        for shots in (16, 64):
            for seed in (13, 21):
                for target in ("en", "de", "fr"):
                    labels = rng.integers(0, 3, 150)
                    correct = rng.random(150) < skill + (0.1 if target == "en" else 0)
                    predictions = np.where(correct, labels, (labels + 1) % 3)
                    items.append(pd.DataFrame({"method": method, "shots": shots, "adapt_shots": 0, "seed": seed,
                                               "target": target, "id": [f"{target}{i}" for i in range(150)],
                                               "label": labels, "prediction": predictions}))
                    rows.append({"method": method, "model": "m", "task": "t", "source": "en", "target": target,
                                 "shots": shots, "adapt_shots": 0, "seed": seed, "metric": "accuracy",
                                 "value": float(correct.mean())})
    write_uncertainty(pd.concat(items, ignore_index=True), tmp_path, "en", 3)
    report = build_report(pd.DataFrame(rows), tmp_path).read_text()
    assert "## Accuracy with 95% intervals" in report
    assert re.search(r"\| avg \| \d+\.\d \[\d+\.\d, \d+\.\d\] \|", report)
    assert "highest average target accuracy: uniprompt" in report and "uniprompt - finetune: +" in report
    assert ": ahead" in report
    assert "band is the 95% bootstrap interval" in report
    assert_png(tmp_path / "accuracy_intervals.png")
    aggregate_table = pd.read_csv(tmp_path / "aggregate.csv")
    averages = aggregate_table[aggregate_table["target"] == AVG]
    assert averages[["ci_low", "ci_high"]].notna().all().all()
    assert (averages["ci_low"] < averages["mean"]).all() and (averages["mean"] < averages["ci_high"]).all()


def test_a_seed_that_predicts_one_class_for_nearly_every_target_item_is_named_in_the_report(tmp_path):
    from xprompt.results.collapse import collapse_lines, collapsed_seeds
    from xprompt.results.significance import write_uncertainty

    def seed_items(seed, shots, predict, target="de"):
        return pd.DataFrame({"method": "finetune", "shots": shots, "adapt_shots": 0, "seed": seed, "target": target,
                             "id": [f"i{i}" for i in range(200)], "label": [i % 3 for i in range(200)],
                             "prediction": [predict(i) for i in range(200)]})

    items = pd.concat([seed_items(13, 16, lambda i: i % 3),  # learned the task
                       seed_items(42, 16, lambda i: 1),  # one class throughout
                       seed_items(21, 16, lambda i: 2 if i < 3 else 0),  # 98.5% one class: not collapsed
                       seed_items(21, 16, lambda i: 1, target="en"),  # the source language does not count
                       seed_items(42, 64, lambda i: 0 if i else 1)], ignore_index=True)  # 99.5%: collapsed
    found = collapsed_seeds(items, source="en")
    assert found[["shots", "seed"]].values.tolist() == [[16, 42], [64, 42]]
    assert found["majority"].tolist() == [1.0, pytest.approx(0.995)]
    assert collapsed_seeds(items)[["shots", "seed"]].values.tolist() == [[16, 42], [64, 42]]  # en: 21 is 50/50
    lines = collapse_lines(items, "en")
    assert lines[0].startswith("collapsed: finetune, 16 source shots per class, seed 42 predicts one class for 100.0%")
    write_uncertainty(items, tmp_path, "en", 3)
    rows = [{"method": "finetune", "model": "m", "task": "t", "source": "en", "target": t, "shots": k,
             "adapt_shots": 0, "seed": seed, "metric": "accuracy", "value": 0.5}
            for t in ("en", "de") for k, seeds in ((16, (13, 21, 42)), (64, (42,))) for seed in seeds]
    report = build_report(pd.DataFrame(rows), tmp_path).read_text()
    assert "## Seeds that collapsed" in report
    assert "finetune, 64 source shots per class, seed 42 predicts one class for 99.5%" in report
    healthy = tmp_path / "healthy"
    healthy.mkdir()
    write_uncertainty(items[items["seed"] == 13], healthy, "en", 3)
    assert "collapsed" not in build_report(pd.DataFrame(rows), healthy).read_text()
    assert pd.read_csv(tmp_path / "collapsed.csv")[["shots", "seed"]].values.tolist() == [[16, 42], [64, 42]]
    assert pd.read_csv(healthy / "collapsed.csv").empty
    assert pd.read_csv(healthy / "comparisons_without_collapsed.csv").empty


def test_comparisons_are_given_again_without_the_seeds_that_collapsed():
    from xprompt.results.collapse import paired_without_collapsed
    from xprompt.results.statistics import paired

    def seed_items(method, seed, predict, shots=16):
        return pd.DataFrame({"method": method, "shots": shots, "adapt_shots": 0, "seed": seed, "target": "de",
                             "id": [f"i{i}" for i in range(300)], "label": [i % 3 for i in range(300)],
                             "prediction": [predict(i) for i in range(300)]})

    right_but = lambda every: (lambda i: i % 3 if i % every else (i + 1) % 3)  # wrong on every `every`-th item
    items = pd.concat([*(seed_items("uniprompt", seed, right_but(4)) for seed in (13, 21, 42)),
                       seed_items("finetune", 13, right_but(5)), seed_items("finetune", 21, right_but(5)),
                       seed_items("finetune", 42, lambda i: 0),  # collapsed
                       *(seed_items("probe", seed, right_but(2)) for seed in (13, 21, 42)),
                       *(seed_items(m, 42, right_but(3), shots=64) for m in ("uniprompt", "finetune"))],
                      ignore_index=True)
    everything = paired(items, "en")
    again = paired_without_collapsed(items, "en")
    assert set(zip(again["method"], again["versus"])) == {("uniprompt", "finetune"), ("finetune", "probe")}
    assert set(again["shots"]) == {16} and set(again["n_seeds"]) == {2}  # 64: nothing collapsed there
    def at_16(table, method, versus):
        return table[(table["shots"] == 16) & (table["method"] == method) & (table["versus"] == versus)
                     & (table["target"] == "de")]["difference"].item()
    # with the collapsed seed fine-tuning averages (0.8 + 0.8 + 1/3) / 3; without it 0.8 against 0.75
    assert at_16(everything, "uniprompt", "finetune") == pytest.approx(0.75 - (1.6 + 1 / 3) / 3)
    assert at_16(again, "uniprompt", "finetune") == pytest.approx(0.75 - 0.8)
    assert paired_without_collapsed(items[items["seed"] != 42], "en").empty


def test_figure_styles_give_a_family_one_colour_and_no_two_methods_the_same_look():
    from xprompt.results.figure_parts import method_styles

    methods = ["uniprompt+ensemble", "finetune", "uniprompt", "uniprompt+self-training", "finetune+ensemble", "probe"]
    styles = method_styles(methods)
    assert set(styles) == set(methods)
    assert len(set(styles.values())) == len(methods)
    colour = {method: style[0] for method, style in styles.items()}
    # a family's first method carries its colour at full strength; the others are lighter mixes of it
    assert len({colour["uniprompt+ensemble"], colour["finetune"], colour["probe"]}) == 3
    for first, later in (("uniprompt+ensemble", "uniprompt"), ("uniprompt+ensemble", "uniprompt+self-training"),
                         ("finetune", "finetune+ensemble")):
        assert all(b >= a for a, b in zip(colour[first], colour[later])) and colour[first] != colour[later]
    assert styles["uniprompt"][1] != styles["uniprompt+self-training"][1]  # variants differ by marker too
