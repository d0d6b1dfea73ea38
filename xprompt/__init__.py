"""xprompt: cross-lingual prompt transfer."""

__version__ = "0.1.0"
