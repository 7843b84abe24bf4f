"""A bag of n-grams: fastText's text classifier.

Joulin et al., "Bag of Tricks for Efficient Text Classification" (2016),
https://arxiv.org/abs/1607.01759: a text is the mean of the embeddings of its word and character
n-grams (an ``nn.EmbeddingBag``), and a linear layer maps that mean to the classes. It reads the whole
text, ignores word order beyond bigrams, trains in seconds and is strong on small data, where the
recurrent and Transformer families have too little text to learn from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS

PAD_ID = 0  # the id data/ngrams.py pads texts with


class BagOfNgrams(nn.Module):
    """Mean n-gram embedding -> (hidden ReLU layers) -> linear, over hashed n-gram ids.

    Inputs: ``(B, W)`` n-gram ids (:mod:`neuroplast.data.ngrams`), right-padded with 0, which the mean
    leaves out (a text of padding only has the zero vector); a batch's columns of padding only are
    skipped. Any ``W`` works. Outputs ``(B, num_outputs)``.

    Args:
        num_embeddings: the number of ids (``data.buckets``), padding included.
        num_outputs: classes (or regression targets).
        embedding_dim: size of each n-gram's vector.
        hidden: widths of ReLU layers after the mean; ``()`` is fastText's linear classifier.
        dropout: dropout on the mean embedding and after each hidden layer.

    Example:
        >>> bag = BagOfNgrams(1000, 3, embedding_dim=8)
        >>> bag(torch.tensor([[5, 9, 0], [7, 0, 0]])).shape
        torch.Size([2, 3])
    """

    def __init__(self, num_embeddings: int, num_outputs: int, embedding_dim: int = 64,
                 hidden: Sequence[int] = (), dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(num_embeddings, embedding_dim, mode="mean", padding_idx=PAD_ID)
        nn.init.uniform_(self.embedding.weight, -1.0 / embedding_dim, 1.0 / embedding_dim)  # fastText's init
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        width = embedding_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise UserError(f"BagOfNgrams expects n-gram ids of shape (batch, n-grams); received {tuple(x.shape)}. "
                            "Encode texts with neuroplast.data.text.encode_texts.")
        x = x if x.dtype in (torch.int32, torch.int64) else x.long()
        used = (x != PAD_ID).any(dim=0).nonzero()  # texts are right-padded: drop the columns of padding only
        x = x[:, : int(used.max()) + 1] if len(used) else x[:, :1]
        return self.head(self.body(self.embedding(x)))  # (B, W) -> (B, dim) -> (B, outputs)


@MODELS.register("bag")
def _build(spec: Any, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
           vocab_size: int = 0, **_: Any) -> nn.Module:
    if not vocab_size or len(input_shape) != 1 or task == "language-model":
        raise UserError(f"model.family = 'bag' reads the hashed n-grams of a text: data.source = 'text-csv' "
                        f"with data.tokens = 'ngrams'; this data is task {task!r} with inputs of shape "
                        f"{input_shape}. Use family = 'mlp' for tables, 'lstm' or 'transformer' for sequences.")
    return BagOfNgrams(vocab_size, num_outputs, spec.embedding_dim, spec.hidden, spec.dropout)
