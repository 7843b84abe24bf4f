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

    Fitted once on ``values[:origins.min()]`` (additive season when ``season`` > 1 and two seasons
    fit in that part); for each origin ``t`` the fitted parameters and initial states are filtered on
    through ``values[:t]`` without refitting, so a forecast never uses values from ``t`` on.
    """
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    values = np.asarray(values, dtype=np.float64)
    origins = np.sort(np.asarray(origins, dtype=np.int64))
    first = int(origins[0])
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
    return out


def theta_forecast(values: np.ndarray, origins: np.ndarray, horizon: int, season: int | None) -> np.ndarray:
    """Theta-method forecasts ``(N, horizon)`` (statsmodels ``ThetaModel``: SES with half the linear
    trend's slope, Assimakopoulos & Nikolopoulos 2000), refitted on ``values[:t]`` for each origin
    ``t``; deseasonalized (multiplicative) when ``season`` > 1 and the values are positive."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    values = np.asarray(values, dtype=np.float64)
    out = np.empty((len(origins), horizon))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, t in enumerate(np.asarray(origins, dtype=np.int64)):
            seasonal = season is not None and season > 1 and t >= 2 * season and values[:t].min() > 0
            model = ThetaModel(values[:t], period=season if seasonal else 1, deseasonalize=seasonal)
            out[i] = np.asarray(model.fit().forecast(horizon))
    return out


def mase_scale(values: np.ndarray, end: int, lag: int = 1) -> float:
    """The MASE denominator (Hyndman & Koehler 2006): the in-sample MAE of the lag-``lag`` naive
    forecast over ``values[:end]`` (lag = the season for seasonal series, else 1); 1.0 for a flat part."""
    past = np.asarray(values[:end], dtype=np.float64)
    if len(past) <= lag:
        return 1.0
    return float(np.mean(np.abs(past[lag:] - past[:-lag]))) or 1.0
