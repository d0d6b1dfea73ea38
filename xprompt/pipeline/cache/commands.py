"""`xprompt cache ls|gc`: the stage cache."""

from __future__ import annotations

from pathlib import Path

from xprompt.errors import XPromptError


def add_commands(commands) -> None:
    cache = commands.add_parser("cache", help="list or clean the stage cache")
    cache.add_argument("cache_command", choices=["ls", "gc"])
    cache.add_argument("--cache-dir", default=".xprompt-cache")
    cache.add_argument("--runs", default="runs", help="folder whose lock files say what is still used (gc)")
    cache.set_defaults(handler=_cache)


def _cache(args) -> int:
    from xprompt.pipeline.cache import Cache, read_lockfile
    cache = Cache(Path(args.cache_dir))
    if args.cache_command == "ls":
        for entry in cache.entries():
            print(f"{entry.stage:<9} {entry.key}  {entry.size / 1e6:9.2f} MB  {entry.created}")
        return 0
    referenced = set()
    locks = sorted(Path(args.runs).glob("**/xprompt*.lock"))
    if not locks and cache.entries():  # a mistyped --runs must not empty a shared cache
        raise XPromptError(f"no lock file (xprompt.lock) under {args.runs}, so every cache entry would be "
                           f"removed; pass --runs with the output folder of the runs to keep")
    for lock in locks:
        referenced |= {(r.stage, r.key) for r in read_lockfile(lock).values()}
    removed = cache.gc(referenced)
    print(f"removed {len(removed)} entries, checkpoints and leftovers used by no lock file under {args.runs} "
          f"and by no run in progress")
    return 0
