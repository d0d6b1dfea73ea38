"""Export one trained method of a run as prompt.safetensors + prompt.json (and, for input soft
prompts, PEFT's prompt-tuning files); the `export` and `predict` commands. Loading an
export and classifying with it live in predict.py.

What is exported is the method's trainable state: its delta against the unchanged base
model (frozen weights, the word embeddings by default, are never written). A method with a
prompt tower that never sees the input (UniPrompt) exports the tower's output per template,
`prompt_states.<i>`, instead of the tower, so inference runs the plain encoder."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import typing
from pathlib import Path

from xprompt.errors import CacheError, ConfigError, DataError
from xprompt.files import atomic_write, atomic_write_text
from xprompt.predict import (FORMAT, FORMAT_VERSION, PROMPT_CONFIG, PROMPT_WEIGHTS, ExportedCard,
                             base_identity, predict_command)

log = logging.getLogger(__name__)

PEFT_CONFIG, PEFT_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"


def export_prompt(run_dir, method_display_name: str, out_dir, shots: int | None = None,
                  seed: int | None = None, peft: bool = False) -> Path:
    """Write the trained `method_display_name` of the run in `run_dir` to `out_dir`. Without
    shots/seed, the (shots, seed) with the best average target-language accuracy is taken."""
    from xprompt.config import FULL, shots_text
    from xprompt.pipeline import plan
    from xprompt.runner import Runner

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    config = run_config(run_dir)
    display = _method_display(config, method_display_name, run_dir)
    the_plan = plan(config)
    results = _results_or_none(run_dir)
    shots, seed = choose_shots_seed(the_plan, display, results, shots, seed, run_dir)
    cell = next(c for c in the_plan.cells if c.stage == "train" and c.meta["method"] == display
                and c.meta["shots"] == shots and c.meta["seed"] == seed)
    runner = Runner(the_plan, progress=False)
    cell = _cached(runner, cell, run_dir)
    method = runner.trained_method(cell)
    identity = base_identity(runner.backbone())
    peft_files = method_peft_files(method, cell.meta["method_name"], identity) if peft else None  # refuse first
    languages = list(dict.fromkeys([the_plan.card.source_language, *the_plan.card.languages]))
    settings = {**_portable_settings(cell.meta["settings"]), **method.export_form(languages)}
    tensors, tensor_info = exported_tensors(method)
    info = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "xprompt_version": _version(),
        "base_model": identity,
        "method": {"name": cell.meta["method_name"], "display_name": display, "settings": settings},
        "task": ExportedCard.record(the_plan.card), "labels": list(the_plan.card.labels),
        "templates": _templates(method, the_plan), "shots": shots_text(shots) if shots_text(shots) == FULL else shots,
        "seed": seed,
        "languages": language_scores(results, display, shots, seed),
        "run": _run_record(runner, cell, config), "tensors": tensor_info,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    if peft_files is not None:
        adapter, adapter_tensors = peft_files
        info["peft"] = {"files": [PEFT_CONFIG, PEFT_WEIGHTS], "peft_type": adapter["peft_type"],
                        "holds": "the encoder-side change only; the head or label vectors are in "
                                 f"{PROMPT_WEIGHTS}"}
        if adapter.get("xprompt_note"):
            info["peft"]["note"] = adapter.pop("xprompt_note")
        _save_safetensors(adapter_tensors, out_dir / PEFT_WEIGHTS)
        _write_json(out_dir / PEFT_CONFIG, adapter)
    else:
        for stale in (PEFT_CONFIG, PEFT_WEIGHTS):  # from an earlier export with --peft
            (out_dir / stale).unlink(missing_ok=True)
    _save_safetensors(tensors, out_dir / PROMPT_WEIGHTS)
    _write_json(out_dir / PROMPT_CONFIG, info)
    return out_dir


# -- which run, which cell ---------------------------------------------------------------

def run_config(run_dir: Path):
    """The PipelineConfig in run_dir/run.json, its relative paths read from where the run was made."""
    from xprompt.config import PipelineConfig, from_dict

    path = run_dir / "run.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{run_dir} holds no run.json; give a run directory written by `xprompt run` "
                        f"(runs/<name>)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path} cannot be read as JSON ({error})") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise DataError(f"{path} has no 'config' mapping; it was not written by `xprompt run`")
    dropped: list[str] = []
    config = _known_keys(PipelineConfig, stored["config"], "", dropped)
    if dropped:  # a run made by an older xprompt: its removed options were at their defaults or gone
        log.warning("%s: ignoring config keys this xprompt does not know: %s", path, ", ".join(dropped))
    return _rebase(from_dict(PipelineConfig, config, f"{path} config"), run_dir)


def _known_keys(cls, data, where: str, dropped: list[str]):
    """`data` without the keys dataclass `cls` (and its nested dataclasses) does not have."""
    if not (dataclasses.is_dataclass(cls) and isinstance(data, dict)):
        return data
    hints, kept = typing.get_type_hints(cls), {}
    for key, value in data.items():
        if key not in hints:
            dropped.append(where + key)
            continue
        inner = typing.get_args(hints[key])
        if typing.get_origin(hints[key]) is list and inner and isinstance(value, list):
            value = [_known_keys(inner[0], v, f"{where}{key}[{i}].", dropped) for i, v in enumerate(value)]
        else:
            value = _known_keys(hints[key], value, f"{where}{key}.", dropped)
        kept[key] = value
    return kept


def _rebase(config, run_dir: Path):
    """Relative paths in run.json are relative to the folder `xprompt run` ran in: the one
    that holds <output_dir>/<name>, i.e. run_dir. Make them absolute, so export works from anywhere."""
    from xprompt.data.cards import known_tasks

    relative = Path(config.output_dir) / config.name
    run_dir = run_dir.resolve()
    if relative.is_absolute() or ".." in relative.parts or run_dir.parts[-len(relative.parts):] != relative.parts:
        return config  # a moved run folder: paths stay relative to the working directory
    root = Path(*run_dir.parts[:-len(relative.parts)])

    def at_root(value: str) -> str:
        return value if Path(value).expanduser().is_absolute() else str(root / value)

    config.cache_dir, config.output_dir = at_root(config.cache_dir), at_root(config.output_dir)
    if config.task.data_root:
        config.task.data_root = at_root(config.task.data_root)
    if config.task.name not in known_tasks() and (root / config.task.name).is_file():
        config.task.name = at_root(config.task.name)
    if not Path(config.model.name).is_absolute() and (root / config.model.name).is_dir():
        config.model.name = at_root(config.model.name)
    return config


def _method_display(config, wanted: str, run_dir: Path) -> str:
    displays = [m.display for m in config.methods]
    if wanted in displays:
        return wanted
    by_name = [m.display for m in config.methods if m.name == wanted]
    if len(by_name) == 1:
        return by_name[0]
    raise ConfigError(f"run {run_dir} has no method {wanted!r}; its methods: {', '.join(displays)}")


def _results_or_none(run_dir: Path):
    from xprompt.results import read_results

    try:
        return read_results(run_dir)
    except DataError as error:
        log.warning("no results to read in %s (%s); prompt.json will hold no scores", run_dir, error)
        return None


def choose_shots_seed(the_plan, display: str, results, shots: int | None, seed: int | None,
                      run_dir: Path) -> tuple[int, int]:
    """The requested (shots, seed), else the one with the best mean accuracy over the target
    languages (the source language counts only when it is the only one evaluated)."""
    trained = sorted({(c.meta["shots"], c.meta["seed"]) for c in the_plan.cells
                      if c.stage == "train" and c.meta["method"] == display})
    wanted = [(k, s) for k, s in trained if shots in (None, k) and seed in (None, s)]
    if not wanted:
        raise ConfigError(f"run {run_dir} trained {display} with shots {sorted({k for k, _ in trained})} and "
                          f"seeds {sorted({s for _, s in trained})}; shots={shots} seed={seed} is not one of them")
    if len(wanted) == 1:
        return wanted[0]
    scored = [(_mean_target_accuracy(results, display, k, s, the_plan.source), k, s) for k, s in wanted]
    scored = [entry for entry in scored if not math.isnan(entry[0])]
    if not scored:
        raise ConfigError(f"run {run_dir} has no results for {display} to choose among shots and seeds "
                          f"{wanted}; give --shots and --seed")
    best = max(scored, key=lambda entry: (entry[0], -entry[1], -entry[2]))  # ties: fewer shots, lower seed
    return best[1], best[2]


def _zero_shot_rows(results, display: str, shots: int, seed: int):
    return results[(results["method"] == display) & (results["shots"] == shots) & (results["seed"] == seed)
                   & (results["adapt_shots"] == 0)]


def _mean_target_accuracy(results, display: str, shots: int, seed: int, source: str) -> float:
    if results is None:
        return float("nan")
    rows = _zero_shot_rows(results, display, shots, seed)
    rows = rows[rows["metric"] == "accuracy"]
    targets = rows[rows["target"] != source]
    values = (targets if len(targets) else rows)["value"].dropna()
    return float(values.mean()) if len(values) else float("nan")


def language_scores(results, display: str, shots: int, seed: int) -> dict[str, dict[str, float]]:
    """{language: {metric: value}} of the zero-shot evaluations of this trained cell."""
    if results is None:
        return {}
    scores: dict[str, dict[str, float]] = {}
    for row in _zero_shot_rows(results, display, shots, seed).itertuples(index=False):
        value = None if math.isnan(row.value) else float(row.value)
        scores.setdefault(row.target, {})[row.metric] = value
    return scores


def _cached(runner, cell, run_dir: Path):
    """The cell as the run's lock file recorded it (its key is the run's truth), if it is cached."""
    from xprompt.cache import read_lockfile

    keys = [cell.key]
    record = read_lockfile(run_dir / "xprompt.lock", missing_ok=True).get(cell.name)
    if record is not None and record.key != cell.key:
        log.warning("%s: run.json's config now gives %s another key than the lock file records (data or "
                    "model files changed?); exporting what the run trained", run_dir, cell.name)
        keys.insert(0, record.key)
    for key in keys:
        if runner.cache.lookup(cell.stage, key, verify="quick") is not None:
            found = copy.copy(cell)  # copy, not replace: the key must not be recomputed
            found.key = key
            return found
    raise CacheError(f"the trained model '{cell.name}' of run {run_dir} is not in the cache "
                     f"{runner.cache.root} (key {keys[0]}); run the pipeline again to train it")


# -- what is written ---------------------------------------------------------------------

def exported_tensors(method) -> tuple[dict, dict]:
    """(tensors by name, prompt.json's description of each) of a method already in its export form;
    which tensors those are is the method's business (Method.exported_tensors)."""
    tensors, info = {}, {}
    for name, (tensor, description) in method.exported_tensors().items():
        tensors[name] = tensor.detach().to("cpu").contiguous()
        info[name] = {**description, "shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch.")}
    return tensors, info


