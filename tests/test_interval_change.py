"""benchmarks.interval_change names the paired differences whose verdict moved between two
computations of the same run's intervals, and how much wider the averages became."""

from __future__ import annotations

import pandas as pd

from benchmarks.interval_change import change, main


def write(folder, avg_span, pairs):
    folder.mkdir()
    pd.DataFrame([{"method": "a", "shots": 16, "adapt_shots": 0, "target": "avg", "metric": "accuracy",
                   "estimate": 0.8, "ci_low": 0.8 - avg_span, "ci_high": 0.8 + avg_span}]
                 ).to_csv(folder / "intervals.csv")
    pd.DataFrame([{"shots": 16, "adapt_shots": 0, "method": m, "versus": v, "target": "avg", "metric": "accuracy",
                   "difference": d, "ci_low": lo, "ci_high": hi, "significant": lo > 0 or hi < 0}
                  for m, v, d, lo, hi in pairs]).to_csv(folder / "comparisons.csv")


def test_a_difference_that_no_longer_excludes_zero_is_named(tmp_path, capsys):
    write(tmp_path / "old", 0.01, [("a", "b", 0.02, 0.01, 0.03), ("a", "c", 0.05, 0.03, 0.07)])
    write(tmp_path / "new", 0.03, [("a", "b", 0.02, -0.01, 0.05), ("a", "c", 0.05, 0.02, 0.08)])
    lines = change(tmp_path / "old", tmp_path / "new")
    assert lines[0] == "averages over targets: 1, median half-width 1.0 -> 3.0 points"
    assert "verdict changed: 1 (1 no longer exclude 0, 0 now exclude 0)" in lines[1]
    assert lines[2:] == ["  16 a − b: +2.0 [+1.0, +3.0] -> [-1.0, +5.0]"]
    assert main([str(tmp_path / "old"), str(tmp_path / "missing")]) == 2
    assert "missing/intervals.csv does not exist" in capsys.readouterr().err
