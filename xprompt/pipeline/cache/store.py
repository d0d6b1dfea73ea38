"""The cache store: one directory per entry, published atomically, verified before it is trusted.

Layout under `root`:

    <stage>/<key>/manifest.json        what the entry is and each file's size, sha256, mtime
    <stage>/<key>/...                  the stage's output files
    <stage>/<key>.incomplete-<pid>-<host>-<random>/   an entry being written
    <stage>/<key>.trash-<pid>-<host>-<random>/        an entry being deleted
    locks/<stage>-<key>.lock           flock target for whoever computes <stage>/<key>

An entry is trusted only if its manifest exists and every listed file still matches
(see `Cache.lookup`). The manifest is written last and the directory renamed into
place, so a killed writer leaves only an `.incomplete-*` directory, which `gc` removes
once its owner process is gone. Locks use fcntl.flock, so this module is POSIX-only;
on NFS, Linux (>= 2.6.12) emulates flock with byte-range locks, so it holds across machines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Set
from pathlib import Path
from typing import Any

from xprompt.pipeline.cache._files import TEMP_NAME, discard_path, owner_is_gone, owner_tag
from xprompt.errors import CacheError
from xprompt.pipeline.cache.manifest import checked_extra, entry_problem, load_manifest, machine, write_manifest

log = logging.getLogger(__name__)

LOCKS_DIR, CHECKPOINTS_DIR, LIVE_DIR = "locks", "checkpoints", "live"
RESERVED_DIRS = (LOCKS_DIR, CHECKPOINTS_DIR, LIVE_DIR)
DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "the file system is read-only"}
CHECKPOINT_NAME = re.compile(r"(?P<stage>[A-Za-z0-9_]+)-(?P<key>[A-Za-z0-9_-]+)\.pt(\.tmp-(?P<pid>\d+))?")
VERIFY_MODES = ("auto", "full", "quick")

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")


class EntryBusy(Exception):
    """Another process is computing this entry (raised by get_or_compute with wait=False); not an
    error: the caller does other work and asks again."""


@dataclasses.dataclass(frozen=True)
class EntryInfo:
    """One complete entry as `xprompt cache ls` shows it (read from the manifest, not verified)."""

    stage: str
    key: str
    size: int
    created: str
    path: Path


class Cache:
    """A cache directory shared safely by any number of processes on any number of machines."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def entry_dir(self, stage: str, key: str) -> Path:
        """Where the entry for (stage, key) lives once complete."""
        for what, name in (("stage", stage), ("key", key)):
            if not _NAME.fullmatch(name):
                raise CacheError(f"Cache {what} {name!r} is not a valid name; use letters, digits, '_' or '-'.")
        if stage in RESERVED_DIRS:
            raise CacheError(f"Cache stage name {stage!r} is reserved by the cache; choose another stage name.")
        return self.root / stage / key

    def checkpoint_path(self, stage: str, key: str) -> Path:
        """Where a training of (stage, key) keeps its checkpoint while it runs (deleted once the
        entry is published)."""
        self.entry_dir(stage, key)  # validates both names before they become a file name
        return self.root / CHECKPOINTS_DIR / f"{stage}-{key}.pt"

    def lookup(self, stage: str, key: str, verify: str = "auto", repair: bool = True) -> Path | None:
        """The entry's directory if it is complete and intact, else None.

        verify="full" re-hashes every file; "quick" checks sizes and re-hashes only files
        whose mtime changed since they were written; "auto" is "full" for entries up to
        FULL_VERIFY_MAX_BYTES and "quick" above. An untrusted entry is moved aside and
        deleted, with a warning, so the next writer can publish in its place; with
        repair=False (status, dry runs) it is only reported and left where it is.
        """
        if verify not in VERIFY_MODES:
            raise CacheError(f"Cache verify mode {verify!r} is unknown; use one of {', '.join(VERIFY_MODES)}.")
        entry = self.entry_dir(stage, key)
        if not os.path.lexists(entry):
            return None
        problem = entry_problem(entry, stage, key, verify)
        if problem is None:
            return entry
        if not repair:
            log.warning("Cache entry %s is damaged (%s); the next run computes it again.", entry, problem)
            return None
        log.warning("Cache entry %s is not trusted (%s); removing it so it is computed again.", entry, problem)
        discard_path(entry)
        return None

    def read_manifest(self, stage: str, key: str) -> dict[str, Any]:
        """The manifest of an entry (not verified; call lookup first)."""
        return load_manifest(self.entry_dir(stage, key))

    @contextlib.contextmanager
    def writing(self, stage: str, key: str, manifest_extra: Mapping[str, Any] | None = None) -> Iterator[Path]:
        """Yield a temp dir to fill; on normal exit publish it as the entry, on error delete it.

        `manifest_extra` (e.g. version, params, inputs) is stored in the manifest, with the wall
        and CPU seconds spent inside this block and the machine they were spent on ("computed").
        If another process published the same entry first, theirs is kept and ours discarded.
        """
        extra = checked_extra(manifest_extra)
        final = self.entry_dir(stage, key)
        temp = final.parent / f"{key}.incomplete-{owner_tag()}"
        with disk_errors(final):
            final.parent.mkdir(parents=True, exist_ok=True)
            temp.mkdir()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            with disk_errors(final):
                yield temp
                computed = {"seconds": round(time.perf_counter() - wall, 3),
                            "cpu_seconds": round(time.process_time() - cpu, 3), **machine()}
                write_manifest(temp, stage, key, extra, computed)
                self._publish(temp, final, stage, key)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise

    def _publish(self, temp: Path, final: Path, stage: str, key: str) -> None:
        for _attempt in range(3):
            try:
                os.rename(temp, final)  # atomic; refuses a non-empty target directory
                return
            except OSError as error:
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
            if self.lookup(stage, key) is not None:
                log.info("Cache entry %s was published by another process first; keeping theirs.", final)
                shutil.rmtree(temp, ignore_errors=True)
                return
            # lookup has moved the untrusted directory aside, so the next rename can succeed.
        raise CacheError(f"Cannot publish cache entry {final}: the path keeps being taken by an untrusted directory.")

    def get_or_compute(
        self,
        stage: str,
        key: str,
        compute: Callable[[Path], None],
        manifest_extra: Mapping[str, Any] | None = None,
        verify: str = "auto",
        wait: bool = True,
    ) -> tuple[Path, bool]:
        """Return (entry dir, computed?), running `compute(temp_dir)` only if no process has the entry.

        The per-entry lock means two processes asking for the same missing entry compute it
        once: the second waits, re-checks, and finds the first one's result. With wait=False
        the second raises EntryBusy instead, so it can do other work first.
        """
        found = self.lookup(stage, key, verify)
        if found is not None:
            return found, False
        with self._entry_lock(stage, key, wait):
            found = self.lookup(stage, key, verify)
            if found is not None:
                return found, False
            with self.writing(stage, key, manifest_extra) as temp:
                compute(temp)
        return self.entry_dir(stage, key), True

    def adopt(self, stage: str, key: str, made: Path) -> bool:
        """Publish a complete entry made elsewhere (a directory with its manifest, already checked
        by the caller) by moving it into place; False, leaving `made` alone, if an intact entry
        was already there."""
        if self.lookup(stage, key) is not None:
            return False
        with self._entry_lock(stage, key):
            if self.lookup(stage, key) is not None:
                return False
            final = self.entry_dir(stage, key)
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = final.parent / f"{key}.incomplete-{owner_tag()}"
            shutil.move(made, temp)  # same file system: a rename; then published like any entry
            self._publish(temp, final, stage, key)
        return True

    @contextlib.contextmanager
    def _entry_lock(self, stage: str, key: str, wait: bool = True) -> Iterator[None]:
        self.entry_dir(stage, key)  # validates both names before they become a file name
        lock_path = self.root / LOCKS_DIR / f"{stage}-{key}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        # Lock files are never deleted: unlinking one while another process holds it would
        # let a third process lock a fresh inode and compute alongside the holder.
        with open(lock_path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise EntryBusy(f"{stage}/{key}") from None
                log.info("Waiting for another process that is computing cache entry %s/%s.", stage, key)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def entries(self) -> list[EntryInfo]:
        """Every complete entry (one with a readable manifest), sorted by stage and key."""
        found = []
        for stage_dir in self._stage_dirs():
            for entry in sorted(stage_dir.iterdir()):
                if not entry.is_dir() or TEMP_NAME.fullmatch(entry.name):
                    continue
                try:
                    manifest = load_manifest(entry)
                except CacheError:
                    continue
                size = sum(int(meta.get("size", 0)) for meta in manifest.get("files", {}).values())
                found.append(EntryInfo(stage_dir.name, entry.name, size, str(manifest.get("created", "")), entry))
        return found

    def gc(self, referenced: Set[tuple[str, str]]) -> list[Path]:
        """Delete entries whose (stage, key) is neither in `referenced` nor used by a live run,
        checkpoints of such cells, and temp files and dirs of dead writers. Holds the gc lock.

        Returns the paths removed. Work in progress of live processes is left alone.
        """
        from xprompt.pipeline.cache.live import gc_lock, live_entries

        with gc_lock(self.root, exclusive=True):
            live, _runs = live_entries(self.root)
            return self._collect(set(referenced) | live)

    def _collect(self, referenced: set[tuple[str, str]]) -> list[Path]:
        removed = []
        checkpoints = self.root / CHECKPOINTS_DIR
        for path in sorted(checkpoints.iterdir()) if checkpoints.is_dir() else []:
            if _checkpoint_is_garbage(path, referenced):
                path.unlink(missing_ok=True)
                removed.append(path)
        for stage_dir in self._stage_dirs():
            for path in sorted(stage_dir.iterdir()):
                if _is_garbage(stage_dir.name, path, referenced):
                    discard_path(path)
                    removed.append(path)
            with contextlib.suppress(OSError):
                stage_dir.rmdir()  # only succeeds when nothing is left in it
        return removed

    def discard(self, stage: str, key: str) -> bool:
        """Delete one entry (e.g. `xprompt cache rm`); False if there was none."""
        entry = self.entry_dir(stage, key)
        if not os.path.lexists(entry):
            return False
        discard_path(entry)
        return True

    def _stage_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        # names starting with '.' are no stage's (`cache unpack` stages a pack's entries there)
        return sorted(p for p in self.root.iterdir()
                      if p.is_dir() and p.name not in RESERVED_DIRS and not p.name.startswith("."))


def _is_garbage(stage: str, path: Path, referenced: Set[tuple[str, str]]) -> bool:
    if TEMP_NAME.fullmatch(path.name):
        return owner_is_gone(path)
    return path.is_dir() and (stage, path.name) not in referenced


def _checkpoint_is_garbage(path: Path, referenced: set[tuple[str, str]]) -> bool:
    """A checkpoint of a cell no lock file and no live run uses, or the temp file of a dead writer."""
    from xprompt.pipeline.cache.live import pid_alive

    name = CHECKPOINT_NAME.fullmatch(path.name)
    if name is None:
        return False
    if name["pid"] is not None:
        return not pid_alive(int(name["pid"]))
    return (name["stage"], name["key"]) not in referenced


@contextlib.contextmanager
def disk_errors(path: Path) -> Iterator[None]:
    """A full disk, a read-only or forbidden cache: one sentence naming the path and the cause."""
    try:
        yield
    except OSError as error:
        if error.errno not in DISK_ERRORS:
            raise
        where = error.filename or path
        raise CacheError(f"cannot write the cache entry {path} ({DISK_ERRORS[error.errno]} at {where}); free "
                         f"space or fix permissions there, or set cache_dir to a writable folder") from None
