"""The `xprompt` command line. Each part of the product registers its own commands with
`add_commands(subparsers)`; building the parser imports none of torch, transformers or pandas."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from xprompt.errors import XPromptError

# the modules that register commands, in the order `xprompt --help` lists them
COMMAND_MODULES = ("xprompt.pipeline.commands", "xprompt.results.commands", "xprompt.methods.commands",
                   "xprompt.data.commands", "xprompt.pipeline.cache.commands", "xprompt.prompts.commands",
                   "xprompt.prompts.library_commands", "xprompt.search")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xprompt", description="Cross-lingual prompt transfer.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.handler(args)
    except XPromptError as error:
        print(f"xprompt: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        from xprompt.pipeline.cache.store import DISK_ERRORS
        if error.errno not in DISK_ERRORS:
            raise
        print(f"xprompt: error: cannot write {error.filename or 'the output'} ({DISK_ERRORS[error.errno]}); free "
              f"space or fix permissions there, or choose another output_dir / cache_dir", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
