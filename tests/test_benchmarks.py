"""Smoke test of the benchmark functions on the tiny encoder: structure only, never timings."""

from __future__ import annotations

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
    assert set(result["variants"]) == {"plain", "live", "precomputed"}
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
