"""The Hebbian network: a convolutional layer that learns without labels or backpropagation
("fire together, wire together", SoftHebb), then a linear readout trained by gradient descent.

Journé, Rodriguez, Guo & Moraitis, "Hebbian deep learning without feedback", ICLR 2023
(https://arxiv.org/abs/2209.11883): the hidden layer's filters come from soft winner-take-all
competition between units (:class:`~neuroplast.plasticity.hebbian.SoftHebbConv2d`), updated inside
its own forward pass during the first ``learning_samples`` training samples. Only the readout has
parameters that require a gradient, so the ordinary training loop trains the readout alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS
from neuroplast.plasticity.hebbian import SoftHebbConv2d, Triangle


class HebbianNet(nn.Module):
    """SoftHebb conv layer -> triangle activation -> max pooling -> standardisation -> linear readout.

    The standardisation is a batch norm without learned scale or shift (``affine=False``): each
    unit's pooled map is brought to zero mean and unit variance, which makes the readout's
    optimisation well conditioned; it has no parameters, so the only trained weights are the
    readout's.

    Args:
        input_shape: (channels, height, width) of one image.
        num_outputs: number of classes.
        units: Hebbian filters (competing units).
        kernel_size: filter size; the layer pads to keep the resolution.
        hebbian_lr: the layer's own initial learning rate (it decays linearly to 0).
        inverse_temperature: sharpness of the softmax competition.
        learning_samples: training samples the layer learns from; then its filters are fixed.
        power: exponent of the triangle activation.
        pool_size, pool_stride: max pooling of the activations before the readout.
        dropout: dropout on the features while training the readout (0: none; it is slow on CPU).

    Example:
        >>> HebbianNet((1, 8, 8), 10, units=16)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, units: int = 96, kernel_size: int = 5,
                 hebbian_lr: float = 0.05, inverse_temperature: float = 5.0,
                 learning_samples: int = 60_000, power: float = 0.7, pool_size: int = 4,
                 pool_stride: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        c, h, w = input_shape
        self.hebbian = SoftHebbConv2d(c, units, kernel_size, kernel_size // 2, hebbian_lr, inverse_temperature,
                                      learning_samples)
        self.activation = Triangle(power)
        pad = (pool_size - pool_stride) // 2  # 4 and 2: 28x28 -> 14x14, as in the paper
        self.pool = nn.MaxPool2d(pool_size, pool_stride, padding=pad)
        h, w = (h + 2 * pad - pool_size) // pool_stride + 1, (w + 2 * pad - pool_size) // pool_stride + 1
        readout: list[nn.Module] = [nn.BatchNorm2d(units, affine=False), nn.Flatten()]
        readout += [nn.Dropout(dropout)] if dropout > 0 else []
        self.readout = nn.Sequential(*readout, nn.Linear(units * h * w, num_outputs))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The features the readout sees: ``pool(relu(u − mean_units u)^power)``, computed as
        ``relu(pool(u − mean))^power`` (the same: both are non-decreasing, so max pooling commutes
        with them) to raise the power on 4x fewer values. No gradient reaches the Hebbian layer."""
        return self.activation.rectify(self.pool(self.hebbian(x, center=True)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x))

    def receptive_fields(self) -> torch.Tensor:
        """The Hebbian filters as images ``(units, kernel_size, kernel_size)``."""
        return self.hebbian.receptive_fields()


@MODELS.register("hebbian")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification", **_) -> nn.Module:
    if len(input_shape) != 3:
        raise UserError(f"model.family = 'hebbian' needs images (channels, height, width); the data gives "
                        f"rows of shape {input_shape}. Use an image source (digits, mnist, fashion-mnist, "
                        "folder) or family = 'mlp' for tables.")
    if task != "classification":
        raise UserError(f"model.family = 'hebbian' classifies images; this data is task {task!r}. "
                        "Use an image classification source, or family = 'cnn'.")
    if spec.kernel_size % 2 == 0:
        raise UserError(f"model.kernel_size = {spec.kernel_size}: the hebbian layer keeps the resolution "
                        "and needs an odd kernel size. Use 3, 5 or 7.")
    _, h, w = input_shape
    if min(h, w) <= spec.kernel_size // 2 or min(h, w) < spec.pool_size:
        raise UserError(f"model.family = 'hebbian': images of {h}x{w} are too small for kernel_size = "
                        f"{spec.kernel_size} and pool_size = {spec.pool_size}. Use smaller values.")
    return HebbianNet(input_shape, num_outputs, spec.units, spec.kernel_size, spec.hebbian_lr,
                      spec.inverse_temperature, spec.learning_samples, spec.power, spec.pool_size,
                      spec.pool_stride, spec.dropout)
