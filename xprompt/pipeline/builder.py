"""Builds the data and training cells of a plan once each (a cell shared by several consumers is
one object): prepared splits, unlabelled text, samples (one source or several), train params."""

from __future__ import annotations

from typing import Callable

from xprompt.data import load_card
from xprompt.data.loaders import candidate_paths, first_existing, local_candidates
from xprompt.errors import ConfigError
from xprompt.methods import method_config, method_spec
from xprompt.pipeline.cache import file_hash
from xprompt.pipeline.config import PipelineConfig, key_params, method_train_config
from xprompt.pipeline.graph import NOT_IN_KEYS, Cell
from xprompt.pipeline.identity import card_identity, model_identity, model_precision, resolve_revision
from xprompt.shots import FULL


class CellBuilder:
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
        version = method_spec(method.name).output_version
        return {**self.model, "method": method.name, "settings": settings, "train": training,
                **({"method_output": version} if version != 1 else {})}

    def unlabelled(self, lang: str) -> Cell:
        """Unlabelled text of `lang` as task.unlabelled says: its dev or train split (whose labels
        the consumers never read), or the card's `unlabelled` file."""
        where = self.config.task.unlabelled
        if where != "file":
            return self.prepare(lang, where)
        card = self.card
        if card.unlabelled is None:
            raise ConfigError(f"task.unlabelled is file, but the task card {card.path} names no 'unlabelled' file; "
                              f"add unlabelled: \"<folder>/{{lang}}.txt\" to it, or use dev or train")
        path = first_existing(candidate_paths(card, card.unlabelled.format(lang=lang), self.config.task.data_root))
        params = {"task": self.card_id, "lang": lang, "split": "unlabelled", "test_size": None}
        return self.once(("prepare", lang, "unlabelled"), lambda: Cell(
            "prepare", f"prepare {lang} unlabelled", params,
            files={f"{lang}/unlabelled": file_hash(path)} if path is not None else {}))

    def sources_sample(self, sources: list[str], shots, seed: int) -> Cell:
        """Training data from several source languages (config: task.source_shots); dev is the
        first source's, drawn as its single-source sample draws it with its share of the shots."""
        from xprompt.data.multi_source import shares

        mode = self.config.task.source_shots
        first_shots = shots if shots == FULL or mode == "each" else shares(shots, len(sources))[0]
        first = self.sample(sources[0], first_shots, seed)
        params = {"sources": list(sources), "source_shots": mode, "shots": shots, "seed": seed}
        inputs = {"first": first, **{f"train {lang}": self.prepare(lang, "train") for lang in sources[1:]}}
        return self.once(("sources", tuple(sources), shots, seed, mode), lambda: Cell(
            "sample", f"sample {'+'.join(sources)} k={shots} seed={seed} ({mode})", params, inputs))
