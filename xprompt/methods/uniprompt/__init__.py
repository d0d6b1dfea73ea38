"""UniPrompt (Huang et al., EMNLP 2022): a prompt tower that sees only the template,
a context tower that sees only the input, fused top layers over [prompt; context],
and soft label words initialised from class means. The prompt tower never sees
the input, so its output is one constant per template: precompute it and the
inference cost is that of the plain encoder."""

from xprompt.methods import MethodSpec
from xprompt.methods.uniprompt.config import UniPromptConfig

SPEC = MethodSpec(
    UniPromptConfig, "xprompt.methods.uniprompt.model:UniPrompt",
    "two towers, fused top layers, soft label words; prompt precomputed at inference",
    "Huang et al., EMNLP 2022 (Zero-shot cross-lingual transfer of prompt-based tuning with a unified "
    "multilingual prompt)",
    "all weights but the word embeddings (recipe: paper trains those too), or prompt tower + label "
    "vectors (trained: prompt)",
    trains_pretrained=lambda config: True)  # trained: prompt trains the prompt tower, a copy of pretrained layers
