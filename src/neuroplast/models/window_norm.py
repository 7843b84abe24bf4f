"""Per-window normalisation for forecasters (RevIN-style): each input window is shifted by its own
level and divided by its own scale before the network reads it, and the forecast is mapped back.

A series that leaves its training range (a trend, a level shift) then looks, window by window, like
the windows seen in training, which a network scaled once on training statistics cannot follow
(Kim et al. 2022, RevIN, https://openreview.net/forum?id=cGDAkQo1C0p; Zeng et al. 2023, NLinear,
https://arxiv.org/abs/2205.13504 subtracts the last value).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

WindowNormMode = Literal["none", "last", "mean"]


class WindowNorm(nn.Module):
    """Shift each window by its level (its last value or its mean) and divide by its standard deviation
    (at least ``min_scale``); :meth:`restore` undoes it on the forecast.

    Args:
        mode: ``"last"`` (the level is the window's last value of the first feature), ``"mean"`` (its
            mean) or ``"none"`` (identity).
        min_scale: floor of the scale, so a flat window is not blown up (inputs are already
            standardized on the training part, so 1e-2 is 1% of the training standard deviation).

    Shapes: windows ``(B, T, F)``; forecasts ``(B, H)`` in the units of the first feature.

    Example:
        >>> norm = WindowNorm("last")
        >>> x = torch.tensor([[[1.0], [2.0], [3.0]]])
        >>> z, stats = norm.normalize(x)
        >>> norm.restore(z[:, -1:, 0], stats)  # the last value, restored
        tensor([[3.]])
    """

    def __init__(self, mode: WindowNormMode = "last", min_scale: float = 1e-2) -> None:
        super().__init__()
        self.mode = mode
        self.min_scale = min_scale

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``(B, T, F)`` windows -> normalized windows and ``(level, scale)``, each ``(B, 1)``."""
        if self.mode == "none":
            zero = x.new_zeros(x.shape[0], 1)
            return x, (zero, zero + 1)
        first = x[:, :, 0]  # (B, T): the series itself; other features are left alone
        level = first[:, -1:] if self.mode == "last" else first.mean(dim=1, keepdim=True)
        scale = first.std(dim=1, unbiased=False, keepdim=True).clamp_min(self.min_scale)
        z = x.clone()
        z[:, :, 0] = (first - level) / scale
        return z, (level, scale)

    def restore(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``(B, H)`` forecasts in normalized units -> the window's units: ``y * scale + level``."""
        level, scale = stats
        return y * scale + level

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, min_scale={self.min_scale}"
