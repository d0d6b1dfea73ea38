"""How each stage of a cell is computed from the cache entries of its inputs: the Runner's
half that loads the backbone once, calls the pure stages and writes their outputs into the
entry being published. What a cell computes is what its key's params say."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from xprompt.errors import XPromptError
from xprompt.pipeline.entry_files import (CALIBRATION, DEV_ROWS, METRICS, PREDICTIONS, PSEUDO_INFO, PSEUDO_ROWS, STATE,
                                         TABLE, TRAIN_INFO, TRAIN_ROWS)
from xprompt.pipeline.graph import Cell, method_of
from xprompt.results.bootstrap import item_key


class StageComputation:
    """Mixed into Runner, which gives `config`, `card`, `cache`, `progress`, `entry()`,
    `_backbone` and `_last_model`."""

    def backbone(self):
        if self._backbone is None:
            model = self.config.model
            from xprompt.encoder.backbone import load_backbone
            from xprompt.encoder.precision import enable_tf32

            self._backbone = load_backbone(model.name, model.revision, model.device)
            enable_tf32(self._backbone.device)
        return self._backbone

    @property
    def dtype(self):
        """The precision of forward passes (model.dtype resolved on the loaded model's device)."""
        from xprompt.encoder.precision import resolve_dtype
        return resolve_dtype(self.config.model.dtype, self.backbone().device)

    def _compute(self, cell: Cell, out: Path) -> None:
        getattr(self, f"_compute_{cell.stage}")(cell, out)

    def _compute_prepare(self, cell: Cell, out: Path) -> None:
        from xprompt.pipeline import stages

        p = cell.params
        table = stages.prepare(self.card, p["lang"], p["split"], self.config.task.data_root, p["test_size"])
        table.to_parquet(out / TABLE, index=False)

    def _compute_sample(self, cell: Cell, out: Path) -> None:
        from xprompt.pipeline import stages

        p = cell.params
        if "sources" in p:
            train_rows, dev_rows = self._sources_sample(cell)
        else:
            pools = None
            if "train" in cell.inputs:  # a drawn sample reads the prepared splits, not the raw files again
                pools = tuple(self.table(cell.inputs[s]) for s in ("train", "dev"))
            exclude = set()
            if "exclude" in cell.inputs:
                source = cell.inputs["exclude"]
                shots = pd.read_parquet(self.entry(source) / TRAIN_ROWS)
                exclude = set(item_key(shots["id"], source.params["lang"], self.card.parallel))
            train_rows, dev_rows = stages.sample(self.card, p["lang"], p["shots"], p["seed"], p.get("dev_shots"),
                                                 self.config.task.data_root, pools, exclude, p.get("dev_size"))
        train_rows.to_parquet(out / TRAIN_ROWS, index=False)
        dev_rows.to_parquet(out / DEV_ROWS, index=False)

    def _sources_sample(self, cell: Cell):
        from xprompt.data import sample_k_shot
        from xprompt.data.multi_source import sample_sources

        p = cell.params
        first = self.entry(cell.inputs["first"])
        first_tables = (pd.read_parquet(first / TRAIN_ROWS), pd.read_parquet(first / DEV_ROWS))
        pools = {lang: self.table(cell.inputs[f"train {lang}"]) for lang in p["sources"][1:]}

        def draw(pool, k, seed, excluded):
            return sample_k_shot(pool, k, seed, exclude_ids=excluded, label_names=self.card.labels)
        return sample_sources(self.card, p["sources"], p["shots"], p["seed"], p["source_shots"], first_tables,
                              pools, draw)

    def table(self, cell: Cell) -> pd.DataFrame:
        """The table a prepare cell stored."""
        return pd.read_parquet(self.entry(cell) / TABLE)

    def _compute_train(self, cell: Cell, out: Path, start_state=None) -> None:
        from safetensors.torch import save_file

        from xprompt.pipeline import stages

        sample_dir = self.entry(cell.inputs["sample"])
        checkpoint = self.cache.checkpoint_path(cell.stage, cell.key)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        method_name, settings = method_of(cell)
        train_rows = pd.read_parquet(sample_dir / TRAIN_ROWS)
        if "pseudo" in cell.inputs:  # self-training: the source rows and the confident pseudo-labelled target rows
            pseudo = pd.read_parquet(self.entry(cell.inputs["pseudo"]) / PSEUDO_ROWS)
            if len(pseudo):
                train_rows = pd.concat([train_rows, pseudo[train_rows.columns]], ignore_index=True)
        trained = stages.fit(self.backbone(), self.card, method_name, settings, self.train_config_of(cell),
                             cell.params["seed"], train_rows,
                             pd.read_parquet(sample_dir / DEV_ROWS),
                             checkpoint, start_state, self.progress, self.dtype)
        if out is None:  # a rank other than 0 in data-parallel training: rank 0 writes the entry
            return
        save_file(trained.state, str(out / STATE))
        (out / TRAIN_INFO).write_text(json.dumps(trained.info, indent=2, sort_keys=True))
        checkpoint.unlink(missing_ok=True)

    def _compute_adapt(self, cell: Cell, out: Path) -> None:
        from safetensors.torch import load_file

        start = load_file(str(self.entry(cell.inputs["model"]) / STATE))
        self._compute_train(cell, out, start_state=start)

    def _compute_average(self, cell: Cell, out: Path) -> None:
        """The uniform mean of the seeds' trained tensors (all seeds train the same tensors)."""
        from safetensors.torch import load_file, save_file

        states = [load_file(str(self.entry(cell.inputs[name]) / STATE)) for name in sorted(cell.inputs)]
        if any(set(state) != set(states[0]) for state in states):
            raise XPromptError(f"{cell.name}: the seeds trained different tensors; they cannot be averaged")
        average = {name: (sum(state[name].double() for state in states) / len(states)).to(states[0][name].dtype)
                   for name in states[0]}
        save_file(average, str(out / STATE))
        (out / TRAIN_INFO).write_text(json.dumps({"averaged_seeds": cell.params["seeds"]}, indent=2))

    def _compute_interpolate(self, cell: Cell, out: Path) -> None:
        """The model's pretrained weights at w x trained + (1 - w) x pretrained; the tensors the
        method adds (its new parameters, recorded buffers) as trained."""
        from safetensors.torch import load_file, save_file

        from xprompt.methods import build_method
        from xprompt.training.interpolation import interpolated

        trained = load_file(str(self.entry(cell.inputs["model"]) / STATE))
        method_name, settings = method_of(cell)
        fresh = build_method(method_name, settings, self.backbone(), self.card)
        new = {id(p) for p in fresh.new_parameters()}
        pretrained = {name: p.detach().cpu() for name, p in fresh.named_parameters() if id(p) not in new}
        state, moved = interpolated(trained, pretrained, cell.params["weight"])
        if not moved:
            raise XPromptError(f"{cell.name}: {method_name} trains no pretrained weight (only tensors it adds), so "
                               f"interpolating toward the pretrained model changes nothing; remove train.interpolate "
                               f"from this method")
        save_file(state, str(out / STATE))
        (out / TRAIN_INFO).write_text(json.dumps({"interpolated": cell.params["weight"], "tensors_moved": moved},
                                                   indent=2))

    def _compute_ensemble(self, cell: Cell, out: Path) -> None:
        """Mean class probabilities of the seeds' predictions on the same test rows, scored again."""
        from xprompt.training.evaluate import probabilities_of, scored

        tables = [pd.read_parquet(self.entry(cell.inputs[name]) / PREDICTIONS) for name in sorted(cell.inputs)]
        if any(not t["id"].equals(tables[0]["id"]) for t in tables):
            raise XPromptError(f"{cell.name}: the seeds were evaluated on different rows")
        metrics, table = scored(tables[0], sum(probabilities_of(t) for t in tables) / len(tables))
        table.to_parquet(out / PREDICTIONS, index=False)
        (out / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True))

    def _compute_evaluate(self, cell: Cell, out: Path) -> None:
        from xprompt.training.evaluate import evaluate, scored

        method = self._evaluated_method(cell.inputs["model"])
        test = self.table(cell.inputs["test"])
        if "plain" not in cell.inputs:
            metrics, predictions = evaluate(method, test, self.config.eval.batch_size, self.progress,
                                            self.config.eval.max_tokens, self.dtype)
        else:  # calibrated: the plain evaluation's probabilities with the language's class prior divided out
            from xprompt.training.calibration import calibrate, estimate_prior, unlabelled_rows

            rows = unlabelled_rows(self.table(cell.inputs["unlabelled"]), test, cell.params["rows"],
                                   cell.params["seed"])
            prior = estimate_prior(method, rows, self.config.eval.batch_size, self.config.eval.max_tokens, self.dtype)
            metrics, predictions = scored(test, calibrate(self._probabilities(cell.inputs["plain"], test), prior))
            (out / CALIBRATION).write_text(json.dumps({"prior": [float(p) for p in prior],
                                                              "rows": len(rows)}, indent=2))
        predictions.to_parquet(out / PREDICTIONS, index=False)
        (out / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True))

    def _probabilities(self, evaluation: Cell, rows: pd.DataFrame):
        """The class probabilities an evaluation stored, in the order of `rows`."""
        from xprompt.training.evaluate import probabilities_of

        table = pd.read_parquet(self.entry(evaluation) / PREDICTIONS)
        if not table["id"].astype(str).equals(rows["id"].astype(str).reset_index(drop=True)):
            raise XPromptError(f"{evaluation.name}: its predictions are not of the rows being calibrated")
        return probabilities_of(table)

    def _compute_pseudo_label(self, cell: Cell, out: Path) -> None:
        """The model's confident, class-balanced labels on unlabelled text of every target language."""
        from xprompt.training.calibration import unlabelled_rows
        from xprompt.training.evaluate import predict_proba
        from xprompt.training.self_training import select_confident

        p = cell.params
        method = self._evaluated_method(cell.inputs["model"])
        chosen, counts = [], {}
        for name in sorted(n for n in cell.inputs if n.startswith("unlabelled ")):
            lang = name.removeprefix("unlabelled ")
            rows = unlabelled_rows(self.table(cell.inputs[name]), self.table(cell.inputs[f"test {lang}"]),
                                   p["rows"], p["seed"] + p["round"])
            probabilities = predict_proba(method, rows, self.config.eval.batch_size,
                                          max_tokens=self.config.eval.max_tokens, dtype=self.dtype)
            picked = select_confident(rows, probabilities, p["confidence"], p["per_class"])
            counts[lang] = {"labelled": len(rows), "kept": len(picked),
                            "per_class": [int((picked["label"] == c).sum()) for c in range(len(self.card.labels))]}
            chosen.append(picked)
        table = pd.concat(chosen, ignore_index=True)  # no confident row at all: an empty table, trained on as such
        table.to_parquet(out / PSEUDO_ROWS, index=False)
        (out / PSEUDO_INFO).write_text(json.dumps({"languages": counts, "rows": len(table)}, indent=2))

    def _evaluated_method(self, cell: Cell):
        """The trained model of `cell`, built once for all the languages it is evaluated on (its
        evaluate cells follow it in the plan); UniPrompt's precomputed prompt is kept with it."""
        if self._last_model is None or self._last_model[0] != cell.key:
            self._last_model = None  # free the previous model before building the next
            self._last_model = (cell.key, self.trained_method(cell))
        return self._last_model[1]

    def trained_method(self, cell: Cell):
        from safetensors.torch import load_file

        from xprompt.pipeline import stages

        state = load_file(str(self.entry(cell) / STATE))
        return stages.load_trained(self.backbone(), self.card, *method_of(cell), state)

    # -- what a cell computes is what its key says ------------------------------
    @staticmethod
    def train_config_of(cell: Cell):
        """The TrainConfig of a train or adapt cell: its key's `train` params, plus the options that change
        only speed or verbosity (kept out of keys), from the pipeline."""
        from xprompt.pipeline.config import TrainConfig
        from xprompt.strict import from_dict
        from xprompt.pipeline.graph import NOT_IN_KEYS

        speed = {name: getattr(cell.meta["train_config"], name) for name in NOT_IN_KEYS}
        return from_dict(TrainConfig, {**cell.params["train"], **speed}, f"{cell.name} train")
