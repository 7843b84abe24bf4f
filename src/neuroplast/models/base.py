"""The model registry, shared activations and ``build_model``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

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


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
