"""Task cards against messy files made here: pandas-written TSV with quotes, tabs and line breaks
in fields, a language that lacks a class, two column layouts in one card, typos in keys. Each
case gives a correct table or one clear error."""

from __future__ import annotations

import csv
import logging

import pandas as pd
import pytest
import yaml

from xprompt.cli import main
from xprompt.data import load_card, load_split
from xprompt.data.check import check_card
from xprompt.errors import DataError

LABELS = ["sport", "politics", "science"]
TEXTS = {"sport": ["The match ended\tin a draw.", "A \"great\" goal,\nthen another.", "She won the race."],
         "politics": ["The vote was close.", "Parliament met on Monday.", "The minister resigned."],
         "science": ["Cells divide.", "The telescope saw \"new\" stars.", "Atoms bond."]}


def _rows(lang: str, drop: str | None = None) -> pd.DataFrame:
    rows = [(f"{lang}: {t}", label) for label, texts in TEXTS.items() if label != drop for t in texts]
    rows.append((f"{lang}: an unrelated note", "other"))
    return pd.DataFrame(rows, columns=["text", "label"])


def _card(tmp_path, **local) -> object:
    card = {"labels": LABELS, "languages": ["en", "de", "fr"], "source_language": "en",
            "local": {"files": {s: f"{{lang}}.{s}.tsv" for s in ("train", "dev", "test")},
                      "format": "tsv", "columns": {"text": "text", "label": "label"},
                      "drop_labels": ["other"], **local},
            "templates": {"en": "{text} Topic: <mask>."}, "verbalizers": {"en": [["sport"], ["politics"], ["science"]]}}
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


@pytest.fixture
def quoted(tmp_path):
    """Files as df.to_csv(sep="\\t") writes them; French lacks the class science."""
    for lang in ("en", "de", "fr"):
        for split in ("train", "dev", "test"):
            _rows(lang, drop="science" if lang == "fr" else None).to_csv(tmp_path / f"{lang}.{split}.tsv",
                                                                         sep="\t", index=False)
    return tmp_path


def test_pandas_quoted_tsv_reads_exactly_with_quoting_csv(quoted, caplog):
    card = load_card(_card(quoted, quoting="csv"))
    table = load_split(card, "en", "test", quoted)
    assert len(table) == 9  # the "other" row dropped
    assert "en: The match ended\tin a draw." in set(table["text"])
    assert 'en: A "great" goal,\nthen another.' in set(table["text"])
    assert "dropped 1 rows whose label the card drops ('other': 1)" in caplog.text


def test_quoted_tsv_read_unquoted_is_an_error_naming_file_and_option(quoted):
    card = load_card(_card(quoted))
    with pytest.raises(DataError, match=r"en\.test\.tsv reads correctly only with quoting: csv \(read without "
                                        r"quoting: .*\); set quoting: csv for it in the card"):
        load_split(card, "en", "test", quoted)
    # a file that parses unquoted but keeps its quote characters
    pd.DataFrame({"text": ['say "hi"', "plain", 'a "b" c'], "label": LABELS}).to_csv(
        quoted / "en.test.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match=r"reads correctly only with quoting: csv \(read without quoting: "
                                        r"column 'text': 2 of 3 fields start and end with"):
        load_split(card, "en", "test", quoted)


def test_quoting_auto_reads_quoted_files_and_keeps_plain_ones(quoted):
    card = load_card(_card(quoted, quoting="auto"))
    assert 'en: A "great" goal,\nthen another.' in set(load_split(card, "en", "test", quoted)["text"])


def test_parse_error_names_file_line_and_option(tmp_path):
    (tmp_path / "en.test.tsv").write_text("text\tlabel\nfine\tsport\n\"broken\tsport\tx\ty\n")
    card = load_card(_card(tmp_path, quoting="csv"))
    with pytest.raises(DataError, match=r"cannot read .*en\.test\.tsv as tsv"):
        load_split(card, "en", "test", tmp_path)
    (tmp_path / "en.test.tsv").write_text("text\tlabel\nfine\tsport\na\tb\tc\td\n")
    card = load_card(_card(tmp_path))
    with pytest.raises(DataError, match=r"line 3 has 4 fields where the header has 2; try quoting: csv"):
        load_split(card, "en", "test", tmp_path)


def test_a_language_lacking_a_class_is_reported_and_scored_on_its_classes(quoted):
    card = load_card(_card(quoted, quoting="csv"))
    table = load_split(card, "fr", "test", quoted)
    assert sorted(table["label"].unique()) == [0, 1]
    lines, errors = check_card(card, quoted)
    assert not errors
    assert any(line.strip().startswith("fr test") and "missing classes: science" in line for line in lines)


def test_adaptation_samples_only_the_classes_a_language_has(quoted, caplog):
    from xprompt.pipeline import stages

    card = load_card(_card(quoted, quoting="csv"))
    pools = (load_split(card, "fr", "train", quoted), load_split(card, "fr", "dev", quoted))
    with caplog.at_level(logging.WARNING):
        train, _ = stages.sample(card, "fr", 1, 13, 1, str(quoted), pools)
    assert sorted(train["label"]) == [0, 1]
    assert "has no row of class 'science'; sampling the 2 classes it has" in caplog.text


def test_two_column_layouts_in_one_card(tmp_path):
    pd.DataFrame({"sentence": ["a sport text", "a politics text", "a science text"],
                  "topic": LABELS}).to_csv(tmp_path / "source.tsv", sep="\t", index=False, quoting=csv.QUOTE_NONE)
    for lang in ("en", "de", "fr"):
        pd.DataFrame({"doc": [f"{lang}{i}" for i in range(3)], "content": ["x", "y", "z"],
                      "category": ["SPORT", "POLITICS", "SCIENCE"]}).to_csv(tmp_path / f"{lang}.csv", index=False)
    card = {"labels": LABELS, "languages": ["en", "de", "fr"], "source_language": "en",
            "local": {"files": {"test": "{lang}.csv"}, "columns": {"id": "doc", "text": "content", "label": "category"},
                      "label_map": {"SPORT": "sport", "POLITICS": "politics", "SCIENCE": "science"},
                      "overrides": [{"languages": ["en"], "splits": ["train"], "files": {"train": "source.tsv"},
                                     "columns": {"text": "sentence", "label": "topic"}, "label_map": {}}]},
            "train_split": "train", "dev_split": None,
            "templates": {"en": "{text} <mask>."}, "verbalizers": {"en": [["sport"], ["politics"], ["science"]]}}
    (tmp_path / "joined.yaml").write_text(yaml.safe_dump(card))
    joined = load_card(tmp_path / "joined.yaml")
    train = load_split(joined, "en", "train", tmp_path)
    assert list(train["text"]) == ["a sport text", "a politics text", "a science text"]
    assert list(train["id"]) == ["en-train-0", "en-train-1", "en-train-2"]  # no id column there
    test = load_split(joined, "en", "test", tmp_path)
    assert list(test["id"]) == ["en0", "en1", "en2"] and list(test["label"]) == [0, 1, 2]


@pytest.mark.parametrize("change, message", [
    ({"templates": {"en": "{text} <mask>.", "dee": "{text} <mask>."}},
     r"templates names language 'dee', which is not one of the card's languages; did you mean 'de'\?"),
    ({"local": {"files": {"train": "x", "tset": "y"}, "columns": {"text": "t", "label": "l"}}},
     r"local.files has split 'tset', which the card does not use; its splits: train, dev, test .*did you mean 'test'"),
    ({"local": {"files": {"test": {"en": "a.csv", "frr": "b.csv"}}, "columns": {"text": "t", "label": "l"}}},
     r"local.files.test names language 'frr'.*did you mean 'fr'"),
    ({"local": {"files": {"test": "{lang}.csv"}, "columns": {"text": "t", "label": "l"},
                "overrides": [{"languages": ["es"], "format": "tsv"}]}},
     r"local.overrides\[0\].languages names language 'es'"),
    ({"local": {"files": {"test": "{lang}.csv"}, "columns": {"text": "t", "label": "l"}, "quoting": "double"}},
     r"local.quoting 'double' is not one of none, csv, auto"),
    ({"local": {"files": {"test": "{lang}.csv"}, "columns": {"text": "t", "label": "l"}, "encoding": "utf-99"}},
     r"local.encoding 'utf-99' is not an encoding Python knows"),
])
def test_card_mistakes_are_named_at_load(tmp_path, change, message):
    card = {"labels": LABELS, "languages": ["en", "de", "fr"], "source_language": "en",
            "local": {"files": {"test": "{lang}.csv"}, "columns": {"text": "t", "label": "l"}},
            "templates": {"en": "{text} <mask>."}, **change}
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(card))
    with pytest.raises(DataError, match=message):
        load_card(path)


