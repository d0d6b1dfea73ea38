"""Prompt tuning (Lester et al. 2021): n trainable virtual tokens in the input of a frozen
encoder, read at the template's <mask> by label vectors or label words. By default the tokens
go before the whole input, as in the paper and in PEFT, so a `--peft` export reproduces the
encoder states xprompt computes."""

from xprompt.methods import MethodSpec
from xprompt.methods.soft.config import SoftConfig

SPEC = MethodSpec(
    SoftConfig, "xprompt.methods.soft.model:build_soft",
    "trainable virtual tokens before the input (prompt tuning)",
    "Lester et al., EMNLP 2021", "the virtual tokens and the label vectors; the encoder is frozen",
    input_prompt="xprompt.methods.soft.model:trained_prompt",
    initial_input_prompt="xprompt.methods.prompting:recorded_start",
    output_version=2)