def _templates(method, the_plan) -> dict[str, str]:
    """The template the method fills for each language it was evaluated in or the card templates."""
    return method.filled_templates(list(dict.fromkeys([the_plan.source, *the_plan.targets, *the_plan.card.templates])))


def _run_record(runner, cell, config) -> dict:
    record = {"name": config.name, "train_cell": cell.name, "train_key": cell.key}
    try:
        trained = json.loads((runner.entry(cell) / "train.json").read_text())
    except (OSError, json.JSONDecodeError):
        return record
    keep = ("best_dev_accuracy", "best_epoch", "train_rows", "dev_rows", "parameters")
    return {**record, **{k: trained[k] for k in keep if k in trained}}


def _version() -> str:
    from xprompt import __version__
    return __version__


def _save_safetensors(tensors: dict, path: Path) -> None:
    from safetensors.torch import save_file

    atomic_write(path, lambda temporary: save_file(tensors, str(temporary), metadata={"format": "pt"}))


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


# -- PEFT ------------------------------------------------------------------------------------

def method_peft_files(method, name: str, identity: dict) -> tuple[dict, dict]:
    """PEFT's adapter_config.json and adapter tensors for `method` (soft prompts, LoRA)."""
    try:
        return method.peft_files(identity)
    except ConfigError as error:
        raise ConfigError(f"the {name} method: {error}") from None


def export_peft(run_dir, method_display_name: str, out_dir, shots: int | None = None,
                seed: int | None = None) -> Path:
    """export_prompt with PEFT's files beside prompt.safetensors and prompt.json."""
    return export_prompt(run_dir, method_display_name, out_dir, shots, seed, peft=True)


# -- command line ------------------------------------------------------------------------------

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
    predict.set_defaults(handler=predict_command)


def _shots_argument(text: str) -> int:
    from xprompt.config import FULL, shots_count
    if text == FULL or text.isdigit():
        return shots_count(text)
    raise ValueError(f"--shots is {text!r}; give a whole number or {FULL}")


def _export_command(args) -> int:
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


__all__ = ["add_commands", "export_peft", "export_prompt", "exported_tensors", "method_peft_files"]


def _portable_settings(settings: dict) -> dict:
    """Settings to rebuild the method at load time. A prompt started from a library file
    is rebuilt from its trained tensors, so the start file is not needed: any init will do."""
    portable = dict(settings or {})
    if portable.get("init") == "library":
        portable["init"] = "vocab"
        portable.pop("init_prompt", None)
    return portable
