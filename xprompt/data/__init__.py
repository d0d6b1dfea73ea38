"""Data layer: task cards, loaders that yield one table shape, and K-shot samplers."""

from xprompt.data.cards import TaskCard, known_tasks, load_card
from xprompt.data.loaders import TABLE_COLUMNS, load_split, resolve_data_root
from xprompt.data.sampling import fixed_k_shot, sample_k_shot

__all__ = [
    "TABLE_COLUMNS",
    "TaskCard",
    "fixed_k_shot",
    "known_tasks",
    "load_card",
    "load_split",
    "resolve_data_root",
    "sample_k_shot",
]
