"""The perceptron (Rosenblatt, 1958): one neuron, a weighted sum plus a bias through an activation."""

from __future__ import annotations

import math

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS


class Perceptron(nn.Module):
    """A single-layer perceptron for two classes.

    ``forward`` returns the pre-activation ``w.x + b`` (a logit), shape (batch, 1). The activation is
    applied when predicting: ``sigmoid`` gives a probability (trained with logistic loss), ``step``
    gives Rosenblatt's hard 0/1 output (trained with the perceptron criterion, which with SGD is his
    learning rule).

    Args:
        in_features: number of input features (images are flattened).
        activation: ``"sigmoid"`` or ``"step"``.

    Example:
        >>> p = Perceptron(4)
        >>> p(torch.zeros(2, 4)).shape
        torch.Size([2, 1])
    """

    def __init__(self, in_features: int, activation: str = "sigmoid") -> None:
        super().__init__()
        self.activation = activation
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


@MODELS.register("perceptron")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, **_) -> nn.Module:
    if num_outputs not in (1, 2):
        raise UserError(f"model.family = 'perceptron' separates two classes; the data has {num_outputs}. "
                        "Use family = 'mlp' (hidden = [] is softmax regression) for more classes.")
    return Perceptron(math.prod(input_shape), spec.activation)
