"""Load an exported prompt (prompt.json + prompt.safetensors, written by export.py) onto its
base model and classify new text in any language. Nothing of the run, the cache or the task
card file is needed: prompt.json carries the card's labels, templates and label words."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprompt.data.cards import with_source_fallback
from xprompt.errors import DataError, ModelError, XPromptError
from xprompt.prompts.base_model import check_base_model, describe_model, load_base

log = logging.getLogger(__name__)

PROMPT_WEIGHTS, PROMPT_CONFIG = "prompt.safetensors", "prompt.json"
FORMAT, FORMAT_VERSION = "xprompt-prompt", 1


@dataclass
class ExportedCard:
    """The part of a task card that methods read, rebuilt from prompt.json."""

    name: str
    labels: list[str]
    languages: list[str]
    source_language: str
    templates: dict[str, str] = field(default_factory=dict)
    verbalizers: dict[str, list[list[str]]] = field(default_factory=dict)
    has_pair: bool = False
    parallel: str | None = None

    def template(self, lang: str) -> str:
        return self._lookup(self.templates, "templates", lang)

    def verbalizer(self, lang: str) -> list[list[str]]:
        return [list(words) for words in self._lookup(self.verbalizers, "verbalizers", lang)]

    def _lookup(self, table: dict, key: str, lang: str):
        return with_source_fallback(table, lang, self.source_language,
                                    f"the exported task {self.name} has no {key} for {lang!r} nor for its "
                                    f"source language {self.source_language!r}")

    @staticmethod
    def record(card) -> dict:
        """What prompt.json keeps of a TaskCard (or any card with these fields)."""
        return {"name": card.name, "languages": list(card.languages), "source_language": card.source_language,
                "templates": dict(card.templates),
                "verbalizers": {lang: [list(w) for w in words] for lang, words in card.verbalizers.items()},
                "has_pair": bool(getattr(card, "has_pair", False))}

    @classmethod
    def from_record(cls, task: dict, labels: list[str]) -> "ExportedCard":
        return cls(task["name"], list(labels), list(task["languages"]), task["source_language"],
                   dict(task.get("templates") or {}), dict(task.get("verbalizers") or {}),
                   bool(task.get("has_pair", False)))


@dataclass
class LoadedPrompt:
    """An exported prompt on its base model, ready to classify."""

    directory: Path
    info: dict  # prompt.json
    card: ExportedCard
    method: Any
    backbone: Any

    @property
    def labels(self) -> list[str]:
        return list(self.card.labels)

    def predict_proba(self, texts, lang: str | None = None, text_pairs=None, batch_size: int = 32,
                      langs: list[str] | None = None):
        """[len(texts), classes] probabilities (numpy), calibrated per language where the export
        carries priors; `langs` gives one language per text."""
        probabilities, langs = self._model_proba(texts, lang, text_pairs, batch_size, langs)
        return self._calibrated(probabilities, langs)

    def _model_proba(self, texts, lang, text_pairs, batch_size, langs):
        """(the model's own probabilities, one language per text)."""
        import numpy as np
        import pandas as pd
        from xprompt.training.evaluate import predict_proba

        texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
        pairs = self._pairs(texts, text_pairs)
        langs = list(langs) if langs is not None else [lang or self.card.source_language] * len(texts)
        if len(langs) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(langs)} languages were given; give one per text")
        for unknown in sorted(set(langs) - set(self.card.languages)):
            log.warning("language %r is not one of task %s's; its source language's template and label "
                        "words are used", unknown, self.card.name)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32), langs
        table = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts,
                              "text_pair": pd.Series(pairs, dtype=object), "label": 0, "lang": langs,
                              "split": "test"})
        return predict_proba(self.method, table, batch_size), langs

    @property
    def priors(self) -> dict[str, list[float]]:
        """Class priors per language of a calibrated export (empty for any other)."""
        return (self.info.get("calibration") or {}).get("priors", {})

    def calibrate_on(self, texts, lang: str, text_pairs=None, batch_size: int = 32) -> list[float]:
        """Estimate `lang`'s class prior from unlabelled `texts` of it (the mean predicted distribution,
        as the run estimated the others) and use it from now on."""
        import numpy as np

        texts = [str(t) for t in texts]
        if not texts:
            raise DataError(f"no text to estimate the class prior of {lang!r} on")
        probabilities, _ = self._model_proba(texts, lang, text_pairs, batch_size, None)
        prior = [float(p) for p in np.asarray(probabilities).mean(axis=0)]
        self.info.setdefault("calibration", {}).setdefault("priors", {})[lang] = prior
        return prior

    def _calibrated(self, probabilities, langs: list[str]):
        """Each row divided by its language's prior, where the export has one (see prompt.json's fallback)."""
        if not self.priors:
            return probabilities
        import numpy as np
        from xprompt.training.calibration import calibrate

        out = probabilities.copy()
        for lang in sorted(set(langs)):
            prior = self.priors.get(lang)
            if prior is None:
                log.warning("the prompt in %s has no class prior for %r: its predictions there are not calibrated",
                            self.directory, lang)
                continue
            rows = np.array([value == lang for value in langs])
            out[rows] = calibrate(probabilities[rows], np.asarray(prior, dtype=np.float64))
        return out

    def predict(self, texts, lang: str | None = None, text_pairs=None, batch_size: int = 32) -> list[dict]:
        """One {"label": name, "probabilities": {name: p}} per text. `lang` picks the language's
        template and label words where the method has them (default: the source language)."""
        probabilities = self.predict_proba(texts, lang, text_pairs, batch_size)
        return [{"label": self.labels[int(row.argmax())],
                 "probabilities": {name: float(p) for name, p in zip(self.labels, row)}}
                for row in probabilities]

    def predict_frame(self, df, text_column: str = "text", pair_column: str | None = None,
                      lang_column: str | None = None, lang: str | None = None, batch_size: int = 32,
                      where: str = "the table"):
        """`df` plus columns prediction, probability and prob_<label> for every label."""
        if pair_column is None and self.card.has_pair and "text_pair" in df.columns:
            pair_column = "text_pair"
        require_columns(df, [c for c in (text_column, pair_column, lang_column) if c], where)
        texts = df[text_column].fillna("").astype(str).tolist()
        pairs = df[pair_column].fillna("").astype(str).tolist() if pair_column else None
        langs = df[lang_column].astype(str).tolist() if lang_column else None
        probabilities = self.predict_proba(texts, lang, pairs, batch_size, langs=langs)
        out = df.copy()
        out["prediction"] = [self.labels[int(i)] for i in probabilities.argmax(axis=1)]
        out["probability"] = probabilities.max(axis=1)
        for index, name in enumerate(self.labels):
            out[f"prob_{name}"] = probabilities[:, index]
        return out

    def _pairs(self, texts: list[str], text_pairs) -> list[str | None]:
        if text_pairs is None:
            if self.card.has_pair:
                raise DataError(f"task {self.card.name} classifies pairs of texts; give a second text for "
                                f"each (text_pairs, --text-pair or --pair-column)")
            return [None] * len(texts)
        pairs = [text_pairs] if isinstance(text_pairs, str) else list(text_pairs)
        if not self.card.has_pair:
            raise DataError(f"task {self.card.name} classifies single texts, but second texts were given")
        if len(pairs) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(pairs)} second texts were given; give one per text")
        return [str(p) for p in pairs]


