"""`xprompt cache ls|gc|pack|unpack|ledger`: the stage cache."""

from __future__ import annotations

from pathlib import Path

from xprompt.errors import XPromptError

SCORED_STAGES = "evaluate,ensemble"  # pack's default: what results rows are read from (graph.SCORED)


def add_commands(commands) -> None:
    cache = commands.add_parser("cache", help="list, clean, pack or unpack the stage cache, or say what it cost")
    verbs = cache.add_subparsers(dest="cache_command", required=True, metavar="{ls,gc,pack,unpack,ledger}")
    listing = verbs.add_parser("ls", help="every entry with its size")
    listing.add_argument("--cache-dir", default=".xprompt-cache")
    clean = verbs.add_parser("gc", help="remove entries no lock file under --runs uses")
    clean.add_argument("--cache-dir", default=".xprompt-cache")
    clean.add_argument("--runs", default="runs", help="folder whose lock files say what is still used")
    packing = verbs.add_parser("pack", help="write a pipeline's cached results (not its models) to one .tar.gz")
    packing.add_argument("pipeline", help="pipeline YAML file (its cache_dir is read)")
    packing.add_argument("-o", "--output", required=True, help="the .tar.gz to write")
    packing.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="as in `xprompt run`")
    packing.add_argument("--stages", default=SCORED_STAGES,
                         help=f"comma-separated stages to pack (default {SCORED_STAGES}: evaluations only)")
    packing.add_argument("--skip-in", nargs="+", default=[], metavar="PACK",
                         help="leave out entries these earlier packs hold (so a new pack adds only new work)")
    packing.add_argument("--checkpoints", action="store_true",
                         help="pack the checkpoints of the pipeline's trainings still under way instead, so that "
                              "another cache goes on from the step they reached (train.checkpoint_every)")
    packing.add_argument("--max-checkpoint-mb", type=float, default=64.0,
                         help="with --checkpoints, leave out larger ones (default 64: full fine-tuning's hold the "
                              "model and its optimiser state)")
    unpacking = verbs.add_parser("unpack", help="add packs' entries to a cache, each verified first")
    unpacking.add_argument("archives", nargs="+", help=".tar.gz files written by `xprompt cache pack`")
    unpacking.add_argument("--cache-dir", default=".xprompt-cache")
    ledger = verbs.add_parser("ledger", help="a pipeline's cached cells: where and when they ran, wall and CPU hours")
    ledger.add_argument("pipeline", help="pipeline YAML file (its cache_dir is read)")
    ledger.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="as in `xprompt run`")
    ledger.add_argument("--csv", help="also write one row per cell to this CSV (read back by the results page)")
    cache.set_defaults(handler=_cache)


def _cache(args) -> int:
    from xprompt.pipeline.cache import Cache, read_lockfile
    if args.cache_command == "pack":
        return _pack(args)
    if args.cache_command == "ledger":
        return _ledger(args)
    cache = Cache(Path(args.cache_dir))
    if args.cache_command == "unpack":
        from xprompt.pipeline.cache.pack import unpack
        for archive in args.archives:
            done = unpack(Path(archive), cache)
            carried = "" if not done.checkpoints_added + done.checkpoints_kept else (
                f"; {done.checkpoints_added} checkpoints of trainings under way, {done.checkpoints_kept} left "
                f"out because this cache's training had finished or gone as far")
            print(f"{archive}: added {done.added} entries to {cache.root} ({done.present} were there already)"
                  f"{carried}")
        return 0
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


def _pack(args) -> int:
    from xprompt.pipeline.cache.pack import pack, packed_entries
    from xprompt.pipeline.cells import cache_for, plan
    from xprompt.pipeline.config import load_pipeline
    from xprompt.pipeline.graph import VERSIONS

    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(VERSIONS))
    if unknown or not stages:
        raise XPromptError(f"--stages {args.stages!r} names no stage or an unknown one ({', '.join(unknown)}); "
                           f"use some of {', '.join(VERSIONS)}")
    config = load_pipeline(args.pipeline, args.set)
    if args.checkpoints:
        return _pack_checkpoints(args, config, plan(config).cells)
    cells = [c for c in plan(config).cells if c.stage in stages]
    earlier = set().union(*(packed_entries(Path(p)) for p in args.skip_in))
    wanted = [(c.stage, c.key) for c in cells if (c.stage, c.key) not in earlier]
    count, size = pack(cache_for(config), wanted, Path(args.output))
    skipped = f", {len(cells) - len(wanted)} left out as already packed" if earlier else ""
    print(f"packed {count} of the {len(cells)} {'/'.join(stages)} cells of {config.name}{skipped} "
          f"({size / 1e6:.1f} MB before compression) into {args.output}")
    return 0


def _pack_checkpoints(args, config, cells) -> int:
    from xprompt.pipeline.cache.checkpoint_pack import pack_checkpoints, packed_checkpoints
    from xprompt.pipeline.cells import cache_for
    from xprompt.pipeline.graph import TRAINED

    earlier = {}
    for archive in args.skip_in:
        earlier.update(packed_checkpoints(Path(archive)))
    trainings = [(c.stage, c.key) for c in cells if c.stage in TRAINED]
    done = pack_checkpoints(cache_for(config), trainings, Path(args.output), int(args.max_checkpoint_mb * 1e6), earlier)
    steps = ", ".join(f"{name} at step {count}" for name, count in done.packed.items())
    too_large = (f", {len(done.too_large)} left out as larger than {args.max_checkpoint_mb:g} MB"
                 if done.too_large else "")
    print(f"packed {len(done.packed)} checkpoints of the {len(trainings)} trainings of {config.name}"
          f"{f' ({steps})' if steps else ''}"
          f"{f', {done.unchanged} left out as already packed' if done.unchanged else ''}"
          f"{too_large}"
          f" ({done.size / 1e6:.1f} MB) into {args.output}")
    return 0


def _ledger(args) -> int:
    from xprompt.pipeline.cache.ledger import ledger, summary_markdown
    from xprompt.pipeline.cells import cache_for, plan
    from xprompt.pipeline.config import load_pipeline

    config = load_pipeline(args.pipeline, args.set)
    cells = plan(config).cells
    frame = ledger(cache_for(config), cells)
    if args.csv:  # before printing, so a closed pipe (`| head`) cannot lose it
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.csv, index=False)
    print(f"{len(frame)} of the {len(cells)} cells of {config.name} are cached\n")
    print(summary_markdown(frame))
    return 0
