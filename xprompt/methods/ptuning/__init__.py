"""P-tuning (Liu et al. 2021, "GPT Understands, Too"): the virtual tokens are the output of a
prompt encoder (a bidirectional LSTM + 2-layer MLP as in the paper, or the MLP alone) run
over learned input embeddings, so the tokens are not independent of each other."""

from xprompt.methods import MethodSpec
from xprompt.methods.ptuning.config import PTuningConfig

SPEC = MethodSpec(
    PTuningConfig, "xprompt.methods.ptuning.model:build_ptuning",
    "virtual tokens produced by a prompt encoder (P-tuning)",
    "Liu et al. 2021 (GPT understands, too)",
    "the prompt encoder (bi-LSTM + MLP) and the label vectors; the encoder too with freeze_backbone: false",
    input_prompt="xprompt.methods.ptuning.model:trained_prompt",
    initial_input_prompt="xprompt.methods.prompting:recorded_start",
    trains_pretrained=lambda config: not config.freeze_backbone,
    output_version=2)