@dataclass
class LoadedEnsemble(LoadedPrompt):
    """A seed ensemble export: its members' class probabilities, averaged."""

    members: list[LoadedPrompt] = field(default_factory=list)

    def predict_proba(self, texts, lang: str | None = None, text_pairs=None, batch_size: int = 32,
                      langs: list[str] | None = None):
        total = sum(m.predict_proba(texts, lang, text_pairs, batch_size, langs) for m in self.members)
        return total / len(self.members)


# -- loading -------------------------------------------------------------------------------

def read_prompt_info(directory: Path) -> dict:
    path = directory / PROMPT_CONFIG
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{directory} holds no {PROMPT_CONFIG}; give a folder written by `xprompt export`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path} cannot be read as JSON ({error})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise DataError(f"{path} is not an xprompt prompt (its 'format' is not {FORMAT!r})")
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(f"{path} has format_version {info['format_version']}; this xprompt reads up to "
                        f"{FORMAT_VERSION}, so upgrade xprompt")
    return info


def load_prompt(directory, device: str = "auto", model: str | None = None) -> LoadedPrompt:
    """Load prompt.json + prompt.safetensors onto the base model they were trained on.

    `model` loads the base model from another place (a local copy); it is checked like the
    recorded one. A base model of another revision, or whose method does not take every
    exported tensor at its shape, is a ModelError naming both models."""
    from safetensors.torch import load_file

    directory = Path(directory)
    info = read_prompt_info(directory)
    card = ExportedCard.from_record(info["task"], info["labels"])
    if "ensemble" in info:
        members = [load_prompt(directory / member, device, model) for member in info["ensemble"]["members"]]
        return LoadedEnsemble(directory, info, card, None, members[0].backbone, members)
    try:
        tensors = load_file(str(directory / PROMPT_WEIGHTS))
    except (OSError, ValueError, RuntimeError) as error:  # missing, truncated or not safetensors
        raise DataError(f"{directory / PROMPT_WEIGHTS} cannot be read ({error})") from None
    if set(tensors) != set(info["tensors"]):
        raise DataError(f"{directory / PROMPT_WEIGHTS} does not hold the tensors {PROMPT_CONFIG} lists; "
                        f"export the prompt again")
    backbone = load_base(info["base_model"], model, device)
    check_base_model(info["base_model"], backbone, directory)
    method = _build(info, backbone, card, directory)
    try:
        method.load_exported(tensors, info["tensors"])
    except ModelError as error:
        raise ModelError(f"the prompt in {directory} does not fit the {info['method']['name']} method built on "
                         f"{backbone.model_id}: {error}; it was trained on "
                         f"{describe_model(info['base_model'])}") from None
    return LoadedPrompt(directory, info, card, method.eval(), backbone)


def _build(info: dict, backbone, card: ExportedCard, directory: Path):
    from xprompt.methods import build_method

    method = info["method"]
    try:
        return build_method(method["name"], method["settings"], backbone, card, where=f"{directory / PROMPT_CONFIG}")
    except XPromptError as error:
        raise ModelError(f"the {method['name']} method of the prompt in {directory} cannot be built on "
                         f"{backbone.model_id} ({error}); it was trained on "
                         f"{describe_model(info['base_model'])}") from None


def require_columns(df, columns: list[str], where: str) -> None:
    for column in columns:
        if column not in df.columns:
            found = ", ".join(str(c) for c in df.columns)
            raise DataError(f"{where} has no column {column!r}; columns found: {found}")
