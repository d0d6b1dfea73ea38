"""Data layer: task cards, loaders that yield one table shape, and K-shot samplers.

Cards are imported at once; the loaders and samplers (pandas) on first use, so that reading a
card or building the command line stays cheap."""

from xprompt.data.card_files import known_tasks, load_card
from xprompt.data.cards import TaskCard

_LAZY = {"TABLE_COLUMNS": "tables", "load_split": "loaders", "resolve_data_root": "loaders",
         "fixed_k_shot": "sampling", "sample_k_shot": "sampling"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"xprompt.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'xprompt.data' has no attribute {name!r}")


__all__ = ["TaskCard", "known_tasks", "load_card", *_LAZY]
