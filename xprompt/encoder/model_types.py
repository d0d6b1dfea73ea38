"""Which encoders xprompt runs, read from a checkpoint's config.json without loading torch or
transformers (a pipeline is checked before any model loads)."""

from __future__ import annotations

import json
from pathlib import Path

from xprompt.errors import ModelError

# Encoders whose layers xprompt runs one slice at a time (two towers, prefixes, deep prompts):
# BERT-style embeddings (+ token types and absolute positions) and encoder.layer blocks.
SUPPORTED_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")


def check_model_type(model_type: str, model_id: str) -> None:
    if model_type not in SUPPORTED_TYPES:
        raise ModelError(f"{model_id} is a {model_type!r} model, which xprompt cannot run (its methods split the "
                         f"encoder's layers, which needs BERT-style blocks); supported model types: "
                         f"{', '.join(SUPPORTED_TYPES)} (e.g. bert-base-multilingual-cased, xlm-roberta-base, "
                         f"intfloat/multilingual-e5-small)")


def model_type_of(model_id: str, revision: str | None = None) -> str | None:
    """The config's model_type from a local folder or the local cache, without the network; None
    when the config is not at hand (loading the model then says why)."""
    path = Path(model_id).expanduser() / "config.json"
    if not path.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache
            found = try_to_load_from_cache(model_id, "config.json", revision=revision)
        except Exception:  # not a Hub id the cache knows
            return None
        if not isinstance(found, str):
            return None
        path = Path(found)
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None
