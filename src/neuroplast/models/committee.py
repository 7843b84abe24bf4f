"""A committee of forecasters: several networks trained side by side on the same windows, each by its
own loss, whose forecasts are combined by their median (or mean).

Combining forecasts is the most reliable gain of the forecasting competitions (M4's winners and
N-BEATS itself are ensembles; Makridakis et al. 2020); the median is robust to one member that goes
astray. In training the committee returns every member's forecast, ``(batch, members, horizon)``, and
the objective averages the members' losses (so none learns to correct another, as the MLP's
ensemble does); in eval mode it returns the combination, ``(batch, horizon)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models.base import MODELS, build_model


def combine(forecasts: torch.Tensor, how: str = "median") -> torch.Tensor:
    """``(batch, members, horizon)`` -> ``(batch, horizon)``: the members' mean, or their median (the
    mean of the middle two for an even number of members).

    Example:
        >>> combine(torch.tensor([[[1.0], [4.0], [2.0], [10.0]]]))
        tensor([[3.]])
    """
    if how == "mean":
        return forecasts.mean(dim=1)
    k = forecasts.shape[1]
    ordered = forecasts.sort(dim=1).values
    return ordered[:, (k - 1) // 2: k // 2 + 1].mean(dim=1)


class Committee(nn.Module):
    """Forecasters (``members``) over the same ``(T, F)`` windows, forecasting ``combine(...)`` of theirs.

    Example:
        >>> from neuroplast.models.linear import LinearForecaster
        >>> model = Committee([LinearForecaster((8, 1), 2), LinearForecaster((8, 1), 2, 1)]).eval()
        >>> model(torch.zeros(3, 8, 1)).shape
        torch.Size([3, 2])
    """

    def __init__(self, members: Sequence[nn.Module], how: str = "median") -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        forecasts = torch.stack([m(x) for m in self.members], dim=1)  # (B, k, H)
        return forecasts if self.training else combine(forecasts, self.how)


@MODELS.register("committee")
def _build(spec: Any, input_shape: tuple[int, ...], num_outputs: int, task: str = "classification",
           vocab_size: int = 0, **_) -> nn.Module:
    if task != "forecast" or vocab_size or len(input_shape) != 2:
        raise UserError(f"model.family = 'committee' combines forecasters of a (steps, features) window; this "
                        f"data is task {task!r} with inputs of shape {input_shape}. Use data.source = 'series'.")
    return Committee([build_model(m, input_shape, num_outputs, task) for m in spec.members], spec.combine)
