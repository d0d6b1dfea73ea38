"""xprompt: cross-lingual prompt transfer."""

__version__ = "0.1.0"


def load_prompt(directory, device: str = "auto"):
    """Load an exported multilingual prompt; `.predict(texts)` classifies text in any language."""
    from xprompt.prompts.predict import load_prompt as _load_prompt
    return _load_prompt(directory, device=device)
