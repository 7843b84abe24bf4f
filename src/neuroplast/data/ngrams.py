"""Hashed word and character n-grams of a text, as fastText reads it (family ``bag``).

Joulin et al., "Bag of Tricks for Efficient Text Classification" (2016),
https://arxiv.org/abs/1607.01759, and Bojanowski et al. (2017, subword n-grams). A text becomes the
ids of all its n-grams, in reading order:

- each word (``data.tokens = "word"``'s tokens: lower-cased runs of letters and digits, and single
  punctuation marks),
- each pair of neighbouring words (a word bigram),
- the character n-grams of :data:`CHAR_NGRAMS` (3 to 5) of each word written as ``<word>``, so that
  prefixes and suffixes are told apart (``<wh``, ``her``, ``ere``, ``re>``, ...).

Each n-gram is hashed with CRC-32 (the same in every process, unlike Python's ``hash``) into one of
``buckets`` slots; collisions share an embedding, as in fastText. Only the slots found in at least
:data:`MIN_TEXTS` training texts get an embedding (``kept``, recorded in ``preprocess.json``), so the
model grows with the data, not with ``buckets``; the others are left out of a text's mean. Id 0 is
padding, slot ``kept[i]`` is id ``i + 1``. The whole text is read (no vocabulary of whole documents is
cut), up to ``max_ngrams`` n-grams; a longer text keeps its first ``max_ngrams`` and the loader says
how many texts were cut.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

import torch

CHAR_NGRAMS = (3, 5)  # shortest and longest character n-gram
PAD_ID = 0
MIN_TEXTS = 2  # a hash slot gets an embedding when found in this many training texts


def _bucket(gram: str, buckets: int) -> int:
    return zlib.crc32(gram.encode("utf-8")) % buckets


def char_ngrams(word: str, low: int = CHAR_NGRAMS[0], high: int = CHAR_NGRAMS[1]) -> list[str]:
    """The character n-grams of ``<word>`` with ``low <= n <= high``, shortest first.

    Example:
        >>> char_ngrams("is")
        ['<is', 'is>', '<is>']
    """
    marked = f"<{word}>"
    return [marked[i: i + n] for n in range(low, high + 1) for i in range(len(marked) - n + 1)]


def ngrams(words: list[str]) -> list[str]:
    """Every n-gram of a text's words, each tagged with its kind (``w:`` word, ``b:`` bigram, ``c:``
    character n-gram) so that a word and the same letters as a character n-gram hash apart."""
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    grams += [f"c:{g}" for w in words for g in char_ngrams(w)]
    return grams


class NgramHasher:
    """Texts' words -> hashed n-gram ids; the character n-grams of a word are hashed once and kept.

    Args:
        buckets: the number of hash slots.
        max_ngrams: the most ids kept per text (its first ones).
    """

    def __init__(self, buckets: int, max_ngrams: int) -> None:
        self.buckets, self.max_ngrams = buckets, max_ngrams
        self._word_ids: dict[str, list[int]] = {}

    def ids(self, words: list[str]) -> list[int]:
        """The hash slots of one text's n-grams in the order of :func:`ngrams`, at most ``max_ngrams``."""
        out = [self._word(w)[0] for w in words]
        out += [_bucket(f"b:{a} {b}", self.buckets) for a, b in zip(words, words[1:], strict=False)]
        for w in words:
            if len(out) >= self.max_ngrams:
                break
            out += self._word(w)[1:]
        return out[: self.max_ngrams]

    def _word(self, word: str) -> list[int]:
        """The word's own id, then its character n-grams' ids."""
        if word not in self._word_ids:
            self._word_ids[word] = [_bucket(f"w:{word}", self.buckets),
                                    *(_bucket(f"c:{g}", self.buckets) for g in char_ngrams(word))]
        return self._word_ids[word]


def kept_slots(slot_lists: Iterable[list[int]], min_texts: int = MIN_TEXTS) -> list[int]:
    """The hash slots found in at least ``min_texts`` of these (training) texts, sorted."""
    found = Counter(slot for slots in slot_lists for slot in set(slots))
    return sorted(slot for slot, count in found.items() if count >= min_texts)


def hash_texts(token_lists: Iterable[list[str]], preprocess: dict[str, Any]) -> tuple[list[list[int]], int]:
    """Texts (as word lists) -> each text's hash slots, and how many texts were cut at ``max_ngrams``."""
    hasher = NgramHasher(preprocess["buckets"], preprocess["max_ngrams"])
    rows, cut = [], 0
    for words in token_lists:
        rows.append(hasher.ids(words))
        cut += len(rows[-1]) == hasher.max_ngrams and _count(words) > hasher.max_ngrams
    return rows, cut


def slots_to_ids(rows: list[list[int]], kept: list[int], width: int | None = None) -> torch.Tensor:
    """Hash slots -> ``(N, width)`` int32 model ids (slot ``kept[i]`` is ``i + 1``; other slots left out),
    right-padded with 0; ``width`` None: the longest text's count."""
    index = {slot: i + 1 for i, slot in enumerate(kept)}
    ids = [[index[s] for s in row if s in index] for row in rows]
    width = max([1, *(len(r) for r in ids)]) if width is None else width
    out = torch.full((len(ids), width), PAD_ID, dtype=torch.int32)  # half of int64's memory: texts can be long
    for r, row in enumerate(ids):
        row = row[:width]
        if row:
            out[r, : len(row)] = torch.tensor(row, dtype=torch.int32)
    return out


def ngram_ids(texts_words: Iterable[list[str]], preprocess: dict[str, Any], width: int | None = None) -> torch.Tensor:
    """New texts (as word lists) -> ``(N, width)`` model ids with a run's ``preprocess`` (its ``kept`` slots)."""
    return slots_to_ids(hash_texts(texts_words, preprocess)[0], preprocess["kept"], width)


def _count(words: list[str]) -> int:
    """How many n-grams a text of these words has (before any cut)."""
    return 2 * len(words) - 1 + sum(len(char_ngrams(w)) for w in words) if words else 0
