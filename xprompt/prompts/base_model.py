"""The base model an exported prompt was trained on: what prompt.json records of it, loading it
(or a local copy), and the check that the model loaded is that one (predict.py)."""

from __future__ import annotations

import logging
from pathlib import Path

from xprompt.errors import ModelError

log = logging.getLogger(__name__)


def describe_model(identity: dict) -> str:
    """A base model as an error names it, from its identity (base_identity, or prompt.json's record of it)."""
    if identity.get("revision"):
        return f"{identity['id']} revision {identity['revision']}"
    if identity.get("weights_sha256"):
        return f"{identity['id']} (weights sha256 {identity['weights_sha256']})"
    return f"{identity['id']} (revision unknown)"


def base_identity(backbone) -> dict:
    """What prompt.json records of a base model; `weights_sha256` only for a local folder."""
    from xprompt.pipeline.identity import model_identity

    identity = model_identity(backbone.model_id, backbone.revision)
    config = backbone.config
    return {"id": backbone.model_id, "revision": backbone.revision or identity.get("revision"),
            "weights_sha256": identity.get("model_weights"), "model_type": config.model_type,
            "hidden_size": config.hidden_size, "num_layers": config.num_hidden_layers}


def check_base_model(recorded: dict, backbone, directory: Path) -> None:
    loaded = base_identity(backbone)
    trained_on, got = describe_model(recorded), describe_model(loaded)
    comparable = False
    for key in ("revision", "weights_sha256"):
        if recorded.get(key) and loaded[key]:
            comparable = True
            if recorded[key] != loaded[key]:
                raise ModelError(f"prompt in {directory} was trained on {trained_on}; loaded {got}")
    if not comparable:
        log.warning("cannot tell whether %s is the base model the prompt in %s was trained on (%s); "
                    "its tensors fit it", got, directory, trained_on)


def load_base(recorded: dict, model: str | None, device: str):
    from xprompt.encoder.backbone import load_backbone

    if model is not None:
        return load_backbone(model, None, device)
    try:
        return load_backbone(recorded["id"], recorded.get("revision"), device)
    except ModelError:
        if not recorded.get("revision"):
            raise
        # another revision may be there: load it so the check names both
        log.info("revision %s of %s is not available; loading the default one", recorded["revision"], recorded["id"])
        return load_backbone(recorded["id"], None, device)
