"""The prompt methods' composition (OpenPrompt's): a card template filled per language
(PromptInputs), an encoder that returns the <mask> state (plain, virtual tokens, or a method's
own), and a verbalizer; discrete, soft, ptuning, deep, and prefix / lora with `readout: mask`
are built from these."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import torch
from torch import nn

from xprompt.encoder.batching import eval_batches, to_device
from xprompt.errors import ConfigError
from xprompt.methods.base import RECORDED_BUFFER, Exportable, collate_token_rows, encode, gather_rows, train_only
from xprompt.methods.options import soft_count_message
from xprompt.methods.verbalizers import make_verbalizer
from xprompt.encoder.templates import parse_template, render_many

if TYPE_CHECKING:
    from xprompt.methods.options import PromptOptions


class PromptInputs:
    """The card's template (or the method's) filled with each row's text, with the index of
    its <mask>, the positions of its soft tokens and the row's verbalizer language."""

    def __init__(self, tokenizer, card, template: str | None, soft_tokens: int, max_length: int,
                 prepend: bool = False):
        self.tokenizer, self.card, self.template = tokenizer, card, template
        self.soft_tokens, self.max_length = soft_tokens, max_length
        # prepend: the soft tokens go before the whole input, first special token included (Lester et al.,
        # PEFT); otherwise they sit in the template, right after the first special token by default
        self.prepend = prepend and soft_tokens > 0
        self.languages = list(dict.fromkeys([card.source_language, *card.languages]))
        self.parsed: dict[str, object] = {}
        for lang in self.languages:
            self.template_for(lang)  # every language's template is checked at construction

    def template_text(self, lang: str) -> str:
        text = self.template if self.template is not None else self.card.template(lang)
        if self.soft_tokens and not self.prepend and "[soft" not in text:
            text = f"[soft:{self.soft_tokens}] {text}"  # prompt tokens right after the first special token
        return text

    def template_for(self, lang: str):
        text = self.template_text(lang)
        if text not in self.parsed:
            template = parse_template(text, f"template of '{lang}'")
            if "text" not in template.slots:
                raise ConfigError(f"template {text!r} of '{lang}' has no {{text}} slot for the input")
            in_template = 0 if self.prepend else self.soft_tokens
            if template.soft_count != in_template:
                raise ConfigError(f"'{lang}': " + soft_count_message(text, template.soft_count, in_template))
            self.parsed[text] = template
        return self.parsed[text]

    def language_index(self, lang: str) -> int:
        # a language the card does not list reads the source language's label words (its fallback)
        return self.languages.index(lang) if lang in self.languages else 0

    def featurize(self, df: pd.DataFrame) -> list[dict]:
        """One row dict per row of `df`, in order; the rows of each language are rendered in one batch."""
        rows: list[dict | None] = [None] * len(df)
        langs = df["lang"].astype(str).to_numpy()
        prefix = self.soft_tokens if self.prepend else 0
        for lang in dict.fromkeys(langs):
            positions = (langs == lang).nonzero()[0]
            part = df.iloc[positions]
            template = self.template_for(lang)
            pairs = [p if isinstance(p, str) else None for p in part["text_pair"]]
            if any(p is not None for p in pairs) and "text_pair" not in template.slots:
                raise ConfigError(f"template {template.source!r} of '{lang}' has no {{text_pair}} slot but "
                                  f"the rows have a second text; add {{text_pair}} to the template")
            rendered = render_many(template, self.tokenizer, list(part["text"]), pairs, self.max_length - prefix)
            for position, label, one in zip(positions, part["label"], rendered):
                ids = [self.tokenizer.unk_token_id] * prefix + one.input_ids  # placeholders for the prompt
                rows[position] = {"input_ids": ids, "length": len(ids), "mask_index": one.mask_index + prefix,
                                  "soft_positions": list(range(prefix)) if prefix else one.soft_positions,
                                  "language": self.language_index(lang), "label": int(label)}
        return rows

    def collate(self, rows: list[dict]) -> dict:
        batch = collate_token_rows(rows, self.tokenizer.pad_token_id)
        batch["mask_index"] = torch.tensor([row["mask_index"] for row in rows], dtype=torch.long)
        batch["language"] = torch.tensor([row["language"] for row in rows], dtype=torch.long)
        if self.soft_tokens:
            batch["soft_positions"] = torch.tensor([row["soft_positions"] for row in rows], dtype=torch.long)
        return batch


