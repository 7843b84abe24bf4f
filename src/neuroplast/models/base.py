"""The model registry, shared activations and ``build_model``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from neuroplast.registry import Registry

Builder = Callable[[Any, tuple[int, ...], int], nn.Module]
MODELS: Registry[Builder] = Registry("model family")

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def build_model(spec: Any, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """Build the model described by ``spec`` (a model spec) for inputs of ``input_shape`` (no batch
    dimension) and ``num_outputs`` outputs (classes, or 1 for a binary perceptron / one target)."""
    return MODELS.get(spec.family)(spec, tuple(input_shape), num_outputs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
