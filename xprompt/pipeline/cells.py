"""A run as a graph of cached cells. `plan` turns a pipeline config into cells
(prepare -> sample -> train -> evaluate, adapt -> evaluate); `Runner` owns all I/O:
it looks each cell up in the cache, computes what is missing, and records why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from xprompt.pipeline.cache import Cache, file_hash, stage_key
from xprompt.pipeline.config import FULL, PipelineConfig, key_params, method_train_config, shots_count
from xprompt.data import load_card
from xprompt.data.loaders import candidate_paths, check_language, first_existing, local_candidates
from xprompt.errors import ConfigError
from xprompt.methods import method_config
from xprompt.pipeline.identity import card_identity, model_identity, model_precision, resolve_revision

log = logging.getLogger(__name__)

# Bump a stage's version when its code changes what it outputs: its entries are then recomputed.
VERSIONS = {"prepare": "1", "sample": "1", "train": "3", "adapt": "3", "evaluate": "2", "average": "1",
            "ensemble": "1"}
SCORED = ("evaluate", "ensemble")  # the stages whose outputs are predictions and metrics (results rows)
# Fields that change how fast or how verbosely work is done, never its result.
NOT_IN_KEYS = {"checkpoint_every", "gradient_checkpointing",
               "average_seeds"}  # adds an average cell after the seeds' train cells; changes none of them


@dataclass
class Cell:
    stage: str
    name: str
    params: dict
    inputs: dict[str, "Cell"] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    group: str = ""  # cells of one group go to one shard
    meta: dict = field(default_factory=dict)  # what a results row needs (method, shots, seed, target)
    key: str = ""

    def __post_init__(self):
        input_keys = {name: cell.key for name, cell in self.inputs.items()}
        self.key = stage_key(self.stage, VERSIONS[self.stage], self.params, {}, input_keys, self.files)

    @property
    def input_keys(self) -> dict[str, str]:
        return {name: cell.key for name, cell in self.inputs.items()}


@dataclass
class Plan:
    config: PipelineConfig
    card: object
    source: str
    targets: list[str]
    cells: list[Cell]

    def evaluations(self) -> list[Cell]:
        return [c for c in self.cells if c.stage in SCORED]

    def source_evaluation(self, cell: Cell) -> Cell | None:
        """The zero-shot source-language evaluation of the same trained model, scored the same way
        (a calibrated evaluation's is the calibrated one)."""
        for other in self.evaluations():
            if (other.group == cell.group and other.meta["method"] == cell.meta["method"]
                    and other.meta["target"] == self.source and other.meta["adapt_shots"] == 0):
                return other
        return None

    def groups(self) -> list[str]:
        return sorted({c.group for c in self.cells if c.group})


class _Builder:
    """Builds cells once each (cells shared by several consumers are the same object)."""

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.card = load_card(config.task.name)
        self.card_id = card_identity(self.card)
        self.model = model_identity(config.model.name, config.model.revision)
        precision = model_precision(config.model)
        if precision != "float32":  # float32 is what every run did before model.dtype existed
            self.model = {**self.model, "dtype": precision}
        self.made: dict[tuple, Cell] = {}
        self.hub_revisions: dict[str, str | None] = {}

    def once(self, key: tuple, make: Callable[[], Cell]) -> Cell:
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]

    def source_files(self, lang: str, split: str) -> dict[str, str]:
        root = self.config.task.data_root
        path = first_existing(local_candidates(self.card, lang, self.card.source_split(split), root))
        if path is not None:
            return {f"{lang}/{split}": file_hash(path)}
        if self.card.hub is None:
            return {}  # nothing to read: the prepare stage says so
        # read from the Hub: the dataset id is in card_id; the commit its revision resolves to goes here
        dataset = self.card.hub.dataset.format(lang=lang)  # a data set per language (MARC) resolves per language
        if dataset not in self.hub_revisions:
            self.hub_revisions[dataset] = resolve_revision(dataset, self.card.hub.revision, "dataset")
        return {"hub_revision": str(self.hub_revisions[dataset])}

    def prepare(self, lang: str, split: str) -> Cell:
        size = self.config.task.test_size if split == "test" else None
        params = {"task": self.card_id, "lang": lang, "split": split, "test_size": size}
        return self.once(("prepare", lang, split), lambda: Cell(
            "prepare", f"prepare {lang} {split}", params, files=self.source_files(lang, split)))

    def sample(self, lang: str, shots: int, seed: int, disjoint_from: Cell | None = None) -> Cell:
        """K-shot sample of `lang`; `disjoint_from` (a parallel data set's source sample) keeps the
        translations of its training items out of it."""
        if shots == FULL:  # the whole training split, a dev subset of task.dev_size rows
            params = {"task": self.card_id, "lang": lang, "shots": FULL, "seed": seed,
                      "dev_size": self.config.task.dev_size}
        else:
            dev_shots = self.config.task.dev_shots or shots
            params = {"task": self.card_id, "lang": lang, "shots": shots, "seed": seed, "dev_shots": dev_shots}
        name = f"sample {lang} k={shots} seed={seed}"
        if disjoint_from is not None:
            name += f" disjoint from {disjoint_from.params['lang']} k={disjoint_from.params['shots']}"

        def make() -> Cell:
            fixed = self.card.fixed_shots
            if fixed is not None and shots != FULL and shots in fixed.shots and seed in fixed.seeds:
                return Cell("sample", name, {**params, "fixed": True}, files=self._fixed_files(lang, shots, seed))
            inputs = {"train": self.prepare(lang, "train"), "dev": self.prepare(lang, "dev")}
            if disjoint_from is not None:
                inputs["exclude"] = disjoint_from
            return Cell("sample", name, params, inputs)
        return self.once(("sample", lang, shots, seed, disjoint_from and disjoint_from.key), make)

    def _fixed_files(self, lang, shots, seed) -> dict[str, str]:
        hashes = {}
        for split, pattern in (("train", self.card.fixed_shots.train), ("dev", self.card.fixed_shots.dev)):
            relative = pattern.format(lang=lang, k=shots, seed=seed)
            path = first_existing(candidate_paths(self.card, relative, self.config.task.data_root))
            if path is not None:  # the file sampling reads, and only that one
                hashes[split] = file_hash(path)
        return hashes

    def train_params(self, method, adapt: bool = False) -> dict:
        settings = key_params(method_config(method.name, method.settings, f"methods[{method.display}]"))
        training = key_params(method_train_config(self.config, method, adapt), NOT_IN_KEYS)
        return {**self.model, "method": method.name, "settings": settings, "train": training}


