"""Discrete prompts (PET, Schick & Schütze 2021; LM-BFF, Gao et al. 2021): the card's template
of each language filled with the text, and the MLM logits of each class's label words at the
<mask> as class scores. Trained end to end, or not at all (zero-shot prompting)."""

from __future__ import annotations


from xprompt.methods import base, prompting
from xprompt.methods.discrete.config import DiscreteConfig, Trained
from xprompt.methods.verbalizers import LabelWords


def build_discrete(config: DiscreteConfig, backbone, card) -> prompting.PromptMethod:
    """Label words of every language are checked here: no MLM head is a ModelError,
    a word the tokenizer cannot encode a DataError."""
    inputs = prompting.PromptInputs(backbone.tokenizer, card, config.template, 0, config.max_length)
    if config.trained == Trained.ALL:  # its own copy of the encoder and MLM head; the tied output rows of
        backbone = base.trained_copy(backbone, not config.freeze_word_embeddings)  # the words follow them
    verbalizer = LabelWords(backbone, card, inputs.languages, "discrete")
    method = prompting.PromptMethod(inputs, prompting.MaskEncoder(backbone), verbalizer, card)
    return method.to(backbone.device)  # trained: none has no trainable parameter (`train` returns at once)
