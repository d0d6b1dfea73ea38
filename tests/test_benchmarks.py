"""Smoke test of the benchmark functions on the tiny encoder: structure only, never timings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.common import stratify
from benchmarks.inference import bench_inference
from benchmarks.train_step import NAIVE, bench_train_step
from conftest import toy_frame
from xprompt.encoder.backbone import load_backbone


def test_inference_benchmark_structure(tiny_encoder_dir, toy_card):
    torch.set_num_threads(1)
    df = stratify(toy_frame(), 4)
    assert len(df) == 4 and sorted(df["label"]) == [0, 0, 1, 1]
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    result = bench_inference(backbone, toy_card, df, batch_size=2, repeats=1, warmup=0)
    assert set(result["variants"]) == {"plain", "live", "precomputed", "precomputed, full last layer"}
    for variant in result["variants"].values():
        assert len(variant["seconds"]) == 1
        assert variant["examples_per_s"] == pytest.approx(len(df) / variant["seconds"][0])
    assert result["variants"]["plain"]["ratio_to_plain"] == 1.0
    assert result["max_abs_logit_difference_live_vs_precomputed"] < 1e-5


def test_train_step_benchmark_structure(tiny_encoder_dir, toy_card):
    torch.set_num_threads(1)
    df = stratify(toy_frame(), 4)
    result = bench_train_step(lambda: load_backbone(str(tiny_encoder_dir), device="cpu"), toy_card, df,
                              ["uniprompt (all)", NAIVE, "discrete"], repeats=1, warmup=0)
    assert set(result["variants"]) == {"uniprompt (all)", NAIVE}
    assert "discrete" in result["skipped"]  # the tiny encoder has no MLM head
    assert result["variants"][NAIVE]["batch_shape"][0] == 4


def test_cost_benchmark_sizes_each_export_form_and_times_its_inference(tiny_encoder_dir, toy_card):
    from benchmarks.costs import bench_inference_forms, export_bytes
    from benchmarks.train_step import build_variant

    torch.set_num_threads(1)
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    df = stratify(toy_frame(), 4)
    result = bench_inference_forms(backbone, toy_card, df, ["uniprompt (all)", "probe", "soft"], 2, repeats=1)
    probe = build_variant("probe", backbone, toy_card)
    head = sum(p.numel() * p.element_size() for p in probe.parameters() if p.requires_grad)
    assert result["probe"]["export_bytes"] == export_bytes(probe, ["en"]) == head  # the head, nothing else
    # UniPrompt exports its precomputed prompt instead of a prompt tower: far less than its trained weights
    uniprompt = build_variant("uniprompt (all)", backbone, toy_card)
    trained = sum(p.numel() * p.element_size() for p in uniprompt.parameters() if p.requires_grad)
    assert 0 < result["uniprompt (all)"]["export_bytes"] < trained
    assert all(len(r["seconds"]) == 1 and r["rows_per_s"] == pytest.approx(len(df) / r["seconds"][0])
               for r in result.values())


def test_cost_benchmark_times_the_probe_on_new_rows(tiny_encoder_dir, toy_card):
    from benchmarks.costs import _first_pass
    from benchmarks.train_step import build_variant

    probe = build_variant("probe", load_backbone(str(tiny_encoder_dir), device="cpu"), toy_card)
    torch.nn.init.normal_(probe.classifier.weight)  # a trained-looking head: features move the output
    df = stratify(toy_frame(), 4)
    first = _first_pass(probe, df, 2)
    assert len(probe._features) == len(df)  # the pass filled the cache ...
    np.testing.assert_allclose(_first_pass(probe, df, 2), first)  # ... and the next pass starts empty again
    probe._features[next(iter(probe._features))] += 1.0
    np.testing.assert_allclose(_first_pass(probe, df, 2), first)  # a stale cache entry would change this


PRINTED = """{cells} cells: 0 ran, {cells} cached (1.0 s)

accuracy (%) [95% bootstrap interval over test items and seeds], eng_Latn k=16 per class, zero-shot:
              {a}              {b}
