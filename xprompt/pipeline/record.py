"""What a finished run trained: runs/<name>/trained.json, written by the runner when a whole run
(not a shard) finishes. Export and the library read it instead of planning the run again: each
trained model's cache key, method and the settings that key hashes."""

from __future__ import annotations

import json
from pathlib import Path

from xprompt.errors import DataError
from xprompt.pipeline.graph import method_of
from xprompt.results.settings import CALIBRATED
from xprompt.files import write_text_if_changed

TRAINED = "trained.json"


def write_trained(run_dir: Path, cells) -> None:
    """One entry per model the run that finished made: its train cells, its seed averages (`stage:
    average`) and interpolations (`stage: interpolate`), models of the same method and settings. A
    model with calibrated evaluations has a second entry, '<method>+calibration', naming them
    (export reads their priors)."""
    entries = []
    calibrations: dict[int, dict[str, str]] = {}
    for c in cells:
        if c.stage == "evaluate" and "plain" in c.inputs:
            calibrations.setdefault(id(c.inputs["model"]), {})[c.meta["target"]] = c.key
    for c in cells:
        if c.stage in ("train", "average", "interpolate"):
            method_name, settings = method_of(c)
            entry = {"cell": c.name, "key": c.key, "stage": c.stage, "method": c.meta["method"],
                     "method_name": method_name, "settings": settings, "shots": c.meta["shots"],
                     "seed": c.meta["seed"]}
            entries.append(entry)
            if id(c) in calibrations:
                entries.append({**entry, "method": c.meta["method"] + CALIBRATED,
                                "calibration": dict(sorted(calibrations[id(c)].items()))})
    entries += _ensembles(cells)
    text = json.dumps({"trained": entries}, indent=2, sort_keys=True) + "\n"
    write_text_if_changed(run_dir / TRAINED, text)


def _ensembles(cells) -> list[dict]:
    """One entry per seed ensemble (method and shots): its members, the seeds' models."""
    found = {}
    for c in cells:
        if c.stage == "ensemble":
            models = [evaluation.inputs["model"] for _, evaluation in sorted(c.inputs.items())]
            found.setdefault((c.meta["method"], c.meta["shots"]), (c, models))
    entries = []
    for (display, shots), (cell, models) in found.items():
        method_name, settings = method_of(models[0])
        entries.append({"cell": cell.group, "stage": "ensemble", "method": display, "method_name": method_name,
                        "settings": settings, "shots": shots, "seed": cell.meta["seed"],
                        "members": [{"cell": m.name, "key": m.key, "stage": m.stage, "seed": m.meta["seed"]}
                                    for m in models]})
    return entries


def read_trained(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / TRAINED
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{run_dir} holds no {TRAINED} (a run of an older xprompt, or only shards of it ran); "
                        f"run the pipeline once without --shard (cached cells are reused) to write it") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path} cannot be read as JSON ({error})") from None
    entries = stored.get("trained") if isinstance(stored, dict) else None
    if not isinstance(entries, list):
        raise DataError(f"{path} has no 'trained' list; it was not written by `xprompt run`")
    return entries
