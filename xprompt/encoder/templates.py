"""Templates are data: `{text} Topic: <mask>.`, `{text} ? <mask> , {text_pair}`,
`[soft:4] <mask>`. This module parses them and turns them into token ids."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xprompt.errors import ConfigError

MASK = "<mask>"
SLOTS = ("text", "text_pair")
_PIECE = re.compile(r"(\{[^{}]*\}|<mask>|\[soft(?::\d+)?\])")


@dataclass(frozen=True)
class Segment:
    kind: str  # "words", "slot", "mask" or "soft"
    value: str = ""
    count: int = 0


@dataclass(frozen=True)
class Template:
    source: str
    segments: tuple[Segment, ...] = field(default=())

    @property
    def soft_count(self) -> int:
        return sum(s.count for s in self.segments if s.kind == "soft")

    @property
    def slots(self) -> list[str]:
        return [s.value for s in self.segments if s.kind == "slot"]

    def without_slots(self) -> "Template":
        """The prompt alone, as UniPrompt's prompt tower sees it."""
        kept = tuple(s for s in self.segments if s.kind != "slot")
        return Template(self.source, kept)


def parse_template(text: str, where: str = "template") -> Template:
    """Parse a template string; `where` names the file/key for error messages."""
    segments = []
    for piece in _PIECE.split(text):
        if not piece or piece.isspace():
            continue
        if piece == MASK:
            segments.append(Segment("mask"))
        elif piece.startswith("[soft"):
            count = int(piece[6:-1]) if ":" in piece else 1
            segments.append(Segment("soft", count=count))
        elif piece.startswith("{"):
            name = piece[1:-1]
            if name not in SLOTS:
                raise ConfigError(f"{where}: unknown placeholder {piece} in template {text!r}; "
                                  f"accepted placeholders are {{text}}, {{text_pair}}, <mask> and [soft:N]")
            segments.append(Segment("slot", value=name))
        else:
            segments.append(Segment("words", value=piece.strip()))
    masks = sum(s.kind == "mask" for s in segments)
    if masks != 1:
        raise ConfigError(f"{where}: template {text!r} must contain exactly one <mask> (found {masks})")
    return Template(text, tuple(segments))


@dataclass
class Rendered:
    input_ids: list[int]
    mask_index: int
    soft_positions: list[int]  # positions whose embedding a trainable vector replaces


def render(template: Template, tokenizer, text: str = "", text_pair: str | None = None,
           max_length: int = 256) -> Rendered:
    """Token ids of the filled template with special tokens around it. Only the
    slots are truncated (longest first), so the prompt words and the mask survive."""
    return _assemble(_tokenize_segments(template, tokenizer, {"text": text, "text_pair": text_pair or ""}),
                     tokenizer, max_length)


def render_many(template: Template, tokenizer, texts: list[str], pairs: list[str | None] | None = None,
                max_length: int = 256) -> list[Rendered]:
    """`render` of many rows: each slot's texts go through the (fast) tokenizer in one call,
    the template's own words once. Gives exactly what `render` gives row by row."""
    values = {"text": list(texts), "text_pair": [p or "" for p in pairs] if pairs is not None else [""] * len(texts)}
    slot_ids = {name: tokenizer(values[name], add_special_tokens=False)["input_ids"] if values[name] else []
                for name in template.slots}
    fixed = _tokenize_segments(template.without_slots(), tokenizer, {})
    rendered = []
    for row in range(len(texts)):
        fixed_pieces, pieces = iter(fixed), []
        for segment in template.segments:
            pieces.append(("slot", slot_ids[segment.value][row]) if segment.kind == "slot" else next(fixed_pieces))
        rendered.append(_assemble(pieces, tokenizer, max_length))
    return rendered


def _assemble(pieces: list[tuple[str, list[int]]], tokenizer, max_length: int) -> Rendered:
    budget = max_length - 2 - sum(len(ids) for kind, ids in pieces if kind != "slot")
    _truncate_slots(pieces, budget)
    ids, mask_index, soft_positions = [tokenizer.cls_token_id], -1, []
    for kind, piece_ids in pieces:
        if kind == "mask":
            mask_index = len(ids)
        elif kind == "soft":
            soft_positions.extend(range(len(ids), len(ids) + len(piece_ids)))
        ids.extend(piece_ids)
    ids.append(tokenizer.sep_token_id)
    return Rendered(ids, mask_index, soft_positions)


def _tokenize_segments(template: Template, tokenizer, values: dict[str, str]) -> list[tuple[str, list[int]]]:
    pieces = []
    for segment in template.segments:
        if segment.kind == "mask":
            pieces.append(("mask", [tokenizer.mask_token_id]))
        elif segment.kind == "soft":
            # placeholder ids; the method swaps in trainable vectors at these positions
            pieces.append(("soft", [tokenizer.unk_token_id] * segment.count))
        else:
            words = values[segment.value] if segment.kind == "slot" else segment.value
            pieces.append((segment.kind, tokenizer(words, add_special_tokens=False)["input_ids"]))
    return pieces


def _truncate_slots(pieces: list[tuple[str, list[int]]], budget: int) -> None:
    slot_indices = [i for i, (kind, _) in enumerate(pieces) if kind == "slot"]
    excess = sum(len(pieces[i][1]) for i in slot_indices) - max(budget, 0)
    while excess > 0:
        lengths = sorted((len(pieces[i][1]), i) for i in slot_indices)
        longest_length, longest = lengths[-1]
        runner_up = lengths[-2][0] if len(lengths) > 1 else 0
        cut = max(1, min(excess, longest_length - runner_up))
        kind, ids = pieces[longest]
        pieces[longest] = (kind, ids[:len(ids) - cut])
        excess -= cut
