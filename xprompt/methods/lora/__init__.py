"""LoRA (Hu et al. 2022) through the `peft` library: low-rank adapters on the encoder's attention
projections (query and value by default), the rest of the encoder frozen, read by a linear head
on the first token or by the card's template and label vectors. The adapters export in PEFT's
own format as well, so PEFT users load them with `PeftModel.from_pretrained`."""

from xprompt.methods import MethodSpec
from xprompt.methods.lora.config import LoraConfig

SPEC = MethodSpec(
    LoraConfig, "xprompt.methods.lora.model:build_lora",
    "low-rank adapters on the attention projections, through PEFT",
    "Hu et al., ICLR 2022",
    "the adapters (rank r on target_modules) and the head or label vectors; the encoder is frozen")
