"""The multilayer perceptron: fully connected layers for tables and flattened images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from neuroplast.models.base import ACTIVATIONS, MODELS


class MLP(nn.Module):
    """Linear -> [norm] -> activation -> [dropout] for each hidden layer, then a linear output layer.

    Inputs of any shape are flattened, so an MLP also reads images (LeNet-300-100 on MNIST).

    Args:
        in_features: size of one flattened input.
        num_outputs: classes (logits) or regression targets.
        hidden: width of each hidden layer; ``()`` gives a linear model (softmax regression).
        activation: relu, sigmoid, tanh, gelu, leaky_relu or elu.
        dropout: probability of zeroing a hidden unit while training.
        norm: ``"none"``, ``"batch"`` or ``"layer"`` normalization after each hidden linear layer.

    Example:
        >>> MLP(64, 10, hidden=(32,))(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(self, in_features: int, num_outputs: int, hidden: Sequence[int] = (128, 64),
                 activation: str = "relu", dropout: float = 0.0, norm: str = "none") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(h))
            elif norm == "layer":
                layers.append(nn.LayerNorm(h))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@MODELS.register("mlp")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, **_) -> nn.Module:
    return MLP(math.prod(input_shape), num_outputs, spec.hidden, spec.activation, spec.dropout, spec.norm)
