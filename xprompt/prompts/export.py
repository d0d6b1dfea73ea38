"""Export one trained model of a run as prompt.safetensors + prompt.json (and, for input soft
prompts and LoRA, PEFT's files). Loading an export and classifying with it live in predict.py,
the `export` and `predict` commands in commands.py.

What is exported is the method's trainable state: its delta against the unchanged base
model (frozen weights, the word embeddings by default, are never written). A method with a
prompt tower that never sees the input (UniPrompt) exports the tower's output per template,
`prompt_states.<i>`, instead of the tower, so inference runs the plain encoder."""

from __future__ import annotations

import json
from pathlib import Path

from xprompt.errors import CacheError, ConfigError
from xprompt.files import atomic_write, atomic_write_text
from xprompt.pipeline.record import read_trained
from xprompt.pipeline.entry_files import CALIBRATION, STATE, TRAIN_INFO
from xprompt.prompts.base_model import base_identity
from xprompt.prompts.predict import FORMAT, FORMAT_VERSION, PROMPT_CONFIG, PROMPT_WEIGHTS, ExportedCard
from xprompt.prompts.run_record import (choose_shots_seed, language_scores, method_display, results_or_none,
                                        run_config)

PEFT_CONFIG, PEFT_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"


def export_prompt(run_dir, method_display_name: str, out_dir, shots: int | None = None,
                  seed: int | None = None, peft: bool = False) -> Path:
    """Write the trained `method_display_name` of the run in `run_dir` to `out_dir`, from what the run
    recorded it trained (trained.json), not by planning it again. Without shots/seed, the (shots, seed)
    with the best average target-language accuracy is taken. A seed ensemble writes each member's
    export under members/ and a prompt.json that names them; predict averages their probabilities."""
    from xprompt.data import load_card
    from xprompt.pipeline.cache import Cache
    from xprompt.shots import FULL, shots_text

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    config = run_config(run_dir)
    trained = read_trained(run_dir)
    display = method_display(config, method_display_name, run_dir, trained)
    card = load_card(config.task.name)
    source = config.task.source or card.source_language
    results = results_or_none(run_dir)
    shots, seed = choose_shots_seed(trained, display, results, shots, seed, run_dir, source)
    entry = next(e for e in trained if e["method"] == display and e["shots"] == shots and e["seed"] == seed)
    cache = Cache(Path(config.cache_dir))
    common = {"shots": FULL if shots_text(shots) == FULL else shots, "seed": seed,
              "languages": language_scores(results, display, shots, seed)}
    if "members" not in entry:
        return _write_export(config, card, cache, entry, {**common, "display": display}, out_dir, peft)
    if peft:
        raise ConfigError(f"{display} is a seed ensemble and PEFT files hold one model; export the method itself "
                          f"with --seed N --peft, once per seed")
    return _write_ensemble(config, card, cache, entry, display, common, out_dir)


def _write_ensemble(config, card, cache, entry: dict, display: str, common: dict, out_dir: Path) -> Path:
    """Each member's export under members/seed-N, and a prompt.json that names them."""
    members = []
    for member in entry["members"]:
        folder = f"members/seed-{member['seed']}"
        member_entry = {**entry, **member}
        member_entry.pop("members")
        _write_export(config, card, cache, member_entry, {**common, "display": display, "seed": member["seed"],
                                                          "languages": {}}, out_dir / folder, False)
        members.append(folder)
    info = {"format": FORMAT, "format_version": FORMAT_VERSION, "xprompt_version": _version(),
            "method": {"name": entry["method_name"], "display_name": display},
            "ensemble": {"members": members, "combine": "the mean of the members' class probabilities"},
            "task": ExportedCard.record(card), "labels": list(card.labels), **common}
    _write_json(out_dir / PROMPT_CONFIG, info)
    return out_dir


