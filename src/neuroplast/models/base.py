"""The model registry, shared activations and ``build_model``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.registry import Registry

Builder = Callable[..., nn.Module]  # (spec, input_shape, num_outputs, task=..., vocab_size=...) -> module
MODELS: Registry[Builder] = Registry("model family")

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def build_model(spec: Any, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
                vocab_size: int = 0) -> nn.Module:
    """Build the model described by ``spec`` (a model spec) for the data.

    Args:
        input_shape: one input, without the batch dimension: ``(features,)``, ``(C, H, W)``,
            ``(T, features)`` for a time series, or ``(T,)`` of token ids when ``vocab_size > 0``.
        num_outputs: classes (1 logit for a binary perceptron), regression targets, forecast steps,
            or the vocabulary size of a language model.
        task: ``classification``, ``regression``, ``forecast`` or ``language-model`` (one prediction
            per position).
        vocab_size: size of the token vocabulary when inputs are token ids, else 0.
    """
    return MODELS.get(spec.family)(spec, tuple(input_shape), num_outputs, task=task, vocab_size=vocab_size)


class LinearSkip(nn.Linear):
    """A linear autoregressive path from the whole input window straight to the forecast.

    LSTNet's "highway" (Lai et al., 2018, https://arxiv.org/abs/1703.07015): the network's output
    is added to a linear AR model of the window, so the network learns a non-linear *correction*
    and forecasts can follow a series beyond the range it saw in training (saturating units alone
    cannot). Starts at zero, so an untrained model is the plain network.
    """

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int) -> None:
        super().__init__(math.prod(input_shape), num_outputs)
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1))


def check_linear_skip(spec: Any, input_shape: tuple[int, ...], task: str, vocab_size: int) -> bool:
    """Whether ``spec.linear_skip`` applies; a clear error where it cannot."""
    if not getattr(spec, "linear_skip", False):
        return False
    if task != "forecast" or vocab_size or len(input_shape) != 2:
        raise UserError(f"model.linear_skip = true adds a linear path from a (steps, features) window "
                        f"to the forecast; this data is task {task!r} with inputs of shape {input_shape}"
                        f"{' (token ids)' if vocab_size else ''}. Set linear_skip = false.")
    return True


def pool_chunks(x: torch.Tensor, encode: Callable[[torch.Tensor], torch.Tensor], pad_id: int = 0) -> torch.Tensor:
    """A long text read in blocks: ``(B, K, T)`` token ids -> the mean of ``encode(block)`` over each
    text's non-empty blocks, ``(B, F)``. ``encode`` maps ``(N, T)`` ids to ``(N, F)`` and sees the
    non-empty blocks only; a text with no token gets zeros."""
    b, k, t = x.shape
    flat = x.reshape(b * k, t)
    filled = (flat != pad_id).any(dim=1)  # (B * K,)
    if not bool(filled.any()):
        filled[0] = True  # encode one block to learn the feature width; it is weighted 0 below
        weight = torch.zeros(b, k, 1, device=x.device)
    else:
        weight = filled.view(b, k, 1).float()
    feats = encode(flat[filled])  # (filled, F)
    every = feats.new_zeros(b * k, feats.shape[-1]).index_copy(0, filled.nonzero().squeeze(1), feats)
    weight = weight.to(feats.dtype)
    return (every.view(b, k, -1) * weight).sum(dim=1) / weight.sum(dim=1).clamp(min=1.0)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_outputs(num_outputs: int, loss: str = "auto") -> int:
    """Width of the last layer: one output per class or target, two per target for a Gaussian head
    (``train.loss = "gaussian_nll"``: a mean and a variance)."""
    return 2 * num_outputs if loss == "gaussian_nll" else num_outputs
