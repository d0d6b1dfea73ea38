"""Stage cache: keys, atomic entries with verified manifests, per-entry locks, run lock files.

    key = stage_key("train", "1", params, defaults, {"train": sample_key})
    path, computed = Cache(root).get_or_compute("train", key, compute, {"version": "1", ...})
"""

from xprompt.pipeline.cache.keys import (
    canonical,
    canonical_json,
    describe_change,
    file_hash,
    non_default_params,
    path_hash,
    stage_key,
    tree_hash,
)
from xprompt.pipeline.cache.lockfile import StageRecord, read_lockfile, record_from_manifest, write_lockfile
from xprompt.files import atomic_write_text
from xprompt.pipeline.cache.manifest import FULL_VERIFY_MAX_BYTES
from xprompt.pipeline.cache.store import Cache, EntryInfo

__all__ = [
    "FULL_VERIFY_MAX_BYTES",
    "Cache",
    "EntryInfo",
    "StageRecord",
    "atomic_write_text",
    "canonical",
    "canonical_json",
    "describe_change",
    "file_hash",
    "non_default_params",
    "path_hash",
    "read_lockfile",
    "record_from_manifest",
    "stage_key",
    "tree_hash",
    "write_lockfile",
]