target
eng_Latn  90.0 [80.0, 95.0]  10.0 [5.0, 15.0]
deu_Latn  {d1} [1.0, 2.0]  {d2} [1.0, 2.0]
fra_Latn  {f1} [1.0, 2.0]  {f2} [1.0, 2.0]
avg       99.0 [98.0, 99.5]  1.0 [0.5, 1.5]
highest average target accuracy: something
"""


def test_paired_by_language_pairs_languages_and_leaves_out_source_and_average(tmp_path):
    from benchmarks.paired_by_language import paired, read_tables
    first = tmp_path / "first.txt"
    first.write_text(PRINTED.format(cells=3, a="uniprompt", b="finetune", d1="70.0", d2="60.0", f1="80.0", f2="75.0"))
    tables = read_tables(first)
    assert tables == {"k=16 per class": {"uniprompt": {"deu_Latn": 70.0, "fra_Latn": 80.0},
                                          "finetune": {"deu_Latn": 60.0, "fra_Latn": 75.0}}}
    mean, low, high, count = paired(tables["k=16 per class"]["uniprompt"], tables["k=16 per class"]["finetune"])
    assert (mean, count) == (7.5, 2) and 5.0 <= low <= mean <= high <= 10.0  # resamples of {10, 5}
    with pytest.raises(ValueError, match="share no target"):
        paired({"deu_Latn": 1.0}, {"fra_Latn": 2.0})


def test_eval_throughput_times_a_plain_forward_right_after_each_evaluation(tmp_path, tiny_encoder_dir):
    import json

    from benchmarks.eval_throughput import main
    from test_pipeline import write_project

    torch.set_num_threads(1)
    pipeline = write_project(tmp_path, tiny_encoder_dir)
    out = tmp_path / "throughput.json"
    assert main([str(pipeline), "--set", "task.targets=[de, fr]", "--out", str(out)]) == 0
    numbers = json.loads(out.read_text())
    assert numbers["evaluate_cells"] == numbers["plain_cells"] == 3  # en, de, fr: one plain forward each
    assert numbers["plain_rows"] == numbers["evaluated_rows"] > 0
    assert numbers["ratio"] == numbers["paired_ratio"] > 0
    assert main([str(pipeline), "--set", "task.targets=[de, fr]"]) == 1  # all cached: nothing to time

    from benchmarks.interim import main as interim  # reads the cache only: says whether the plan is complete
    assert interim([str(pipeline), "--set", "task.targets=[de, fr]", "-o", str(tmp_path / "all")]) == 0
    assert json.loads((tmp_path / "all" / "run.json").read_text())["interim"] is False
    assert interim([str(pipeline), "--set", "seeds=[13, 21]", "--set", "task.targets=[de, fr]",
                    "-o", str(tmp_path / "part")]) == 0
    info = json.loads((tmp_path / "part" / "run.json").read_text())
    assert info["interim"] is True and info["evaluations"] == [3, 6]


def test_speed_suite_runs_each_step_into_its_file_and_stops_at_a_failure(tmp_path, capsys):
    from benchmarks import speed_suite

    assert speed_suite.main(["--dry-run", "--only", "rerun"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and all("pipelines/demo.yaml" in line for line in printed)
    assert "one-more" in printed[2] and "ita_Latn" in printed[2]
    assert speed_suite.main(["--dry-run", "--only", "rerun,nope"]) == 2
    assert "--only nope: no such step" in capsys.readouterr().err

    table = speed_suite.SuiteStep("t", "t.md", "T", "r", (("python", "-c", "print('| a |'); import sys; "
                                                           "print('{data}', file=sys.stderr)"),))
    assert speed_suite.run_step(table, tmp_path, tmp_path, "/data") == 0
    assert (tmp_path / "t.md").read_text() == "| a |\n" and (tmp_path / "t.err").read_text() == "/data\n"
    failing = speed_suite.SuiteStep("f", "f.md", "F", "r", (("python", "-c", "raise SystemExit(3)"),
                                                            ("python", "-c", "open('{out}/never', 'w')")))
    assert speed_suite.run_step(failing, tmp_path, tmp_path, "/data") == 3
    assert not (tmp_path / "never").exists()  # the step stops at its first failing command
    appending = speed_suite.SuiteStep("a", "a.txt", "A", "r", tuple(
        ("python", "-c", f"open('{{out}}/a.txt', 'a').write('{word}')") for word in ("x", "y")))
    (tmp_path / "a.txt").write_text("from an earlier run")
    assert speed_suite.run_step(appending, tmp_path, tmp_path, "/data") == 0
    assert (tmp_path / "a.txt").read_text() == "xy"  # emptied first, then appended to by each command


def test_seed_agreement_averages_disagreement_over_pairs_of_seeds():
    import pandas as pd

    from benchmarks.seed_agreement import pairwise_disagreement

    rows = []
    for target in ("de", "fr"):
        for item, (a, b, c) in enumerate([(0, 0, 0), (1, 1, 0), (2, 0, 2), (1, 1, 1)]):
            for seed, prediction in zip((13, 21, 42), (a, b, c)):
                rows.append(("m", 16, seed, target, f"i{item}", prediction))
    rows.append(("lone", 16, 13, "de", "i0", 0))  # one seed: no pair, no row
    items = pd.DataFrame(rows, columns=["method", "shots", "seed", "target", "id", "prediction"])
    table = pairwise_disagreement(items)
    assert list(table["method"]) == ["m"] and int(table["items"].iloc[0]) == 8
    # per pair of seeds: (13, 21) disagree on item 2, (13, 42) on item 1, (21, 42) on items 1 and 2
    assert table["disagreement"].iloc[0] == pytest.approx((1 / 4 + 1 / 4 + 2 / 4) / 3)


def test_ablation_table_gives_each_variant_minus_the_reference_at_every_size():
    import pandas as pd

    from benchmarks.ablation_table import technique_rows

    def comparison(shots, method, versus, difference, low, high):
        return {"shots": shots, "adapt_shots": 0, "method": method, "versus": versus, "target": "avg",
                "metric": "accuracy", "difference": difference, "ci_low": low, "ci_high": high, "p_value": 0.5}

    small = pd.DataFrame([comparison(16, "uniprompt", "uniprompt+ensemble", -0.02, -0.03, -0.01),  # stored reversed
                          comparison(16, "uniprompt+self-training", "uniprompt", 0.01, -0.01, 0.03),
                          comparison(16, "finetune", "uniprompt", -0.05, -0.07, -0.03)])
    large = pd.DataFrame([comparison(1000, "uniprompt+ensemble", "uniprompt", 0.005, -0.002, 0.012)])
    header, rows = technique_rows([small, large], "uniprompt")
    assert header == ["technique", "setting", "16 − uniprompt", "1000 − uniprompt"]
    assert rows == [["ensemble", "zero-shot", "**+2.0 [+1.0, +3.0]**", "+0.5 [-0.2, +1.2]"],
                    ["self-training", "zero-shot + unlabelled target text", "+1.0 [-1.0, +3.0]", "not run"]]


def test_spot_transfer_starts_once_from_each_distinct_best_library_prompt(tmp_path):
    from types import SimpleNamespace

    from benchmarks.spot_transfer import SOFT, TEXT_INIT, initialisations
    from xprompt.prompts.prompt_files import load_init_prompt

    short, other = SimpleNamespace(prompt=torch.randn(3, 16)), SimpleNamespace(prompt=torch.randn(12, 16))
    first = {"task": "marc/en", "seed": 13, "name": "marc-13", "entry": short}
    same = initialisations({"delta": [first], "delta, centred": [first]}, tmp_path / "same")
    assert [v["init"] for v in same.values()] == ["library", "random", "text"]
    assert same[f"text: '{TEXT_INIT}'"]["init_text"] == TEXT_INIT
    second = {"task": "xnli/en", "seed": 21, "name": "xnli-21", "entry": other}
    both = initialisations({"delta": [first], "delta, centred": [second]}, tmp_path / "both")
    library = [v["init_prompt"] for v in both.values() if v["init"] == "library"]
    assert len(library) == 2
    for path, source in zip(library, (short.prompt, other.prompt)):  # repeated or cut to the soft prompt's length
        prompt, _ = load_init_prompt(path, SOFT["num_tokens"])
        assert prompt.shape == (SOFT["num_tokens"], 16)
        assert torch.equal(prompt[: min(len(source), SOFT["num_tokens"])], source[: SOFT["num_tokens"]])


def test_spot_transfer_table_has_a_row_per_start_and_a_column_per_language():
    from benchmarks.spot_transfer import ZERO_SHOT, results_table

    run = {"dev": [{"epoch": 0, "dev_accuracy": 0.25}, {"epoch": 1, "dev_accuracy": 0.5}], "best_epoch": 1,
           "zero_shot": {lang: 0.5 for lang in ZERO_SHOT}, "train_seconds": 3.2}
    lines = results_table({"random": run}).splitlines()
    assert len(lines) == 3 and lines[0].count("|") == lines[1].count("|") == lines[2].count("|") == 5 + len(ZERO_SHOT)
    assert lines[2] == "| random | 25 50 | 1 | " + " | ".join(["50.0"] * len(ZERO_SHOT)) + " | 3 |"


def test_autoprompt_transfer_table_averages_the_languages_of_each_template():
    from benchmarks.autoprompt_transfer import accuracy_table

    accuracy = {"hand-written": {"en": 0.5, "de": 0.4, "train LOO loss": 1.2345, "train LOO acc": 0.6},
                "found": {"en": 0.7, "de": 0.3, "train LOO loss": 1.0, "train LOO acc": 0.75}}
    lines = accuracy_table({"hand-written": "{text} Topic: <mask>.", "found": "{text} a b <mask>."},
                           accuracy, ["en", "de"]).splitlines()
    assert lines[0] == "| template | text | en | de | avg | train LOO loss | train LOO acc |"
    assert lines[2] == "| hand-written | `{text} Topic: <mask>.` | 50.0 | 40.0 | 45.0 | 1.234 | 60.0 |"
    assert lines[3] == "| found | `{text} a b <mask>.` | 70.0 | 30.0 | 50.0 | 1.000 | 75.0 |"


def test_tokenisation_speed_up_is_against_the_per_row_way_of_the_same_pair():
    from benchmarks.tokenisation import PAIRS, speed_rows

    times = {PAIRS[0][0]: [2.0, 4.0, 3.0], PAIRS[0][1]: [1.0], PAIRS[1][0]: [6.0], PAIRS[1][1]: [2.0, 2.0]}
    rows = speed_rows(times, 120)
    assert [row[0] for row in rows] == [PAIRS[0][0], PAIRS[0][1], PAIRS[1][0], PAIRS[1][1]]
    assert [row[1] for row in rows] == [3.0, 1.0, 6.0, 2.0]  # the median of each way's repeats
    assert [row[2] for row in rows] == [40.0, 120.0, 20.0, 60.0]
    assert [row[3] for row in rows] == [1.0, 3.0, 1.0, 3.0]


def test_padding_benchmark_pads_each_way_as_it_says(tiny_encoder_dir):
    from benchmarks.padding import bench_padding

    torch.set_num_threads(1)
    words = [1, 8, 2, 7, 3, 6, 4, 5]  # rows of very different lengths, out of order
    df = toy_frame().head(len(words)).assign(text=[" ".join(["good"] * n) for n in words])
    backbone = load_backbone(str(tiny_encoder_dir), device="cpu")
    result = bench_padding(backbone, df, batch_size=2, repeats=1, warmup=0, fixed_length=40)
    variants = result["variants"]
    assert set(variants) == {"grouped", "random", "fixed"}
    assert variants["fixed"]["padded_tokens"] == len(df) * 40
    # sorted by length, a batch pads its rows to a length closer to theirs than a random batch does
    assert variants["grouped"]["padded_tokens"] < variants["random"]["padded_tokens"] < len(df) * 40
    real = result["mean_tokens"] * len(df)
    for variant in variants.values():
        assert variant["real_token_share"] == pytest.approx(real / variant["padded_tokens"])
    assert variants["fixed"]["speedup_vs_fixed"] == 1.0