def _write_export(config, card, cache, entry: dict, common: dict, out_dir: Path, peft: bool) -> Path:
    """prompt.safetensors and prompt.json (and PEFT's files) of one trained model of the run."""
    from safetensors.torch import load_file

    from xprompt.encoder.backbone import load_backbone
    from xprompt.pipeline.cells import resolve_targets
    from xprompt.pipeline.stages import load_trained

    found = cache.lookup(entry.get("stage", "train"), entry["key"], verify="quick")
    if found is None:
        raise CacheError(f"the trained model '{entry['cell']}' of run {config.name} is not in the cache {cache.root} "
                         f"(key {entry['key']}); run the pipeline again with --every-cell to train it")
    backbone = load_backbone(config.model.name, config.model.revision, config.model.device)
    method = load_trained(backbone, card, entry["method_name"], entry["settings"],
                          load_file(str(found / STATE)))
    identity = base_identity(backbone)
    peft_files = method_peft_files(method, entry["method_name"], identity) if peft else None  # refuse first
    languages = list(dict.fromkeys([card.source_language, *card.languages]))
    settings = {**_portable_settings(entry["settings"]), **method.export_form(languages)}
    tensors, tensor_info = exported_tensors(method)
    source = config.task.source or card.source_language
    targets = resolve_targets(config.task.targets, card, source)
    info = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "xprompt_version": _version(),
        "base_model": identity,
        "method": {"name": entry["method_name"], "display_name": common["display"], "settings": settings},
        "task": ExportedCard.record(card), "labels": list(card.labels),
        "templates": method.filled_templates(list(dict.fromkeys([source, *targets, *card.templates]))),
        "shots": common["shots"], "seed": common["seed"], "languages": common["languages"],
        "run": _run_record(found, entry, config), "tensors": tensor_info,
    }
    if "calibration" in entry:
        info["calibration"] = _calibration(cache, entry, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_peft_files(peft_files, info, out_dir)
    _save_safetensors(tensors, out_dir / PROMPT_WEIGHTS)
    _write_json(out_dir / PROMPT_CONFIG, info)
    return out_dir


def _write_peft_files(peft_files: tuple[dict, dict] | None, info: dict, out_dir: Path) -> None:
    """With --peft, PEFT's adapter_config.json and adapter_model.safetensors beside the prompt, and
    prompt.json's note of what they hold; without, those of an earlier export with --peft removed."""
    if peft_files is None:
        for stale in (PEFT_CONFIG, PEFT_WEIGHTS):
            (out_dir / stale).unlink(missing_ok=True)
        return
    adapter, adapter_tensors = peft_files
    info["peft"] = {"files": [PEFT_CONFIG, PEFT_WEIGHTS], "peft_type": adapter["peft_type"],
                    "holds": f"the encoder-side change only; the head or label vectors are in {PROMPT_WEIGHTS}"}
    if adapter.get("xprompt_note"):
        info["peft"]["note"] = adapter.pop("xprompt_note")
    _save_safetensors(adapter_tensors, out_dir / PEFT_WEIGHTS)
    _write_json(out_dir / PEFT_CONFIG, adapter)


# -- what is written ---------------------------------------------------------------------

def exported_tensors(method) -> tuple[dict, dict]:
    """(tensors by name, prompt.json's description of each) of a method already in its export form;
    which tensors those are is the method's business (Method.exported_tensors)."""
    tensors, info = {}, {}
    for name, (tensor, description) in method.exported_tensors().items():
        tensors[name] = tensor.detach().to("cpu").contiguous()
        info[name] = {**description, "shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch.")}
    return tensors, info


def _run_record(entry_dir: Path, entry: dict, config) -> dict:
    record = {"name": config.name, "train_cell": entry["cell"], "train_key": entry["key"]}
    try:
        trained = json.loads((entry_dir / TRAIN_INFO).read_text())
    except (OSError, json.JSONDecodeError):
        return record
    keep = ("best_dev_accuracy", "best_epoch", "train_rows", "dev_rows", "parameters")
    return {**record, **{k: trained[k] for k in keep if k in trained}}


def _calibration(cache, entry: dict, config) -> dict:
    """The class prior of each language the run calibrated on (its calibrated evaluations'), and
    what predict does for any other language."""
    priors, rows = {}, {}
    for lang, key in entry["calibration"].items():
        found = cache.lookup("evaluate", key, verify="quick")
        if found is None:
            raise CacheError(f"the calibrated evaluation of '{entry['cell']}' on {lang} (key {key}) is not in the "
                             f"cache {cache.root}; run the pipeline again to compute it")
        stored = json.loads((found / CALIBRATION).read_text())
        priors[lang], rows[lang] = stored["prior"], stored["rows"]
    return {"method": "contextual calibration (Zhao et al. 2021): probabilities divided by the language's class "
                      "prior, renormalised",
            "priors": priors, "rows": rows, "unlabelled": config.task.unlabelled,
            "fallback": "a language without a prior here is not calibrated (its probabilities are the "
                        "model's own); give --calibrate-on text of it to predict to estimate one"}


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


__all__ = ["export_peft", "export_prompt", "exported_tensors", "method_peft_files"]


def _portable_settings(settings: dict) -> dict:
    """Settings to rebuild the method at load time. A prompt started from a library file
    is rebuilt from its trained tensors, so the start file is not needed: any init will do."""
    portable = dict(settings or {})
    if portable.get("init") == "library":
        portable["init"] = "vocab"
        portable.pop("init_prompt", None)
    return portable
