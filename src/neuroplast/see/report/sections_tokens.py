"""The token space section, for text models with an embedding table (character and word language
models, text classifiers, the bag of n-grams): a 2-D map of the most frequent tokens' vectors, labelled
with the tokens, and the nearest neighbours (cosine) of the most frequent ones."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from neuroplast.see.pictures import plot
from neuroplast.see.report.context import Context
from neuroplast.see.report.render import Section, figure, integer, note, table

NUM_MAP = 60  # tokens drawn on the map, most frequent first
NUM_QUERIES = 12  # tokens whose neighbours the table lists
NUM_NEIGHBOURS = 5
MAX_POOL = 2000  # neighbours are searched among at most this many most frequent tokens


def _tokens(ctx: Context) -> Section | None:
    if ctx.run is None or ctx.preprocess.get("kind") != "text" or ctx.data is None:
        return None
    from neuroplast.trust.token_space import embedding_table

    table_ = embedding_table(ctx.run.model)
    found = _frequent(ctx, len(table_)) if table_ is not None else None
    if found is None:
        return None
    labels, ids, counts, what = found
    return token_section(ctx, table_, labels, ids, counts, what)


def token_section(ctx: Context, vectors: torch.Tensor, labels: list[str], ids: list[int], counts: list[int],
                  what: str) -> Section:
    """The section from an embedding table ``vectors`` and the tokens that occur, most frequent first:
    their readable ``labels``, row ``ids`` in the table and ``counts`` (``what`` says what they count)."""
    from neuroplast.trust.space import project
    from neuroplast.trust.token_space import nearest_neighbours

    pool = ids[:MAX_POOL]
    shown = pool[:NUM_MAP]
    coords = project(vectors[shown])[0].numpy()
    name = {i: label for i, label in zip(ids, labels, strict=True)}
    src = plot(lambda buf: token_map(coords, [name[i] for i in shown], buf))
    queries = pool[:NUM_QUERIES]
    rows = []
    for q, found in zip(queries, nearest_neighbours(vectors, queries, NUM_NEIGHBOURS, among=pool), strict=True):
        rows.append([name[q], integer(counts[ids.index(q)]),
                     "  ".join(f"{name[j]} ({s:.2f})" for j, s in found)])
    head = [ctx.t("report.tokens_token"), ctx.t("report.tokens_count"), ctx.t("report.tokens_neighbours")]
    return Section("token-space", ctx.t("report.tokens"), [
        note(ctx.t("report.tokens_intro", vocab=integer(len(vectors)), dims=integer(vectors.shape[1]), what=what)),
        figure(src, ctx.t("report.tokens_map_caption", shown=integer(len(shown)), total=integer(len(ids))),
               ctx.t("report.tokens_map_alt"), id="token-map"),
        table(head, rows, id="token-neighbours"),
        note(ctx.t("report.tokens_neighbours_caption", pool=integer(len(pool)), k=NUM_NEIGHBOURS))])


def _frequent(ctx: Context, vocab_size: int) -> tuple[list[str], list[int], list[int], str] | None:
    """The tokens that occur in the training inputs, most frequent first: labels, ids, counts and what
    the counts count; None when the tokens have no text to show."""
    from neuroplast.trust.token_space import readable, token_counts

    pre = ctx.preprocess
    if pre.get("tokens") == "ngrams":
        return _frequent_words(ctx)
    vocab = pre.get("vocab")
    if not vocab or len(vocab) != vocab_size:
        return None
    x = ctx.data.x_train
    skip = [i for i, t in enumerate(vocab) if t == "<pad>"]
    counts = token_counts(x, vocab_size, skip)
    order = [i for i in counts.argsort(descending=True, stable=True).tolist() if counts[i] > 0]
    if not order:
        return None
    unit = "characters" if pre.get("mode") == "chars" or pre.get("tokens") == "char" else "words"
    what = ctx.t(f"report.tokens_counts_{unit}", positions=integer(int(counts.sum())), texts=integer(len(x)))
    return [readable(vocab[i]) for i in order], order, [int(counts[i]) for i in order], what


def _frequent_words(ctx: Context) -> tuple[list[str], list[int], list[int], str] | None:
    """A bag of hashed n-grams keeps no vocabulary: the words are read again from the training rows of
    the CSV and each is placed at its own hash slot."""
    from neuroplast.data.tabular import read_csv
    from neuroplast.data.text import tokenize
    from neuroplast.trust.token_space import word_counts

    spec, rows = ctx.run.spec, (ctx.data.extra.get("rows") or {}).get("train")
    if spec is None or spec.data.path is None or not isinstance(rows, list) or not Path(spec.data.path).is_file():
        return None
    texts = read_csv(Path(spec.data.path))[1].get(ctx.preprocess.get("column", ""), [])
    words = word_counts((tokenize(texts[i], "word") for i in rows if i < len(texts)), ctx.preprocess)
    if not words:
        return None
    seen: dict[int, tuple[str, int]] = {}
    for w, i, n in words:  # a hash collision: the slot is named after its most frequent word
        seen.setdefault(i, (w, n))
    ids = list(seen)
    what = ctx.t("report.tokens_counts_hashed", texts=integer(len(rows)))
    return [seen[i][0] for i in ids], ids, [seen[i][1] for i in ids], what


def token_map(coords: np.ndarray, labels: list[str], buf: io.BytesIO) -> None:
    """Tokens at their 2-D coordinates, each written at its point."""
    from neuroplast.plots import figure as new_figure

    fig = new_figure(figsize=(6.4, 5.2))
    ax = fig.subplots()
    ax.scatter(coords[:, 0], coords[:, 1], s=8, color="0.7")
    for (x, y), label in zip(coords, labels, strict=True):
        ax.annotate(label, (x, y), fontsize=9, ha="center", va="bottom", xytext=(0, 2), textcoords="offset points")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)


SECTIONS: list[Callable[[Context], Section | None]] = [_tokens]