def plan(config: PipelineConfig) -> Plan:
    from xprompt.encoder.model_types import check_model_type, model_type_of

    model_type = model_type_of(config.model.name, config.model.revision)
    if model_type is not None:  # an unsupported encoder stops the run before any work
        check_model_type(model_type, config.model.name)
    builder = _Builder(config)
    card = builder.card
    source = config.task.source or card.source_language
    check_language(card, source)
    targets = [source] + [t for t in resolve_targets(config.task.targets, card, source) if t != source]
    for lang in targets:
        check_language(card, lang)
    _check_unique_methods(config)
    for method in config.methods:
        method_config(method.name, method.settings, f"methods[{method.display}]")  # fail before any work
    cells = []
    for method in config.methods:
        for shots in config.shots:
            per_seed = []
            for seed in config.seeds:
                per_seed.append(_method_cells(builder, method, shots, seed, source, targets))
                cells += per_seed[-1]
            if method_train_config(config, method).average_seeds and len(config.seeds) > 1:
                cells += _seed_average_cells(builder, method, shots, [c[0] for c in per_seed], targets)
            if config.eval.ensemble_seeds and len(config.seeds) > 1:
                cells += _ensemble_cells(method, shots, per_seed, targets)
    ordered = with_dependencies(cells)
    return Plan(config, card, source, targets, ordered)


CALIBRATED = "+calibration"  # the display suffix of a method's calibrated evaluations


