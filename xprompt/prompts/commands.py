"""`xprompt export` and `xprompt predict`: their arguments (registered without importing torch;
the work is imported when a command runs) and predict's input and output tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from xprompt.errors import ConfigError, DataError

TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}


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
    predict.add_argument("--calibrate-on", help="a calibrated prompt: a text file (one unlabelled text of --lang "
                                                "per line) to estimate --lang's class prior on first")
    predict.set_defaults(handler=predict_command)


def _shots_argument(text: str) -> int:
    from xprompt.shots import FULL, shots_count
    if text == FULL or text.isdigit():
        return shots_count(text)
    raise ValueError(f"--shots is {text!r}; give a whole number or {FULL}")


def _export_command(args) -> int:
    from xprompt.prompts.export import export_prompt
    from xprompt.prompts.predict import PROMPT_CONFIG, PROMPT_WEIGHTS

    out = export_prompt(args.run, args.method, args.output, args.shots, args.seed, peft=args.peft)
    info = json.loads((out / PROMPT_CONFIG).read_text(encoding="utf-8"))
    weights = sorted(out.rglob(PROMPT_WEIGHTS))  # one file, or one per member of an ensemble
    size = sum(path.stat().st_size for path in weights) / 1e6
    members = info.get("ensemble", {}).get("members", [])
    what = f"{len(members)} members" if members else f"{len(info.get('tensors', []))} tensors"
    base = info.get("base_model") or json.loads((out / members[0] / PROMPT_CONFIG).read_text())["base_model"]
    print(f"exported {info['method']['display_name']} (k={info['shots']}, seed={info['seed']}) of "
          f"{base['id']} to {out}: {what}, {size:.2f} MB"
          + (", with PEFT's adapter files" if args.peft else ""))
    for lang, scores in sorted(info["languages"].items()):
        accuracy = scores.get("accuracy")
        print(f"  {lang}: accuracy {accuracy:.3f}" if accuracy is not None else f"  {lang}: no accuracy")
    return 0


# -- tables for `xprompt predict --input` --------------------------------------------------

def table_format(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise DataError(f"{role} file {path} has suffix {suffix or '(none)'!r}; accepted: "
                        f"{', '.join(TABLE_FORMATS)}")
    return TABLE_FORMATS[suffix]


def read_input_table(path) -> "Any":
    """A csv/tsv/jsonl file as a DataFrame of strings; empty or unreadable files are DataErrors."""
    import pandas as pd

    path = Path(path)
    file_format = table_format(path, "input")
    if not path.is_file():
        raise DataError(f"input file {path} does not exist")
    try:
        if file_format == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_csv(path, sep="\t" if file_format == "tsv" else ",", dtype=str,
                                keep_default_na=False, quoting=csv.QUOTE_NONE if file_format == "tsv" else 0)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"input file {path} cannot be read as {file_format}: {error}") from None
    if frame.empty:
        raise DataError(f"input file {path} holds no rows; it needs a header with a text column and one row per text")
    return frame


def write_output_table(frame, path) -> None:
    from xprompt.files import atomic_write_text

    path = Path(path)
    file_format = table_format(path, "output")
    if file_format == "jsonl":
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        text = text if text.endswith("\n") else text + "\n"
    else:
        text = frame.to_csv(index=False, sep="\t" if file_format == "tsv" else ",")
    atomic_write_text(path, text)


# -- `xprompt predict` ---------------------------------------------------------------------

def predict_command(args) -> int:
    """`xprompt predict` (its arguments are declared in add_commands above)."""
    from xprompt.prompts.predict import load_prompt, require_columns

    if args.output:
        table_format(Path(args.output), "output")  # a wrong suffix fails before the model loads
    table = None
    if args.input:
        table = read_input_table(args.input)
        columns = [c for c in (args.text_column, args.pair_column, args.lang_column) if c]
        require_columns(table, columns, f"input file {args.input}")
    prompt = load_prompt(args.prompt, device=args.device, model=args.model)
    if args.calibrate_on:
        if not args.lang:
            raise ConfigError("--calibrate-on needs --lang: the language its texts are in")
        texts = [line.strip() for line in Path(args.calibrate_on).read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        prompt.calibrate_on(texts, args.lang, batch_size=args.batch_size)
    if table is None:
        for text, result in zip(args.text, prompt.predict(args.text, args.lang, args.text_pair, args.batch_size)):
            print(f"{result['label']}\t{result['probabilities'][result['label']]:.3f}\t{text}")
        return 0
    predicted = prompt.predict_frame(table, args.text_column, args.pair_column, args.lang_column, args.lang,
                                     args.batch_size, where=f"input file {args.input}")
    if args.output:
        write_output_table(predicted, args.output)
        print(f"{len(predicted)} predictions written to {args.output}")
    else:
        print(predicted.to_csv(index=False), end="")
    return 0
