from __future__ import annotations

import pytest
import torch

from neuroplast.errors import UserError
from neuroplast.models import build_model
from neuroplast.models.linear import LinearForecaster, moving_average
from neuroplast.spec import LinearSpec


def test_moving_average_by_hand() -> None:
    # kernel 3, edges repeated: [1, 1, 2, 4, 4] -> means [4/3, 7/3, 10/3]
    torch.testing.assert_close(moving_average(torch.tensor([[1.0, 2.0, 4.0]]), 3),
                               torch.tensor([[4 / 3, 7 / 3, 10 / 3]]))


def test_dlinear_equals_a_hand_written_forward() -> None:
    torch.manual_seed(0)
    model = LinearForecaster((5, 1), 2, kernel_size=3, window_norm="last").double()
    x = torch.randn(4, 5, 1, dtype=torch.float64)
    # the oracle: level/scale by hand, trend by an explicit loop, two matrix products, restore
    s = x[:, :, 0]
    level, scale = s[:, -1:], s.std(dim=1, unbiased=False, keepdim=True)
    z = (s - level) / scale
    padded = torch.cat([z[:, :1], z, z[:, -1:]], dim=1)
    trend = torch.stack([padded[:, i:i + 3].mean(dim=1) for i in range(5)], dim=1)
    y = trend @ model.trend.weight.T + model.trend.bias + (z - trend) @ model.rest.weight.T + model.rest.bias
    torch.testing.assert_close(model(x), y * scale + level)


def test_a_linear_trend_is_followed_beyond_the_training_range() -> None:
    # Trained on windows of t in [0, 60), the last-value normalisation sees the same normalized window
    # everywhere, so the forecast at t = 1000 is right: a network scaled once could not reach it.
    torch.manual_seed(0)
    model = LinearForecaster((8, 1), 1, kernel_size=1)
    t = torch.arange(60.0)
    x = torch.stack([t[i:i + 8] for i in range(52)])[:, :, None]
    y = t[8:60, None]
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    far = torch.arange(992.0, 1000.0)[None, :, None]
    assert model(far).item() == pytest.approx(1000.0, abs=0.05)


def test_linear_family_is_for_forecasting_only() -> None:
    with pytest.raises(UserError, match="family = 'linear' forecasts a series"):
        build_model(LinearSpec(), (10,), 3, "regression")
