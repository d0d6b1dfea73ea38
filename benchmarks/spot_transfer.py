"""SPoT-style prompt transfer (Vu et al. 2022) on the offline model (issue #7 item 3).

1. Library: soft prompts (8 tokens, backbone frozen) trained by real `xprompt` pipelines (Runner,
   shared cache) on MARC en, PAWS-X en, XNLI en and SIB-200 eng_Latn with another seed and sample.
2. Probe: a fresh soft prompt trained a few steps on the target task's K-shot sample (SIB-200
   eng_Latn, K=8, seed 13) gives the task embedding; the library is ranked by cosine ("delta" and
   "mean" embeddings, see xprompt/library.py).
3. Target: the SIB-200 prompt trained from the library prompt ranked best by "delta" embeddings,
   from the one ranked best by centred "delta" embeddings (if another), from random init and from
   text init, with the same data, seed and schedule; loss per step, dev accuracy per epoch (epoch 0
   = before training), zero-shot accuracy on 49 stratified test rows of eng_Latn, deu_Latn and
   zho_Hans. `--rank-only` stops after the rankings.

    HF_HUB_OFFLINE=1 python benchmarks/spot_transfer.py [--work /tmp/xprompt-spot] \
        [--plot benchmarks/figures/spot_curves.png]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import DEFAULT_DATA_ROOT, DEFAULT_MODEL as MODEL, markdown_table  # noqa: E402

LIBRARY_SOURCES = [("marc", 13), ("pawsx", 13), ("xnli", 13), ("sib200", 21)]  # (task, seed), English source
TARGET, TARGET_LANG, ZERO_SHOT = "sib200", "eng_Latn", ["eng_Latn", "deu_Latn", "zho_Hans"]
SOFT = {"num_tokens": 8, "max_length": 128}
TEXT_INIT = "Topic of the sentence:"


def build_library(args, backbone) -> None:
    """One cached pipeline run per source task: the library is what `from_cache` finds there."""
    from xprompt.pipeline.config import MethodConfig, ModelConfig, PipelineConfig, TaskConfig, TrainConfig
    from xprompt.pipeline.cells import plan
    from xprompt.pipeline.runner import Runner

    for task, seed in LIBRARY_SOURCES:
        config = PipelineConfig(
            name=f"library-{task}-{seed}", model=ModelConfig(MODEL, device="cpu"),
            task=TaskConfig(task, data_root=args.data_root, test_size=14), shots=[args.shots], seeds=[seed],
            methods=[MethodConfig("soft", settings=dict(SOFT), train={"prompt_lr": args.prompt_lr})],
            train=TrainConfig(epochs=args.library_epochs, batch_size=8),
            cache_dir=str(args.work / "cache"), output_dir=str(args.work / "runs"))
        runner = Runner(plan(config), progress=False, backbone=backbone)  # one loaded model for all four runs
        started = time.perf_counter()
        outcome = runner.run()
        seconds = time.perf_counter() - started
        print(f"library {task} seed {seed}: {outcome.ran} cells ran ({seconds:.0f} s)", flush=True)


def rank_library(args, backbone, card, train_df) -> dict:
    from xprompt.prompts.library import PromptLibrary, probe, task_embedding

    from safetensors.torch import load_file, save_file

    library = PromptLibrary.from_cache(args.work / "cache")
    saved = args.work / f"probe-k{args.shots}-s{args.seed}-n{args.probe_steps}-lr{args.prompt_lr}.safetensors"
    if saved.exists():  # a rerun reuses the probe (it is deterministic)
        initial, trained = load_file(str(saved))["initial"], load_file(str(saved))["trained"]
    else:
        started = time.perf_counter()
        initial, trained = probe(backbone, card, train_df, args.probe_steps, args.seed, dict(SOFT), lr=args.prompt_lr)
        print(f"probe: {args.probe_steps} steps in {time.perf_counter() - started:.0f} s", flush=True)
        save_file({"initial": initial.contiguous(), "trained": trained.contiguous()}, str(saved))
    rankings = {}
    for label, kind, center in (("delta", "delta", False), ("delta, centred", "delta", True),
                                ("mean", "mean", False), ("mean, centred", "mean", True)):
        query = task_embedding(trained, initial if kind == "delta" else None)
        ranked = library.rank(query, MODEL, SOFT["num_tokens"], kind, center)
        rankings[label] = [{"task": f"{e.task}/{e.lang}", "seed": e.seed, "name": e.name, "cosine": c,
                            "entry": e} for e, c in ranked]
    for kind, ranking in rankings.items():
        print(f"ranking ({kind}):", ", ".join(f"{r['task']} seed {r['seed']} {r['cosine']:+.3f}" for r in ranking),
              flush=True)
    return rankings


def train_variant(args, backbone, card, settings, train_df, dev_df, tests) -> dict:
    import torch
    import torch.nn.functional as F

    from xprompt.pipeline.config import TrainConfig
    from xprompt.training.evaluate import evaluate
    from xprompt.methods import build_method
    from xprompt.training.loop import train

    torch.manual_seed(args.seed)  # as stages.fit: the init is drawn from the seed
    method = build_method("soft", settings, backbone, card)
    losses = []
    method.register_forward_hook(lambda module, _args, kwargs, out: losses.append(
        F.cross_entropy(out, kwargs["labels"]).item()) if module.training else None, with_kwargs=True)
    method.initialize(train_df)
    dev = [{"epoch": 0, "dev_accuracy": evaluate(method, dev_df)[0]["accuracy"]}]
    config = TrainConfig(epochs=args.epochs, batch_size=8, prompt_lr=args.prompt_lr)
    started = time.perf_counter()
    result = train(method, train_df, dev_df, config, args.seed, progress=False, initialize=False)
    seconds = time.perf_counter() - started
    zero_shot = {lang: evaluate(method, df)[0]["accuracy"] for lang, df in tests.items()}
    return {"loss": losses, "dev": dev + [{"epoch": h["epoch"], "dev_accuracy": h["dev_accuracy"]}
                                          for h in result.history],
            "best_epoch": result.best_epoch, "zero_shot": zero_shot, "train_seconds": seconds}


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, run in results.items():
        left.plot(range(1, len(run["loss"]) + 1), run["loss"], marker=".", label=name)
        right.plot([d["epoch"] for d in run["dev"]], [100 * d["dev_accuracy"] for d in run["dev"]],
                   marker="o", label=name)
    left.set(xlabel="training step (batch of 8)", ylabel="training loss (cross-entropy)",
             title="SIB-200 eng_Latn, K=8, soft prompt (8 tokens)")
    right.set(xlabel="epoch (0 = before training)", ylabel="dev accuracy (%), 56 English rows",
              title="dev accuracy per epoch (same data, seed and batches)")
    right.set_xticks(sorted({d["epoch"] for run in results.values() for d in run["dev"]}))
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def initialisations(rankings: dict, work: Path) -> dict[str, dict]:
    """The target prompt's starting points: the library prompt ranked best by "delta" embeddings and
    the one ranked best by centred ones (once if the same), saved under `work`; random; text."""
    from xprompt.prompts.library import fit_tokens
    from xprompt.prompts.prompt_files import save_prompt

    variants, chosen_names = {}, set()
    for ranking in ("delta", "delta, centred"):
        chosen = rankings[ranking][0]
        if chosen["name"] + chosen["task"] in chosen_names:
            continue
        chosen_names.add(chosen["name"] + chosen["task"])
        path = save_prompt(work / f"best-{ranking.replace(', ', '-')}.safetensors",
                           fit_tokens(chosen["entry"].prompt, SOFT["num_tokens"]), source=chosen["name"])
        variants[f"library, best by {ranking}: {chosen['task']} s{chosen['seed']}"] = {
            "init": "library", "init_prompt": str(path)}
    variants["random"] = {"init": "random"}
    variants[f"text: '{TEXT_INIT}'"] = {"init": "text", "init_text": TEXT_INIT}
    return variants


def results_table(results: dict) -> str:
    """Markdown: per starting point, dev accuracy by epoch, best epoch, zero-shot accuracy, seconds."""
    rows = [[name, " ".join(f"{100 * d['dev_accuracy']:.0f}" for d in run["dev"]), run["best_epoch"],
             *(f"{100 * run['zero_shot'][lang]:.1f}" for lang in ZERO_SHOT), f"{run['train_seconds']:.0f}"]
            for name, run in results.items()]
    return markdown_table(["init", "dev acc. by epoch 0..E (%)", "best epoch", *ZERO_SHOT, "train s"], rows)


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/xprompt-spot"), help="cache, runs, prompts, json")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--plot", type=Path, default=Path(__file__).with_name("figures") / "spot_curves.png")
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--library-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="target training epochs")
    parser.add_argument("--probe-steps", type=int, default=14)
    parser.add_argument("--prompt-lr", type=float, default=1e-2)
    parser.add_argument("--test-rows", type=int, default=49)
    parser.add_argument("--rank-only", action="store_true", help="stop after the rankings")
    return parser


def main(argv=None) -> int:
    args = argument_parser().parse_args(argv)

    from xprompt.encoder.backbone import load_backbone
    from xprompt.data import load_card, load_split
    from xprompt.pipeline.stages import sample, stratified_subset

    began = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    backbone = load_backbone(MODEL, None, "cpu")
    build_library(args, backbone)
    card = load_card(TARGET)
    train_df, dev_df = sample(card, TARGET_LANG, args.shots, args.seed, args.shots, args.data_root)
    rankings = rank_library(args, backbone, card, train_df)
    if args.rank_only:
        return 0
    variants = initialisations(rankings, args.work)
    tests = {lang: stratified_subset(load_split(card, lang, "test", args.data_root), args.test_rows)
             for lang in ZERO_SHOT}
    results = {}
    for name, init in variants.items():
        results[name] = train_variant(args, backbone, card, {**SOFT, **init}, train_df, dev_df, tests)
        run = results[name]
        print(f"{name}: dev {[round(d['dev_accuracy'], 3) for d in run['dev']]}, zero-shot "
              f"{ {k: round(v, 3) for k, v in run['zero_shot'].items()} } ({run['train_seconds']:.0f} s)", flush=True)
    for ranking in rankings.values():
        for row in ranking:
            row.pop("entry")
    (args.work / "spot_results.json").write_text(json.dumps({"rankings": rankings, "runs": results}, indent=2))
    plot(results, args.plot)
    print("\n" + results_table(results))
    print(f"\ntotal {time.perf_counter() - began:.0f} s; plot {args.plot}; json {args.work / 'spot_results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
