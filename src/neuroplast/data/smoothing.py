"""Exponential-smoothing baselines for forecasts, from statsmodels: ETS (damped Holt-Winters) and the
Theta method, each scored on the same test origins as the network; and the MASE scale.

Both are the strong simple methods of the M3/M4 competitions (Makridakis et al. 2020): a network that
does not beat them on a series has not earned its cost there.
"""

from __future__ import annotations

import warnings

import numpy as np


def ets_forecast(values: np.ndarray, origins: np.ndarray, horizon: int, season: int | None) -> np.ndarray:
    """Damped additive Holt-Winters forecasts ``(N, horizon)`` from each origin.

    Fitted once on ``values[:origins.min()]`` divided by their spread (:func:`fit_unit`; additive season
    when ``season`` > 1 and two seasons fit in that part); for each origin ``t`` the fitted parameters
    and initial states are filtered on through ``values[:t]`` without refitting, so a forecast never
    uses values from ``t`` on.
    """
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    origins = np.sort(np.asarray(origins, dtype=np.int64))
    first = int(origins[0])
    unit = fit_unit(values, first)
    values = np.asarray(values, dtype=np.float64) / unit
    seasonal = season is not None and season > 1 and first >= 2 * season
    kw = {"trend": "add", "damped_trend": True, "seasonal": "add" if seasonal else None,
          "seasonal_periods": season if seasonal else None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notices
        p = ExponentialSmoothing(values[:first], initialization_method="estimated", **kw).fit().params
        known = {"initial_level": p["initial_level"], "initial_trend": p["initial_trend"]}
        fixed = {k: p[k] for k in ("smoothing_level", "smoothing_trend", "damping_trend")}
        if seasonal:
            known["initial_seasonal"] = p["initial_seasons"]
            fixed["smoothing_seasonal"] = p["smoothing_seasonal"]
        out = np.empty((len(origins), horizon))
        for i, t in enumerate(origins):
            model = ExponentialSmoothing(values[:t], initialization_method="known", **known, **kw)
            out[i] = model.fit(optimized=False, **fixed).forecast(horizon)
    return out * unit


def fit_unit(values: np.ndarray, end: int) -> float:
    """The spread of ``values[:end]`` (1.0 when flat): the statistical baselines fit ``values / unit``
    and scale their forecasts back, so a series in the billions or the billionths is fitted as well as
    one near 1 (statsmodels' optimizers start from unit-scale guesses)."""
    return float(np.std(np.asarray(values[:end], dtype=np.float64))) or 1.0


def theta_forecast(values: np.ndarray, origins: np.ndarray, horizon: int, season: int | None) -> np.ndarray:
    """Theta-method forecasts ``(N, horizon)`` (statsmodels ``ThetaModel``: SES with half the linear
    trend's slope, Assimakopoulos & Nikolopoulos 2000), refitted on ``values[:t]`` for each origin
    ``t``; deseasonalized when ``season`` > 1 and two seasons are known (statsmodels' "auto":
    multiplicatively for positive values, additively otherwise). A flat history forecasts its value
    (the method's limit; statsmodels' fit is not defined there)."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    values = np.asarray(values, dtype=np.float64)
    out = np.empty((len(origins), horizon))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, t in enumerate(np.asarray(origins, dtype=np.int64)):
            if np.ptp(values[:t]) == 0:
                out[i] = values[t - 1]
                continue
            seasonal = season is not None and season > 1 and t >= 2 * season
            model = ThetaModel(values[:t], period=season if seasonal else 1, deseasonalize=seasonal)
            out[i] = np.asarray(model.fit().forecast(horizon))
    return out


def mase_scale(values: np.ndarray, end: int, lag: int = 1) -> float:
    """The MASE denominator (Hyndman & Koehler 2006): the in-sample MAE of the lag-``lag`` naive
    forecast over ``values[:end]`` (lag = the season for seasonal series, else 1). A season as long as
    that part falls back to lag 1 (the one-step naive error); a flat part gives 1.0, so MASE is the MAE
    there: :func:`mase_caveat` says which applies."""
    past = np.asarray(values[:end], dtype=np.float64)
    lag = lag if len(past) > lag else 1
    if len(past) <= lag:
        return 1.0
    return float(np.mean(np.abs(past[lag:] - past[:-lag]))) or 1.0


def mase_caveat(values: np.ndarray, end: int, lag: int = 1) -> str | None:
    """One line on how :func:`mase_scale` departs from the textbook MASE for these values, or None."""
    past = np.asarray(values[:end], dtype=np.float64)
    if len(past) <= 1 or not np.any(past[1:] != past[:-1]):
        return (f"the {len(past)} values before the test period do not change, so the naive forecast's "
                "in-sample error is 0 and MASE is undefined: the 'mase' figures are the MAE (scale 1)")
    if len(past) <= lag:
        return (f"the season ({lag}) is not shorter than the {len(past)} values before the test period: MASE "
                "is scaled by the one-step naive error instead of the seasonal one")
    return None
