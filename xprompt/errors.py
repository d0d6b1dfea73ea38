"""One exception family, so the command line can print one clear sentence and exit."""


class XPromptError(Exception):
    """Base class: the message is a full sentence naming the value at fault and what is accepted."""


class ConfigError(XPromptError):
    """A pipeline file, override or method setting is wrong."""


class DataError(XPromptError):
    """A task card, data file, split, column, label or sample request is wrong."""


class ModelError(XPromptError):
    """A backbone cannot be found or cannot do what a method needs."""


class CacheError(XPromptError):
    """A cache entry is missing, half-written or corrupted."""
