"""Data-parallel training under torchrun: two CPU processes (gloo, DistributedDataParallel)
train every train/adapt cell of the toy pipeline in lockstep and reach the weights of a single-process run (up to
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
from xprompt.pipeline.config import load_pipeline
from xprompt.pipeline.cells import plan
from xprompt.pipeline.runner import Runner

from test_pipeline import REPO, statuses_in, write_project

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="this torch build has no torch.distributed")


def _project(root, encoder, train=None):
    """The toy pipeline plus adaptation to German, so both trained stages are covered;
    the tiny encoder has dropout 0, so training is deterministic."""
    path = write_project(root, encoder)
    config = yaml.safe_load(path.read_text())
    config["adapt"] = {"shots": [2]}
    config["train"].update(train or {})
    config["train"]["checkpoint_every"] = 1  # rank 0 saves checkpoints; the run deletes them
    path.write_text(yaml.safe_dump(config))
    return path


def _trained(path):
    """{cell: (state, train.json)} for every train/adapt cell of the pipeline at `path`."""
    runner = Runner(plan(load_pipeline(path, [])), progress=False)
    return {cell.name: (load_file(str(runner.entry(cell) / "state.safetensors")),
                        json.loads((runner.entry(cell) / "train.json").read_text()))
            for cell in runner.plan.cells if cell.stage in ("train", "adapt")}


# batch 3 with 2 steps accumulated: of the 4 rows of an epoch, 3 then 1 -- the second batch leaves
# rank 1 without rows, and gradients are synchronised once per optimizer step
@pytest.mark.parametrize("train, steps", [({}, 4), ({"batch_size": 3, "accumulate": 2}, 2)])
def test_torchrun_two_processes_match_one(tmp_path, tiny_encoder_dir, one_thread, train, steps):
    single = _project(tmp_path / "single", tiny_encoder_dir, train)
    assert main(["run", str(single), "--quiet"]) == 0

    parallel = _project(tmp_path / "parallel", tiny_encoder_dir, train)
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
        assert info2["steps"] == info["steps"] == steps and info2["best_epoch"] == info["best_epoch"]
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


def _gradients_on_rank(rank: int, world: int, store: str, model_dir: str, batches, out: str) -> None:
    """One rank of test_ddp_gradients: its slice of the batches through DDP; its gradients saved."""
    import torch.distributed as dist

    from conftest import toy_frame
    from test_train import build
    from xprompt.training import distributed
    from xprompt.training import loop as train

    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        method = build(model_dir, label_init="random")
        method.train()
        rows = method.featurize(toy_frame(repeats=2))
        loss = train.backward_step(distributed.data_parallel(method), method, rows, batches, torch.device("cpu"))
        torch.save({"loss": loss, **{n: p.grad for n, p in method.named_parameters() if p.grad is not None}},
                   f"{out}-{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("batches", [[[0, 1, 2, 3, 4, 5, 6, 7]], [[0, 1, 2], [3]], [[0, 1, 2, 3, 4], [5, 6, 7]]])
def test_ddp_gradients_equal_the_full_batch_gradient(tmp_path, tiny_mlm_dir, batches):
    """The gradients and loss every rank ends a step with are those of one process on the whole
    batch: unequal slices weighted by their rows, a rank without rows in a batch, accumulation."""
    import torch.multiprocessing as mp

    from conftest import toy_frame
    from test_train import build
    from xprompt.training import loop as train

    mp.spawn(_gradients_on_rank, args=(2, str(tmp_path / "store"), str(tiny_mlm_dir), batches, str(tmp_path / "g")),
             nprocs=2, join=True)
    single = build(tiny_mlm_dir, label_init="random")
    single.train()
    loss = train.backward_step(single, single, single.featurize(toy_frame(repeats=2)), batches, torch.device("cpu"))
    expected = {n: p.grad for n, p in single.named_parameters() if p.grad is not None}
    for rank in (0, 1):
        got = torch.load(tmp_path / f"g-{rank}.pt")
        assert got.pop("loss") == pytest.approx(loss, rel=1e-5)
        assert set(got) == set(expected)
        for name, gradient in expected.items():
            torch.testing.assert_close(got[name], gradient, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
