"""The GPU benchmark runs where only the working tree is: without the offline model's tokenizer it
builds a stand-in and says so (a lent GPU machine has no Hugging Face cache); its table sets each
method against the plain Hugging Face model of the same dtype."""

from __future__ import annotations

import json
import math

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


def test_ratios_are_to_the_plain_model_of_the_same_dtype():
    from benchmarks.gpu import HF, ratio_table

    rows = [{"method": HF, "dtype": "float32", "step_seconds": 0.5, "eval_rows_per_second": 100.0, "peak_gib": 2.0},
            {"method": HF, "dtype": "bfloat16", "step_seconds": 0.2, "eval_rows_per_second": 250.0,
             "peak_gib": float("nan")},  # peak memory is measured on CUDA only
            {"method": "lora", "dtype": "bfloat16", "step_seconds": 0.1, "eval_rows_per_second": 500.0,
             "peak_gib": 1.0},
            {"method": "lora", "dtype": "float32", "step_seconds": 0.6, "eval_rows_per_second": 300.0, "peak_gib": 2.5}]
    table = {(row[0], row[1]): row[2:] for row in ratio_table(rows)}
    assert table[("lora", "float32")][:6] == [0.6, 0.6 / 0.5, 300.0, 3.0, 2.5, 1.25]
    assert table[("lora", "bfloat16")][:5] == [0.1, 0.5, 500.0, 2.0, 1.0] and math.isnan(table[("lora", "bfloat16")][5])
    assert table[(HF, "float32")][1] == table[(HF, "float32")][3] == 1.0
