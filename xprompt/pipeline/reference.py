"""The pipeline file's reference, made from the typed config itself (every key, its default and
its help): `python -m xprompt.pipeline.reference > docs/CONFIG.md`. A test keeps the file current."""

from __future__ import annotations

import dataclasses
import typing

from xprompt.pipeline.config import PipelineConfig


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    if dataclasses.is_dataclass(value):
        return "(section)"
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        shown = ", ".join("{" + ", ".join(f"{k}: {v}" for k, v in dataclasses.asdict(item).items()
                                          if v not in (None, {}, [])) + "}" for item in value)
        return f"`[{shown}]`"
    return f"`{getattr(value, 'value', value)!r}`".replace("|", "\\|")


def sections(cls=PipelineConfig, prefix: str = "") -> list[tuple[str, list[list[str]]]]:
    hints = typing.get_type_hints(cls)
    rows, nested = [], []
    for f in dataclasses.fields(cls):
        inner = typing.get_args(hints[f.name])
        if dataclasses.is_dataclass(hints[f.name]):
            nested += sections(hints[f.name], f"{prefix}{f.name}.")
            rows.append([f"`{prefix}{f.name}`", "(section)", f.metadata.get("help", "")])
        elif typing.get_origin(hints[f.name]) is list and inner and dataclasses.is_dataclass(inner[0]):
            nested += sections(inner[0], f"{prefix}{f.name}[].")
            rows.append([f"`{prefix}{f.name}`", _default(f), f.metadata.get("help", "") + " (a list; keys below)"])
        else:
            rows.append([f"`{prefix}{f.name}`", _default(f), f.metadata.get("help", "").replace("|", "\\|")])
    return [(prefix.rstrip(".") or "pipeline", rows)] + nested


def markdown() -> str:
    lines = ["# Pipeline file reference", "",
             "Every key of a pipeline YAML file, its default and what it does, made from the typed config",
             "(`python -m xprompt.pipeline.reference > docs/CONFIG.md`). Unknown keys are errors. A method's own",
             "`settings` are listed by `xprompt methods`.", ""]
    for title, rows in sections():
        lines += [f"## {title}", "", "| key | default | meaning |", "|---|---|---|"]
        lines += [f"| {key} | {default} | {text} |" for key, default, text in rows]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