def _method_cells(builder: _Builder, method, shots: int, seed: int, source: str, targets: list[str]) -> list[Cell]:
    group = f"{method.display} k={shots} seed={seed}"
    meta = {"method": method.display, "method_name": method.name, "settings": method.settings,
            "train_config": method_train_config(builder.config, method), "shots": shots_count(shots), "seed": seed}
    trained = Cell("train", f"train {group}", {**builder.train_params(method), "seed": seed},
                   {"sample": builder.sample(source, shots, seed)}, group=group, meta=meta)
    cells = [trained]
    for target in targets:
        cells.append(Cell("evaluate", f"evaluate {group} on {target}", {},
                          {"model": trained, "test": builder.prepare(target, "test")}, group=group,
                          meta={**meta, "target": target, "adapt_shots": 0}))
    if builder.config.eval.calibration == "target_text":  # zero-shot + unlabelled target text: its own method
        calibration = {"calibration": "target_text", "rows": builder.config.eval.calibration_rows, "seed": seed}
        for target in targets:
            cells.append(Cell("evaluate", f"evaluate {group} on {target} calibrated", calibration,
                              {"model": trained, "test": builder.prepare(target, "test"),
                               "unlabelled": builder.prepare(target, "dev")}, group=group,
                              meta={**meta, "method": f"{method.display}{CALIBRATED}", "target": target,
                                    "adapt_shots": 0}))
    # on a parallel data set, target shots never translate the source shots the model was trained on
    disjoint = trained.inputs["sample"] if builder.card.parallel else None
    for adapt_shots in builder.config.adapt.shots:
        for target in (t for t in targets if t != source):
            adapted = Cell("adapt", f"adapt {group} to {target} k={adapt_shots}",
                           {"seed": seed, "train": builder.train_params(method, adapt=True)["train"]},
                           {"model": trained, "sample": builder.sample(target, adapt_shots, seed, disjoint)},
                           group=group, meta={**meta, "target": target, "adapt_shots": adapt_shots,
                                              "train_config": method_train_config(builder.config, method, True)})
            cells.append(adapted)
            cells.append(Cell("evaluate", f"evaluate {group} adapted k={adapt_shots} on {target}", {},
                              {"model": adapted, "test": builder.prepare(target, "test")}, group=group,
                              meta={**meta, "target": target, "adapt_shots": adapt_shots}))
    return cells


SEED_AVERAGE = "+seed-average"  # the display suffix of a method averaged over its seeds
AVERAGED_SEED = -1  # the seed column of those rows: no single seed made them


def _seed_average_cells(builder: _Builder, method, shots, trained: list[Cell], targets: list[str]) -> list[Cell]:
    """The uniform average of the trained tensors of every seed (Schmidt et al. 2023's averaging across
    runs), one model evaluated like the others as the method '<method>+seed-average'."""
    group = f"{method.display} k={shots} seed-average"
    seeds = [c.params["seed"] for c in trained]
    averaged = Cell("average", f"average {method.display} k={shots} over seeds {','.join(map(str, seeds))}",
                    {"seeds": seeds}, {f"seed {s}": c for s, c in zip(seeds, trained)}, group=group,
                    meta={**trained[0].meta, "method": f"{method.display}{SEED_AVERAGE}", "seed": AVERAGED_SEED})
    return [averaged] + [Cell("evaluate", f"evaluate {group} on {target}", {},
                              {"model": averaged, "test": builder.prepare(target, "test")}, group=group,
                              meta={**averaged.meta, "target": target, "adapt_shots": 0}) for target in targets]


ENSEMBLE = "+ensemble"  # the display suffix of a method's seed ensemble


def _ensemble_cells(method, shots, per_seed: list[list[Cell]], targets: list[str]) -> list[Cell]:
    """Per target, the mean class probabilities of every seed's zero-shot predictions (no model is run)."""
    group = f"{method.display} k={shots} ensemble"
    cells = []
    for target in targets:
        members = [next(c for c in seed_cells if c.stage == "evaluate" and c.meta["target"] == target
                        and c.meta["adapt_shots"] == 0 and "unlabelled" not in c.inputs) for seed_cells in per_seed]
        cells.append(Cell("ensemble", f"ensemble {group} on {target}", {},
                          {f"seed {c.meta['seed']}": c for c in members}, group=group,
                          meta={**members[0].meta, "method": f"{method.display}{ENSEMBLE}", "seed": AVERAGED_SEED}))
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


def method_of(cell: Cell) -> tuple[str, dict]:
    """(method name, settings) of a model-making cell, from the params its key hashes: a train
    cell's own; an adapt cell's trained model's; an average's seeds' (all alike)."""
    while cell.stage != "train":
        cell = cell.inputs["model"] if "model" in cell.inputs else next(iter(cell.inputs.values()))
    return cell.params["method"], cell.params["settings"]


def with_dependencies(cells: list[Cell]) -> list[Cell]:
    """Every cell after its inputs, each once, in first-needed order."""
    ordered, seen = [], set()

    def visit(cell: Cell):
        if id(cell) in seen:
            return
        seen.add(id(cell))
        for dependency in cell.inputs.values():
            visit(dependency)
        ordered.append(cell)

    for cell in cells:
        visit(cell)
    return ordered


def shard_of(plan_: Plan, index: int, count: int) -> set[str]:
    """Groups (method x shots x seed) of shard `index` of `count`: round-robin over sorted names."""
    if not 1 <= index <= count:
        raise ConfigError(f"--shard {index}/{count}: the index must be between 1 and {count}")
    return {g for i, g in enumerate(plan_.groups()) if i % count == index - 1}


def cache_for(config: PipelineConfig) -> Cache:
    return Cache(Path(config.cache_dir))
