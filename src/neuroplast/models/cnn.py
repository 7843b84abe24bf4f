"""The convolutional network: the Neocognitron's hierarchy of local feature detectors and pooling,
trained end to end by backpropagation as in LeNet."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import ACTIVATIONS, MODELS


class CNN(nn.Module):
    """Conv blocks (conv -> [batch norm] -> activation, repeated, then pooling), then an MLP head.

    Args:
        input_shape: (channels, height, width) of one image.
        num_outputs: number of classes.
        channels: output channels of each block; each block halves the resolution.
        convs_per_block: convolutions in each block before pooling.
        kernel_size: convolution size; ``padding`` ``"same"`` keeps the resolution, ``"valid"`` shrinks it.
        pool: ``"max"`` or ``"avg"``.
        hidden: widths of the fully connected layers after the convolutions.
        activation, batch_norm, dropout: as named; dropout acts before each fully connected layer.

    Example:
        >>> CNN((1, 8, 8), 10, channels=(16, 32))(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, channels: Sequence[int] = (32, 64),
                 kernel_size: int = 3, hidden: Sequence[int] = (128,), activation: str = "relu",
                 **options) -> None:
        super().__init__()
        convs_per_block = options.get("convs_per_block", 1)
        padding = kernel_size // 2 if options.get("padding", "same") == "same" else 0
        pool = nn.MaxPool2d if options.get("pool", "max") == "max" else nn.AvgPool2d
        batch_norm, dropout = options.get("batch_norm", True), options.get("dropout", 0.25)
        c, h, w = input_shape
        features: list[nn.Module] = []
        for out in channels:
            for _ in range(convs_per_block):
                features.append(nn.Conv2d(c, out, kernel_size, padding=padding, bias=not batch_norm))
                features += [nn.BatchNorm2d(out)] if batch_norm else []
                features.append(ACTIVATIONS[activation]())
                c, h, w = out, h + 2 * padding - kernel_size + 1, w + 2 * padding - kernel_size + 1
            features.append(pool(2))
            h, w = h // 2, w // 2
            if h < 1 or w < 1:
                raise UserError(f"CNN: input {tuple(input_shape)} is too small for {len(channels)} blocks of "
                                f"kernel {kernel_size} ({options.get('padding', 'same')} padding). "
                                "Use fewer model.channels, a smaller kernel_size or padding = 'same'.")
        self.features = nn.Sequential(*features)
        head: list[nn.Module] = [nn.Flatten()]
        width = c * h * w
        for size in hidden:
            head += [nn.Dropout(dropout)] if dropout > 0 else []
            head += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            width = size
        head += [nn.Dropout(dropout)] if dropout > 0 else []
        head.append(nn.Linear(width, num_outputs))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("cnn")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, **_) -> nn.Module:
    if len(input_shape) != 3:
        raise UserError(f"model.family = 'cnn' needs images (channels, height, width); the data gives "
                        f"rows of shape {input_shape}. Use family = 'mlp' for tables.")
    return CNN(input_shape, num_outputs, spec.channels, spec.kernel_size, spec.hidden, spec.activation,
               convs_per_block=spec.convs_per_block, padding=spec.padding, pool=spec.pool,
               batch_norm=spec.batch_norm, dropout=spec.dropout)
