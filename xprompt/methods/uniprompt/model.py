"""UniPrompt (Huang et al., EMNLP 2022): a prompt tower that sees only the template,
a context tower that sees only the input, fused top layers over [prompt; context],
and soft label words initialised from class means. The prompt tower never sees
the input, so its output is one constant per template: precompute it and the
inference cost is that of the plain encoder."""

from __future__ import annotations

import copy

import pandas as pd
import torch
from torch import nn

from xprompt.encoder.backbone import Backbone
from xprompt.encoder.batching import eval_batches, to_device
from xprompt.errors import ConfigError
from xprompt.methods import base
from xprompt.methods.uniprompt.config import PromptInit, Recipe, Trained, UniPromptConfig
from xprompt.methods.options import LabelInit
from xprompt.encoder.templates import parse_template, render


PROMPT_STATES = "prompt_states."  # exported names of the prompt tower's outputs, one per template


class UniPrompt(base.Exportable, nn.Module):
    def __init__(self, config: UniPromptConfig, backbone: Backbone, card):
        super().__init__()
        layers = len(backbone.layers)
        if config.fused_layers >= layers:
            raise ConfigError(f"uniprompt.fused_layers is {config.fused_layers} but {backbone.model_id} has "
                              f"{layers} layers; accepted: 1..{layers - 1}")
        if config.trained == Trained.ALL:  # both towers and the fused layers train: its own copy
            backbone = base.trained_copy(backbone, not config.freeze_word_embeddings)
        self.config, self.backbone, self.card = config, backbone, card
        self.tokenizer = backbone.tokenizer
        self.num_labels = len(card.labels)
        split = layers - config.fused_layers
        self.embeddings = backbone.embeddings
        self.context_tower = backbone.layers[:split]
        self.fused_layers = backbone.layers[split:]
        self.prompt_tower = copy.deepcopy(backbone.layers[:split])
        if config.prompt_init == PromptInit.RANDOM:
            base.reinitialise(self.prompt_tower, backbone.config.initializer_range)
        self.mask_transform = backbone.mask_head.transform if backbone.has_mlm_head else nn.Identity()
        hidden = backbone.hidden_size
        self.label_vectors = nn.Parameter(torch.randn(self.num_labels, hidden) * backbone.config.initializer_range)
        self.label_bias = nn.Parameter(torch.zeros(self.num_labels))
        self.templates = {}  # template text -> parsed template without its input slots
        soft = max((self._template(lang).soft_count for lang in card.languages), default=0)
        self.soft_embeddings = nn.Parameter(self._soft_init(soft))
        self.precomputed: dict[str, torch.Tensor] = {}
        self._set_trainable()
        self.to(backbone.device)

    # -- templates -------------------------------------------------------
    def template_text(self, lang: str) -> str:
        if self.config.template is not None:
            return self.config.template
        return self.card.template(lang if self.config.language_templates else self.card.source_language)

    def _template(self, lang: str):
        return self.templates_for(self.template_text(lang), where=f"template of {lang}")

    def _soft_init(self, count: int) -> torch.Tensor:
        # soft tokens start as embeddings of frequent-ish vocabulary rows (a seeded draw)
        words = self.embeddings.word_embeddings.weight.detach()
        generator = torch.Generator().manual_seed(0)
        low, high = min(1000, words.shape[0] // 2), min(words.shape[0], 5000)
        rows = torch.randint(low, high, (count,), generator=generator)
        return words[rows].clone().cpu()

    def _set_trainable(self) -> None:
        """trained: prompt: the prompt tower (a copy of the shared layers) and the new parameters train,
        the shared backbone stays frozen; all: the backbone is already the method's own copy."""
        for parameter in self.prompt_tower.parameters():
            parameter.requires_grad_(True)

    def new_parameters(self) -> list[nn.Parameter]:
        return [self.label_vectors, self.label_bias, self.soft_embeddings]

    # -- data ------------------------------------------------------------
    def featurize(self, df: pd.DataFrame) -> list[dict]:
        rows = base.tokenize_rows(self.tokenizer, df, self.config.max_length)
        for row, lang in zip(rows, df["lang"]):
            row["template"] = row["group"] = self.template_text(lang)
        return rows

    def collate(self, rows: list[dict]) -> dict:
        templates = {row["template"] for row in rows}
        if len(templates) != 1:
            raise ValueError("a UniPrompt batch must share one template; batch rows by language")
        batch = base.collate_token_rows(rows, self.tokenizer.pad_token_id)
        batch["template"] = templates.pop()
        return batch

    # -- model -----------------------------------------------------------
    def prompt_states(self, template: str) -> torch.Tensor:
        """[1, prompt_length, hidden] output of the prompt tower; constant per template."""
        if template in self.precomputed:
            return self.precomputed[template]
        if self.prompt_tower is None:
            raise RuntimeError(f"prompt tower was dropped and template {template!r} was not precomputed")
        rendered = render(self.templates_for(template), self.tokenizer)
        ids = torch.tensor([rendered.input_ids], device=self.label_vectors.device)
        embeds = self.embeddings.word_embeddings(ids)
        if rendered.soft_positions:
            soft = self.soft_embeddings[: len(rendered.soft_positions)].unsqueeze(0)
            embeds = embeds.clone()
            embeds[:, rendered.soft_positions] = soft
        mask = torch.ones_like(ids)
        hidden = self.backbone.embed(mask, inputs_embeds=embeds)
        states = self.backbone.run_layers(self.prompt_tower, hidden, mask)
        if not self.training and not torch.is_grad_enabled():
            # inference: the tower runs once per template; kept in float32 whatever autocast computed it in
            self.precomputed[template] = states.float()
        return states

    def templates_for(self, template: str, where: str = "template"):
        if template not in self.templates:
            self.templates[template] = parse_template(template, where).without_slots()
        return self.templates[template]

    def mask_index(self, template: str) -> int:
        # the mask sits in the prompt, which comes first in [prompt; context]
        return render(self.templates_for(template), self.tokenizer).mask_index

    def mask_features(self, input_ids, attention_mask, template: str, token_type_ids=None,
                      transform: bool = True) -> torch.Tensor:
        """Representation of the <mask> after the fused layers, through the MLM transform
        (`transform=False`: the raw state)."""
        context = self.backbone.embed(attention_mask, input_ids=input_ids, token_type_ids=token_type_ids)
        context = self.backbone.run_layers(self.context_tower, context, attention_mask)
        prompt = self.prompt_states(template)
        batch = input_ids.shape[0]
        fused = torch.cat([prompt.expand(batch, -1, -1), context], dim=1)
        mask = torch.cat([attention_mask.new_ones(batch, prompt.shape[1]), attention_mask], dim=1)
        state = self.backbone.run_layers_at(self.fused_layers, fused, mask, self.mask_index(template))
        return self.mask_transform(state) if transform else state

    def forward(self, input_ids, attention_mask, template: str, token_type_ids=None, labels=None):
        features = self.mask_features(input_ids, attention_mask, template, token_type_ids)
        return features @ self.label_vectors.T + self.label_bias

    # -- initialisation and inference ------------------------------------
    @torch.no_grad()
    def initialize(self, train_df: pd.DataFrame) -> None:
        if self.config.label_init == LabelInit.DYNAMIC:
            self._init_from_class_means(train_df)
        elif self.config.label_init == LabelInit.WORDS:
            self._init_from_words()

    def _init_from_class_means(self, train_df: pd.DataFrame) -> None:
        """Each class vector = mean mask feature of its training examples; the bias
        -|mean|^2/2 makes the untrained scorer exactly nearest-class-mean. The paper's recipe
        averages the raw mask states (before the MLM transform) and leaves the bias at 0."""
        paper = self.config.recipe == Recipe.PAPER
        was_training = self.training
        self.eval()
        rows = self.featurize(train_df)
        sums = torch.zeros_like(self.label_vectors)
        counts = torch.zeros(self.num_labels, device=sums.device)
        for indices in eval_batches(rows, 16):
            batch = to_device(self.collate([rows[i] for i in indices]), sums.device)
            features = self.mask_features(batch["input_ids"], batch["attention_mask"], batch["template"],
                                          batch.get("token_type_ids"), transform=not paper)
            sums.index_add_(0, batch["labels"], features)
            counts.index_add_(0, batch["labels"], torch.ones_like(batch["labels"], dtype=counts.dtype))
        means = sums / counts.clamp(min=1).unsqueeze(1)
        self.label_vectors.copy_(means)
        bias = -0.5 * means.pow(2).sum(dim=1) if self.config.class_mean_bias else torch.zeros_like(self.label_bias)
        self.label_bias.copy_(bias)
        self.train(was_training)

    def _init_from_words(self) -> None:
        """Each class vector = mean embedding of its source-language label words' pieces."""
        words = self.card.verbalizer(self.card.source_language)
        table = self.embeddings.word_embeddings.weight
        for label, label_words in enumerate(words):
            ids = [i for piece in self.backbone.word_embedding_ids(label_words) for i in piece]
            self.label_vectors[label] = table[ids].mean(dim=0)

    def export_form(self, languages: list[str]) -> dict:
        """The prompt tower never sees the input: its output per template replaces it."""
        by_template = {}
        for lang in languages:
            by_template.setdefault(self.template_text(lang), lang)
        self.precompute(list(by_template.values()), drop_prompt_tower=True)
        return {}

    def exported_tensors(self) -> dict[str, tuple[torch.Tensor, dict]]:
        """The prompt tower's output per template (`prompt_states.<i>`) and the trained tensors, but not
        the tower nor the soft tokens that only it reads: inference runs the plain encoder."""
        what = "prompt tower output for this template (the tower itself is not exported: it never sees the input)"
        tensors = {f"{PROMPT_STATES}{index}": (states, {"template": template, "what": what})
                   for index, (template, states) in enumerate(self.precomputed.items())}
        tower_inputs = ("soft_embeddings",) if self.prompt_tower is None else ()
        tensors.update({name: entry for name, entry in super().exported_tensors().items() if name not in tower_inputs})
        return tensors

    def filled_templates(self, languages: list[str]) -> dict[str, str]:
        return {lang: self.template_text(lang) for lang in languages}

    def load_exported(self, tensors: dict[str, torch.Tensor], info: dict) -> None:
        """Trained tensors by name; the exported prompt states replace the prompt tower."""
        states = {name: t for name, t in tensors.items() if name.startswith(PROMPT_STATES)}
        expected = {n: tuple(p.shape) for n, p in self.named_parameters()}
        expected.update({name: (1, t.shape[1], self.backbone.hidden_size) for name, t in states.items()})
        base.check_exported_shapes(expected, tensors)
        self.load_state_dict({n: t for n, t in tensors.items() if n not in states}, strict=False)
        if states:
            self.precomputed.clear()
            for name, tensor in states.items():
                self.precomputed[info[name]["template"]] = tensor.to(self.backbone.device)
            self.prompt_tower = None

    @torch.no_grad()
    def precompute(self, languages: list[str], drop_prompt_tower: bool = False) -> None:
        """Store the prompt tower's output for each language's template; optionally drop the tower."""
        was_training = self.training
        self.eval()
        for lang in languages:
            template = self.template_text(lang)
            self.precomputed.pop(template, None)
            self.precomputed[template] = self.prompt_states(template).detach().float()
        if drop_prompt_tower:
            self.prompt_tower = None
        # after the drop: back in training mode a live tower's states would be cleared, a dropped one's kept
        self.train(was_training)

    def train(self, mode: bool = True):
        if mode and self.precomputed and self.prompt_tower is not None:
            self.precomputed.clear()  # the prompt tower changes while training
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        if self.prompt_tower is not None:
            self.precomputed.clear()  # cached prompt states belong to the weights being replaced
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