def test_unquoted_lang_placeholder_in_a_flow_mapping_gets_the_fix(tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text("labels: [a, b]\nlanguages: [en]\nlocal:\n  files: {train: {lang}/train.csv}\n"
                    "  columns: {text: t, label: l}\n")
    with pytest.raises(DataError) as caught:
        load_card(path)
    text = str(caught.value)
    assert f"task card {path} line 4 is not valid YAML" in text and 'quote values that hold a placeholder' in text
    assert "\n" not in text


def test_data_check_command_exits_non_zero_on_errors(quoted, capsys):
    assert main(["data", "check", str(_card(quoted, quoting="csv")), "--data-root", str(quoted)]) == 0
    assert "no errors" in capsys.readouterr().out
    (quoted / "de.test.tsv").write_text("")
    assert main(["data", "check", str(_card(quoted, quoting="csv")), "--data-root", str(quoted)]) == 1
    out = capsys.readouterr().out
    assert "1 errors:" in out and "de test:" in out and "has no rows" in out


def test_adaptation_shots_never_translate_the_source_shots_on_a_parallel_set(tmp_path):
    from xprompt.pipeline import stages
    from xprompt.results.bootstrap import item_key

    rows = {lang: pd.DataFrame({"text": [f"{lang} text {i}" for i in range(12)],
                                "label": [LABELS[i % 3] for i in range(12)]}) for lang in ("en", "de")}
    for lang, table in rows.items():
        for split in ("train", "dev", "test"):
            table.to_csv(tmp_path / f"{lang}.{split}.tsv", sep="\t", index=False)
    path = _card(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["parallel"], raw["languages"] = "row", ["en", "de"]
    path.write_text(yaml.safe_dump(raw))
    card = load_card(path)
    pools = {lang: (load_split(card, lang, "train", tmp_path), load_split(card, lang, "dev", tmp_path))
             for lang in ("en", "de")}
    source, _ = stages.sample(card, "en", 2, 13, 1, str(tmp_path), pools["en"])
    taken = set(item_key(source["id"], "en", "row"))
    adapted, adapted_dev = stages.sample(card, "de", 2, 13, 1, str(tmp_path), pools["de"], taken)
    assert len(adapted) == 6 and not taken & set(item_key(adapted["id"], "de", "row"))
    assert not taken & set(item_key(adapted_dev["id"], "de", "row"))
    same_seed, _ = stages.sample(card, "de", 2, 13, 1, str(tmp_path), pools["de"])
    assert taken & set(item_key(same_seed["id"], "de", "row"))  # without the rule, translations come back
