"""How many English examples per class a cell trains on, in the three forms xprompt uses: a
pipeline's `shots` value (an integer K or `full`), the integer column of results tables, and the
text of cell names, tables, figures and captions. The pipeline, the cache and the results share it."""

from __future__ import annotations

FULL = "full"  # `shots: [full]`: the whole source training split
# How results tables hold `full` in their integer shots column: above any K, so it sorts last.
FULL_SHOTS = 1_000_000


def shots_count(shots: int | str) -> int:
    """The integer a results table holds for a `shots` value of a pipeline."""
    return FULL_SHOTS if shots == FULL else int(shots)


def shots_text(shots: int | str) -> str:
    """`16` or `full`: how cell names, tables and figures show a shots value."""
    return FULL if shots in (FULL, FULL_SHOTS) else str(int(shots))


def shots_phrase(shots: int | str) -> str:
    """`16 source shots per class` or `the full source training set`, for captions."""
    return "the full source training set" if shots_text(shots) == FULL else f"{int(shots)} source shots per class"
