"""Recurrent networks: memory carried through a hidden state, one step at a time.

Elman's RNN (1990) updates ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; the LSTM
(Hochreiter & Schmidhuber, 1997) adds input, forget and output gates and a cell state so gradients
survive long sequences; the GRU (Cho et al., 2014) does the same with two gates. The layers are
``torch.nn.RNN/LSTM/GRU`` (cuDNN on a GPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS, LinearSkip, check_linear_skip, pool_chunks
from neuroplast.models.window_norm import WindowNorm

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Recurrent(nn.Module):
    """An RNN, LSTM or GRU over token ids, time series or image rows, with a linear read-out.

    Inputs (no batch dimension in ``input_shape``): ``(T,)`` token ids when ``vocab_size > 0`` (an
    embedding turns them into vectors), or ``(K, T)`` token ids of a long text in ``K`` blocks (each
    block read on its own; the read-out sees the mean of the non-empty blocks' last states, see
    :func:`~neuroplast.models.base.pool_chunks`), ``(T, F)`` series, or ``(1, H, W)`` images read row by row
    (sequential MNIST). For ``task="language-model"`` the output is one prediction per step,
    ``(B, T, num_outputs)``; otherwise the last step's state gives ``(B, num_outputs)``.

    Args:
        input_shape: one input's shape (see above).
        num_outputs: classes, forecast steps, targets or vocabulary size.
        cell: ``"rnn"`` (Elman, tanh), ``"lstm"`` or ``"gru"``.
        task: ``classification``, ``regression``, ``forecast`` or ``language-model``.
        hidden_size, num_layers: size of the recurrent state and number of stacked layers.
        **options: ``dropout``, ``bidirectional`` (not for language models), ``embedding_dim``,
            ``vocab_size``, ``linear_skip`` (forecasting: add a linear AR path, see
            :class:`~neuroplast.models.base.LinearSkip`), ``window_norm`` (forecasting: see
            :class:`~neuroplast.models.window_norm.WindowNorm`).

    Example:
        >>> lstm = Recurrent((28, 28), 10, cell="lstm", hidden_size=32)
        >>> lstm(torch.zeros(4, 28, 28)).shape
        torch.Size([4, 10])
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, cell: str = "lstm",
                 task: str = "classification", hidden_size: int = 128, num_layers: int = 1,
                 **options: Any) -> None:
        super().__init__()
        dropout, bidirectional = options.get("dropout", 0.0), options.get("bidirectional", False)
        self.vocab_size = options.get("vocab_size", 0)
        self.per_step = task == "language-model"
        if self.per_step and bidirectional:
            raise UserError("model.bidirectional = true cannot predict the next token (it would read the "
                            "future). Set bidirectional = false for language models.")
        if self.vocab_size:
            features = options.get("embedding_dim", 64)
            self.embedding: nn.Module = nn.Embedding(self.vocab_size, features)
        else:  # (T, F) series, or (C, H, W) images read as H rows of C * W values
            features = input_shape[-1] * (input_shape[0] if len(input_shape) == 3 else 1)
            self.embedding = nn.Identity()
        self.rnn = CELLS[cell](features, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_outputs)
        self.skip = LinearSkip(tuple(input_shape), num_outputs) if options.get("linear_skip") else None
        self.forecast = task == "forecast"
        self.norm = WindowNorm(options.get("window_norm", "none") if self.forecast else "none")

    def forward(self, x: torch.Tensor, state: Any = None, return_state: bool = False):
        if self.vocab_size and x.ndim == 3 and not self.per_step:  # (B, K, T): a long text in K blocks
            y = self.head(self.dropout(pool_chunks(x, self._read_block)))
            return (y, None) if return_state else y
        if x.ndim == 4:  # (B, 1, H, W) image: a sequence of H rows of W pixels
            x = x.flatten(1, 2) if x.shape[1] == 1 else x.permute(0, 2, 1, 3).flatten(2)
        x, stats = self.norm.normalize(x) if self.forecast else (x, None)
        out, state = self.rnn(self.embedding(x), state)  # out: (B, T, hidden * directions)
        if self.per_step:
            y = self.head(self.dropout(out))  # (B, T, vocab)
        else:
            y = self.head(self.dropout(self._summary(out)))  # (B, outputs)
            if self.skip is not None:
                y = y + self.skip(x)
            if stats is not None:
                y = self.norm.restore(y, stats)
        return (y, state) if return_state else y

    def _read_block(self, ids: torch.Tensor) -> torch.Tensor:
        """``(N, T)`` token ids -> ``(N, hidden * directions)``: the summary of each block on its own."""
        return self._summary(self.rnn(self.embedding(ids))[0])

    def _summary(self, out: torch.Tensor) -> torch.Tensor:
        """The last step's output; for a bidirectional net, the backward direction's is at step 0."""
        if not self.rnn.bidirectional:
            return out[:, -1]
        half = out.shape[-1] // 2
        return torch.cat([out[:, -1, :half], out[:, 0, half:]], dim=-1)


def _build(spec, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
           vocab_size: int = 0, **_) -> nn.Module:
    if vocab_size and len(input_shape) == 2 and task == "language-model":
        raise UserError("A language model reads one sequence of tokens; set data.chunks = 1.")
    if not vocab_size and len(input_shape) not in (2, 3):
        raise UserError(f"model.family = {spec.family!r} reads sequences: token ids, (steps, features) "
                        f"or images read row by row; the data gives rows of shape {input_shape}. "
                        "Use family = 'mlp' for tables.")
    return Recurrent(input_shape, num_outputs, spec.family, task, spec.hidden_size, spec.num_layers,
                     dropout=spec.dropout, bidirectional=spec.bidirectional,
                     embedding_dim=spec.embedding_dim, vocab_size=vocab_size,
                     linear_skip=check_linear_skip(spec, input_shape, task, vocab_size),
                     window_norm=spec.window_norm)


for _cell in CELLS:
    MODELS.register(_cell)(_build)
