"""Templates: parsing, errors that name the template, soft tokens, rendering with
truncation that keeps the prompt and the mask."""

from __future__ import annotations

import pytest

from conftest import _tiny_tokenizer
from xprompt.errors import ConfigError
from xprompt.encoder.templates import Segment, parse_template, render, render_many


@pytest.fixture(scope="module")
def tokenizer():
    return _tiny_tokenizer()


def ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_parse_text_template():
    template = parse_template("{text} It was <mask>.")
    assert template.segments == (Segment("slot", "text"), Segment("words", "It was"), Segment("mask"),
                                 Segment("words", "."))
    assert template.slots == ["text"]
    assert template.soft_count == 0
    assert template.source == "{text} It was <mask>."


def test_parse_pair_template():
    template = parse_template("{text} ? <mask> , {text_pair}")
    assert template.slots == ["text", "text_pair"]
    assert [s.kind for s in template.segments] == ["slot", "words", "mask", "words", "slot"]


def test_without_slots_keeps_prompt_only():
    prompt = parse_template("{text} It was <mask>.").without_slots()
    assert [s.kind for s in prompt.segments] == ["words", "mask", "words"]
    assert prompt.slots == []


@pytest.mark.parametrize("text, count", [
    ("[soft:4] <mask>", 4), ("[soft] <mask>", 1), ("[soft:2] {text} [soft:3] <mask> [soft]", 6),
    ("{text} <mask>", 0)])
def test_soft_token_counts(text, count):
    assert parse_template(text).soft_count == count


@pytest.mark.parametrize("text, found", [("{text} It was good.", 0), ("<mask> {text} <mask>", 2)])
def test_exactly_one_mask(text, found):
    with pytest.raises(ConfigError) as error:
        parse_template(text, "tasks/toy.yaml templates.en")
    message = str(error.value)
    assert "tasks/toy.yaml templates.en" in message
    assert repr(text) in message
    assert "exactly one <mask>" in message and f"found {found}" in message


def test_unknown_placeholder_names_it_and_the_accepted_ones():
    with pytest.raises(ConfigError) as error:
        parse_template("{premise} ? <mask> , {hypothesis}", "xnli.yaml templates.en")
    message = str(error.value)
    assert "xnli.yaml templates.en" in message and "{premise}" in message
    assert "{text}" in message and "{text_pair}" in message and "[soft:N]" in message


def test_render_adds_special_tokens_and_points_at_mask(tokenizer):
    rendered = render(parse_template("{text} It was <mask>."), tokenizer, "good film")
    expected = ([tokenizer.cls_token_id] + ids(tokenizer, "good film") + ids(tokenizer, "It was")
                + [tokenizer.mask_token_id] + ids(tokenizer, ".") + [tokenizer.sep_token_id])
    assert rendered.input_ids == expected
    assert rendered.input_ids[rendered.mask_index] == tokenizer.mask_token_id
    assert rendered.soft_positions == []


def test_render_truncates_text_but_keeps_prompt_and_mask(tokenizer):
    long_text = " ".join(["the film was good and great"] * 20)
    template = parse_template("{text} It was <mask>.")
    rendered = render(template, tokenizer, long_text, max_length=24)
    assert len(rendered.input_ids) == 24
    assert rendered.input_ids[rendered.mask_index] == tokenizer.mask_token_id
    tail = ids(tokenizer, "It was") + [tokenizer.mask_token_id] + ids(tokenizer, ".") + [tokenizer.sep_token_id]
    assert rendered.input_ids[-len(tail):] == tail
    kept = 24 - 1 - len(tail)
    assert rendered.input_ids[1:1 + kept] == ids(tokenizer, long_text)[:kept]  # the text's start survives


def test_render_mask_index_when_mask_comes_first(tokenizer):
    long_text = " ".join(["a terrible bad story"] * 20)
    rendered = render(parse_template("<mask> : {text}"), tokenizer, long_text, max_length=16)
    assert len(rendered.input_ids) == 16
    assert rendered.mask_index == 1
    assert rendered.input_ids[1] == tokenizer.mask_token_id


def test_render_text_pair_in_template_order(tokenizer):
    template = parse_template("{text} ? <mask> , {text_pair}")
    rendered = render(template, tokenizer, "good film", "bad film")
    expected = ([tokenizer.cls_token_id] + ids(tokenizer, "good film") + ids(tokenizer, "?")
                + [tokenizer.mask_token_id] + ids(tokenizer, ",") + ids(tokenizer, "bad film")
                + [tokenizer.sep_token_id])
    assert rendered.input_ids == expected
    assert rendered.input_ids[rendered.mask_index] == tokenizer.mask_token_id


def test_render_truncates_longest_slot_first(tokenizer):
    template = parse_template("{text} ? <mask> , {text_pair}")
    long_text, short_pair = " ".join(["good acting great music"] * 10), "bad film"
    fixed = 2 + len(ids(tokenizer, "?")) + 1 + len(ids(tokenizer, ","))
    max_length = fixed + 2 * len(ids(tokenizer, short_pair)) + 3
    rendered = render(template, tokenizer, long_text, short_pair, max_length=max_length)
    assert len(rendered.input_ids) == max_length
    pair_ids = ids(tokenizer, short_pair)
    assert rendered.input_ids[-1 - len(pair_ids):-1] == pair_ids  # the short slot is untouched
    assert rendered.input_ids[rendered.mask_index] == tokenizer.mask_token_id


def test_render_missing_pair_is_empty(tokenizer):
    template = parse_template("{text} ? <mask> , {text_pair}")
    assert render(template, tokenizer, "good film").input_ids == render(template, tokenizer, "good film", "").input_ids


def test_render_soft_positions(tokenizer):
    rendered = render(parse_template("[soft:3] {text} [soft] <mask>"), tokenizer, "good")
    text_length = len(ids(tokenizer, "good"))
    assert rendered.soft_positions == [1, 2, 3, 4 + text_length]
    assert all(rendered.input_ids[p] == tokenizer.unk_token_id for p in rendered.soft_positions)
    assert rendered.mask_index == 5 + text_length


@pytest.mark.parametrize("source", ["{text} It was <mask>.", "{text} ? <mask> , {text_pair}",
                                    "[soft:2] <mask> {text_pair} [soft] {text} ."])
def test_render_many_gives_what_render_gives_row_by_row(tokenizer, source):
    template = parse_template(source)
    texts = ["good film", "a bad and terrible and long story about a film " * 3, "", "great"]
    pairs = ["bad", None, "good good good good good good", "a story " * 9]
    batched = render_many(template, tokenizer, texts, pairs, max_length=16)
    assert batched == [render(template, tokenizer, t, p, max_length=16) for t, p in zip(texts, pairs)]
    assert any(len(r.input_ids) == 16 for r in batched)  # truncation happened in this case


def test_tokenize_rows_batches_rows_with_and_without_a_second_text(tokenizer):
    import pandas as pd

    from xprompt.methods.base import tokenize_rows
    df = pd.DataFrame({"text": ["good film", "bad " * 30, "great", "a story"],
                       "text_pair": ["bad", None, float("nan"), "good good"], "label": [1, 0, 1, 0]})
    rows = tokenize_rows(tokenizer, df, max_length=12, extra=7)
    for row, text, pair, label in zip(rows, df["text"], df["text_pair"], df["label"]):
        one = tokenizer(text, pair if isinstance(pair, str) else None, truncation=True, max_length=12)
        assert row["input_ids"] == one["input_ids"] and row["length"] == len(one["input_ids"])
        assert row["label"] == label and row["extra"] == 7
    assert rows[1]["length"] == 12
