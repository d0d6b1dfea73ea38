"""Write the messy files the worked examples of docs/TASK_CARDS.md describe, drawn from the
offline SIB-200 copy (../shared/data, or --shared): nothing of the data set is kept in the repo.

    python docs/examples/make_example_data.py /tmp/xprompt-examples

writes under that folder:
  per-file/   one file per language and split, named irregularly (example 2)
  quoted/     tab-separated files written by pandas: quoted fields holding tabs and line breaks,
              French lacking the class `entertainment`, a `religion` class that is dropped (example 3)
  joined/     English from a collection without ids (TSV: sentence, topic) and German and French from
              another with ids and other label spellings (CSV: doc_id, content, category) (example 4)
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd

LANGS = {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn"}
SHORT = {"science/technology": "science", "travel": "travel", "politics": "politics", "sports": "sports",
         "health": "health", "entertainment": "entertainment", "geography": "geography"}


def sib(shared: Path, lang: str, split: str) -> pd.DataFrame:
    table = pd.read_csv(shared / "sib200" / lang / f"{split}.tsv.gz", sep="\t", quoting=csv.QUOTE_NONE,
                        dtype=str, keep_default_na=False)
    return table.rename(columns={"index_id": "id", "category": "label"})[["id", "text", "label"]]


def per_file(shared: Path, out: Path) -> None:
    names = {("en", "train"): "english_training.csv", ("en", "dev"): "english_dev.csv",
             ("en", "test"): "english_test.csv", ("de", "test"): "deutsch/test-set.csv",
             ("fr", "test"): "francais_eval.csv"}
    for (lang, split), name in names.items():
        path = out / "per-file" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sib(shared, LANGS[lang], split).to_csv(path, index=False)


def quoted(shared: Path, out: Path) -> None:
    folder = out / "quoted"
    folder.mkdir(parents=True, exist_ok=True)
    for lang, code in LANGS.items():
        for split in ("train", "dev", "test"):
            table = sib(shared, code, split)
            # texts with tabs, line breaks and quotes, as a spreadsheet export leaves them
            table.loc[::7, "text"] = table.loc[::7, "text"].str.replace(" ", "\t", n=1)
            table.loc[3::11, "text"] = table.loc[3::11, "text"].str.replace(". ", ".\n", n=1, regex=False)
            table.loc[5::13, "text"] = '"' + table.loc[5::13, "text"] + '" (quoted)'
            table.loc[table.index % 17 == 0, "label"] = "religion"  # a class the task does not use
            if lang == "fr":
                table = table[table["label"] != "entertainment"]  # this language lacks a class
            table.drop(columns="id").to_csv(folder / f"{lang}.{split}.tsv", sep="\t", index=False)


def joined(shared: Path, out: Path) -> None:
    english = out / "joined" / "collection-a"
    english.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        table = sib(shared, "eng_Latn", split)
        table.rename(columns={"text": "sentence", "label": "topic"})[["sentence", "topic"]].to_csv(
            english / f"{split}.tsv", sep="\t", index=False, quoting=csv.QUOTE_NONE, escapechar="\\")
    for lang in ("en", "de", "fr"):
        folder = out / "joined" / "collection-b" / lang
        folder.mkdir(parents=True, exist_ok=True)
        table = sib(shared, LANGS[lang], "test")
        table["label"] = table["label"].map(SHORT).str.upper()
        table.rename(columns={"id": "doc_id", "text": "content", "label": "category"}).to_csv(
            folder / "test.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (the examples' data root)")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data",
                        help="the offline data folder (default: ../shared/data beside the clone)")
    args = parser.parse_args()
    for write in (per_file, quoted, joined):
        write(args.shared, args.out)
    print(f"example files written under {args.out}")


if __name__ == "__main__":
    main()
