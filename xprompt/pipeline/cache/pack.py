"""Moving finished results between caches: `pack` writes chosen entries of a cache into one
.tar.gz, `unpack` adds a pack's entries to another cache, verifying every file against its
manifest before trusting it. A pack of a grid's evaluations is a few MB where its trained models
are GBs: with the runner computing only cells whose results are missing, a run resumed on another
machine (or after the cache was lost) trains again only what still has work to feed; a pack of
checkpoints (checkpoint_pack) carries the trainings still under way."""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from xprompt.errors import CacheError
from xprompt.files import atomic_write
from xprompt.pipeline.cache.checkpoint_pack import adopt_checkpoints, checked_member, is_checkpoint_member
from xprompt.pipeline.cache.manifest import MANIFEST_NAME, entry_problem
from xprompt.pipeline.cache.store import CHECKPOINTS_DIR, Cache


def pack(cache: Cache, entries: Iterable[tuple[str, str]], archive: Path) -> tuple[int, int]:
    """Write the intact entries among (stage, key) pairs to `archive`, a new file (none is written
    when there is nothing to pack); (entries, bytes) packed. An entry that is missing or fails its
    full check is left out."""
    if archive.exists():
        raise CacheError(f"{archive} exists already; a pack is never overwritten, so name a new file")
    intact = [(stage, key, path) for stage, key in sorted(set(entries))
              if (path := cache.lookup(stage, key, verify="full", repair=False)) is not None]
    members = [(file, f"{stage}/{key}/{file.relative_to(path).as_posix()}")
               for stage, key, path in intact for file in sorted(p for p in path.rglob("*") if p.is_file())]
    if intact:  # with nothing to pack no file is written, so no later run reads an empty pack
        atomic_write(archive, lambda temporary: _write_members(temporary, members))
    return len(intact), sum(file.stat().st_size for file, _ in members)


def _write_members(path: Path, members: list[tuple[Path, str]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for file, name in members:
            tar.add(file, arcname=name)


def packed_entries(archive: Path) -> set[tuple[str, str]]:
    """The (stage, key) pairs a pack holds, read from its member names."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            return {tuple(PurePosixPath(name).parts[:2]) for name in tar.getnames()
                    if len(PurePosixPath(name).parts) >= 3}
    except (OSError, tarfile.TarError) as error:
        raise CacheError(f"{archive} cannot be read as a pack of cache entries ({error})") from None


@dataclass
class Unpacked:
    added: int = 0  # entries
    present: int = 0  # entries the cache had already
    checkpoints_added: int = 0
    checkpoints_kept: int = 0  # the cache's own training had finished or gone as far


def unpack(archive: Path, cache: Cache) -> Unpacked:
    """Add every entry of `archive` to `cache`, and every checkpoint of a training in progress
    that goes further than the cache's own (checkpoint_pack). Member names must be
    `<stage>/<key>/<file>` or `checkpoints/<stage>-<key>.pt[.sha256]`; an entry whose files do not
    match its manifest, or a checkpoint that does not match its sha256, is refused whole."""
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as error:
        raise CacheError(f"{archive} cannot be read as a pack of cache entries ({error}); "
                         f"make one with `xprompt cache pack`") from None
    done = Unpacked()
    cache.root.mkdir(parents=True, exist_ok=True)
    with tar, tempfile.TemporaryDirectory(dir=cache.root, prefix=".unpack-") as staging:
        names = set()
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if is_checkpoint_member(member.name) and member.isfile():
                checked_member(archive, member.name)
                continue
            if len(parts) < 3 or not member.isfile() or ".." in parts or member.name.startswith("/"):
                raise CacheError(f"{archive}: member '{member.name}' is not a file of a cache entry "
                                 f"(<stage>/<key>/<file>); the pack was not written by `xprompt cache pack`")
            cache.entry_dir(parts[0], parts[1])  # valid stage and key names, or one clear error
            names.add((parts[0], parts[1]))
        tar.extractall(staging, filter="data")
        for stage, key in sorted(names):
            made = Path(staging) / stage / key
            problem = entry_problem(made, stage, key, "full")
            if problem is not None:
                raise CacheError(f"{archive}: entry {stage}/{key} is damaged ({problem}); nothing of it was "
                                 f"added, and the entries before it were checked and added")
            if cache.adopt(stage, key, made):
                done.added += 1
            else:
                done.present += 1
        staged = Path(staging) / CHECKPOINTS_DIR
        if staged.is_dir():
            done.checkpoints_added, done.checkpoints_kept = adopt_checkpoints(archive, staged, cache)
    return done


__all__ = ["MANIFEST_NAME", "Unpacked", "pack", "unpack"]
