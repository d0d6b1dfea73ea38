"""Carrying trainings in progress between caches. A training writes a checkpoint every
`train.checkpoint_every` steps (its trained tensors, optimiser, scheduler and random states, and
the seconds spent so far), named by the training's cache key; a pack of a pipeline's checkpoints
lets another machine, or a cache rebuilt from evaluation packs, go on from the step reached
instead of step 0, and the training ends exactly as if it had never stopped. Only checkpoints up
to a size are packed: a prompt's or an adapter's is under a MB, where full fine-tuning's holds
the whole model and its optimiser state.

Members of a pack: `checkpoints/<stage>-<key>.pt` and `checkpoints/<stage>-<key>.pt.sha256`."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from xprompt.errors import CacheError
from xprompt.files import atomic_write
from xprompt.pipeline.cache.store import CHECKPOINT_NAME, CHECKPOINTS_DIR, Cache

DIGEST = ".sha256"
NEEDED = ("model", "optimizer", "scheduler", "epoch", "batch", "result", "rng")  # what training.loop resumes from


@dataclass
class CheckpointPack:
    packed: dict[str, int] = field(default_factory=dict)  # checkpoint file name -> steps taken
    too_large: list[str] = field(default_factory=list)
    unchanged: int = 0  # the same bytes are in an earlier pack
    size: int = 0


def steps_taken(source: Path | bytes) -> int | None:
    """The optimiser steps a checkpoint has taken, or None when it cannot be read as a training
    checkpoint (damaged, or something else under that name)."""
    found = progress(source)
    return None if found is None else found[0]


def progress(source: Path | bytes) -> tuple[int, float] | None:
    """(steps taken, wall seconds spent) of a checkpoint, across the processes that wrote it, or
    None when it cannot be read as a training checkpoint."""
    import torch

    try:
        if isinstance(source, bytes):
            checkpoint = torch.load(io.BytesIO(source), weights_only=True, map_location="cpu")
        else:  # mmap: a full fine-tuning checkpoint is GBs, and only its step count is read
            checkpoint = torch.load(source, weights_only=True, map_location="cpu", mmap=True)
        steps, seconds = checkpoint["result"]["steps"], float(checkpoint["result"].get("seconds", 0.0))
    except Exception:  # noqa: BLE001 - unreadable for any reason means not trusted
        return None
    if not isinstance(checkpoint, dict) or any(name not in checkpoint for name in NEEDED):
        return None
    return (steps, seconds) if isinstance(steps, int) and steps >= 0 else None


def progress_in(cache: Cache, stage: str, key: str) -> tuple[int, float] | None:
    """progress() of the checkpoint a training of (stage, key) left in `cache`, None without one."""
    checkpoint = cache.checkpoint_path(stage, key)
    return progress(checkpoint) if checkpoint.is_file() else None


def pack_checkpoints(cache: Cache, trainings: Iterable[tuple[str, str]], archive: Path, max_bytes: int,
                     earlier: dict[str, str] | None = None) -> CheckpointPack:
    """Write the checkpoints of the (stage, key) trainings not yet finished in `cache` to
    `archive`, a new file (none when there is nothing to pack), leaving out those above
    `max_bytes` and those whose bytes an earlier pack holds (`earlier`: member name -> sha256)."""
    if archive.exists():
        raise CacheError(f"{archive} exists already; a pack is never overwritten, so name a new file")
    result, chosen = CheckpointPack(), []
    for stage, key in sorted(set(trainings)):
        path = cache.checkpoint_path(stage, key)
        if not path.is_file() or cache.lookup(stage, key, verify="quick", repair=False) is not None:
            continue
        if path.stat().st_size > max_bytes:
            result.too_large.append(path.name)
            continue
        data = path.read_bytes()  # one read: a training replaces its checkpoint by renaming a new file
        digest, member = hashlib.sha256(data).hexdigest(), f"{CHECKPOINTS_DIR}/{path.name}"
        steps = steps_taken(data)
        if steps is None:
            continue  # a checkpoint this cache's training would not resume from either
        if (earlier or {}).get(member) == digest:
            result.unchanged += 1
            continue
        chosen.append((member, data, digest))
        result.packed[path.name], result.size = steps, result.size + len(data)
    if chosen:
        atomic_write(archive, lambda temporary: _write_members(temporary, chosen))
    return result


def _write_members(path: Path, chosen: list[tuple[str, bytes, str]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for member, data, digest in chosen:
            for name, content in ((member, data), (member + DIGEST, digest.encode())):
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(content), int(time.time())
                tar.addfile(info, io.BytesIO(content))


def packed_checkpoints(archive: Path) -> dict[str, str]:
    """Member name -> sha256 of the checkpoints a pack holds (none in a pack of entries)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            return {member.name.removesuffix(DIGEST): tar.extractfile(member).read().decode().strip()
                    for member in tar.getmembers()
                    if is_checkpoint_member(member.name) and member.name.endswith(DIGEST) and member.isfile()}
    except (OSError, tarfile.TarError, UnicodeDecodeError) as error:
        raise CacheError(f"{archive} cannot be read as a pack ({error})") from None


def is_checkpoint_member(name: str) -> bool:
    return PurePosixPath(name).parts[:1] == (CHECKPOINTS_DIR,)


def checked_member(archive: Path, name: str) -> None:
    """One clear error for a member under checkpoints/ that `pack_checkpoints` would not write."""
    parts = PurePosixPath(name).parts
    if len(parts) != 2 or CHECKPOINT_NAME.fullmatch(parts[1].removesuffix(DIGEST)) is None \
            or ".tmp-" in parts[1]:
        raise CacheError(f"{archive}: member '{name}' is not a checkpoint of a training "
                         f"(checkpoints/<stage>-<key>.pt or .pt{DIGEST}); the pack was not written by "
                         f"`xprompt cache pack --checkpoints`")


def adopt_checkpoints(archive: Path, staged: Path, cache: Cache) -> tuple[int, int]:
    """Move the checkpoints extracted under `staged` (a folder on the cache's file system) into
    `cache`, each verified against its sha256 and read back first; (adopted, kept), where kept
    counts those whose training the cache has finished or taken as far or further."""
    adopted = kept = 0
    for path in sorted(staged.glob("*.pt")):
        digest_file = path.with_name(path.name + DIGEST)
        data = path.read_bytes()
        if not digest_file.is_file() or hashlib.sha256(data).hexdigest() != digest_file.read_text().strip() \
                or (steps := steps_taken(data)) is None:
            raise CacheError(f"{archive}: checkpoint {path.name} is damaged (its bytes do not match its sha256 "
                             f"or it is no training checkpoint); it was not added")
        name = CHECKPOINT_NAME.fullmatch(path.name)
        stage, key = name["stage"], name["key"]
        local = cache.checkpoint_path(stage, key)
        here = steps_taken(local) if local.is_file() else None
        if cache.lookup(stage, key, verify="quick", repair=False) is not None or (here is not None and here >= steps):
            kept += 1
            continue
        local.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, local)  # atomic: a training starting now reads the old file or this one
        adopted += 1
    return adopted, kept


__all__ = ["CheckpointPack", "adopt_checkpoints", "pack_checkpoints", "packed_checkpoints", "progress", "progress_in",
           "steps_taken"]
