"""What identifies the inputs a cache key depends on, beside files: the model (a local folder's
content hash, or the Hub id and the commit its revision resolves to, and the precision), the
Hub data set's commit, the task card's content."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from xprompt.pipeline.cache import canonical_json, path_hash

log = logging.getLogger(__name__)
# Files of a local model folder that its key hashes: weights, configs, tokenizer files
# (vocab.txt, merges.txt, a sentencepiece .model); not READMEs or a .git folder.
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")
_COMMIT = re.compile(r"[0-9a-f]{40}")


def model_identity(name: str, revision: str | None) -> dict:
    """What identifies the weights: a local folder's content hash, else the id and the commit the
    revision (a branch, a tag, a commit, or None for main) resolves to."""
    path = Path(name).expanduser()
    if path.is_dir():
        weights = sorted(p for p in path.iterdir() if p.suffix in MODEL_FILE_SUFFIXES)
        digest = hashlib.sha256("".join(path_hash(p) for p in weights).encode()).hexdigest()[:20]
        return {"model_weights": digest}
    return {"model": name, "revision": resolve_revision(name, revision, "model")}


def model_precision(model_config) -> str:
    """The dtype name model.dtype resolves to on model.device (what keys and the runner use). On a
    machine with no GPU device file this needs no torch: auto is float32 there."""
    name, device = model_config.dtype, model_config.device
    if name == "float32" or (name in ("auto", "bfloat16") and (device == "cpu" or (device == "auto"
                                                                                   and not _gpu_present()))):
        return "float32" if name == "auto" else name
    import torch

    from xprompt.encoder.backbone import resolve_device
    from xprompt.encoder.precision import dtype_name, resolve_dtype

    resolved = resolve_device(device)
    return dtype_name(resolve_dtype(name, resolved if resolved.type != "cuda" or torch.cuda.is_available()
                                    else torch.device("cpu")))


def _gpu_present() -> bool:
    """Whether the machine has the device files a CUDA (NVIDIA) or ROCm GPU driver creates."""
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd"))


def resolve_revision(repo_id: str, revision: str | None, kind: str) -> str | None:
    """The commit hash `revision` of a Hub repository stands for: from the local cache's refs when it
    holds the repository, else from the Hub (unless HF_HUB_OFFLINE=1). Unresolvable: as given, with
    a warning, since a branch may move under the cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
        found = try_to_load_from_cache(repo_id, "config.json" if kind == "model" else "README.md",
                                       cache_dir=os.environ.get("HF_HUB_CACHE"), revision=revision,
                                       repo_type=kind)
        if isinstance(found, str):
            return Path(found).parent.name
    except Exception:  # an id the cache has never seen
        pass
    if os.environ.get("HF_HUB_OFFLINE") != "1":
        try:
            from huggingface_hub import HfApi
            info = (HfApi().model_info if kind == "model" else HfApi().dataset_info)(repo_id, revision=revision)
            return info.sha
        except Exception:
            pass
    if revision is None or not _COMMIT.fullmatch(revision):
        log.warning("cannot resolve revision %s of %s %s to a commit (not cached, Hub unreachable); "
                    "cache keys hold it as given", revision or "main", kind, repo_id)
    return revision


# Card fields added after caches were filled, with the value every older card has.
CARD_FIELDS_ADDED = {"unlabelled": None}


def card_identity(card) -> str:
    raw = card.to_dict()
    raw.pop("path", None)  # where the clone sits must not change keys
    for name, before in CARD_FIELDS_ADDED.items():  # an unused later field keeps older keys valid
        if raw.get(name) == before:
            raw.pop(name)
    return hashlib.sha256(canonical_json(raw).encode()).hexdigest()[:20]
