"""The run lock file (like DVC's dvc.lock): what each stage cell's key was and why it ran or not.

One file per pipeline run, YAML (or JSON when the path ends in `.json`):

    schema: 1
    cells:
      train/soft/k16/s13:
        stage: train
        key: 3f2a...
        version: "2"
        params: {lr: 0.0005}              # non-default params only
        inputs: {train: 91c0..., dev: 77ab...}
        outputs: {prompt.safetensors: {sha256: ..., size: ...}}
        status: ran                       # or cached
        reason: param lr changed 0.001 -> 0.0005

Cells are written sorted by name, so two runs' lock files diff line by line.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from xprompt.files import write_text_if_changed
from xprompt.pipeline.cache.keys import canonical
from xprompt.errors import CacheError

LOCKFILE_SCHEMA = 1
STATUSES = ("cached", "ran")


@dataclasses.dataclass
class StageRecord:
    """One stage cell of a run: its key, what went into it, what came out, and why it (re)ran."""

    stage: str
    cell: str
    key: str
    status: str
    reason: str = ""
    version: str = ""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    inputs: dict[str, str] | list[str] = dataclasses.field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise CacheError(f"Stage cell {self.cell!r} has status {self.status!r}; use one of {', '.join(STATUSES)}.")


def record_from_manifest(manifest: Mapping[str, Any], cell: str, status: str, reason: str) -> StageRecord:
    """Build a cell's record from its cache entry's manifest (see Cache.read_manifest)."""
    outputs = {
        relative: {"sha256": meta["sha256"], "size": meta["size"]}
        for relative, meta in manifest.get("files", {}).items()
    }
    return StageRecord(
        stage=manifest["stage"],
        cell=cell,
        key=manifest["key"],
        status=status,
        reason=reason,
        version=str(manifest.get("version", "")),
        params=dict(manifest.get("params", {})),
        inputs=manifest.get("inputs", {}),
        outputs=outputs,
    )


def write_lockfile(path: str | os.PathLike, records: Iterable[StageRecord | Mapping[str, Any]]) -> None:
    """Write the run's records atomically (temp file + os.replace), sorted by cell name."""
    cells: dict[str, Any] = {}
    for record in records:
        record = record if isinstance(record, StageRecord) else _record_from_fields(dict(record), str(path))
        if record.cell in cells:
            raise CacheError(f"Lock file {path}: stage cell {record.cell!r} appears twice; cell names must be unique.")
        body = dataclasses.asdict(record)
        del body["cell"]  # the mapping key already names it
        cells[record.cell] = canonical(body, f"cell {record.cell}")
    document = {"schema": LOCKFILE_SCHEMA, "cells": cells}
    if Path(path).suffix == ".json":
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=True, allow_unicode=True, default_flow_style=False)
    write_text_if_changed(path, text)  # an unchanged rerun leaves the record (and its time stamp) as it was


def read_lockfile(path: str | os.PathLike, missing_ok: bool = False) -> dict[str, StageRecord]:
    """Records by cell name; {} for a missing file when `missing_ok` (a first run has none)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise CacheError(f"Lock file {path} does not exist; run the pipeline once to create it.") from None
    is_json = Path(path).suffix == ".json"
    try:
        document = json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise CacheError(f"Lock file {path} is not valid {'JSON' if is_json else 'YAML'}: {error}") from error
    if not isinstance(document, dict) or document.get("schema") != LOCKFILE_SCHEMA:
        raise CacheError(f"Lock file {path} has no 'schema: {LOCKFILE_SCHEMA}' header; "
                         "it was not written by this xprompt.")
    cells = document.get("cells") or {}
    if not isinstance(cells, dict):
        raise CacheError(f"Lock file {path}: 'cells' must be a mapping from cell name to record.")
    records = {}
    for cell, body in cells.items():
        if not isinstance(body, dict):
            raise CacheError(f"Lock file {path}: cell {cell!r} must be a mapping of record fields.")
        records[str(cell)] = _record_from_fields({**body, "cell": str(cell)}, str(path))
    return records


def _record_from_fields(fields: dict[str, Any], path: str) -> StageRecord:
    known = {field.name for field in dataclasses.fields(StageRecord)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise CacheError(
            f"Lock file {path}: cell {fields.get('cell')!r} has unknown field {unknown[0]!r}; "
            f"known fields are {', '.join(sorted(known))}."
        )
    try:
        return StageRecord(**fields)
    except TypeError as error:  # a required field is missing
        raise CacheError(f"Lock file {path}: cell {fields.get('cell')!r} is incomplete ({error}).") from error
