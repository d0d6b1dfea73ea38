"""`xprompt methods`: every method with its paper, what it trains and its options (no torch)."""

from __future__ import annotations

import dataclasses


def add_commands(commands) -> None:
    commands.add_parser("methods", help="list methods and their options").set_defaults(handler=_methods)


def _methods(args) -> int:
    from xprompt.methods import registry
    for name, spec in sorted(registry().items()):
        print(f"{name}: {spec.summary}")
        print(f"    paper: {spec.paper}")
        print(f"    trained: {spec.trained}")
        if spec.train_defaults:
            own = ", ".join(f"{k}: {v}" for k, v in spec.train_defaults.items())
            print(f"    trains with: {own} (over the pipeline's train section; a method entry's train: overrides)")
        for f in dataclasses.fields(spec.config_class):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            default = getattr(default, "value", default)
            print(f"    {f.name} = {default!r}  {f.metadata.get('help', '')}")
    return 0
