"""The fully connected Hebbian network: hidden units that compete for each image and learn without
labels or gradients (Krotov & Hopfield 2019), then a linear readout trained by gradient descent.

D. Krotov and J. J. Hopfield, "Unsupervised learning by competing hidden units", PNAS 2019
(https://doi.org/10.1073/pnas.1820458116). The hidden layer
(:class:`~neuroplast.plasticity.competing.CompetingHiddenUnits`) learns inside its own forward
pass during the first ``learning_samples`` training images; the readout sees the paper's
features ``relu(I)^n``. ``hidden = "random"`` keeps the hidden weights at their random
initialisation (the control) and ``hidden = "backprop"`` trains them with the readout by
backpropagation (the reference); the architecture is the same in all three.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS
from neuroplast.plasticity.competing import CompetingHiddenUnits


class CompetingNet(nn.Module):
    """Competing hidden units -> ``relu(I)^power`` -> standardisation -> linear readout.

    The standardisation is a batch norm without learned scale or shift (``affine=False``): the
    powered currents span many orders of magnitude, and bringing each unit to zero mean and unit
    variance makes the readout's optimisation well conditioned (the paper squashes the readout's
    output with ``tanh`` and a ``|c − t|^m`` loss instead). It has no parameters.

    Args:
        input_shape: the shape of one input (flattened to ``d`` features).
        num_outputs: number of classes.
        units: competing hidden units.
        hidden: ``"hebbian"`` (the local rule), ``"random"`` (weights left at their initialisation)
            or ``"backprop"`` (trained by gradient descent with the readout).
        p, k, delta, hebbian_lr, learning_samples, init_std: the hidden layer's rule (see
            :class:`~neuroplast.plasticity.competing.CompetingHiddenUnits`).
        power: the exponent ``n`` of the readout's features ``relu(I)^n``.

    Example:
        >>> CompetingNet((1, 8, 8), 10, units=16, k=2)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, units: int = 2000, hidden: str = "hebbian",
                 p: float = 3.0, k: int = 7, delta: float = 0.4, hebbian_lr: float = 0.2,
                 learning_samples: int = 60_000, init_std: float = 1.0, power: float = 4.5) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.hebbian = CompetingHiddenUnits(math.prod(input_shape), units, p, k, delta, hebbian_lr,
                                            0 if hidden == "random" else learning_samples, init_std,
                                            trainable=hidden == "backprop")
        self.power = power
        self.readout = nn.Sequential(nn.BatchNorm1d(units, affine=False), nn.Linear(units, num_outputs))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the readout sees: ``relu(I)^power`` of the hidden currents ``I``."""
        return torch.relu(self.hebbian(x)).pow(self.power)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x))

    def receptive_fields(self) -> torch.Tensor:
        """Each hidden unit's weights as an image ``(units, H, W)`` (channels averaged)."""
        w = self.hebbian.weight.detach().cpu()
        if len(self.input_shape) == 3:
            c, h, width = self.input_shape
            return w.view(-1, c, h, width).mean(1)
        side = math.isqrt(w.shape[1])
        return w.view(-1, side, side) if side * side == w.shape[1] else w[:, None, :]


@MODELS.register("hebbian-fc")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification", **_) -> nn.Module:
    if task != "classification":
        raise UserError(f"model.family = 'hebbian-fc' classifies; this data is task {task!r}. "
                        "Use a classification source (mnist, digits, ...), or family = 'mlp'.")
    if spec.k > spec.units:
        raise UserError(f"model.k = {spec.k} is larger than model.units = {spec.units}: the k-th strongest "
                        "unit must exist. Use k <= units (k = 2 is the runner-up).")
    return CompetingNet(input_shape, num_outputs, spec.units, spec.hidden, spec.p, spec.k, spec.delta,
                        spec.hebbian_lr, spec.learning_samples or 60_000,  # None: a run sets half its training
                        spec.init_std, spec.power)
