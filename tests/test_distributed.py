"""Data-parallel training under torchrun: two CPU processes (gloo) train every train/adapt
cell of the toy pipeline in lockstep and reach the weights of a single-process run (up to
the reordering of float sums); rank 0 alone computes the other cells and writes the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from xprompt.cli import main
from xprompt.config import load_pipeline
from xprompt.pipeline import plan
from xprompt.runner import Runner

from test_pipeline import REPO, statuses_in, write_project

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="this torch build has no torch.distributed")


def _project(root, encoder):
    """The toy pipeline plus adaptation to German, so both trained stages are covered;
    the tiny encoder has dropout 0, so training is deterministic."""
    path = write_project(root, encoder)
    config = yaml.safe_load(path.read_text())
    config["adapt"] = {"shots": [2]}
    config["train"]["checkpoint_every"] = 1  # rank 0 saves checkpoints; the run deletes them
    path.write_text(yaml.safe_dump(config))
    return path


def _trained(path):
    """{cell: (state, train.json)} for every train/adapt cell of the pipeline at `path`."""
    runner = Runner(plan(load_pipeline(path, [])), progress=False)
    return {cell.name: (load_file(str(runner.entry(cell) / "state.safetensors")),
                        json.loads((runner.entry(cell) / "train.json").read_text()))
            for cell in runner.plan.cells if cell.stage in ("train", "adapt")}


def test_torchrun_two_processes_match_one(tmp_path, tiny_encoder_dir, one_thread):
    single = _project(tmp_path / "single", tiny_encoder_dir)
    assert main(["run", str(single), "--quiet"]) == 0

    parallel = _project(tmp_path / "parallel", tiny_encoder_dir)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", "-m", "xprompt.cli", "run", str(parallel), "--quiet"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr

    one, two = _trained(single), _trained(parallel)
    assert set(one) == set(two) and any(name.startswith("adapt") for name in one), sorted(one)
    for cell in one:
        (state, info), (state2, info2) = one[cell], two[cell]
        assert set(state) == set(state2)
        for name in state:
            torch.testing.assert_close(state2[name], state[name], rtol=1e-4, atol=1e-5,
                                       msg=lambda m, c=cell, n=name: f"{c} / {n}: {m}")
        assert info2["steps"] == info["steps"] == 4 and info2["best_epoch"] == info["best_epoch"]
        assert [h["loss"] for h in info2["history"]] == pytest.approx([h["loss"] for h in info["history"]],
                                                                       rel=1e-4)
    run_dir = tmp_path / "parallel" / "runs" / "toy"
    statuses = statuses_in(run_dir / "xprompt.lock")
    assert statuses == statuses_in(tmp_path / "single" / "runs" / "toy" / "xprompt.lock")
    assert set(statuses.values()) == {"ran"}  # every cell computed once, by rank 0
    assert (run_dir / "results.csv").is_file()
    assert not list((tmp_path / "parallel" / "cache" / "checkpoints").glob("*.pt"))

    again = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                            "--standalone", "-m", "xprompt.cli", "run", str(parallel), "--quiet"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(statuses_in(run_dir / "xprompt.lock").values()) == {"cached"}
