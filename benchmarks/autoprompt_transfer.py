"""AutoPrompt trigger search on the offline model, then transfer of the template it finds vs the
hand-written one (issue #7 item 2).

    HF_HUB_OFFLINE=1 python -m benchmarks.autoprompt_transfer [--shots 8] [--iterations 6]
        [--candidates 10] [--batch-size 16] [--triggers 3] [--test-size 49]
        [--langs eng_Latn,deu_Latn,zho_Hans] [--data-root ../shared/data] [--json out.json]

1. Search: SIB-200, English K-shot training rows (the pipeline's seeded draw), triggers placed
   right before the <mask> of the card's `{text} Topic: <mask>.`, verbalizer: vectors.
2. Compare, with NO training (the cheapest honest comparison): the frozen encoder reads the
   <mask> state of each template; the class-mean label vectors of that template are computed on
   the same English training rows (nearest class mean, as the methods' dynamic init scores);
   accuracy on a stratified test subset of each language, the English template for every
   language. Templates: the hand-written one, the search's starting point (the triggers all
   `the`: what three filler words alone do) and the one found. Also the search's own objective
   (leave-one-out class-mean cross-entropy and accuracy) on ALL English training rows, of which
   the search saw only `--batch-size`: does the improvement hold beyond the rows it was fit on?
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from benchmarks.common import DEFAULT_DATA_ROOT, DEFAULT_MODEL, loadavg


def class_mean_accuracy(backbone, card, template: str, train_rows, tests: dict) -> dict[str, float]:
    """Frozen encoder + class-mean label vectors of `template`, no training: accuracy per language,
    and ("train LOO loss", "train LOO acc") the search's own objective on every training row."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from xprompt.training.evaluate import evaluate
    from xprompt.methods import prompting
    from xprompt.methods.options import LabelInit
    from xprompt.methods.verbalizers import LabelVectors
    from xprompt.search.objective import nearest_mean_logits

    inputs = prompting.PromptInputs(backbone.tokenizer, card, template, 0, 256)
    labels = LabelVectors(backbone, card, LabelInit.DYNAMIC)
    method = prompting.PromptMethod(inputs, prompting.MaskEncoder(backbone), labels, card).eval()
    states, labels = method.mask_states(train_rows)
    method.verbalizer.initialize(SimpleNamespace(mask_states=lambda _: (states, labels)), train_rows)  # one pass
    logits = nearest_mean_logits(states, labels, len(card.labels))
    scores = {"train LOO loss": float(F.cross_entropy(logits, labels)),
              "train LOO acc": float((logits.argmax(1) == labels).float().mean())}
    with torch.no_grad():
        accuracy = {lang: evaluate(method, rows, batch_size=32)[0]["accuracy"] for lang, rows in tests.items()}
    return {**scores, **accuracy}


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.autoprompt_transfer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--shots", type=int, default=8, help="English training rows per class")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--triggers", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16, help="search rows (gradient and re-scoring)")
    parser.add_argument("--test-size", type=int, default=49, help="stratified test rows per language")
    parser.add_argument("--langs", default="eng_Latn,deu_Latn,zho_Hans")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the search result and the accuracies here")
    return parser


def accuracy_table(templates: dict[str, str], accuracy: dict[str, dict], langs: list[str]) -> str:
    """Markdown: per template, its text, accuracy per language and their mean, the search objective."""
    lines = [f"| template | text | {' | '.join(langs)} | avg | train LOO loss | train LOO acc |",
             f"|---|---|{'---:|' * (len(langs) + 3)}"]
    for name, template in templates.items():
        values = [100 * accuracy[name][lang] for lang in langs]
        cells = " | ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {name} | `{template}` | {cells} | {sum(values) / len(values):.1f} | "
                     f"{accuracy[name]['train LOO loss']:.3f} | {100 * accuracy[name]['train LOO acc']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    torch.set_num_threads(args.threads)

    from xprompt.encoder.backbone import load_backbone
    from xprompt.data import load_card
    from xprompt.search import TriggerSearchConfig, search_triggers
    from xprompt.pipeline.stages import prepare, sample

    card, started, load_before = load_card("sib200"), time.perf_counter(), loadavg()
    train_rows, _ = sample(card, card.source_language, args.shots, args.seed, args.shots, args.data_root)
    tests = {lang: prepare(card, lang, "test", args.data_root, args.test_size) for lang in args.langs.split(",")}
    backbone = load_backbone(args.model, device="cpu")
    config = TriggerSearchConfig(num_triggers=args.triggers, iterations=args.iterations, candidates=args.candidates,
                                 batch_size=args.batch_size, seed=args.seed)
    hand_written = card.template(card.source_language)
    print(f"search: {args.model}, sib200 {card.source_language} {args.shots} shots/class (seed {args.seed}), "
          f"{args.triggers} triggers before <mask>, k={args.candidates}, {args.batch_size} rows, verbalizer vectors")
    result = search_triggers(backbone, card, train_rows, config, on_step=lambda step: print(
        f"  step {step['iteration']} pos {step['position']}: loss {step['loss_before']:.4f}, best "
        f"{step['best_candidate']!r} {step['best_candidate_loss']:.4f} "
        f"{'accepted' if step['accepted'] else 'rejected'} -> {step['template']}", flush=True))
    print(f"loss {result.initial_loss:.4f} -> {result.final_loss:.4f}, {result.accepted}/{len(result.trace)} "
          f"accepted ({result.stopped}), re-encodes: {result.reencodes}, {result.seconds:.0f} s\n")

    templates = {"hand-written": hand_written, "start (filler)": result.initial_template, "found": result.template}
    accuracy = {name: class_mean_accuracy(backbone, card, template, train_rows, tests)
                for name, template in templates.items()}
    langs = list(tests)
    print(f"accuracy (%), frozen {args.model}, class-mean label vectors from {len(train_rows)} English rows, "
          f"no training; {args.test_size} stratified test rows per language")
    print(accuracy_table(templates, accuracy, langs))
    print(f"\n{time.perf_counter() - started:.0f} s in all; load average {load_before} before, {loadavg()} after")
    if args.json:
        record = {"args": vars(args), "search": result.to_dict(), "templates": templates, "accuracy": accuracy}
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
