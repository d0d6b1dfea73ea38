"""Deep prompt positions (the "deep" form of visual prompt tuning, VPT-deep, Jia et al. 2022):
trainable prompt states prepended as extra positions before every layer of a frozen encoder.

Before layer l, `num_tokens` prompt states P_l join the hidden states, the layer runs over
[P_l; hidden] (every real token attends to the prompt, and the prompt positions also pay for
queries and the feed-forward layer), and the prompt positions are stripped from its output; the
next layer gets fresh prompts. Keys and values of the prompt come from P_l through the frozen
projections. This is not prefix tuning / P-tuning v2, whose free key/value prefixes are the
`prefix` method. Positions of the real tokens are unchanged, so the <mask> index holds."""

from xprompt.methods import MethodSpec
from xprompt.methods.deep.config import DeepConfig

SPEC = MethodSpec(
    DeepConfig, "xprompt.methods.deep.model:build_deep",
    "prompt positions prepended before every layer (VPT-deep)",
    "Jia et al., ECCV 2022 (visual prompt tuning, deep form)",
    "the per-layer prompt states (or their MLP) and the label vectors; the encoder is frozen")
