"""The token space: nearest neighbours equal a brute-force cosine search, counts equal a Counter,
the bag of n-grams' words land on their own hash slots, and invisible characters become visible."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from torch import nn

from neuroplast.data.ngrams import NgramHasher
from neuroplast.errors import UserError
from neuroplast.models.bag import BagOfNgrams
from neuroplast.trust.token_space import (
    embedding_table,
    nearest_neighbours,
    readable,
    token_counts,
    word_counts,
)


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def _brute_force(rows: list[list[float]], q: int, k: int, among: list[int]) -> list[tuple[int, float]]:
    scored = [(j, _cosine(rows[q], rows[j])) for j in among if j != q]
    return sorted(scored, key=lambda t: -t[1])[:k]


def test_neighbours_of_a_hand_made_table_are_the_hand_worked_ones() -> None:
    # 0 and 1 point the same way (cos 1), 2 is at 90 degrees, 3 opposes 0, 4 is 45 degrees from 0
    table = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [1.0, 1.0]])
    found = nearest_neighbours(table, [0], k=4)[0]
    assert [j for j, _ in found] == [1, 4, 2, 3]
    assert [round(s, 6) for _, s in found] == [1.0, round(1 / math.sqrt(2), 6), 0.0, -1.0]


def test_neighbours_equal_a_brute_force_cosine_search() -> None:
    g = torch.Generator().manual_seed(0)
    table = torch.randn(40, 6, generator=g)
    rows = table.tolist()
    among = list(range(0, 40, 2)) + [1, 3]
    queries = [0, 1, 7, 12]
    for q, found in zip(queries, nearest_neighbours(table, queries, k=5, among=among), strict=True):
        expected = _brute_force(rows, q, 5, among)
        assert [j for j, _ in found] == [j for j, _ in expected]
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-9)


def test_a_zero_row_is_unrelated_to_every_other() -> None:
    table = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert [s for _, s in nearest_neighbours(table, [0], k=2)[0]] == [0.0, 0.0]
    with pytest.raises(UserError, match="tokens, dim"):
        nearest_neighbours(torch.zeros(3), [0])


def test_counts_equal_a_counter_and_padding_counts_zero() -> None:
    ids = torch.tensor([[0, 3, 3, 1], [2, 3, 0, 0]])
    expected = Counter(ids.flatten().tolist())
    counts = token_counts(ids, 5, skip=[0])
    assert counts.tolist() == [0, expected[1], expected[2], expected[3], 0]


def test_the_table_is_the_token_embedding_not_the_positions() -> None:
    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(7, 3)
            self.position = nn.Embedding(4, 3)

    model = Tiny()
    assert torch.equal(embedding_table(model), model.embed.weight.detach())
    bag = BagOfNgrams(9, 2, embedding_dim=4)
    assert torch.equal(embedding_table(bag), bag.embedding.weight.detach())
    assert embedding_table(nn.Linear(2, 2)) is None


def test_bag_words_land_on_their_own_kept_hash_slot() -> None:
    hasher = NgramHasher(1000, 1)
    slot = {w: hasher.ids([w])[0] for w in ("good", "bad", "film")}
    kept = sorted([slot["good"], slot["film"], 999 if 999 not in slot.values() else 998])
    pre = {"buckets": 1000, "kept": kept}
    texts = [["good", "film"], ["bad", "film"], ["film"]]
    found = word_counts(texts, pre)
    # "bad" has no kept slot: it is left out; the id is the slot's place in kept, plus one
    assert found == [("film", kept.index(slot["film"]) + 1, 3), ("good", kept.index(slot["good"]) + 1, 1)]
    with pytest.raises(UserError, match="ngrams"):
        word_counts(texts, {"vocab": ["a"]})


def test_invisible_characters_are_shown() -> None:
    assert [readable(c) for c in (" ", "\n", "\t", "\x07", "a", "the")] == ["␣", "↵", "⇥", "U+0007", "a", "the"]
