"""A finished run, read back: its config (run.json, relative paths rebased to where it ran), what
it trained (trained.json, see pipeline/record.py) and its scores; which (shots, seed) to export."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import typing
from pathlib import Path

from xprompt.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def run_config(run_dir: Path):
    """The PipelineConfig in run_dir/run.json, its relative paths read from where the run was made."""
    from xprompt.pipeline.config import PipelineConfig
    from xprompt.strict import from_dict

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
    from xprompt.data.card_files import known_tasks

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


def method_display(config, wanted: str, run_dir: Path, trained: list[dict] = ()) -> str:
    """The run's name for the method `wanted` (its label, else its name when that is unique); a model
    the run recorded under another name (a seed average) is taken by that name."""
    displays = [m.display for m in config.methods] + [e["method"] for e in trained if e["method"] not in
                                                     {m.display for m in config.methods}]
    if wanted in displays:
        return wanted
    by_name = [m.display for m in config.methods if m.name == wanted]
    if len(by_name) == 1:
        return by_name[0]
    raise ConfigError(f"run {run_dir} has no method {wanted!r}; its methods: {', '.join(dict.fromkeys(displays))}")


def results_or_none(run_dir: Path):
    from xprompt.results.table import read_results

    try:
        return read_results(run_dir)
    except DataError as error:
        log.warning("no results to read in %s (%s); prompt.json will hold no scores", run_dir, error)
        return None


def choose_shots_seed(trained: list[dict], display: str, results, shots: int | None, seed: int | None,
                      run_dir: Path, source: str) -> tuple[int, int]:
    """The requested (shots, seed), else the one with the best mean accuracy over the target
    languages (the source language counts only when it is the only one evaluated)."""
    trained = sorted({(e["shots"], e["seed"]) for e in trained if e["method"] == display})
    wanted = [(k, s) for k, s in trained if shots in (None, k) and seed in (None, s)]
    if not wanted:
        raise ConfigError(f"run {run_dir} trained {display} with shots {sorted({k for k, _ in trained})} and "
                          f"seeds {sorted({s for _, s in trained})}; shots={shots} seed={seed} is not one of them")
    if len(wanted) == 1:
        return wanted[0]
    scored = [(_mean_target_accuracy(results, display, k, s, source), k, s) for k, s in wanted]
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