class MaskEncoder(nn.Module):
    """The plain encoder: the filled template in, the <mask> state out."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone, self.embeddings, self.layers = backbone, backbone.embeddings, backbone.layers

    def new_parameters(self) -> list[nn.Parameter]:
        return []

    def fold(self) -> dict:
        return {}

    def forward(self, input_ids, attention_mask, mask_index, soft_positions=None):
        return gather_rows(encode(self.backbone, self.layers, attention_mask, input_ids=input_ids), mask_index)


RECORDED_START = f"encoder.prompt.{RECORDED_BUFFER}"  # a virtual-token prompt's start in a trained state


def recorded_start(settings: dict, state: dict) -> torch.Tensor | None:
    """The virtual tokens before training (soft) or the prompt encoder's output before training
    (P-tuning), as the trained state recorded it; None in states written before it was recorded."""
    return state.get(RECORDED_START)


class VirtualTokenEncoder(nn.Module):
    """The encoder with the template's soft positions replaced by the vectors `prompt()` returns
    ([tokens, hidden]): a trainable matrix (soft) or a prompt encoder's output (ptuning)."""

    def __init__(self, backbone, prompt: nn.Module):
        super().__init__()
        self.backbone, self.embeddings, self.layers = backbone, backbone.embeddings, backbone.layers
        self.prompt = prompt

    def new_parameters(self) -> list[nn.Parameter]:
        return list(self.prompt.parameters())

    def fold(self) -> dict:
        return {}

    def peft_files(self, identity: dict, method: "PromptMethod") -> tuple[dict, dict]:
        """PEFT's prompt-tuning files: the virtual tokens alone (label vectors or words stay in
        xprompt's files). PEFT puts them before the whole input, as `position: prepend` does."""
        changed = [n for n, p in method.named_parameters()
                   if p.requires_grad and not n.startswith(("encoder.prompt.", "verbalizer."))]
        if changed:
            raise ConfigError(f"the method also trained base model weights ({changed[0]}, ...), which PEFT's "
                              f"prompt-tuning format cannot hold; export it without --peft")
        with torch.no_grad():
            prompt = self.prompt().detach().to("cpu").contiguous()
        config = self.backbone.config
        adapter = {
            "peft_type": "PROMPT_TUNING", "task_type": "FEATURE_EXTRACTION", "inference_mode": True,
            "base_model_name_or_path": identity["id"], "revision": identity["revision"],
            "num_virtual_tokens": int(prompt.shape[0]), "token_dim": int(prompt.shape[1]),
            "num_transformer_submodules": 1, "num_attention_heads": config.num_attention_heads,
            "num_layers": config.num_hidden_layers, "prompt_tuning_init": "RANDOM",
            "prompt_tuning_init_text": None, "tokenizer_name_or_path": None, "tokenizer_kwargs": None,
            "modules_to_save": None, "auto_mapping": None,
        }
        if not method.inputs.prepend:
            adapter["xprompt_note"] = ("trained after the first special token (position: after_cls); PEFT "
                                       "prepends the tokens to the whole input, so its states differ")
        return adapter, {"prompt_embeddings": prompt}

    def forward(self, input_ids, attention_mask, mask_index, soft_positions):
        embeds = self.embeddings.word_embeddings(input_ids)
        rows = torch.arange(len(embeds), device=embeds.device).unsqueeze(1).expand_as(soft_positions)
        prompt = self.prompt().unsqueeze(0).expand(len(embeds), -1, -1)
        embeds = embeds.index_put((rows, soft_positions), prompt)
        hidden = encode(self.backbone, self.layers, attention_mask, inputs_embeds=embeds)
        return gather_rows(hidden, mask_index)


class PromptMethod(Exportable, nn.Module):
    """Template + encoder + verbalizer (OpenPrompt's composition): the Method that discrete,
    soft, ptuning and deep build, each with its own encoder and options."""

    def __init__(self, inputs: PromptInputs, encoder: nn.Module, verbalizer: nn.Module, card):
        super().__init__()
        self.inputs, self.encoder, self.verbalizer = inputs, encoder, verbalizer
        self.num_labels = len(card.labels)

    def featurize(self, df: pd.DataFrame) -> list[dict]:
        return self.inputs.featurize(df)

    def collate(self, rows: list[dict]) -> dict:
        return self.inputs.collate(rows)

    def forward(self, input_ids, attention_mask, mask_index, language, soft_positions=None, labels=None):
        return self.verbalizer(self.encoder(input_ids, attention_mask, mask_index, soft_positions), language)

    def new_parameters(self) -> list[nn.Parameter]:
        return self.encoder.new_parameters() + self.verbalizer.new_parameters()

    def initialize(self, train_df: pd.DataFrame) -> None:
        self.verbalizer.initialize(self, train_df)

    def export_form(self, languages: list[str]) -> dict:
        """Turn into the form an export stores (e.g. reparameterised prompts folded into plain
        ones); returns the settings that rebuild that form at load time."""
        return self.encoder.fold()

    def filled_templates(self, languages: list[str]) -> dict[str, str]:
        template_text = getattr(self.inputs, "template_text", None)  # PlainInputs (a readout head) has none
        return {lang: template_text(lang) for lang in languages} if template_text is not None else {}

    def peft_files(self, identity: dict) -> tuple[dict, dict]:
        """PEFT's adapter_config.json and adapter tensors, where PEFT can express this method."""
        files = getattr(self.encoder, "peft_files", None)
        if files is None:
            raise ConfigError(f"PEFT has no format for the {type(self.encoder).__name__} of this method; "
                              f"export it without --peft")
        return files(identity, self)

    @torch.no_grad()
    def mask_states(self, df: pd.DataFrame, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
        """<mask> states of every row of `df` (eval mode) and their labels, in row order."""
        was_training = self.training
        self.eval()
        rows = self.featurize(df)
        device = next(self.parameters()).device
        states, labels = [None] * len(rows), torch.tensor([row["label"] for row in rows], device=device)
        for indices in eval_batches(rows, batch_size):
            batch = to_device(self.collate([rows[i] for i in indices]), device)
            for i, state in zip(indices, self.encoder(batch["input_ids"], batch["attention_mask"],
                                                     batch["mask_index"], batch.get("soft_positions"))):
                states[i] = state
        self.train(was_training)
        return torch.stack(states), labels


def build_prompt_method(config: PromptOptions, backbone, card, encoder: nn.Module, method: str,
                        prepend: bool = False) -> PromptMethod:
    """The filled card template, `encoder` and the configured verbalizer, composed; only the
    method's new parameters are left trainable (the backbone is frozen)."""
    soft_tokens = config.num_tokens if config.input_tokens else 0
    inputs = PromptInputs(backbone.tokenizer, card, config.template, soft_tokens, config.max_length, prepend)
    verbalizer = make_verbalizer(config.verbalizer, backbone, card, inputs.languages, config.label_init,
                                 f"{method} with verbalizer: label_words")
    prompt_method = PromptMethod(inputs, encoder, verbalizer, card)
    train_only(prompt_method, prompt_method.new_parameters())
    return prompt_method.to(backbone.device)
