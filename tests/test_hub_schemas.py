"""Each built-in card's Hub mapping against the recorded schema of the real data set
(tests/hub_schemas.json; re-record with tests/record_hub_schemas.py): the repository, config
and split every role reads exist, the mapped columns are there, and every raw label value maps
to one of the card's labels, so a Hub-only machine reads each split into the one table shape.
`datasets.load_dataset` is replaced by a data set built with the recorded features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xprompt.data import known_tasks, load_card, load_split
from xprompt.data.loaders import hub_location

datasets = pytest.importorskip("datasets")
SCHEMAS = json.loads((Path(__file__).parent / "hub_schemas.json").read_text(encoding="utf-8"))
HUB_CARDS = [task for task in known_tasks() if load_card(task).hub is not None]


def fake_rows(schema: dict) -> "datasets.Dataset":
    """One row per raw label value, with the recorded features (types and ClassLabel names)."""
    features = datasets.Features.from_dict(schema["features"])
    label_column = next(name for name, feature in features.items()
                        if isinstance(feature, datasets.ClassLabel) or name in schema.get("label_values", {}))
    feature = features[label_column]
    values = (list(range(feature.num_classes)) if isinstance(feature, datasets.ClassLabel)
              else schema["label_values"][label_column])
    columns = {}
    for name, kind in features.items():
        if name == label_column:
            columns[name] = values
        elif getattr(kind, "dtype", "") == "string":
            columns[name] = [f"{name} {i}" for i in range(len(values))]
        else:
            columns[name] = list(range(len(values)))
    return datasets.Dataset.from_dict(columns, features=features)


def test_every_builtin_card_with_a_hub_block_has_a_recorded_schema():
    assert set(HUB_CARDS) == {"xnli", "pawsx", "marc", "sib200"}
    for task in HUB_CARDS:
        card = load_card(task)
        for lang in card.languages:
            dataset_id, config, _ = hub_location(card, lang, "test")
            assert dataset_id in SCHEMAS, f"{task}: no recorded schema for {dataset_id}"
            assert config in SCHEMAS[dataset_id]["configs"], f"{task} {lang}: {dataset_id} has no config {config}"


@pytest.mark.parametrize("task", HUB_CARDS)
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_hub_mapping_reads_the_recorded_schema(task, split, monkeypatch, tmp_path):
    card = load_card(task)
    lang = card.source_language
    dataset_id, config, hub_split = hub_location(card, lang, split)
    schema = SCHEMAS[dataset_id]
    assert hub_split in schema["splits"], \
        f"{task}: {dataset_id} has no split {hub_split} (has {list(schema['splits'])})"
    calls = []

    def load_dataset(name, config_name=None, split=None, revision=None):
        calls.append((name, config_name, split))
        return fake_rows(schema)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    table = load_split(card, lang, split, data_root=tmp_path)  # an empty root: only the Hub has data
    assert calls == [(dataset_id, config, hub_split)]
    assert sorted(table["label"]) == list(range(len(card.labels)))  # every raw value is one of the card's labels
    assert table["id"].is_unique and table["text"].str.startswith(card.hub.columns.text).all()
    if card.hub.columns.text_pair:
        assert table["text_pair"].str.startswith(card.hub.columns.text_pair).all()


def test_xnli_from_the_hub_trains_on_multinli_and_selects_on_validation():
    card = load_card("xnli")
    assert hub_location(card, "en", "train") == ("facebook/xnli", "en", "train")
    assert hub_location(card, "en", "dev") == ("facebook/xnli", "en", "validation")
    assert SCHEMAS["facebook/xnli"]["splits"]["train"] == 392702


def test_marc_reads_a_repository_per_language():
    assert hub_location(load_card("marc"), "ja", "test") == ("SetFit/amazon_reviews_multi_ja", None, "test")
