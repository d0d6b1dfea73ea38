"""A run as a graph of cached cells. `plan` turns a pipeline config into cells
(prepare -> sample -> train -> evaluate, adapt -> evaluate, and the techniques' cells);
`Runner` owns all I/O: it looks each cell up in the cache, computes what is missing, and
records why. The cell types are in graph.py, data cells in builder.py, techniques in techniques.py."""

from __future__ import annotations

import logging
from pathlib import Path

from xprompt.data.loaders import check_language
from xprompt.errors import ConfigError
from xprompt.methods import method_config
from xprompt.pipeline import techniques
from xprompt.pipeline.builder import CellBuilder
from xprompt.pipeline.cache import Cache
from xprompt.pipeline.config import PipelineConfig, method_train_config
from xprompt.pipeline.graph import Cell, Plan, with_dependencies
from xprompt.shots import shots_count

log = logging.getLogger(__name__)


def plan(config: PipelineConfig) -> Plan:
    from xprompt.encoder.model_types import check_model_type, model_type_of

    model_type = model_type_of(config.model.name, config.model.revision)
    if model_type is not None:  # an unsupported encoder stops the run before any work
        check_model_type(model_type, config.model.name)
    builder = CellBuilder(config)
    card = builder.card
    source = config.task.source or card.source_language
    check_language(card, source)
    targets = [source] + [t for t in resolve_targets(config.task.targets, card, source) if t != source]
    for lang in targets:
        check_language(card, lang)
    _check_unique_methods(config)
    for method in config.methods:
        method_config(method.name, method.settings, f"methods[{method.display}]")  # fail before any work
        skipped = [t for t in targets[1:] if t in sources_of(config, method, source, card)]
        if skipped:
            log.info("%s trains on %s: it is not evaluated zero-shot on them", method.display, ", ".join(skipped))
    cells = []
    for method in config.methods:
        for shots in config.shots:
            per_seed = []
            for seed in config.seeds:
                per_seed.append(_method_cells(builder, method, shots, seed, source, targets))
                cells += per_seed[-1]
            # each seed's final model (self-trained, where it is): what its evaluations read
            models = [next(c for c in seed_cells if c.stage == "evaluate").inputs["model"] for seed_cells in per_seed]
            display = models[0].meta["method"]
            if method_train_config(config, method).average_seeds and len(config.seeds) > 1:
                cells += techniques.seed_average(builder, display, shots, models, _evaluated(targets, models[0]))
            if config.eval.ensemble_seeds and len(config.seeds) > 1:
                cells += techniques.ensemble(shots, per_seed, _evaluated(targets, models[0]))
    ordered = with_dependencies(cells)
    return Plan(config, card, source, targets, ordered)


def sources_of(config: PipelineConfig, method, source: str, card) -> list[str]:
    """The source languages `method` trains on: its own `sources`, else task.sources, else the source."""
    sources = list(method.sources if method.sources is not None else config.task.sources) or [source]
    where = f"methods[{method.display}].sources" if method.sources is not None else "task.sources"
    if sources[0] != source:
        raise ConfigError(f"{where} is {sources}; its first language must be the source language {source!r}")
    if len(set(sources)) != len(sources):
        raise ConfigError(f"{where} is {sources}; it names a language twice")
    for lang in sources:
        check_language(card, lang)
    return sources


def _evaluated(targets: list[str], model: Cell) -> list[str]:
    """The languages a model is evaluated on: every target but its extra source languages."""
    return [t for t in targets if t not in model.meta["sources"][1:]]


def _method_cells(builder: CellBuilder, method, shots, seed: int, source: str, targets: list[str]) -> list[Cell]:
    sources = sources_of(builder.config, method, source, builder.card)
    group = f"{method.display} k={shots} seed={seed}"
    train_config = method_train_config(builder.config, method)
    meta = {"method": method.display, "method_name": method.name, "settings": method.settings,
            "train_config": train_config, "shots": shots_count(shots), "seed": seed, "sources": sources}
    sample = builder.sample(source, shots, seed) if len(sources) == 1 else builder.sources_sample(sources, shots, seed)
    trained = Cell("train", f"train {group}", {**builder.train_params(method), "seed": seed},
                   {"sample": sample}, group=group, meta=meta)
    cells = [trained]
    model = trained
    if train_config.self_training.rounds:
        model = techniques.self_trained(builder, trained, sample, targets, sources, group)
        cells.append(model)
    evaluated = _evaluated(targets, trained)
    cells += techniques.evaluations(builder, model, evaluated, model.meta, group)
    cells += techniques.interpolations(builder, model, evaluated, group)
    # on a parallel data set, target shots never translate the source shots the model was trained on
    disjoint = trained.inputs["sample"] if builder.card.parallel and len(sources) == 1 else None
    for adapt_shots in builder.config.adapt.shots:
        for target in (t for t in evaluated if t != source):
            adapted = Cell("adapt", f"adapt {group} to {target} k={adapt_shots}",
                           {"seed": seed, "train": builder.train_params(method, adapt=True)["train"]},
                           {"model": model, "sample": builder.sample(target, adapt_shots, seed, disjoint)},
                           group=group, meta={**model.meta, "target": target, "adapt_shots": adapt_shots,
                                              "train_config": method_train_config(builder.config, method, True)})
            cells.append(adapted)
            cells.append(Cell("evaluate", f"evaluate {group} adapted k={adapt_shots} on {target}", {},
                              {"model": adapted, "test": builder.prepare(target, "test")}, group=group,
                              meta={**model.meta, "target": target, "adapt_shots": adapt_shots}))
    return cells


def resolve_targets(targets, card, source: str) -> list[str]:
    """task.targets as languages: a list as given, `all` = every language of the card but the
    source, {exclude: [...]} = all but those."""
    everything = [lang for lang in card.languages if lang != source]
    if isinstance(targets, str):
        return everything if targets == "all" else [targets]  # `targets: de` reads as one language
    if isinstance(targets, dict):
        if set(targets) != {"exclude"}:
            raise ConfigError(f"task.targets has keys {sorted(targets)}; the mapping form is {{exclude: [...]}}")
        excluded = targets["exclude"] if isinstance(targets["exclude"], list) else [targets["exclude"]]
        for lang in excluded:
            check_language(card, str(lang))
        return [lang for lang in everything if lang not in set(map(str, excluded))]
    return list(targets)


def _check_unique_methods(config: PipelineConfig) -> None:
    names = [m.display for m in config.methods]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"methods: display name '{duplicated[0]}' is used twice; give each a distinct `label`")


def shard_of(plan_: Plan, index: int, count: int) -> list[str]:
    """Groups (method x shots x seed) of shard `index` of `count`: round-robin over sorted names."""
    if not 1 <= index <= count:
        raise ConfigError(f"--shard {index}/{count}: the index must be between 1 and {count}")
    return [g for i, g in enumerate(plan_.groups()) if i % count == index - 1]


def other_shards(plan_: Plan, index: int, count: int) -> list[str]:
    """The groups of the other shards, last first: a shard that finished its own part takes them
    from the end, where their owners get last, so the two meet once in the middle."""
    own = set(shard_of(plan_, index, count))
    return [g for g in reversed(plan_.groups()) if g not in own]


def cache_for(config: PipelineConfig) -> Cache:
    return Cache(Path(config.cache_dir))
