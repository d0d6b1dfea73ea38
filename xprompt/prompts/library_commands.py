"""`xprompt library ls|rank`: the prompt library's command line (prompts/library.py holds the library)."""

from __future__ import annotations

from xprompt.errors import ConfigError
from xprompt.prompts.library import KINDS, LibraryEntry, PromptLibrary, fit_tokens, probe, task_embedding
from xprompt.prompts.prompt_files import save_prompt


def add_commands(subparsers) -> None:
    library = subparsers.add_parser("library", help="trained soft prompts to start new tasks from (SPoT)")
    commands = library.add_subparsers(dest="library_command", required=True)
    listing = commands.add_parser("ls", help="list the prompts of the cache (and of exports)")
    rank = commands.add_parser("rank", help="rank the library for a task by a short probe; write the best prompt")
    for command in (listing, rank):
        command.add_argument("--cache-dir", default=".xprompt-cache")
        command.add_argument("--export", action="append", default=[], help="an exported prompt folder (repeat)")
    rank.add_argument("--task", required=True, help="known task or task card YAML")
    rank.add_argument("--lang", help="language of the probe's sample (default: the task's source language)")
    rank.add_argument("--shots", type=int, default=8, help="K per class of the probe's sample")
    rank.add_argument("--seed", type=int, default=13, help="seed of the sample and of the probe prompt")
    rank.add_argument("--probe-steps", type=int, default=10, help="training steps of the probe prompt")
    rank.add_argument("--probe-lr", type=float, default=1e-2, help="learning rate of the probe prompt")
    rank.add_argument("--data-root")
    rank.add_argument("--model", default="intfloat/multilingual-e5-small")
    rank.add_argument("--device", default="auto")
    rank.add_argument("--num-tokens", type=int, default=8, help="length of the probe and of the written prompt")
    rank.add_argument("--embedding", choices=KINDS, default="delta",
                      help="task embedding (see xprompt.prompts.library)")
    rank.add_argument("--center", action="store_true", help="subtract the library's mean embedding before the cosine")
    rank.add_argument("-o", "--output", default="library-prompt.safetensors", help="where the best prompt goes")
    listing.set_defaults(handler=_ls_command)
    rank.set_defaults(handler=_rank_command)


def _library(args) -> PromptLibrary:
    library = PromptLibrary.from_cache(args.cache_dir)
    library.entries += PromptLibrary.from_exports(args.export).entries
    return library


def _describe(entry: LibraryEntry) -> str:
    return (f"{entry.task}/{entry.lang or '-'}  {entry.method}  {entry.model_name}  "
            f"{entry.num_tokens}x{entry.hidden_size}  seed={entry.seed}  {entry.name}")


def _ls_command(args) -> int:
    library = _library(args)
    for index, entry in enumerate(library.entries):
        print(f"{index:>3}  {_describe(entry)}")
    print(f"{len(library.entries)} prompts")
    return 0


def _rank_command(args) -> int:
    from xprompt.encoder.backbone import load_backbone
    from xprompt.data import load_card
    from xprompt.pipeline.stages import sample

    library, card = _library(args), load_card(args.task)
    train_df, _ = sample(card, args.lang or card.source_language, args.shots, args.seed, args.shots, args.data_root)
    backbone = load_backbone(args.model, None, args.device)
    initial, trained = probe(backbone, card, train_df, args.probe_steps, args.seed, {"num_tokens": args.num_tokens},
                             lr=args.probe_lr)
    query = task_embedding(trained, initial if args.embedding == "delta" else None)
    ranked = library.rank(query, args.model, args.num_tokens, args.embedding, args.center)
    if not ranked:
        raise ConfigError(f"none of the {len(library.entries)} library prompts fits {args.model} "
                          f"(hidden size {backbone.hidden_size}) with '{args.embedding}' embeddings")
    for entry, cosine in ranked:
        print(f"{cosine:+.4f}  {_describe(entry)}")
    best, cosine = ranked[0]
    out = save_prompt(args.output, fit_tokens(best.prompt, args.num_tokens), source=best.name, task=best.task,
                      cosine=f"{cosine:.6f}", embedding=args.embedding)
    print(f"{len(library.entries) - len(ranked)} prompts of other models (or, for 'delta', without a recorded "
          f"initial prompt) left out\n"
          f"best: {best.name} ({best.task}/{best.lang}); written to {out}\n"
          f"use it: settings: {{init: library, init_prompt: {out}, num_tokens: {args.num_tokens}}}")
    return 0
