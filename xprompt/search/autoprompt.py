"""AutoPrompt (Shin et al. 2020): trigger words for a template, found with the backbone frozen.
Each step takes the gradient of the task loss with respect to the trigger embeddings at one
position, ranks the vocabulary by the first-order loss change (HotFlip: -grad . E), re-scores the
top k words and keeps the best when it strictly lowers the loss. The result is plain text, so it
is a template for `discrete`, `uniprompt` and `soft` like any hand-written one.

The loss is measured on fixed rows (a seeded, stratified draw of `batch_size` training rows, the
same for the gradient and the re-scoring), so it is a function of the template alone: the loss of
accepted steps never increases and the final loss is at most the initial one. With verbalizer
vectors, every template tried is scored by the class means of its own mask states (leave-one-out),
the scorer that the methods' class-mean init gives that template; no label vector is ever stale."""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xprompt.errors import ConfigError
from xprompt.methods.options import Verbalizer
from xprompt.search.objective import Objective, frozen, search_rows
from xprompt.search.vocabulary import Vocabulary
from xprompt.encoder.templates import MASK, parse_template, render

TRIGGER = "[T]"


class Placement(str, enum.Enum):
    BEFORE_MASK = "before_mask"
    TEMPLATE = "template"


@dataclass
class TriggerSearchConfig:
    num_triggers: int = field(default=3, metadata={"help": "trigger words to find"})
    placement: Placement = field(default=Placement.BEFORE_MASK, metadata={
        "help": "before_mask: the triggers go right before the base template's <mask>, its own words kept; "
                "template: at the [T] markers of `template`"})
    template: str | None = field(default=None, metadata={
        "help": "template with {text}, one <mask> and num_triggers [T] markers (placement: template)"})
    iterations: int = field(default=10, metadata={"help": "steps; step i tries position i mod num_triggers"})
    candidates: int = field(default=10, metadata={"help": "HotFlip top-k words re-scored per step"})
    batch_size: int = field(default=16, metadata={
        "help": "rows (seeded, stratified draw of the training rows) for the gradient and the re-scoring"})
    verbalizer: Verbalizer = field(default=Verbalizer.VECTORS, metadata={
        "help": "vectors: class means of the mask states (any checkpoint); label_words: MLM logits of "
                "the card's label words (needs a masked-LM head)"})
    whole_words: bool = field(default=True, metadata={
        "help": "only tokens that are a whole word after a space, so the template re-tokenizes to the ids"})
    alphabetic: bool = field(default=True, metadata={"help": "only alphabetic words (no digits, punctuation)"})
    init_word: str = field(default="the", metadata={"help": "word every trigger starts as (one token)"})
    max_length: int = field(default=256, metadata={"help": "longest input in tokens"})
    seed: int = field(default=13, metadata={"help": "draw of the search rows"})

    def __post_init__(self):
        for name in ("num_triggers", "candidates", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trigger search {name} is {getattr(self, name)}; it must be at least 1")
        if self.iterations < 0:
            raise ConfigError(f"trigger search iterations is {self.iterations}; it must be 0 or more")
        self.placement, self.verbalizer = Placement(self.placement), Verbalizer(self.verbalizer)
        if (self.placement == Placement.TEMPLATE) != (self.template is not None):
            raise ConfigError("trigger search: a template with [T] markers goes with placement: template, "
                              "and only with it (placement: before_mask reads the card's template)")
        if self.template is not None:
            parse_search(self.template, self.num_triggers)

    def search_template(self, base_template: str) -> str:
        """The template with a [T] marker at each trigger position."""
        if self.placement == Placement.TEMPLATE:
            return self.template
        parse_search(base_template, 0)
        return base_template.replace(MASK, " ".join([TRIGGER] * self.num_triggers) + " " + MASK, 1)


def parse_search(text: str, triggers: int):
    """The template with each [T] as a one-token soft slot, so `render` reports its positions."""
    found = text.count(TRIGGER)
    parsed = parse_template(text.replace(TRIGGER, "[soft:1]"), "trigger search template")
    if found != triggers or parsed.soft_count != found:
        raise ConfigError(f"trigger search template {text!r} has {found} [T] markers and "
                          f"{parsed.soft_count - found} [soft] tokens; it needs {triggers} [T] and no [soft]")
    if "text" not in parsed.slots:
        raise ConfigError(f"trigger search template {text!r} has no {{text}} slot for the input")
    return parsed


@dataclass
class SearchResult:
    template: str  # the triggers written as words, e.g. "{text} Topic: science news about <mask>."
    tokens: list[str]
    token_ids: list[int]
    initial_template: str
    initial_loss: float
    final_loss: float
    trace: list[dict]  # one entry per step: position, candidates and their losses, accepted or not
    search_template: str  # with [T] markers
    verbalizer: str
    row_ids: list[str]  # the rows the loss is measured on
    reencodes: bool  # `template` tokenizes to exactly the ids searched
    stopped: str  # "iterations", or "converged": every position tried on one template, none better
    seconds: float

    @property
    def accepted(self) -> int:
        return sum(step["accepted"] for step in self.trace)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def fill(search_template: str, words: list[str]) -> str:
    parts = search_template.split(TRIGGER)
    return "".join(part + word for part, word in zip(parts, words)) + parts[-1]


def reencodes(tokenizer, search_template: str, template: str, trigger_ids: list[int]) -> bool:
    """Does the written template tokenize to the prompt ids that were searched?"""
    searched = render(parse_search(search_template, len(trigger_ids)).without_slots(), tokenizer)
    ids = list(searched.input_ids)
    for position, token in zip(searched.soft_positions, trigger_ids):
        ids[position] = token
    return render(parse_template(template).without_slots(), tokenizer).input_ids == ids


def search_triggers(backbone, card, train_df: pd.DataFrame, config: TriggerSearchConfig | None = None,
                    base_template: str | None = None,
                    on_step: Callable[[dict], None] | None = None) -> SearchResult:
    """Find `config.num_triggers` trigger words for the template of `train_df`'s language
    (`base_template`, else the card's). The backbone's weights never change; `on_step` sees
    each trace entry as it is made."""
    config, start = config or TriggerSearchConfig(), time.perf_counter()
    lang = str(train_df["lang"].iloc[0]) if len(train_df) else card.source_language
    search_template = config.search_template(base_template or card.template(lang))
    parsed = parse_search(search_template, config.num_triggers)
    rows = search_rows(train_df, config.batch_size, config.verbalizer, config.seed, list(card.labels))
    vocabulary = Vocabulary(backbone.tokenizer, config.whole_words, config.alphabetic)
    triggers = [vocabulary.initial(config.init_word)] * config.num_triggers
    initial_template = fill(search_template, [vocabulary.word(t) for t in triggers])
    with frozen(backbone):
        objective = Objective(backbone, card, rows, parsed, config.verbalizer, lang, config.max_length)
        initial_loss = current = objective.loss(triggers)
        trace, misses, stopped = [], 0, "iterations"
        for iteration in range(config.iterations):
            step = _step(objective, vocabulary, config, triggers, current, iteration)
            misses = 0 if step["accepted"] else misses + 1
            if step["accepted"]:
                triggers[step["position"]], current = step["best_candidate_id"], step["best_candidate_loss"]
            step.update(loss_after=current, template=fill(search_template, [vocabulary.word(t) for t in triggers]))
            trace.append(step)
            if on_step is not None:
                on_step(step)
            if misses == config.num_triggers:  # one template, every position tried: the same would come again
                stopped = "converged"
                break
    words = [vocabulary.word(t) for t in triggers]
    template = fill(search_template, words)
    return SearchResult(template, words, list(triggers), initial_template, initial_loss, current, trace,
                        search_template, config.verbalizer.value, [str(i) for i in rows["id"]],
                        reencodes(backbone.tokenizer, search_template, template, triggers), stopped,
                        time.perf_counter() - start)


def _step(objective: Objective, vocabulary: Vocabulary, config: TriggerSearchConfig, triggers: list[int],
          current: float, iteration: int) -> dict:
    """One HotFlip step at position `iteration mod num_triggers`: rank, re-score, decide."""
    position = iteration % config.num_triggers
    gradient = objective.gradient(triggers)[position]
    table = objective.backbone.embeddings.word_embeddings.weight.detach()
    tried = vocabulary.candidates(-(table @ gradient), triggers[position], config.candidates)
    losses = [objective.loss(triggers[:position] + [token] + triggers[position + 1:]) for token in tried]
    best = int(np.argmin(losses)) if losses else None
    return {"iteration": iteration, "position": position, "replaced": vocabulary.word(triggers[position]),
            "candidates": [vocabulary.word(token) for token in tried], "candidate_losses": losses,
            "best_candidate": None if best is None else vocabulary.word(tried[best]),
            "best_candidate_id": None if best is None else tried[best],
            "loss_before": current, "best_candidate_loss": None if best is None else losses[best],
            "accepted": best is not None and losses[best] < current}  # strictly lower, same rows
