"""Discrete prompts (PET, Schick & Schütze 2021; LM-BFF, Gao et al. 2021): the card's template
of each language filled with the text, and the MLM logits of each class's label words at the
<mask> as class scores. Trained end to end, or not at all (zero-shot prompting)."""

from xprompt.methods import MethodSpec
from xprompt.methods.discrete.config import DiscreteConfig, Trained

SPEC = MethodSpec(
    DiscreteConfig, "xprompt.methods.discrete.model:build_discrete",
    "template + MLM logits of label words (PET / LM-BFF)",
    "Schick & Schuetze, EACL 2021; Gao et al., ACL 2021",
    "all weights (trained: all) or nothing (zero-shot prompting); needs a masked-LM head",
    trains_pretrained=lambda config: config.trained == Trained.ALL)
