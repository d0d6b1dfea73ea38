"""Filesystem helpers of the cache: atomic writes, move-aside deletion, temp-dir ownership.

Temp directories are named `<key>.<kind>-<pid>-<host>-<random>` (kind: `incomplete` for
an entry being written, `trash` for one being deleted), so `gc` can tell a dead writer's
leftovers from a live writer's work in progress.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path


TEMP_NAME = re.compile(r"(?P<key>.+)\.(?P<kind>incomplete|trash)-(?P<pid>\d+)-(?P<host>[A-Za-z0-9]*)-[0-9a-f]+")
# Another host's pid cannot be checked from here, so its temp dirs count as stale only
# after this long without a write.
FOREIGN_STALE_SECONDS = 7 * 24 * 3600


def owner_is_gone(temp_dir: Path) -> bool:
    """True if the process that named this temp dir has exited (or, on another host, long idle)."""
    temp = TEMP_NAME.fullmatch(temp_dir.name)
    if temp is None:
        return False
    if temp["host"] != host_tag():
        return time.time() - _newest_mtime(temp_dir) > FOREIGN_STALE_SECONDS
    try:
        os.kill(int(temp["pid"]), 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by another user
    return False


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                newest = max(newest, (Path(folder) / name).lstat().st_mtime)
    return newest


def discard_path(path: Path) -> None:
    """Rename `path` out of the way first (atomic: it stops being trusted at once), then delete it."""
    trash = path if TEMP_NAME.fullmatch(path.name) else path.with_name(f"{path.name}.trash-{owner_tag()}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return  # another process discarded it already
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)


def host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32]


def owner_tag() -> str:
    """`<pid>-<host>-<random>`: the suffix of a temp dir created by this process."""
    return f"{os.getpid()}-{host_tag()}-{secrets.token_hex(4)}"
