from __future__ import annotations

import numpy as np
import pytest

from neuroplast.data.smoothing import ets_forecast, mase_scale, theta_forecast

pytest.importorskip("statsmodels")


def _seasonal(n: int = 120) -> np.ndarray:
    t = np.arange(n)
    return 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.3, n)


@pytest.mark.parametrize("method", [ets_forecast, theta_forecast])
def test_forecasts_never_read_values_from_the_origin_on(method) -> None:
    values = _seasonal()
    origins = np.array([96, 100, 108])
    base = method(values, origins, 3, 12)
    changed = values.copy()
    changed[108:] += 1000.0  # the future of the last origin only
    after = method(changed, origins, 3, 12)
    np.testing.assert_array_equal(after, base)  # ETS fits on values[:96]; Theta refits on values[:t]
    changed[100:] += 1000.0  # now the history of the last origin changes, and its forecast must
    assert not np.allclose(method(changed, origins, 3, 12)[2], base[2])


@pytest.mark.parametrize("method", [ets_forecast, theta_forecast])
def test_seasonal_methods_beat_naive_on_a_seasonal_trend(method) -> None:
    values = _seasonal()
    origins = np.arange(96, 118)
    pred = method(values, origins, 1, 12)[:, 0]
    err = np.mean(np.abs(pred - values[origins]))
    naive = np.mean(np.abs(values[origins - 1] - values[origins]))
    assert err < 0.5 * naive, (err, naive)


def test_mase_scale_by_hand() -> None:
    # lag 1 over [1, 3, 2, 4]: |2| + |-1| + |2| = 5 over 3; lag 2: |1| + |1| = 2 over 2
    assert mase_scale(np.array([1.0, 3, 2, 4, 9]), 4) == pytest.approx(5 / 3)
    assert mase_scale(np.array([1.0, 3, 2, 4]), 4, lag=2) == pytest.approx(1.0)
    assert mase_scale(np.array([2.0, 2, 2]), 3) == 1.0  # flat: no division by zero


def test_mase_scale_falls_back_and_says_so() -> None:
    from neuroplast.data.smoothing import mase_caveat

    values = np.array([1.0, 3, 2, 4])
    assert mase_scale(values, 4, lag=4) == pytest.approx(mase_scale(values, 4, lag=1))  # |2|,|1|,|2| -> 5/3
    assert "scaled by the one-step naive error" in mase_caveat(values, 4, lag=4)
    assert "MASE is undefined" in mase_caveat(np.array([2.0, 2, 2]), 3)
    assert mase_caveat(values, 4, lag=2) is None


def test_theta_on_a_flat_history_and_a_negative_seasonal_series() -> None:
    flat = np.full(40, 5.0)
    assert np.allclose(theta_forecast(flat, np.array([30, 35]), 3, 12), 5.0)
    t = np.arange(96)
    wave = 4 * np.sin(2 * np.pi * t / 12)
    # the same seasonal series shifted below zero keeps its season (additive) instead of losing it
    up, down = (theta_forecast(wave + c, np.array([84]), 12, 12) - c for c in (100.0, -100.0))
    truth = wave[84:96]
    assert np.abs(down - truth).mean() < 0.5 * np.abs(np.full(12, wave[83]) - truth).mean()
    assert np.abs(up - truth).mean() < 0.5 * np.abs(np.full(12, wave[83]) - truth).mean()
