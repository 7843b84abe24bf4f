"""N-BEATS (Oreshkin et al. 2020, "N-BEATS: Neural basis expansion analysis for interpretable time
series forecasting", https://arxiv.org/abs/1905.10437), the generic architecture: a stack of blocks,
each a small fully connected network that reads what the blocks before it left unexplained of the
window (the residual) and emits a backcast, subtracted from that residual, and a forecast, added to
the sum. A pure network that beat the M4 winner; here with the per-window normalisation
(:class:`~neuroplast.models.window_norm.WindowNorm`) in front, as the other forecasters have it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS
from neuroplast.models.window_norm import WindowNorm, WindowNormMode


class NBeatsBlock(nn.Module):
    """One generic block: ``num_layers`` ReLU layers of ``hidden_size``, then linear backcast and
    forecast heads (the identity basis of the generic N-BEATS); the last block of a stack has no
    backcast (nothing reads it)."""

    def __init__(self, steps: int, horizon: int, hidden_size: int, num_layers: int, backcast: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers += [nn.Linear(steps if i == 0 else hidden_size, hidden_size), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.backcast = nn.Linear(hidden_size, steps) if backcast else None
        self.forecast = nn.Linear(hidden_size, horizon)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return (self.backcast(h) if self.backcast is not None else torch.zeros_like(x)), self.forecast(h)


class NBeats(nn.Module):
    """The generic N-BEATS stack: ``forecast = sum_b f_b``, block ``b`` reading
    ``r_b = r_{b-1} - backcast_{b-1}`` with ``r_1`` the (normalised) window.

    Args:
        input_shape: one window, ``(T, F)``; only the first feature (the series) is read.
        num_outputs: forecast steps (a direct multi-step head).
        hidden_size: width of each block's layers.
        num_blocks: blocks in the stack.
        num_layers: fully connected layers per block.
        window_norm: per-window normalisation, see :class:`WindowNorm`.

    Example:
        >>> model = NBeats((24, 1), 4)
        >>> model(torch.zeros(8, 24, 1)).shape
        torch.Size([8, 4])
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int, hidden_size: int = 64,
                 num_blocks: int = 3, num_layers: int = 2, window_norm: WindowNormMode = "last") -> None:
        super().__init__()
        steps = int(input_shape[0])
        self.norm = WindowNorm(window_norm)
        self.blocks = nn.ModuleList(NBeatsBlock(steps, num_outputs, hidden_size, num_layers, b < num_blocks - 1)
                                    for b in range(num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, stats = self.norm.normalize(x)
        residual = z[:, :, 0]  # (B, T)
        forecast = 0.0
        for block in self.blocks:
            backcast, step = block(residual)
            residual = residual - backcast
            forecast = forecast + step
        return self.norm.restore(forecast, stats)


@MODELS.register("nbeats")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
           vocab_size: int = 0, **_) -> nn.Module:
    if task != "forecast" or vocab_size or len(input_shape) != 2:
        raise UserError(f"model.family = 'nbeats' forecasts a series from a (steps, features) window; this "
                        f"data is task {task!r} with inputs of shape {input_shape}. Use data.source = "
                        "'series' (or 'sunspots'), or family = 'mlp' for tables.")
    return NBeats(input_shape, num_outputs, spec.hidden_size, spec.num_blocks, spec.num_layers, spec.window_norm)
