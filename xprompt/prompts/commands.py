"""`xprompt export` and `xprompt predict`: their arguments, registered without importing
torch (the work is imported when a command runs)."""

from __future__ import annotations

import json


def add_commands(subparsers) -> None:
    export = subparsers.add_parser("export", help="write a run's trained prompt (prompt.safetensors + prompt.json)")
    export.add_argument("run", help="run directory (runs/<name>)")
    export.add_argument("--method", required=True, help="method as the run names it (its label, else its name)")
    export.add_argument("--shots", type=_shots_argument,
                        help="K of the trained model, or full (default: best average target accuracy)")
    export.add_argument("--seed", type=int, help="seed of the trained model (default: best average target accuracy)")
    export.add_argument("-o", "--output", required=True, help="folder to write")
    export.add_argument("--peft", action="store_true", help="also write PEFT's adapter files (soft prompts, LoRA)")
    export.set_defaults(handler=_export_command)

    predict = subparsers.add_parser("predict", help="classify texts with an exported prompt")
    predict.add_argument("--prompt", required=True, help="folder written by `xprompt export`")
    given = predict.add_mutually_exclusive_group(required=True)
    given.add_argument("--text", action="append", help="a text to classify (repeat for more)")
    given.add_argument("--input", help="csv, tsv or jsonl file with a text column")
    predict.add_argument("--text-pair", action="append", help="second text of each --text (pair tasks)")
    predict.add_argument("--output", help="csv, tsv or jsonl file for --input's predictions (default: print csv)")
    predict.add_argument("--text-column", default="text", help="column of --input holding the text")
    predict.add_argument("--pair-column", help="column of --input holding the second text (pair tasks)")
    predict.add_argument("--lang-column", help="column of --input holding each row's language")
    predict.add_argument("--lang", help="language of the texts (default: the task's source language)")
    predict.add_argument("--batch-size", type=int, default=32)
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    predict.add_argument("--model", help="load the base model from here (checked to be the one trained on)")
    predict.set_defaults(handler=_predict_command)


def _shots_argument(text: str) -> int:
    from xprompt.pipeline.config import FULL, shots_count
    if text == FULL or text.isdigit():
        return shots_count(text)
    raise ValueError(f"--shots is {text!r}; give a whole number or {FULL}")


def _predict_command(args) -> int:
    from xprompt.prompts.predict import predict_command
    return predict_command(args)


def _export_command(args) -> int:
    from xprompt.prompts.export import export_prompt
    from xprompt.prompts.predict import PROMPT_CONFIG, PROMPT_WEIGHTS

    out = export_prompt(args.run, args.method, args.output, args.shots, args.seed, peft=args.peft)
    info = json.loads((out / PROMPT_CONFIG).read_text(encoding="utf-8"))
    size = (out / PROMPT_WEIGHTS).stat().st_size / 1e6
    print(f"exported {info['method']['display_name']} (k={info['shots']}, seed={info['seed']}) of "
          f"{info['base_model']['id']} to {out}: {len(info['tensors'])} tensors, {size:.2f} MB"
          + (", with PEFT's adapter files" if args.peft else ""))
    for lang, scores in sorted(info["languages"].items()):
        accuracy = scores.get("accuracy")
        print(f"  {lang}: accuracy {accuracy:.3f}" if accuracy is not None else f"  {lang}: no accuracy")
    return 0
