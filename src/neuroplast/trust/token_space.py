"""The token vector space of a text model: which characters or words its embedding table puts together.

A language model or text classifier reads ids through an embedding table, one learned vector per
token; training moves tokens that play alike (vowels, digits, punctuation that ends a sentence) near
each other. :func:`embedding_table` finds the table, :func:`token_counts` and :func:`word_counts` say
how often each token occurs in the training inputs, :func:`nearest_neighbours` lists each token's
closest others by cosine similarity and :func:`readable` writes a token so that a space or a newline
can be seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError

SHOWN = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}  # characters with no visible glyph


def embedding_table(model: nn.Module) -> torch.Tensor | None:
    """The token embedding table ``(vocab, dim)`` of ``model`` (an ``nn.Embedding`` or ``nn.EmbeddingBag``;
    a Transformer's position table is not one), detached on the CPU; None when the model has none."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and "position" not in name.split(".")[-1]:
            return module.weight.detach().float().cpu()
    return None


def token_counts(ids: torch.Tensor, vocab_size: int, skip: Iterable[int] = ()) -> torch.Tensor:
    """How often each id ``0..vocab_size-1`` occurs in ``ids`` (any shape); ids in ``skip`` (padding) count 0."""
    flat = ids.flatten().long()
    flat = flat[(flat >= 0) & (flat < vocab_size)]
    counts = torch.bincount(flat, minlength=vocab_size)
    for i in skip:
        if 0 <= i < vocab_size:
            counts[i] = 0
    return counts


def word_counts(texts: Iterable[list[str]], preprocess: dict[str, Any]) -> list[tuple[str, int, int]]:
    """For a bag of hashed n-grams (``tokens = "ngrams"``): ``(word, model id, count)`` for each word of
    these (training) texts whose own hash slot the model kept, most frequent first. Two words may share
    a slot (a hash collision): each is listed with the slot's id."""
    from neuroplast.data.ngrams import NgramHasher

    if "kept" not in preprocess or "buckets" not in preprocess:
        raise UserError("word_counts needs a run of data.tokens = 'ngrams' (preprocess.json has no 'kept' slots).")
    hasher = NgramHasher(preprocess["buckets"], 1)
    index = {slot: i + 1 for i, slot in enumerate(preprocess["kept"])}
    found = Counter(w for words in texts for w in words)
    out = [(w, index[slot], n) for w, n in found.items() if (slot := hasher.ids([w])[0]) in index]
    return sorted(out, key=lambda t: (-t[2], t[0]))


def nearest_neighbours(vectors: torch.Tensor, queries: list[int], k: int = 5,
                       among: list[int] | None = None) -> list[list[tuple[int, float]]]:
    """For each row index in ``queries``, its ``k`` nearest rows of ``vectors`` by cosine similarity
    (itself left out), searched among the rows ``among`` (default: all): ``[(row, similarity), ...]``,
    most similar first. A zero row has similarity 0 to every other."""
    if vectors.ndim != 2:
        raise UserError(f"nearest_neighbours expects vectors of shape (tokens, dim); received {tuple(vectors.shape)}.")
    among = list(range(len(vectors))) if among is None else list(among)
    v = vectors.double()
    unit = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sims = unit[queries] @ unit[among].T  # (Q, A)
    pool = torch.tensor(among)
    out = []
    for row, q in zip(sims, queries, strict=True):
        row = row.masked_fill(pool == q, -float("inf"))
        top = row.topk(min(k, int((pool != q).sum())))
        out.append([(int(pool[j]), float(s)) for s, j in zip(top.values, top.indices, strict=True)])
    return out


def readable(token: str) -> str:
    """A token as the page shows it: a space as ␣, a newline as ↵, a tab as ⇥, other invisible
    characters as their code (``U+0007``)."""
    if token in SHOWN:
        return SHOWN[token]
    if len(token) == 1 and not token.isprintable():
        return f"U+{ord(token):04X}"
    return token
