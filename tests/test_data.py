"""Data layer: task cards, loaders, K-shot samplers.

Unit tests write tiny files into tmp_path and never touch the Hub (its loader is
replaced where the fallback is under test); integration tests read the offline
copies in ../shared/data and skip when they are absent.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xprompt.data import (TABLE_COLUMNS, fixed_k_shot, known_tasks, load_card, load_split,
                          resolve_data_root, sample_k_shot)
from xprompt.errors import DataError

# ---------------------------------------------------------------- helpers

ROWS = [("good film", "pos"), ("bad film", "neg"), ("great plot", "pos"), ("dull plot", "neg"),
        ("fine cast", "pos"), ("weak cast", "neg")]


def write_card(tmp_path: Path, **overrides) -> Path:
    card = {
        "name": "reviews",
        "labels": ["neg", "pos"],
        "languages": ["en", "de"],
        "local": {"files": {"train": "train-{lang}.csv", "test": "test-{lang}.csv"},
                  "columns": {"text": "review", "label": "sentiment"}},
        "templates": {"en": "{text} It was <mask>."},
        "verbalizers": {"en": ["bad", ["good", "great"]]},
    }
    card.update(overrides)
    path = tmp_path / "reviews.yaml"
    path.write_text(yaml.safe_dump(card, allow_unicode=True), encoding="utf-8")
    return path


def write_rows(path: Path, rows=ROWS, columns=("review", "sentiment")) -> Path:
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


@pytest.fixture
def user_card(tmp_path):
    for lang in ("en", "de"):
        write_rows(tmp_path / f"train-{lang}.csv")
        write_rows(tmp_path / f"test-{lang}.csv")
    return load_card(write_card(tmp_path))


@pytest.fixture(autouse=True)
def no_data_env(monkeypatch):
    monkeypatch.delenv("XPROMPT_DATA", raising=False)


def assert_table(df: pd.DataFrame, lang: str, split: str) -> None:
    assert list(df.columns) == list(TABLE_COLUMNS)
    assert (df["lang"] == lang).all() and (df["split"] == split).all()
    assert pd.api.types.is_integer_dtype(df["label"])
    assert df["id"].is_unique


# ---------------------------------------------------------------- cards

def test_known_tasks_and_builtin_cards():
    assert known_tasks() == ["marc", "pawsx", "sib200", "xnli"]
    xnli = load_card("xnli")
    assert xnli.labels == ("entailment", "neutral", "contradiction")
    assert xnli.train_split == "dev" and xnli.parallel == "row" and xnli.has_pair
    assert xnli.template("de") == "{text} ? <mask> , {text_pair}"
    assert xnli.verbalizer("en") == [["yes"], ["maybe"], ["no"]]
    assert xnli.verbalizer("de") == [["ja"], ["vielleicht"], ["nein"]]
    assert xnli.verbalizer("sw") == xnli.verbalizer("en")  # source fallback
    sib = load_card("sib200")
    assert sib.source_language == "eng_Latn" and len(sib.languages) == 205
    assert sib.template("yor_Latn") == "{text} Topic: <mask>." and sib.parallel == "id"
    marc = load_card("marc")
    assert marc.fixed_shots.shots == (4, 8, 16, 32, 64, 128, 256)
    assert marc.fixed_shots.seeds == (13, 21, 42, 87, 100)
    assert len(marc.verbalizer("fr")) == 5 and not marc.has_pair
    assert load_card("pawsx").parallel is None
    assert marc.to_dict()["name"] == "marc"


def test_unknown_task_lists_known_ones():
    with pytest.raises(DataError, match="unknown task 'foo'; known tasks: marc, pawsx, sib200, "
                                        "xnli, or a path to a task card YAML"):
        load_card("foo")
    with pytest.raises(DataError, match="missing.yaml does not exist"):
        load_card("missing.yaml")


@pytest.mark.parametrize("overrides, message", [
    ({"lables": ["a", "b"]}, r"unknown key 'lables' in the top level; accepted keys: name, labels"),
    ({"local": {"files": {"test": "t.csv"}, "columns": {"text": "t", "label": "l", "txt": "x"}}},
     r"unknown key 'txt' in 'local.columns'; accepted keys: text, label, text_pair, id"),
    ({"templates": {"en": "{text} It was good."}}, r"template for 'en' must contain exactly one <mask>"),
    ({"templates": {"de": "{text} <mask>", "en": "<mask> <mask>"}}, r"'<mask> <mask>'"),
    ({"templates": {"en": "{text} {text_pair} <mask>"}}, r"uses \{text_pair\}; this task accepts \{text\}"),
    ({"verbalizers": {"en": ["bad", "okay", "good"]}}, r"verbalizer for 'en' has 3 classes .* 2 labels"),
    ({"verbalizers": {"en": [True, "good"]}}, r"label word True .* quote it"),
    ({"templates": {"en": "{text} <mask>", "fr": "{text} <mask>"}},
     r"templates names language 'fr', which is not one of the card's languages"),
    ({"templates": {"de": "{text} <mask>"}}, r"no entry for the source language 'en'"),
    ({"source_language": "fr"}, r"source_language 'fr' is not one of its languages"),
    ({"labels": ["pos", "pos"]}, r"at least two distinct names"),
    ({"local": {"files": {"test": "t.csv"}, "columns": {"text": "t", "label": "l"},
                "label_map": {0: "neg", 1: "neutral"}}}, r"label_map maps to 'neutral'"),
    ({"local": {"files": {"test": "t-{language}.csv"}, "columns": {"text": "t", "label": "l"}}},
     r"uses \{language\}; accepted placeholders: \{lang\}"),
    ({"local": None}, r"names neither local files"),
])
def test_bad_cards_name_the_file_and_the_fault(tmp_path, overrides, message):
    path = write_card(tmp_path, **overrides)
    with pytest.raises(DataError, match=message) as caught:
        load_card(path)
    assert str(path) in str(caught.value)


def test_card_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("labels: [a, b\nlanguages: [en]\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"broken.yaml line 2 is not valid YAML"):
        load_card(path)


def test_card_name_defaults_to_file_stem_and_missing_key(tmp_path):
    card = {"labels": ["a", "b"], "languages": ["en"],
            "local": {"files": {"test": "t.csv"}, "columns": {"text": "t", "label": "l"}}}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(card))
    assert load_card(path).name == "mine"
    del card["languages"]
    path.write_text(yaml.safe_dump(card))
    with pytest.raises(DataError, match="missing the required key 'languages'"):
        load_card(path)


# ---------------------------------------------------------------- loaders

def test_user_card_csv_beside_the_card(user_card):
    df = load_split(user_card, "de", "train")
    assert_table(df, "de", "train")
    assert df["text"].tolist() == [text for text, _ in ROWS]
    assert df["label"].tolist() == [1, 0, 1, 0, 1, 0]
    assert df["id"].tolist()[:2] == ["de-train-0", "de-train-1"]
    assert df["text_pair"].isna().all()
    assert user_card.template("de") == "{text} It was <mask>."
    assert user_card.verbalizer("de") == [["bad"], ["good", "great"]]


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz", ".jsonl", ".jsonl.gz", ".csv.gz", ".parquet"])
def test_user_card_formats_with_pairs_ids_and_label_map(tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow", reason="pyarrow is needed to read parquet")
    frame = pd.DataFrame({"uid": ["a7", "b8", "c9"], "q": ['say "hi', "two", "NA"],
                          "a": ["x", "y", "z"], "gold": [1, 0, 1]})
    path = tmp_path / f"data{suffix}"
    if suffix.startswith(".tsv"):
        frame.to_csv(path, sep="\t", index=False, quoting=csv.QUOTE_NONE)  # like XNLI
    elif suffix.startswith(".jsonl"):
        lines = "".join(json.dumps(row) + "\n" for row in frame.to_dict("records"))
        path.write_bytes(gzip.compress(lines.encode()) if suffix.endswith(".gz") else lines.encode())
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    card = load_card(write_card(
        tmp_path, templates={"en": "{text} ? <mask> , {text_pair}"},
        local={"files": {"test": {"en": str(path)}},
               "columns": {"id": "uid", "text": "q", "text_pair": "a", "label": "gold"},
               "label_map": {0: "neg", 1: "pos"}}))
    df = load_split(card, "en", "test")
    assert_table(df, "en", "test")
    assert df["id"].tolist() == ["a7", "b8", "c9"]
    assert df["text"].tolist() == ['say "hi', "two", "NA"]
    assert df["text_pair"].tolist() == ["x", "y", "z"]
    assert df["label"].tolist() == [1, 0, 1]


def test_data_root_argument_and_env(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    write_rows(root / "test-en.csv", rows=ROWS[:2])
    card_dir = tmp_path / "cards"
    card_dir.mkdir()
    write_rows(card_dir / "test-en.csv")
    card = load_card(write_card(card_dir))
    assert len(load_split(card, "en", "test")) == 6  # beside the card
    assert len(load_split(card, "en", "test", data_root=root)) == 2  # the root comes first
    monkeypatch.setenv("XPROMPT_DATA", str(root))
    assert resolve_data_root() == root
    assert len(load_split(card, "en", "test")) == 2


def test_unknown_language_and_split(user_card):
    with pytest.raises(DataError, match=r"unknown language 'fr' .*accepted: en, de"):
        load_split(user_card, "fr", "test")
    with pytest.raises(DataError, match=r"unknown split 'validation' .*accepted: train, dev, test"):
        load_split(user_card, "en", "validation")


def test_missing_column_names_file_column_and_found(tmp_path, user_card):
    write_rows(tmp_path / "test-en.csv", columns=("body", "sentiment"))
    with pytest.raises(DataError, match=r"test-en.csv has no column 'review' \(the card's text "
                                        r"column\); columns found: body, sentiment"):
        load_split(user_card, "en", "test")


def test_unknown_label_names_row_value_and_accepted(tmp_path, user_card):
    write_rows(tmp_path / "test-en.csv", rows=ROWS[:3] + [("meh", "neutral")])
    with pytest.raises(DataError, match=r"test-en.csv, row 4: label 'neutral' is not one of the "
                                        r"accepted labels \(neg, pos\)"):
        load_split(user_card, "en", "test")


def test_unknown_label_in_tsv_names_the_line(tmp_path):
    (tmp_path / "t.tsv").write_text("s\tl\nok\t0\nno\t7\n", encoding="utf-8")
    card = load_card(write_card(tmp_path, local={
        "files": {"test": "t.tsv"}, "columns": {"text": "s", "label": "l"},
        "label_map": {0: "neg", 1: "pos"}}))
    with pytest.raises(DataError, match=r"t.tsv, row 2 \(line 3\): label '7' .*\(0, 1\)"):
        load_split(card, "en", "test")


def test_empty_split_names_file(tmp_path, user_card):
    (tmp_path / "test-en.csv").write_text("review,sentiment\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"test-en.csv has no rows for the test split"):
        load_split(user_card, "en", "test")
    (tmp_path / "test-en.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"has no rows"):
        load_split(user_card, "en", "test")


def test_duplicate_ids_and_unknown_extension(tmp_path):
    pd.DataFrame({"i": [1, 1], "t": ["a", "b"], "l": ["neg", "pos"]}).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.txt").write_text("t,l\na,neg\n")
    card = load_card(write_card(tmp_path, local={
        "files": {"test": "d.csv", "dev": "d.txt"}, "columns": {"id": "i", "text": "t", "label": "l"}}))
    with pytest.raises(DataError, match=r"id '1' appears more than once in column 'i'"):
        load_split(card, "en", "test")
    with pytest.raises(DataError, match=r"cannot tell the format of .*d.txt.*accepted: .csv"):
        load_split(card, "en", "dev")


def test_nothing_found_names_local_paths_and_hub(tmp_path, user_card, monkeypatch):
    with pytest.raises(DataError, match=r"dev split .*names no local file .*names no Hub dataset"):
        load_split(user_card, "en", "dev")
    (tmp_path / "test-en.csv").unlink()
    with pytest.raises(DataError, match=r"looked for .*test-en.csv"):
        load_split(user_card, "en", "test")

    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("offline")
    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"looked for .*xnli/test-de.tsv.gz, and the Hub dataset "
                                        r"facebook/xnli \(config de, split test\) could not be loaded"):
        load_split(load_card("xnli"), "de", "test", data_root=tmp_path)


def test_hub_fallback_maps_splits_columns_and_labels(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_hub(name, config, split, revision=None):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict({"premise": ["p0", "p1"], "hypothesis": ["h0", "h1"],
                                           "label": [2, 0]})
    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    df = load_split(load_card("xnli"), "fr", "train", data_root=tmp_path)
    assert calls == [("facebook/xnli", "fr", "train")]  # from the Hub the training pool is MultiNLI
    assert_table(df, "fr", "train")
    assert df["label"].tolist() == [2, 0]
    assert df["id"].tolist() == ["fr-train-0", "fr-train-1"]  # ids name the Hub split
    assert df["text_pair"].tolist() == ["h0", "h1"]
    dev = load_split(load_card("xnli"), "fr", "dev", data_root=tmp_path)
    assert calls[-1] == ("facebook/xnli", "fr", "validation") and dev["id"].tolist() == ["fr-validation-0",
                                                                                          "fr-validation-1"]


# ---------------------------------------------------------------- sampling

def pool(per_class=(10, 7, 5)) -> pd.DataFrame:
    labels = [label for label, n in enumerate(per_class) for _ in range(n)]
    return pd.DataFrame({"id": [f"en-dev-{i}" for i in range(len(labels))], "text": "t",
                         "text_pair": None, "label": labels, "lang": "en", "split": "dev"})


def test_sample_is_deterministic_stratified_and_ordered():
    df = pool()
    first = sample_k_shot(df, k=4, seed=13)
    assert first.equals(sample_k_shot(df.copy(), k=4, seed=13))
    assert first["label"].value_counts().to_dict() == {0: 4, 1: 4, 2: 4}
    assert first["label"].is_monotonic_increasing
    assert list(first.columns) == list(df.columns) and first["id"].is_unique
    assert not first["id"].tolist() == sample_k_shot(df, k=4, seed=21)["id"].tolist()
    bigger = sample_k_shot(df, k=5, seed=13)
    assert set(first["id"]) <= set(bigger["id"])  # a smaller k is part of a larger one
    assert set(first["id"]) <= set(df["id"])


def test_sample_excludes_ids():
    df = pool()
    shots = sample_k_shot(df, k=2, seed=13)
    dev = sample_k_shot(df, k=3, seed=13, exclude_ids=shots["id"])
    assert not set(dev["id"]) & set(shots["id"])
    assert dev["label"].value_counts().to_dict() == {0: 3, 1: 3, 2: 3}


def test_sample_k_too_large_names_class_count_k_and_split():
    with pytest.raises(DataError, match=r"class 'c' has 5 rows in the dev split \(en\), fewer than k=6"):
        sample_k_shot(pool(), k=6, seed=1, label_names=["a", "b", "c"])
    with pytest.raises(DataError, match=r"class with label 2 has 3 rows .* after excluding 2 ids"):
        sample_k_shot(pool(), k=4, seed=1, exclude_ids=["en-dev-20", "en-dev-21"])
    with pytest.raises(DataError, match=r"k must be a positive whole number"):
        sample_k_shot(pool(), k=0, seed=1)


def test_a_class_the_language_lacks_is_left_out_with_a_warning(caplog):
    shots = sample_k_shot(pool(), k=1, seed=1, label_names=["a", "b", "c", "d"])
    assert sorted(shots["label"]) == [0, 1, 2]
    assert "has no row of class 'd'; sampling the 3 classes it has" in caplog.text


def test_fixed_k_shot_none_without_files_and_bad_k(user_card, tmp_path):
    assert fixed_k_shot(user_card, "en", 4, 13, tmp_path) is None
    marc = load_card("marc")
    with pytest.raises(DataError, match=r"k=5, seed=13; shipped k: 4, 8, 16, 32, 64, 128, 256; "
                                        r"seeds: 13, 21, 42, 87, 100"):
        fixed_k_shot(marc, "en", 5, 13, tmp_path)
    with pytest.raises(DataError, match=r"fixed train split of marc for 'en', k=4, seed=13 is not at"):
        fixed_k_shot(marc, "en", 4, 13, tmp_path)


# ---------------------------------------------------------------- offline data (integration)

# read at import, before the autouse fixture clears XPROMPT_DATA for the unit tests
SHARED_DATA = Path(os.environ.get("XPROMPT_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture
def data_root() -> Path:
    if not (SHARED_DATA / "xnli").is_dir():
        pytest.skip(f"offline benchmark data not found at {SHARED_DATA} (set XPROMPT_DATA)")
    return SHARED_DATA


@pytest.mark.integration
@pytest.mark.parametrize("task, lang, split, rows, per_class", [
    ("xnli", "en", "test", 5010, [1670] * 3),
    ("xnli", "de", "test", 5010, [1670] * 3),
    ("xnli", "en", "train", 2490, [830] * 3),
    ("xnli", "sw", "dev", 2490, [830] * 3),
    ("pawsx", "en", "train", 8000, None),
    ("pawsx", "ko", "test", 2000, None),
    ("marc", "ja", "test", 5000, [1000] * 5),
    ("sib200", "eng_Latn", "train", 701, [176, 138, 102, 85, 77, 65, 58]),
    ("sib200", "zho_Hans", "dev", 99, None),
    ("sib200", "yor_Latn", "test", 204, None),
])
def test_offline_tasks_row_counts_and_labels(data_root, task, lang, split, rows, per_class):
    card = load_card(task)
    df = load_split(card, lang, split, data_root=data_root)
    assert_table(df, lang, split)
    assert len(df) == rows
    assert set(df["label"]) == set(range(len(card.labels)))
    if per_class:
        assert df["label"].value_counts().sort_index().tolist() == per_class
    assert (df["text"].str.len() > 0).all()
    assert df["text_pair"].notna().all() == card.has_pair


@pytest.mark.integration
def test_offline_parallel_alignment(data_root):
    xnli = load_card("xnli")
    en, de = (load_split(xnli, lang, "test", data_root) for lang in ("en", "de"))
    assert xnli.parallel == "row" and (en["label"] == de["label"]).all()
    sib = load_card("sib200")
    en, yo = (load_split(sib, lang, "test", data_root) for lang in ("eng_Latn", "yor_Latn"))
    assert sib.parallel == "id" and en["id"].tolist() == yo["id"].tolist()
    assert (en["label"] == yo["label"]).all()


@pytest.mark.integration
def test_offline_xnli_train_and_dev_share_ids(data_root):
    xnli = load_card("xnli")
    train = load_split(xnli, "en", "train", data_root)
    shots = sample_k_shot(train, k=16, seed=13, label_names=xnli.labels)
    dev = sample_k_shot(load_split(xnli, "en", "dev", data_root), k=16, seed=13,
                        exclude_ids=shots["id"], label_names=xnli.labels)
    assert len(shots) == len(dev) == 48 and not set(shots["id"]) & set(dev["id"])


@pytest.mark.integration
@pytest.mark.parametrize("lang, k, seed", [("en", 4, 13), ("de", 16, 42), ("zh", 256, 100)])
def test_offline_marc_fixed_splits(data_root, lang, k, seed):
    train, dev = fixed_k_shot(load_card("marc"), lang, k, seed, data_root)
    for df, split in ((train, "train"), (dev, "dev")):
        assert_table(df, lang, split)
        assert df["label"].value_counts().sort_index().tolist() == [k] * 5
    assert not set(train["id"]) & set(dev["id"])
