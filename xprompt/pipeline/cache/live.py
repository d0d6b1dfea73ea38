"""Runs in progress tell `gc` what they use, so a gc started while a run (or a shard on another
machine) is computing never deletes that run's entries, checkpoints or half-written work.

A run writes `live/<owner>.json` (its process, host and every (stage, key) of its plan) before it
looks anything up, and removes it when it ends. `gc` holds the cache's gc lock exclusively while
it reads the registrations and deletes; registering takes the same lock shared, so a run either
registers before a gc starts or waits until it is done. A registration whose process is gone
(same host) or that is older than a week (another host) no longer protects anything."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from xprompt.pipeline.cache._files import FOREIGN_STALE_SECONDS, host_tag, owner_tag
from xprompt.files import atomic_write_text

LIVE_DIR, GC_LOCK = "live", "gc.lock"


@contextlib.contextmanager
def gc_lock(root: Path, exclusive: bool) -> Iterator[None]:
    path = Path(root) / "locks" / GC_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def registered(root: Path, entries: set[tuple[str, str]]) -> Iterator[None]:
    """While the block runs, gc keeps `entries` and their checkpoints."""
    path = Path(root) / LIVE_DIR / f"{owner_tag()}.json"
    record = {"pid": os.getpid(), "host": host_tag(), "started": time.time(), "entries": sorted(entries)}
    with gc_lock(root, exclusive=False):
        atomic_write_text(path, json.dumps(record))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def live_entries(root: Path) -> tuple[set[tuple[str, str]], int]:
    """(stage, key) of every live run's plan, and how many live runs; stale registrations are
    removed. Call with the gc lock held."""
    found, runs = set(), 0
    folder = Path(root) / LIVE_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            pid, host, entries = int(record["pid"]), str(record["host"]), record["entries"]
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # unreadable: nobody can be protected by it
            continue
        if _gone(pid, host, path):
            path.unlink(missing_ok=True)
            continue
        runs += 1
        found |= {(str(stage), str(key)) for stage, key in entries}
    return found, runs


def _gone(pid: int, host: str, path: Path) -> bool:
    if host != host_tag():
        return time.time() - path.stat().st_mtime > FOREIGN_STALE_SECONDS
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
