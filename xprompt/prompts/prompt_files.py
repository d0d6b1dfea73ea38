"""Soft prompts as files: written by `xprompt library rank`, read back as a `soft` method's
`init: library` start from a prompt file, an export folder or a cache train entry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from xprompt.errors import ConfigError, DataError
from xprompt.pipeline.cache.manifest import MANIFEST_NAME
from xprompt.pipeline.entry_files import STATE
from xprompt.prompts.library import SOFT_KEY, STATE_PREFIX, prompt_of

if TYPE_CHECKING:
    import torch


def save_prompt(path, prompt: torch.Tensor, **metadata) -> Path:
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({SOFT_KEY: prompt.detach().float().cpu().contiguous()}, str(path),
              metadata={k: str(v) for k, v in metadata.items()})
    return path


def load_init_prompt(where: str, num_tokens: int) -> tuple[torch.Tensor, str]:
    """(prompt, "sha256:<hex of its shape and float32 bytes>") from a prompt file, an export folder
    or a cache train entry; a prompt of another length than `num_tokens` is a ConfigError."""
    from safetensors import SafetensorError
    path = Path(where).expanduser()
    if str(where).startswith("sha256:") and not path.exists():
        raise ConfigError(f"soft.init_prompt {where!r} is only the content hash a cache key records; "
                          f"give the prompt file it was made from")
    try:
        prompt = _read_prompt(path)
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError, DataError) as error:
        raise ConfigError(f"soft.init_prompt {where} cannot be read ({error})") from None
    if prompt is None or prompt.dim() != 2:
        raise ConfigError(f"soft.init_prompt {where} holds no [num_tokens, hidden] soft prompt; give a file with "
                          f"'{SOFT_KEY}', an export folder or a cache train entry of a soft or ptuning run")
    if len(prompt) != num_tokens:
        raise ConfigError(f"soft.init_prompt {where} holds a prompt of {len(prompt)} tokens but num_tokens is "
                          f"{num_tokens}; set num_tokens: {len(prompt)}, or write a fitted copy with "
                          f"`xprompt library rank --num-tokens {num_tokens}`")
    prompt = prompt.detach().float().contiguous()
    digest = hashlib.sha256(f"{list(prompt.shape)}".encode() + prompt.numpy().tobytes()).hexdigest()
    return prompt, f"sha256:{digest}"


def _read_prompt(path: Path) -> torch.Tensor | None:
    from safetensors.torch import load_file
    from xprompt.prompts.predict import PROMPT_CONFIG, PROMPT_WEIGHTS, read_prompt_info
    if not path.exists():
        raise OSError("no such file or folder")
    if path.is_file():
        tensors = load_file(str(path))
        for name in (SOFT_KEY, STATE_PREFIX + SOFT_KEY):
            if name in tensors:
                return tensors[name]
        return next(iter(tensors.values())) if len(tensors) == 1 else None
    if (path / PROMPT_CONFIG).is_file():  # an export
        method = read_prompt_info(path)["method"]
        return prompt_of(method["name"], method.get("settings", {}), load_file(str(path / PROMPT_WEIGHTS)))
    params = json.loads((path / MANIFEST_NAME).read_text())["params"]  # a cache train entry
    return prompt_of(params["method"], params.get("settings", {}), load_file(str(path / STATE)))


# -- `xprompt library ls | rank` -------------------------------------------------------------------
