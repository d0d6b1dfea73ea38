"""LoRA (Hu et al. 2022) through the `peft` library: low-rank adapters on the encoder's attention
projections (query and value by default), the rest of the encoder frozen, read by a linear head
on the first token or by the card's template and label vectors. The adapters export in PEFT's
own format as well, so PEFT users load them with `PeftModel.from_pretrained`."""

from __future__ import annotations


from torch import nn

from xprompt.errors import ConfigError, ModelError
from xprompt.methods import base, prompting
from xprompt.methods.lora.config import LoraConfig
from xprompt.methods.readout import build_readout_method


def peft_lora_config(config: LoraConfig):
    from peft import LoraConfig as PeftLoraConfig

    return PeftLoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.lora_dropout,
                          target_modules=list(config.target_modules), bias="none")


class LoraEncoder(nn.Module):
    """The encoder with LoRA adapters injected by PEFT; returns the state at `mask_index`."""

    def __init__(self, backbone, config: LoraConfig):
        super().__init__()
        try:
            from peft import inject_adapter_in_model
        except ImportError:
            raise ModelError("the lora method needs the peft library (a dependency of xprompt): "
                             "pip install peft") from None
        self.peft_config = peft_lora_config(config)
        names = sorted({name.rsplit(".", 1)[-1] for name, m in backbone.encoder.named_modules()
                        if isinstance(m, nn.Linear)})
        missing = [t for t in config.target_modules if t not in names]
        if missing:
            raise ConfigError(f"lora.target_modules names {missing[0]!r}, which {backbone.model_id} does not "
                              f"have; its linear layers: {', '.join(names)}")
        backbone = backbone.owned(lambda name: False)  # new modules over the shared weights, for the adapters
        inject_adapter_in_model(self.peft_config, backbone.encoder)
        self.backbone, self.embeddings, self.layers = backbone, backbone.embeddings, backbone.layers

    def new_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.layers.named_parameters() if "lora_" in name]

    def fold(self) -> dict:
        return {}

    def forward(self, input_ids, attention_mask, mask_index, soft_positions=None):
        hidden = base.encode(self.backbone, self.layers, attention_mask, input_ids=input_ids)
        return base.gather_rows(hidden, mask_index)

    def peft_files(self, identity: dict, method=None) -> tuple[dict, dict]:
        """(adapter_config.json, adapter_model.safetensors tensors) as PEFT writes them for a
        LoRA on the bare encoder (task type FEATURE_EXTRACTION)."""
        from peft import get_peft_model_state_dict

        config = self.peft_config.to_dict()
        config.update(base_model_name_or_path=identity["id"], revision=identity["revision"],
                      task_type="FEATURE_EXTRACTION", inference_mode=True)
        config["target_modules"] = sorted(config["target_modules"])
        state = get_peft_model_state_dict(self.backbone.encoder)
        tensors = {f"base_model.model.{name}": t.detach().cpu().contiguous() for name, t in state.items()}
        return config, tensors


def build_lora(config: LoraConfig, backbone, card) -> prompting.PromptMethod:
    return build_readout_method(config, backbone, card, LoraEncoder(backbone, config), "lora")
