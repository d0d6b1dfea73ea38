"""A library of trained soft prompts, ranked for a new task as in SPoT (Vu et al. 2022): the new
task's prompt starts from the library prompt whose task embedding is most similar (cosine).

Prompts come from the cache's `train` entries and from exported prompts of `soft` runs, and of
`ptuning` runs with a frozen backbone (their prompt is the prompt encoder's output, in the same
word-embedding space). `deep` prompts live in every layer, not in the input, so they are left out.

Task embeddings, `kind` of `rank` (the same kind on both sides):
- "mean": the mean of the prompt's token vectors (SPoT's cosine of average tokens); no model needed.
- "delta": the mean of (prompt - its initial prompt). Few-shot prompts move little from their
  start, and runs with one seed start from the same sampled vocabulary rows, so the plain mean
  mostly measures a shared start; the delta is what training on the task wrote. The initial
  prompt is read from the trained state (or export), which records it; prompts trained before
  xprompt recorded it are ranked by "mean" only.
- `center=True` subtracts the mean embedding of the ranked prompts first: on the offline model
  every delta shares a large task-independent direction (benchmarks/spot_transfer.py).
The new task's embedding is a probe (SPoT's task embedding is a prompt after a short tuning):
a fresh soft prompt trained for a few steps on the task's K-shot sample (`probe`).

Only prompts of the same base model (id and revision, or the content hash of a local model
folder) and hidden size are ranked. Prompts of another length compare through their token mean;
`fit_tokens` repeats or cuts the chosen one to the new prompt's length (as `init: text` does).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xprompt.errors import ConfigError, XPromptError
from xprompt.pipeline.entry_files import STATE

if TYPE_CHECKING:  # annotations only: torch is imported where it is used
    import torch

log = logging.getLogger(__name__)

SOFT_KEY, STATE_PREFIX = "prompt_embeddings", "encoder.prompt."
KINDS = ("delta", "mean")


@dataclass
class LibraryEntry:
    name: str                    # the train cell's name, or the export folder
    task: str
    prompt: torch.Tensor         # [num_tokens, hidden], word-embedding space
    lang: str | None = None
    method: str = "soft"
    settings: dict = field(default_factory=dict)
    seed: int | None = None
    model: str | None = None     # hub id or path (None for a local folder known by its hash only)
    revision: str | None = None
    weights: str | None = None   # content hash of a local model folder
    where: Path | None = None
    initial: torch.Tensor | None = None  # the prompt before training, for "delta" embeddings

    @property
    def num_tokens(self) -> int:
        return self.prompt.shape[0]

    @property
    def hidden_size(self) -> int:
        return self.prompt.shape[1]

    @property
    def model_name(self) -> str:
        return self.model or f"local model {str(self.weights)[:12]}"

    def same_model(self, identity: dict) -> bool:
        """`identity` as `pipeline.identity.model_identity` gives it; an unknown revision matches any."""
        if identity.get("model_weights") or (self.weights and not identity.get("model")):
            return identity.get("model_weights") == self.weights
        if identity.get("model") != self.model:
            return False
        return None in (identity.get("revision"), self.revision) or identity.get("revision") == self.revision


def task_embedding(prompt: torch.Tensor, initial: torch.Tensor | None = None) -> torch.Tensor:
    """[hidden]: the token mean of the prompt, or of what training changed when `initial` is given."""
    prompt = prompt.detach().float().cpu()
    return (prompt - initial.detach().float().cpu() if initial is not None else prompt).mean(dim=0)


def fit_tokens(prompt: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """`prompt` repeated or cut to `num_tokens` rows."""
    return prompt.repeat(math.ceil(num_tokens / len(prompt)), 1)[:num_tokens].clone()


def prompt_of(method: str, settings: dict, state: dict) -> torch.Tensor | None:
    """The input prompt of a trained state of a method that has one (soft, P-tuning with a frozen
    encoder), or None (other methods, or a P-tuning run that also trained the encoder)."""
    from xprompt.methods import METHODS, method_spec
    return method_spec(method).read_input_prompt(settings, state) if method in METHODS else None


def initial_prompt_of(method: str, settings: dict, state: dict) -> torch.Tensor | None:
    """The input prompt before training, as the trained state recorded it, or None."""
    from xprompt.methods import METHODS, method_spec
    return method_spec(method).read_initial_input_prompt(settings, state) if method in METHODS else None


class PromptLibrary:
    def __init__(self, entries: list[LibraryEntry] | None = None):
        self.entries: list[LibraryEntry] = list(entries or [])

    def add(self, entry: LibraryEntry) -> LibraryEntry:
        self.entries.append(entry)
        return entry

    @classmethod
    def from_cache(cls, cache_dir) -> "PromptLibrary":
        """Every trained soft / ptuning prompt in the cache's `train` entries (read, not verified)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        from xprompt.pipeline.cache import Cache
        cache, library, tasks = Cache(Path(cache_dir)), cls(), _known_card_ids()
        for info in cache.entries():
            if info.stage != "train":
                continue
            try:
                manifest = cache.read_manifest("train", info.key)
                params = manifest.get("params", {})
                state = load_file(str(info.path / STATE))
                prompt = prompt_of(params.get("method"), params.get("settings", {}), state)
            except (XPromptError, OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
                log.warning("library: skipping cache entry %s (%s)", info.path, error)
                continue
            if prompt is None:
                continue
            task, lang = _sample_task(cache, manifest, tasks)
            library.add(LibraryEntry(manifest.get("cell", info.key), task, prompt.float(), lang, params["method"],
                                     params.get("settings", {}), params.get("seed"), params.get("model"),
                                     params.get("revision"), params.get("model_weights"), info.path,
                                     _float(initial_prompt_of(params["method"], params.get("settings", {}), state))))
        return library

    @classmethod
    def from_exports(cls, directories) -> "PromptLibrary":
        """The soft / ptuning prompts of folders written by `xprompt export`."""
        from safetensors.torch import load_file
        from xprompt.prompts.predict import PROMPT_WEIGHTS, read_prompt_info
        library = cls()
        for directory in map(Path, directories):
            info = read_prompt_info(directory)
            if "ensemble" in info:  # a seed ensemble: its members are the prompts
                library.entries += cls.from_exports([directory / m for m in info["ensemble"]["members"]]).entries
                continue
            method, base = info["method"], info["base_model"]
            tensors = load_file(str(directory / PROMPT_WEIGHTS))
            prompt = prompt_of(method["name"], method.get("settings", {}), tensors)
            if prompt is None:
                log.warning("library: %s holds a %s prompt, not one in the input; skipped", directory, method["name"])
                continue
            library.add(LibraryEntry(str(directory), info["task"]["name"], prompt.float(),
                                     info["task"].get("source_language"), method["name"], method.get("settings", {}),
                                     info.get("seed"), base.get("id"), base.get("revision"),
                                     base.get("weights_sha256"), directory,
                                     _float(initial_prompt_of(method["name"], method.get("settings", {}), tensors))))
        return library

    def rank(self, query: torch.Tensor, model=None, num_tokens: int | None = None, kind: str = "mean",
             center: bool = False) -> list[tuple[LibraryEntry, float]]:
        """Compatible entries (same base model and hidden size) by cosine similarity of their task
        embedding to `query`, best first; ties go to entries of length `num_tokens`, then by name.
        `model`: a hub id / local path, or a `pipeline.identity.model_identity` dict; None ranks all.
        `center`: subtract the mean embedding of the ranked entries from each and from the query,
        so a direction every prompt moves along (whatever its task) does not decide the ranking."""
        import torch
        if kind not in KINDS:
            raise ConfigError(f"task embedding kind {kind!r} is unknown; accepted: {', '.join(KINDS)}")
        identity, query = _identity(model), query.detach().float().cpu()
        entries = [e for e in self.entries if e.hidden_size == query.shape[-1]
                   and (identity is None or e.same_model(identity)) and (kind == "mean" or e.initial is not None)]
        if not entries:
            return []
        vectors = torch.stack([task_embedding(e.prompt, e.initial if kind == "delta" else None) for e in entries])
        if center:
            centre = vectors.mean(dim=0)
            vectors, query = vectors - centre, query - centre
        cosines = torch.nn.functional.cosine_similarity(vectors, query.unsqueeze(0), dim=1).tolist()
        return sorted(zip(entries, cosines), key=lambda pair: (-pair[1], pair[0].num_tokens != num_tokens,
                                                               pair[0].name))


def _float(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.float()


def _identity(model) -> dict | None:
    if model is None or isinstance(model, dict):
        return model
    from xprompt.pipeline.identity import model_identity
    return model_identity(str(model), None)


def _known_card_ids() -> dict[str, str]:
    """Card content hash (what sample cells record) -> task name, for the bundled task cards."""
    from xprompt.data import known_tasks, load_card
    from xprompt.pipeline.identity import card_identity
    return {card_identity(load_card(name)): name for name in known_tasks()}


def _sample_task(cache, manifest: dict, tasks: dict[str, str]) -> tuple[str, str | None]:
    """(task, language) of the sample the train entry was trained on."""
    try:
        params = cache.read_manifest("sample", manifest["inputs"]["sample"])["params"]
    except (XPromptError, KeyError, TypeError):
        return "unknown", None
    return tasks.get(params.get("task"), f"card {str(params.get('task'))[:12]}"), params.get("lang")


def probe(backbone, card, train_df, steps: int, seed: int, settings: dict | None = None,
          batch_size: int = 8, lr: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """(initial, trained) prompt of a fresh soft prompt after `steps` AdamW steps (constant `lr`)
    on `train_df`, label vectors initialised as in training: the new task's task embedding."""
    import torch
    from xprompt.encoder.batching import to_device, train_batches
    from xprompt.methods import build_method
    torch.manual_seed(seed)
    method = build_method("soft", settings or {}, backbone, card)
    initial = method.encoder.prompt.prompt_embeddings.detach().cpu().clone()
    method.initialize(train_df)
    method.train()
    rows, device = method.featurize(train_df), backbone.device
    optimizer = torch.optim.AdamW(method.new_parameters(), lr=lr, weight_decay=0.0)
    batches = []
    while len(batches) < steps:
        batches += train_batches(rows, batch_size, seed + len(batches))
    for indices in batches[:steps]:
        batch = to_device(method.collate([rows[i] for i in indices]), device)
        torch.nn.functional.cross_entropy(method(**batch), batch["labels"]).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return initial, method.encoder.prompt.prompt_embeddings.detach().cpu().clone()


# -- a prompt file as soft's init_prompt ----------------------------------------------------------
