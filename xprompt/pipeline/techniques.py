"""Cells of the transfer-quality techniques that add work after training (Schmidt et al. 2023's
averaging across seeds, seed ensembles, contextual calibration per target language, self-training
on unlabelled target text, interpolation toward the pretrained weights). Each makes a method of
its own in the results, named by a suffix; those that read unlabelled target text are the
setting "zero-shot + unlabelled target text"."""

from __future__ import annotations

from xprompt.pipeline.builder import CellBuilder
from xprompt.pipeline.graph import Cell
from xprompt.results.settings import (CALIBRATED, ENSEMBLE, SEED_AVERAGE, SELF_TRAINED, SINGLE_MODEL_SEED,
                                      interpolated, with_suffix)


def evaluations(builder: CellBuilder, model: Cell, targets: list[str], meta: dict, group: str,
                what: str | None = None) -> list[Cell]:
    """Zero-shot evaluations of `model` (named `what`, default `group`) on every target, then
    (eval.calibration) its calibrated ones."""
    plain = [Cell("evaluate", f"evaluate {what or group} on {target}", {},
                  {"model": model, "test": builder.prepare(target, "test")}, group=group,
                  meta={**meta, "target": target, "adapt_shots": 0}) for target in targets]
    return plain + calibrated(builder, model, plain, group)


def calibrated(builder: CellBuilder, model: Cell, plain: list[Cell], group: str) -> list[Cell]:
    """Per target, the plain evaluation's probabilities with the class prior of `model` on
    unlabelled text of the language divided out (contextual calibration, Zhao et al. 2021)."""
    config = builder.config.eval
    if config.calibration != "target_text":
        return []
    params = {"calibration": "target_text", "rows": config.calibration_rows, "seed": max(model.meta["seed"], 0)}
    return [Cell("evaluate", f"{evaluation.name} calibrated", params,
                 {"model": model, "test": evaluation.inputs["test"], "plain": evaluation,
                  "unlabelled": builder.unlabelled(evaluation.meta["target"])}, group=group,
                 meta={**evaluation.meta, "method": evaluation.meta["method"] + CALIBRATED})
            for evaluation in plain]


def self_trained(builder: CellBuilder, trained: Cell, sample: Cell, targets: list[str], source_langs: list[str],
                 group: str) -> Cell:
    """`trained` after train.self_training.rounds rounds: each round the latest model labels
    unlabelled text of every target language that is not a source, and the method trains again from
    the start on the source sample plus the confident, class-balanced rows."""
    options = trained.meta["train_config"].self_training
    settings = {"confidence": options.confidence, "per_class": options.per_class, "rows": options.rows,
                "unlabelled": builder.config.task.unlabelled}
    languages = [t for t in targets if t not in source_langs]
    model = trained
    for round_ in range(1, options.rounds + 1):
        inputs = {"model": model}
        for lang in languages:
            inputs[f"unlabelled {lang}"] = builder.unlabelled(lang)
            inputs[f"test {lang}"] = builder.prepare(lang, "test")  # whose texts are never used
        pseudo = Cell("pseudo_label", f"pseudo-label {group} round {round_}",
                      {**settings, "round": round_, "seed": trained.params["seed"]}, inputs, group=group,
                      meta=trained.meta)
        model = Cell("train", f"train {group} self-training round {round_}",
                     {**trained.params, "self_training": {**settings, "round": round_}},
                     {"sample": sample, "pseudo": pseudo}, group=group,
                     meta={**trained.meta, "method": with_suffix(trained.meta["method"], SELF_TRAINED)})
    return model


def interpolations(builder: CellBuilder, model: Cell, targets: list[str], group: str) -> list[Cell]:
    """For each weight w of train.interpolate: `model` with its pretrained weights at w x trained +
    (1 - w) x pretrained (WiSE-FT, Wortsman et al. 2022), evaluated like the model itself."""
    cells = []
    for weight in model.meta["train_config"].interpolate:
        meta = {**model.meta, "method": interpolated(model.meta["method"], weight)}
        moved = Cell("interpolate", f"{model.name} interpolated {weight:g}", {"weight": float(weight)},
                     {"model": model}, group=group, meta=meta)
        cells += [moved] + evaluations(builder, moved, targets, meta, group, f"{group} interpolated {weight:g}")
    return cells


def seed_average(builder: CellBuilder, display: str, shots, trained: list[Cell], targets: list[str]) -> list[Cell]:
    """The uniform average of the trained tensors of every seed (Schmidt et al. 2023's averaging
    across runs): one model, evaluated like the others as the method '<method>+seed-average'."""
    group = f"{display} k={shots} seed-average"
    seeds = [c.params["seed"] for c in trained]
    averaged = Cell("average", f"average {display} k={shots} over seeds {','.join(map(str, seeds))}",
                    {"seeds": seeds}, {f"seed {s}": c for s, c in zip(seeds, trained)}, group=group,
                    meta={**trained[0].meta, "method": trained[0].meta["method"] + SEED_AVERAGE,
                          "seed": SINGLE_MODEL_SEED})
    return [averaged] + evaluations(builder, averaged, targets, averaged.meta, group)


def ensemble(shots, per_seed: list[list[Cell]], targets: list[str]) -> list[Cell]:
    """Per model variant (the method's final model, and each interpolation of it) and target, the mean
    class probabilities of every seed's zero-shot predictions (no model is run)."""
    def plain_zero_shot(c: Cell) -> bool:  # not adapted, not calibrated
        return c.stage == "evaluate" and c.meta["adapt_shots"] == 0 and "unlabelled" not in c.inputs

    def zero_shot(seed_cells: list[Cell], variant: str, target: str) -> Cell:
        return next(c for c in seed_cells if plain_zero_shot(c) and c.meta["method"] == variant
                    and c.meta["target"] == target)

    variants = dict.fromkeys(c.meta["method"] for c in per_seed[0] if plain_zero_shot(c))
    cells = []
    for variant in variants:
        group = f"{variant} k={shots} ensemble"
        for target in targets:
            members = [zero_shot(seed_cells, variant, target) for seed_cells in per_seed]
            cells.append(Cell("ensemble", f"ensemble {group} on {target}", {},
                              {f"seed {c.meta['seed']}": c for c in members}, group=group,
                              meta={**members[0].meta, "method": variant + ENSEMBLE, "seed": SINGLE_MODEL_SEED}))
    return cells
