"""Which tokens may become trigger words, and the word each is written as in the template.

Policy: a token is usable when it is not special, `tokenizer.decode([id])` is one non-empty word
without template syntax ({ } [ ] < >), and (whole_words) the word written after a space encodes
back to exactly [id]; then the template written with the words tokenizes to the ids searched.
With alphabetic, the word must also be letters only. HotFlip ranks the whole vocabulary; the
usable check runs lazily down the ranking (cached), so the 250k-token vocabularies cost nothing."""

from __future__ import annotations

import torch

from xprompt.errors import ConfigError

TEMPLATE_SYNTAX = set("{}[]<>")


class Vocabulary:
    def __init__(self, tokenizer, whole_words: bool = True, alphabetic: bool = True):
        self.tokenizer, self.whole_words, self.alphabetic = tokenizer, whole_words, alphabetic
        self.special, self.size, self.words = set(tokenizer.all_special_ids), len(tokenizer), {}

    def word(self, token: int) -> str | None:
        """The word written in the template for `token`, or None when it may not be a trigger."""
        if token not in self.words:
            self.words[token] = self._check(token)
        return self.words[token]

    def _check(self, token: int) -> str | None:
        if token in self.special or token >= self.size:  # embedding rows past the tokenizer are padding
            return None
        word = self.tokenizer.decode([token]).strip()
        if not word or TEMPLATE_SYNTAX & set(word) or any(ch.isspace() for ch in word):
            return None
        if self.alphabetic and not word.isalpha():
            return None
        if self.whole_words and self.tokenizer(" " + word, add_special_tokens=False)["input_ids"] != [token]:
            return None
        return word

    def initial(self, word: str) -> int:
        ids = self.tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"]
        if len(ids) != 1 or self.word(ids[0]) is None:
            raise ConfigError(f"trigger search init_word {word!r} is not one usable token for this tokenizer "
                              f"(it gives {self.tokenizer.convert_ids_to_tokens(ids)}); give a common word")
        return ids[0]

    def candidates(self, scores: torch.Tensor, exclude: int, count: int) -> list[int]:
        """The `count` best-scoring usable ids other than `exclude`."""
        picked = []
        for token in torch.argsort(scores, descending=True).tolist():
            if token != exclude and self.word(token) is not None:
                picked.append(token)
                if len(picked) == count:
                    break
        return picked
