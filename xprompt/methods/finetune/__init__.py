"""Fine-tuning, the standard baseline: a classification head on the first token's final state,
every weight trained except, by default, the word embeddings.

Heads: `linear` (dropout + linear, xprompt's default) or `standard` (dropout, dense + tanh,
dropout, linear: the head of RoBERTa / XLM-R's sequence classification, and BERT's pooler +
classifier), which with `freeze_word_embeddings: false` is the fine-tuning papers compare with."""

from xprompt.methods import MethodSpec
from xprompt.methods.finetune.config import FineTuneConfig

SPEC = MethodSpec(
    FineTuneConfig, "xprompt.methods.finetune.model:FineTune",
    "classification head on the first token",
    "standard baseline (Devlin et al. 2019; Conneau et al. 2020)",
    "all weights and the head; word embeddings frozen unless freeze_word_embeddings: false",
    trains_pretrained=lambda config: True)
