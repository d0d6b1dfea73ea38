"""The options of the probe method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from xprompt.methods.options import check_prompt_options


@dataclass
class ProbeConfig:
    max_length: int = field(default=256, metadata={"help": "longest input in tokens"})

    def __post_init__(self):
        check_prompt_options(None, self.max_length)
