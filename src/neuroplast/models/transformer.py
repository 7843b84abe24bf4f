"""The Transformer: self-attention lets every position read every other position in one step.

Vaswani et al., "Attention Is All You Need" (2017), https://arxiv.org/abs/1706.03762, in the
pre-norm form of GPT-2 (LayerNorm before attention and before the MLP, one more at the end). The
layout follows nanoGPT: :class:`SelfAttention` -> :class:`Block` -> :class:`Transformer`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS, LinearSkip, check_linear_skip, pool_chunks
from neuroplast.models.window_norm import WindowNorm

TASKS = ("classification", "regression", "forecast", "language-model")
POSITIONALS = ("learned", "sinusoidal")
POOLINGS = ("mean", "cls")
PAD_ID = 0  # token id of the padding that data/text.py puts on the left of short texts


def sinusoidal_positions(num_positions: int, d_model: int) -> torch.Tensor:
    """The fixed table of Vaswani et al., ``(num_positions, d_model)``.

    ``PE[pos, 2i] = sin(pos / 10000^(2i/d))`` and ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d))``.
    """
    pos = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    rate = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (ceil(d/2),)
    table = torch.zeros(num_positions, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * rate)
    table[:, 1::2] = torch.cos(pos * rate)[:, : d_model // 2]  # an odd d_model has one cos fewer
    return table.to(torch.get_default_dtype())


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention with one fused q, k, v projection."""

    def __init__(self, d_model: int, num_heads: int, dropout: float, causal: bool) -> None:
        super().__init__()
        self.num_heads, self.dropout, self.causal = num_heads, dropout, causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)  # a residual projection (scaled init)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False,
                keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``keep`` (``(B, T)`` bool, optional): the keys every position may read; False marks padding."""
        B, T, C = x.shape
        q, k, v = (part.view(B, T, self.num_heads, C // self.num_heads).transpose(1, 2)
                   for part in self.qkv(x).split(C, dim=2))  # each (B, heads, T, head_dim)
        p = self.dropout if self.training else 0.0
        weights = None
        if return_attention:  # the same numbers, spelled out so the weights can be returned
            weights = self.attention_weights(q, k, keep)
            y = F.dropout(weights, p, training=self.training) @ v
        else:
            mask = None if keep is None else keep[:, None, None, :]  # (B, 1, 1, T): True = may attend
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=self.causal)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): the heads side by side again
        return self.resid_dropout(self.proj(y)), weights

    def attention_weights(self, q: torch.Tensor, k: torch.Tensor,
                          keep: torch.Tensor | None = None) -> torch.Tensor:
        """``softmax(q kᵀ / √head_dim + mask)``: ``(B, heads, T, T)``, each row sums to 1."""
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if keep is not None:  # padding keys get weight 0 (every row keeps at least one key)
            scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
        if self.causal:  # position t may not look at t+1, t+2, ...
            T = q.shape[-2]
            future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        return scores.softmax(dim=-1)


class Block(nn.Module):
    """Pre-norm residual block: ``x + attn(LN(x))``, then ``x + mlp(LN(x))``."""

    def __init__(self, d_model: int, num_heads: int, mlp_ratio: int, dropout: float,
                 causal: bool) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, num_heads, dropout, causal)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model),  # residual projection
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, return_attention: bool = False,
                keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attn(self.ln1(x), return_attention, keep)
        x = x + attended
        x = x + self.mlp(self.ln2(x))
        return x, weights


class Transformer(nn.Module):
    """A stack of pre-norm Transformer blocks over token ids, time series or image rows.

    Use it for text (a character-level language model, text classification), for series where
    any past step may matter, or to compare attention with the RNN/LSTM on sequential MNIST.
    Vaswani et al., "Attention Is All You Need" (2017), https://arxiv.org/abs/1706.03762.

    Inputs (``input_shape`` has no batch dimension; ``T`` is the longest context): ``(T,)`` token
    ids when ``vocab_size > 0``, read through an ``nn.Embedding``; ``(T, F)`` float series, read
    through an ``nn.Linear(F, d_model)``; ``(C, H, W)`` images, read row by row as a sequence of
    ``T = H`` rows of ``C * W`` pixels. Shorter sequences are fine, longer ones are refused. A long
    text in ``K`` blocks, ``(K, T)`` token ids (classification), is read block by block and the
    head sees the mean of its non-empty blocks (:func:`~neuroplast.models.base.pool_chunks`).

    Outputs: ``task="language-model"`` is causal (position t sees only positions <= t) and gives
    ``(B, T, num_outputs)`` logits, one next-token prediction per position. The other tasks
    (``"classification"``, ``"regression"``, ``"forecast"``) see the whole sequence and give
    ``(B, num_outputs)`` from the mean over positions (``pooling="mean"``) or from a learned
    [CLS] token put in front (``pooling="cls"``). With a ``pad_id`` (text classification: inputs
    left-padded with that token id), padding tokens are neither attended to nor averaged, and
    positions count from the right, so extra left padding does not change the output.
    ``forward(x, return_attention=True)`` returns
    ``(output, maps)``: for each layer, the attention weights ``(B, num_heads, T, T)`` (``T + 1``
    with a [CLS] token), the same numbers as the fused kernel of the default path.

    Args:
        input_shape: one input's shape (see above).
        num_outputs: classes, regression targets, forecast steps, or the vocabulary size.
        task: ``classification``, ``regression``, ``forecast`` or ``language-model``.
        d_model: width of the vectors carried between blocks; a multiple of ``num_heads``.
        num_heads: attention heads per block, each of width ``d_model // num_heads``.
        num_layers: number of blocks.
        **options: ``mlp_ratio`` (4: the MLP is ``d_model -> 4 d_model -> d_model``), ``dropout``
            (0.1), ``positional`` (``"learned"`` or fixed ``"sinusoidal"``), ``pooling`` (``"mean"``
            or ``"cls"``; language models do not pool), ``vocab_size`` (0: float inputs), ``pad_id``
            (None: no padding; token models that do not predict the next token) and
            ``linear_skip`` (forecasting: add a linear AR path, see
            :class:`~neuroplast.models.base.LinearSkip`).

    Example:
        >>> lm = Transformer((16,), 27, task="language-model", d_model=32, num_heads=4,
        ...                  num_layers=2, vocab_size=27)
        >>> logits, maps = lm(torch.zeros(2, 16, dtype=torch.long), return_attention=True)
        >>> logits.shape, len(maps), maps[0].shape
        (torch.Size([2, 16, 27]), 2, torch.Size([2, 4, 16, 16]))
        >>> Transformer((1, 8, 8), 10, d_model=32, pooling="cls")(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int,
                 task: str = "classification", d_model: int = 128, num_heads: int = 4,
                 num_layers: int = 4, **options: Any) -> None:
        super().__init__()
        unknown = set(options) - {"mlp_ratio", "dropout", "positional", "pooling", "vocab_size",
                                   "linear_skip", "pad_id", "window_norm"}
        if unknown:
            raise TypeError(f"Transformer got unexpected options {sorted(unknown)}.")
        mlp_ratio, dropout = options.get("mlp_ratio", 4), options.get("dropout", 0.1)
        positional, pooling = options.get("positional", "learned"), options.get("pooling", "mean")
        self.vocab_size = options.get("vocab_size", 0)
        _check(input_shape, self.vocab_size, d_model, num_heads, task=(task, TASKS),
               positional=(positional, POSITIONALS), pooling=(pooling, POOLINGS))
        self.task = task
        self.context_length = input_shape[-1] if self.vocab_size else input_shape[0]  # (T,) or (K, T) tokens
        causal = task == "language-model"
        self.pad_id = options.get("pad_id") if self.vocab_size and not causal else None

        if self.vocab_size:
            self.num_features = 0
            self.embed: nn.Module = nn.Embedding(self.vocab_size, d_model)
        else:
            if len(input_shape) == 3:  # (C, H, W) image: H rows of C * W pixels
                channels, self.context_length, width = input_shape
                self.num_features = channels * width
            else:  # (T, F) series
                self.num_features = input_shape[1]
            self.embed = nn.Linear(self.num_features, d_model)
        self.cls_token = None
        if pooling == "cls" and not causal:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        num_positions = self.context_length + (self.cls_token is not None)
        if positional == "learned":
            self.position: nn.Embedding | None = nn.Embedding(num_positions, d_model)
        else:
            self.position = None
            self.register_buffer("position_table", sinusoidal_positions(num_positions, d_model),
                                 persistent=False)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, num_heads, mlp_ratio, dropout, causal)
                                    for _ in range(num_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_outputs)
        self._init_weights(num_layers)
        self.skip = LinearSkip(tuple(input_shape), num_outputs) if options.get("linear_skip") else None
        self.norm = WindowNorm(options.get("window_norm", "none") if task == "forecast" else "none")

    def _init_weights(self, num_layers: int) -> None:
        """GPT-2: N(0, 0.02) weights, zero biases, and 0.02 / sqrt(2 L) for the residual projections
        so that the residual stream's variance does not grow with depth."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for name, weight in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):  # the residual projections
                nn.init.normal_(weight, mean=0.0, std=0.02 / math.sqrt(2 * num_layers))
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, mean=0.0, std=0.02)

    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        if self.vocab_size and x.ndim == 3 and self.task != "language-model":  # (B, K, T): K blocks of a text
            if return_attention:
                raise UserError(f"Transformer: attention maps are drawn for one block of tokens (batch, T); "
                                f"received {tuple(x.shape)} (blocks of a long text). Pass x[:, k], one block.")
            return self.head(pool_chunks(x, lambda ids: self._features(self._as_sequence(ids))[0]))
        x, stats = self.norm.normalize(x) if self.task == "forecast" else (x, None)
        h, maps = self._features(self._as_sequence(x), return_attention)
        out = self.head(h)
        if self.skip is not None:
            out = out + self.skip(x)
        if stats is not None:
            out = self.norm.restore(out, stats)
        return (out, maps) if return_attention else out

    def _features(self, seq: torch.Tensor, return_attention: bool = False
                  ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The blocks' output before the head: ``(B, T, d_model)`` for a language model, else pooled to
        ``(B, d_model)``; and each layer's attention map when asked."""
        h = self.embed(seq)  # (B, T, d_model)
        keep = self._not_padding(seq)  # (B, T) bool, or None without a pad_id
        if self.cls_token is not None:
            h = torch.cat([self.cls_token.expand(h.shape[0], -1, -1), h], dim=1)  # (B, 1 + T, d_model)
            if keep is not None:
                keep = torch.cat([torch.ones_like(keep[:, :1]), keep], dim=1)
        h = self.drop(h + self._positions(seq.shape[1], h.device))
        maps = []
        for block in self.blocks:
            h, weights = block(h, return_attention, keep)
            maps.append(weights)
        h = self.ln_f(h)
        if self.task == "language-model":
            return h, maps
        if self.cls_token is not None:
            return h[:, 0], maps  # (B, d_model)
        if keep is not None:  # the mean over the tokens that are not padding
            w = keep.unsqueeze(-1).to(h.dtype)
            return (h * w).sum(dim=1) / w.sum(dim=1), maps
        return h.mean(dim=1), maps

    def _not_padding(self, seq: torch.Tensor) -> torch.Tensor | None:
        """``(B, T)``: True where a token is not padding; a row of padding only keeps every position
        (so no attention row is fully masked)."""
        if self.pad_id is None:
            return None
        keep = seq != self.pad_id
        return keep | ~keep.any(dim=1, keepdim=True)

    def _positions(self, length: int, device: torch.device) -> torch.Tensor:
        """Position vectors for ``length`` inputs (after a [CLS] token at position 0, if any).

        Left-padded text counts from the right: the last token always sits at the last position, as
        when the text is padded to the full context, so a shorter input equals its padded form.
        """
        start = (self.context_length - length if self.pad_id is not None else 0) + int(self.cls_token is not None)
        index = torch.arange(start, start + length, device=device)
        if self.cls_token is not None:
            index = torch.cat([torch.zeros(1, dtype=index.dtype, device=device), index])
        if self.position is not None:
            return self.position(index)  # (T, d_model)
        return self.position_table[index]

    def _as_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """Check ``x`` and return it as token ids ``(B, T)`` or vectors ``(B, T, F)``."""
        if self.vocab_size:
            if x.ndim != 2:
                raise UserError(f"Transformer expects token ids of shape (batch, T); received "
                                f"{tuple(x.shape)}. Add a batch dimension with x.unsqueeze(0).")
        else:
            if x.ndim == 4:  # (B, C, H, W) image: a sequence of H rows of C * W pixels
                x = x.flatten(1, 2) if x.shape[1] == 1 else x.permute(0, 2, 1, 3).flatten(2)
            if x.ndim != 3 or x.shape[-1] != self.num_features:
                raise UserError(f"Transformer expects sequences of shape (batch, T, "
                                f"{self.num_features}); received {tuple(x.shape)}.")
        if x.shape[1] > self.context_length:
            raise UserError(f"Transformer: received a sequence of length {x.shape[1]}; the "
                            f"maximum context is {self.context_length}. Keep the last positions "
                            f"with x[:, -{self.context_length}:], or build with a longer input.")
        if self.vocab_size:
            x = x.long()
            # checked outside training only: .any() would sync the device on every step
            if not self.training and ((x < 0) | (x >= self.vocab_size)).any():
                raise UserError(f"Transformer: token ids must lie in [0, {self.vocab_size}); "
                                f"received ids from {x.min().item()} to {x.max().item()}. Encode "
                                "the text with the vocabulary the model was built with.")
        return x


