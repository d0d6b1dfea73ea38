"""How a method's name in the results states the setting it was measured in: the suffixes the
techniques add, and which of them read unlabelled target-language text (the setting
"zero-shot + unlabelled target text", never shown in one table with pure zero-shot results)."""

from __future__ import annotations

SEED_AVERAGE = "+seed-average"  # a method averaged over its seeds
ENSEMBLE = "+ensemble"  # a method's seed ensemble
CALIBRATED = "+calibration"  # a method's calibrated evaluations
SELF_TRAINED = "+self-training"  # a method trained again on its own confident target-text labels
INTERPOLATED = "+wise-"  # a method's model moved back toward the pretrained weights, then the weight: +wise-0.5
SINGLE_MODEL_SEED = -1  # the seed column of rows made from every seed at once (seed averages, ensembles)
UNLABELLED_TEXT = (CALIBRATED, SELF_TRAINED)  # suffixes of methods that read unlabelled target text


def uses_target_text(method: str) -> bool:
    """Whether results of `method` (a display name) come from the setting 'zero-shot + unlabelled
    target text' rather than pure zero-shot."""
    return any(suffix in method for suffix in UNLABELLED_TEXT)


def with_suffix(display: str, suffix: str) -> str:
    """`display` named as made by a technique (a label that already says so is kept)."""
    return display if display.endswith(suffix) else display + suffix


def interpolated(display: str, weight: float) -> str:
    """`display` as a model interpolated with `weight` on its trained weights: `uniprompt+wise-0.5`."""
    return f"{display}{INTERPOLATED}{weight:g}"
