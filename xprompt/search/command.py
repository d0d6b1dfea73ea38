"""`xprompt search-template`: trigger search on a task's K-shot training rows, written as JSON,
with the template printed as a pipeline snippet."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


def add_commands(subparsers) -> None:
    search = subparsers.add_parser(
        "search-template", help="search trigger words for a template (AutoPrompt), backbone frozen")
    search.add_argument("--task", default="sib200", help="known task or path to a task card YAML")
    search.add_argument("--model", default="intfloat/multilingual-e5-small", help="Hub id or local path")
    search.add_argument("--revision", help="Hub revision of the model")
    search.add_argument("--lang", help="language of the training rows (default: the card's source language)")
    search.add_argument("--shots", type=int, default=16, help="K training examples per class (seeded draw)")
    search.add_argument("--seed", type=int, default=13, help="K-shot draw and search rows")
    search.add_argument("--triggers", type=int, default=3, help="trigger words to find")
    search.add_argument("--iterations", type=int, default=10, help="search steps (one position each)")
    search.add_argument("--candidates", type=int, default=10, help="HotFlip top-k re-scored per step")
    search.add_argument("--batch-size", type=int, default=16, help="rows for the gradient and re-scoring")
    search.add_argument("--verbalizer", choices=["vectors", "label_words"], default="vectors")
    search.add_argument("--template", help="template with [T] markers (default: the card's, triggers before <mask>)")
    search.add_argument("--init-word", default="the", help="word every trigger starts as (one token)")
    search.add_argument("--any-token", action="store_true",
                        help="allow word pieces and non-alphabetic tokens (the template may not re-tokenize alike)")
    search.add_argument("--data-root", help="folder with local copies of the data (default $XPROMPT_DATA)")
    search.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    search.add_argument("-o", "--output", required=True, help="JSON file for the result and its trace")
    search.set_defaults(handler=search_command)


def search_command(args) -> int:
    from xprompt.encoder.backbone import load_backbone
    from xprompt.data import load_card
    from xprompt.files import atomic_write_text
    from xprompt.search.autoprompt import Placement, TriggerSearchConfig, search_triggers
    from xprompt.pipeline.stages import sample

    card = load_card(args.task)
    lang = args.lang or card.source_language
    config = TriggerSearchConfig(
        num_triggers=args.triggers, iterations=args.iterations, candidates=args.candidates,
        batch_size=args.batch_size, verbalizer=args.verbalizer, seed=args.seed, template=args.template,
        init_word=args.init_word,
        placement=Placement.TEMPLATE if args.template else Placement.BEFORE_MASK,
        whole_words=not args.any_token, alphabetic=not args.any_token)
    train_rows, _ = sample(card, lang, args.shots, args.seed, args.shots, args.data_root)  # a pipeline's rows
    backbone = load_backbone(args.model, args.revision, args.device)
    result = search_triggers(backbone, card, train_rows, config, on_step=_print_step)
    record = {"task": card.name, "model": backbone.model_id, "revision": backbone.revision, "lang": lang,
              "shots": args.shots, "seed": args.seed, "train_rows": len(train_rows),
              "config": _plain(dataclasses.asdict(config)), **result.to_dict()}
    atomic_write_text(Path(args.output), json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"\nfound template: {result.template}")
    print(f"loss on {len(result.row_ids)} rows: {result.initial_loss:.4f} ({result.initial_template}) -> "
          f"{result.final_loss:.4f}; {result.accepted} of {len(result.trace)} steps accepted ({result.stopped}), "
          f"{result.seconds:.0f} s" + ("" if result.reencodes else "; the words do NOT re-tokenize to the ids"))
    print(f"written: {args.output}\n\nuse it in a pipeline (uniprompt, soft, discrete, ...):\n"
          f"    settings: {{template: {json.dumps(result.template, ensure_ascii=False)}}}")
    return 0


def _print_step(step: dict) -> None:
    verdict = "accepted" if step["accepted"] else "kept"
    best = "none" if step["best_candidate"] is None else f"{step['best_candidate']!r} {step['best_candidate_loss']:.4f}"
    print(f"step {step['iteration']}: position {step['position']} ({step['replaced']!r}), loss "
          f"{step['loss_before']:.4f}, best of {len(step['candidates'])}: {best} -> {verdict}: {step['template']}",
          flush=True)


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return getattr(value, "value", value)
