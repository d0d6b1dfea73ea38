"""Discrete template search: AutoPrompt-style trigger words found with the backbone frozen.

The search itself (torch) is imported on first use, so registering the command line is cheap."""

from xprompt.search.command import add_commands

_LAZY = ("TRIGGER", "Placement", "SearchResult", "TriggerSearchConfig", "search_triggers")


def __getattr__(name: str):
    if name in _LAZY:
        from xprompt.search import autoprompt
        return getattr(autoprompt, name)
    raise AttributeError(f"module 'xprompt.search' has no attribute {name!r}")


__all__ = [*_LAZY, "add_commands"]