def _check(input_shape: Sequence[int], vocab_size: int, d_model: int, num_heads: int,
           **choices: tuple[str, tuple[str, ...]]) -> None:
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise UserError(f"Transformer: {name} must be one of {', '.join(allowed)}; "
                            f"received {value!r}.")
    if d_model % num_heads:
        fix = math.ceil(d_model / num_heads) * num_heads
        raise UserError(f"Transformer: d_model = {d_model} is not divisible by num_heads = "
                        f"{num_heads}. Set model.d_model to a multiple of num_heads (e.g. {fix}) "
                        "or change model.num_heads.")
    if len(input_shape) not in ((1, 2) if vocab_size else (2, 3)):
        raise UserError(f"model.family = 'transformer' reads sequences: token ids (T,) or (blocks, T), series "
                        f"(T, F) or images (C, H, W) read row by row; the data gives rows of shape "
                        f"{tuple(input_shape)}. Use family = 'mlp' for tables.")


@MODELS.register("transformer")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
           vocab_size: int = 0, **_) -> nn.Module:
    return Transformer(input_shape, num_outputs, task, spec.d_model, spec.num_heads,
                       spec.num_layers, mlp_ratio=spec.mlp_ratio, dropout=spec.dropout,
                       positional=spec.positional, pooling=spec.pooling, vocab_size=vocab_size,
                       linear_skip=check_linear_skip(spec, input_shape, task, vocab_size),
                       window_norm=spec.window_norm, pad_id=PAD_ID if vocab_size and task != "language-model" else None)
