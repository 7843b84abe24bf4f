from __future__ import annotations

import torch

from neuroplast.models.window_norm import WindowNorm


def test_last_value_normalisation_by_hand_and_exact_restore() -> None:
    # window [1, 2, 4]: level = 4 (last), scale = population std = sqrt(((1-7/3)^2 + (2-7/3)^2 + (4-7/3)^2) / 3)
    #                 = sqrt((16/9 + 1/9 + 25/9) / 3) = sqrt(42/27) = 1.247219...
    x = torch.tensor([[[1.0], [2.0], [4.0]]], dtype=torch.float64)
    z, (level, scale) = WindowNorm("last").normalize(x)
    s = (42 / 27) ** 0.5
    torch.testing.assert_close(level, torch.tensor([[4.0]], dtype=torch.float64))
    torch.testing.assert_close(scale, torch.tensor([[s]], dtype=torch.float64))
    torch.testing.assert_close(z[0, :, 0], torch.tensor([-3 / s, -2 / s, 0.0], dtype=torch.float64))
    # restore: the normalized window itself maps back to [1, 2, 4] exactly; a forecast of 0.5 -> 4 + 0.5 s
    norm = WindowNorm("last")
    torch.testing.assert_close(norm.restore(z[:, :, 0], (level, scale)), x[:, :, 0])
    y = norm.restore(torch.tensor([[0.5]], dtype=torch.float64), (level, scale))
    torch.testing.assert_close(y, torch.tensor([[4 + 0.5 * s]], dtype=torch.float64))


def test_mean_mode_flat_window_and_none() -> None:
    # mean of [2, 4] is 3, std 1: normalized [-1, 1]; a flat window keeps the floor scale (no blow-up)
    z, (level, scale) = WindowNorm("mean").normalize(torch.tensor([[[2.0], [4.0]], [[5.0], [5.0]]]))
    torch.testing.assert_close(level, torch.tensor([[3.0], [5.0]]))
    torch.testing.assert_close(scale, torch.tensor([[1.0], [1e-2]]))
    torch.testing.assert_close(z[:, :, 0], torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))
    x = torch.randn(3, 4, 2)
    same, stats = WindowNorm("none").normalize(x)
    assert same is x and torch.equal(WindowNorm("none").restore(x[:, :, 0], stats), x[:, :, 0])


def test_other_features_are_left_alone() -> None:
    x = torch.tensor([[[1.0, 10.0], [3.0, 20.0]]])
    z, _ = WindowNorm("last").normalize(x)
    assert torch.equal(z[:, :, 1], x[:, :, 1]) and torch.equal(x[0, :, 0], torch.tensor([1.0, 3.0]))
