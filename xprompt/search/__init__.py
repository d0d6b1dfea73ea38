"""Discrete template search: AutoPrompt-style trigger words found with the backbone frozen."""

from xprompt.search.autoprompt import (
    TRIGGER,
    Placement,
    SearchResult,
    TriggerSearchConfig,
    search_triggers,
)
from xprompt.search.command import add_commands

__all__ = ["TRIGGER", "Placement", "SearchResult", "TriggerSearchConfig", "add_commands", "search_triggers"]
