import math

import pandas as pd

from xprompt.results.consistency import aligned, consistency_metrics


def _table(ids, labels, predictions):
    return pd.DataFrame({"id": ids, "label": labels, "prediction": predictions})


def test_consistency_equals_hand_computation():
    source = _table(["a", "b", "c", "d", "e"], [0, 1, 2, 0, 1], [0, 1, 0, 0, 2])  # right: a b d
    target = _table(["a", "b", "c", "d", "e"], [0, 1, 2, 0, 1], [0, 2, 0, 1, 1])
    metrics = consistency_metrics(aligned(source, target, "row"))
    # same prediction on a, c  -> 2/5; target right where source right (a b d): a -> 1/3;
    # target right where source wrong (c e): e -> 1/2
    assert metrics == {"consistency": 2 / 5, "accuracy_source_right": 1 / 3, "accuracy_source_wrong": 1 / 2}


def test_id_alignment_ignores_row_order():
    source = _table(["x", "y", "z"], [0, 1, 1], [0, 1, 0])
    target = _table(["z", "x", "y"], [1, 0, 1], [0, 0, 0])
    metrics = consistency_metrics(aligned(source, target, "id"))
    assert metrics["consistency"] == 2 / 3  # x and z agree, y does not
    assert metrics["accuracy_source_right"] == 0.5  # x right, y wrong in the target
    assert metrics["accuracy_source_wrong"] == 0.0  # z


def test_non_parallel_data_is_not_applicable():
    source = _table(["a"], [0], [0])
    assert aligned(source, source, None) is None
    assert aligned(source, _table(["a", "b"], [0, 0], [0, 0]), "row") is None


def test_no_wrong_source_rows_gives_nan_not_a_number_invented():
    source = _table(["a", "b"], [0, 1], [0, 1])
    metrics = consistency_metrics(aligned(source, source, "row"))
    assert metrics["consistency"] == 1.0 and math.isnan(metrics["accuracy_source_wrong"])
