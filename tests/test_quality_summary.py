"""The cross-run quality summary reads a run's aggregate.csv and reports its own numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.quality_summary import load_aggregate, markdown, summary_rows
from xprompt.errors import ConfigError

COLUMNS = ["method", "model", "task", "source", "target", "shots", "adapt_shots", "metric",
           "mean", "std", "n_seeds", "n_targets"]


def _aggregate() -> pd.DataFrame:
    rows = [
        ("uniprompt", "m", "sib200", "eng", "eng", 16, 0, "accuracy", 0.90, 0.01, 3, 1),
        ("uniprompt", "m", "sib200", "eng", "avg", 16, 0, "accuracy", 0.80, 0.02, 3, 2),
        ("probe", "m", "sib200", "eng", "eng", 16, 0, "accuracy", 0.95, 0.00, 3, 1),
        ("probe", "m", "sib200", "eng", "avg", 16, 0, "accuracy", 0.70, 0.05, 3, 2),
        ("probe", "m", "sib200", "eng", "avg", 16, 0, "macro_f1", 0.99, 0.00, 3, 2),
        ("probe", "m", "sib200", "eng", "avg", 16, 4, "accuracy", 0.99, 0.00, 3, 2),
        ("probe", "m", "sib200", "eng", "avg", 48, 0, "accuracy", 0.75, float("nan"), 1, 2),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_summary_takes_the_target_average_and_names_the_best_method():
    rows = summary_rows(_aggregate())
    assert [(r["task"], r["K"]) for r in rows] == [("sib200", 16), ("sib200", 48)]
    first, second = rows
    assert first["uniprompt"] == "80.0 ± 2.0" and first["probe"] == "70.0 ± 5.0"  # not macro_f1, not adapted
    assert first["best on targets"] == "uniprompt" and first["its source accuracy"] == "90.0 ± 1.0"
    assert second["probe"] == "75.0" and "uniprompt" not in second
    table = markdown(rows)
    assert table.splitlines()[0].startswith("| task | K | targets | uniprompt | probe |")
    assert "| sib200 | 48 | 2 | – | 75.0 | probe |" in table


def test_a_folder_without_aggregate_is_named(tmp_path):
    with pytest.raises(ConfigError, match="aggregate.csv"):
        load_aggregate(tmp_path)


def test_interval_summary_prints_intervals_and_paired_verdicts(tmp_path):
    import json

    import numpy as np

    from benchmarks.interval_summary import summary
    from xprompt.results.significance import write_uncertainty

    rng = np.random.default_rng(1)
    frames = []
    for method, skill in (("uniprompt", 0.85), ("finetune", 0.6), ("probe", 0.85)):
        for target in ("en", "de"):
            labels = rng.integers(0, 2, 300)
            correct = rng.random(300) < skill
            frames.append(pd.DataFrame({"method": method, "shots": 16, "adapt_shots": 0, "seed": 13,
                                        "target": target, "id": [str(i) for i in range(300)], "label": labels,
                                        "prediction": np.where(correct, labels, 1 - labels)}))
    write_uncertainty(pd.concat(frames, ignore_index=True), tmp_path, "en", 2)
    (tmp_path / "run.json").write_text(json.dumps({"config": {"task": {"name": "toy"}}}))
    text = summary(tmp_path)
    assert "K = 16, 1 seeds, 300-300 test rows per language" in text
    best = "uniprompt" if "| uniprompt − finetune |" in text else "probe"  # the two are level by design
    assert f"| {best} − finetune | +" in text and f"{best} ahead" in text
    assert "no significant difference" in text


def test_interval_summary_versus_baselines_keeps_the_settings_apart(tmp_path):
    import json

    import numpy as np

    from benchmarks.interval_summary import summary
    from xprompt.results.significance import write_uncertainty

    rng = np.random.default_rng(2)
    frames = []
    for method, skill in (("uniprompt", 0.9), ("uniprompt+calibration", 0.92), ("finetune", 0.6), ("probe", 0.88)):
        for target in ("en", "de"):
            labels = rng.integers(0, 2, 400)
            correct = rng.random(400) < skill
            frames.append(pd.DataFrame({"method": method, "shots": 16, "adapt_shots": 0, "seed": 13,
                                        "target": target, "id": [str(i) for i in range(400)], "label": labels,
                                        "prediction": np.where(correct, labels, 1 - labels)}))
    write_uncertainty(pd.concat(frames, ignore_index=True), tmp_path, "en", 2)
    (tmp_path / "run.json").write_text(json.dumps({"config": {"task": {"name": "toy"}}}))
    lines = summary(tmp_path, ["finetune", "probe"]).splitlines()
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ") and "[" in line}
    assert "| zero-shot |" in rows["uniprompt"]
    assert "zero-shot + unlabelled target text" in rows["uniprompt+calibration"]
    cells = [c.strip() for c in rows["uniprompt"].split("|")]
    assert cells[4].count("[") == 1  # the transfer gap: en minus the average, with its interval
    assert cells[6].startswith("**+")  # 30 points ahead of fine-tuning: bold, its interval excludes 0
    assert rows["finetune"].split("|")[6].strip() == "–"  # no difference of a baseline to itself
    order = [name for name in rows]
    assert order.index("uniprompt+calibration") > order.index("probe")  # target-text rows after zero-shot ones
