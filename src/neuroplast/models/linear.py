"""Linear forecasters: DLinear (Zeng et al. 2023, "Are Transformers Effective for Time Series
Forecasting?", https://arxiv.org/abs/2205.13504). The window is split into a trend (its moving
average) and a remainder; one linear map per part goes from the whole window to every forecast step
(a direct multi-step head), and the two are summed. With the per-window normalisation
(:class:`~neuroplast.models.window_norm.WindowNorm`, on by default) this beat many Transformers on
the long-horizon benchmarks, and it is a strong, cheap candidate on short real series.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS
from neuroplast.models.window_norm import WindowNorm, WindowNormMode


def moving_average(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Centred moving average of ``(B, T)`` rows, the ends padded by repeating the edge values
    (DLinear's trend): same shape as ``x``."""
    if kernel_size <= 1:
        return x
    left, right = (kernel_size - 1) // 2, kernel_size // 2
    padded = F.pad(x[:, None, :], (left, right), mode="replicate")
    return F.avg_pool1d(padded, kernel_size, stride=1)[:, 0]


class LinearForecaster(nn.Module):
    """DLinear: ``forecast = W_trend @ trend(window) + W_rest @ (window - trend(window))``.

    Args:
        input_shape: one window, ``(T, F)``; only the first feature (the series) is read.
        num_outputs: forecast steps (one output per step: a direct multi-step head).
        kernel_size: moving-average length of the trend (capped at ``T``; 1: one linear map, NLinear).
        window_norm: per-window normalisation, see :class:`WindowNorm`.

    Example:
        >>> model = LinearForecaster((24, 1), 4)
        >>> model(torch.zeros(8, 24, 1)).shape
        torch.Size([8, 4])
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, kernel_size: int = 25,
                 window_norm: WindowNormMode = "last") -> None:
        super().__init__()
        steps = int(input_shape[0])
        self.kernel_size = min(kernel_size, steps)
        self.norm = WindowNorm(window_norm)
        self.trend = nn.Linear(steps, num_outputs)
        self.rest = nn.Linear(steps, num_outputs) if self.kernel_size > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, stats = self.norm.normalize(x)
        series = z[:, :, 0]  # (B, T)
        trend = moving_average(series, self.kernel_size)
        y = self.trend(trend)
        if self.rest is not None:
            y = y + self.rest(series - trend)
        return self.norm.restore(y, stats)


@MODELS.register("linear")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
           vocab_size: int = 0, **_) -> nn.Module:
    if task != "forecast" or vocab_size or len(input_shape) != 2:
        raise UserError(f"model.family = 'linear' forecasts a series from a (steps, features) window; this "
                        f"data is task {task!r} with inputs of shape {input_shape}. Use data.source = "
                        "'series' (or 'sunspots'), or family = 'mlp' for tables.")
    return LinearForecaster(input_shape, num_outputs, spec.kernel_size, spec.window_norm)
