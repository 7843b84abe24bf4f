from __future__ import annotations

import torch

from neuroplast.models.nbeats import NBeats


def test_the_stack_sums_block_forecasts_on_the_residuals_a_hand_loop() -> None:
    # Oracle: N-BEATS' doubly residual recursion written out by hand on the same blocks.
    torch.manual_seed(0)
    model = NBeats((6, 1), 2, hidden_size=5, num_blocks=3, num_layers=2, window_norm="none").double()
    x = torch.randn(4, 6, 1, dtype=torch.float64)
    residual, total = x[:, :, 0], torch.zeros(4, 2, dtype=torch.float64)
    for block in model.blocks:
        h = block.body(residual)
        total = total + block.forecast(h)
        if block.backcast is not None:  # the last block has none
            residual = residual - block.backcast(h)
    torch.testing.assert_close(model(x), total)


def test_a_shifted_window_shifts_the_forecast_with_the_window_norm() -> None:
    # With window_norm = 'last' the forecast is equivariant to adding a constant to the window.
    torch.manual_seed(0)
    model = NBeats((8, 1), 3, hidden_size=6, num_blocks=2).double()
    x = torch.randn(5, 8, 1, dtype=torch.float64)
    torch.testing.assert_close(model(x + 100.0), model(x) + 100.0)
