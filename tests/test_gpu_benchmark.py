"""The GPU benchmark runs where only the working tree is: without the offline model's tokenizer it
builds a stand-in and says so (a lent GPU machine has no Hugging Face cache)."""

from __future__ import annotations

import json

from benchmarks.gpu import WORDS, main, stand_in_tokenizer


def test_stand_in_tokenizer_keeps_the_benchmark_words_whole():
    tokenizer = stand_in_tokenizer()
    ids = tokenizer(" ".join(WORDS))["input_ids"]
    assert len(ids) == len(WORDS) + 2  # one token per word, plus <s> and </s>
    assert tokenizer.unk_token_id not in ids


def test_runs_without_the_offline_tokenizer_and_names_the_stand_in(tmp_path, capsys, one_thread):
    out = tmp_path / "gpu.json"
    assert main(["--shape", "small", "--device", "cpu", "--dtypes", "float32", "--batch", "2", "--length", "16",
                 "--steps", "1", "--vocab", "500", "--tokenizer", str(tmp_path / "no-such-tokenizer"),
                 "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "is not on this machine" in captured.err and "tokenizer stand-in (built here)" in captured.out
    results = json.loads(out.read_text())
    assert results["tokenizer"] == "stand-in (built here)"
    methods = {row["method"] for row in results["rows"]}
    assert {"AutoModelForSequenceClassification", "finetune", "uniprompt (all)", "lora"} <= methods
    assert all(row["step_seconds"] > 0 and row["eval_rows_per_second"] > 0 for row in results["rows"])
