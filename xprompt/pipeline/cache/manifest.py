"""An entry's manifest: written when the entry is published (its files with sizes and hashes,
the cell's params and inputs, and where and how long it was computed), checked when it is read
(quick: sizes; full: hashes)."""

from __future__ import annotations

import functools
import json
import os
import platform
from datetime import datetime, timezone
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xprompt.errors import CacheError
from xprompt.files import atomic_write_text
from xprompt.pipeline.cache.keys import canonical, file_hash

MANIFEST_NAME = "manifest.json"
# "auto" hashes every file of entries up to this size and does the quick check above it:
# hashing 64 MiB takes well under a second, while hashing multi-GB checkpoints on every
# lookup would break "an unchanged pipeline reruns in seconds".
FULL_VERIFY_MAX_BYTES = 64 << 20
RESERVED_MANIFEST_FIELDS = ("stage", "key", "created", "computed", "files")


def entry_problem(entry: Path, stage: str, key: str, verify: str) -> str | None:
    try:
        manifest = load_manifest(entry)
    except CacheError as error:
        return str(error)
    if manifest.get("stage") != stage or manifest.get("key") != key:
        return f"its manifest names {manifest.get('stage')}/{manifest.get('key')}"
    files = manifest.get("files")
    if not is_file_list(files):
        return "its manifest has no valid file list"
    total = sum(int(meta.get("size", 0)) for meta in files.values())
    full = verify == "full" or (verify == "auto" and total <= FULL_VERIFY_MAX_BYTES)
    for relative, meta in sorted(files.items()):
        problem = file_problem(entry / relative, meta, full)
        if problem is not None:
            return f"{relative}: {problem}"
    return None


def is_file_list(files: Any) -> bool:
    if not isinstance(files, dict):
        return False
    # A path leaving the entry (absolute or "..") would make lookup vouch for files outside it.
    inside = all(not Path(rel).is_absolute() and ".." not in Path(rel).parts for rel in files)
    return inside and all(isinstance(meta, dict) for meta in files.values())


def file_problem(path: Path, meta: Mapping[str, Any], full: bool) -> str | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "file is missing"
    if stat.st_size != meta.get("size"):
        return f"size is {stat.st_size} bytes, manifest says {meta.get('size')}"
    if not full and stat.st_mtime_ns == meta.get("mtime_ns"):
        return None  # same size and untouched since written: trusted without reading it
    if file_hash(path) != meta.get("sha256"):
        return "content differs from the sha256 in the manifest"
    return None


def load_manifest(entry: Path) -> dict[str, Any]:
    path = entry / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError(f"Cache entry {entry} has no {MANIFEST_NAME}.") from None
    except (OSError, ValueError) as error:
        raise CacheError(f"Cache manifest {path} cannot be read: {error}.") from error
    if not isinstance(manifest, dict):
        raise CacheError(f"Cache manifest {path} is not a JSON object.")
    return manifest


def checked_extra(manifest_extra: Mapping[str, Any] | None) -> dict[str, Any]:
    extra = canonical(dict(manifest_extra or {}), "manifest_extra")
    clashes = sorted(set(extra) & set(RESERVED_MANIFEST_FIELDS))
    if clashes:
        raise CacheError(
            f"manifest_extra field {clashes[0]!r} is reserved; "
            f"the cache fills in {', '.join(RESERVED_MANIFEST_FIELDS)}."
        )
    return extra


@functools.lru_cache(maxsize=1)
def machine() -> dict[str, str]:
    """The host name and CPU model an entry was computed on (the ledger of a long grid)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu}


def write_manifest(temp: Path, stage: str, key: str, extra: Mapping[str, Any],
                   computed: Mapping[str, Any] | None = None) -> None:
    """`computed`: wall and CPU seconds of the computation and the machine() it ran on."""
    files = {}
    for relative in plain_files(temp):
        path = temp / relative
        stat = path.stat()  # before hashing, so a file still changing fails the quick check later
        files[relative] = {"size": stat.st_size, "sha256": file_hash(path), "mtime_ns": stat.st_mtime_ns}
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest = {**extra, "stage": stage, "key": key, "created": created, "files": files}
    if computed is not None:
        manifest["computed"] = dict(computed)
    atomic_write_text(temp / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def plain_files(temp: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(temp):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                raise CacheError(f"Cache output {path} is a symlink; a cache entry holds plain files only.")
            if name in files:
                found.append(path.relative_to(temp).as_posix())
    if MANIFEST_NAME in found:
        raise CacheError(f"Cache output {temp / MANIFEST_NAME} uses a reserved name; the cache writes that file.")
    return sorted(found)
