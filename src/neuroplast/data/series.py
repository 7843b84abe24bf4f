"""Time series for forecasting: the bundled sunspot numbers and one numeric column of a CSV file.

The series is split in time order: the last ``test_fraction`` of the values is the test part, the
``val_fraction`` before it the validation part, the rest training. Values are standardized with the
mean and standard deviation of the training part only. Each sample is a sliding window: the input
is the ``window`` values before an origin ``t``, shape ``(window, 1)``; the target is the
``horizon`` values from ``t`` on, shape ``(horizon,)``. A window belongs to the part that holds all
of its targets (one window per origin, stride 1), so a test window may read inputs from the
validation part: the usual rolling-origin evaluation.

Five baselines are scored on exactly the test windows, in original units, and stored in
``Dataset.extra["baselines"]``: naive (the last value), seasonal naive (the value one season
earlier), ARIMA (order chosen by AIC, fitted once on train + validation), ETS (damped Holt-Winters)
and Theta (see :mod:`neuroplast.data.smoothing`). statsmodels is an
optional dependency (``pip install "neuroplast[series]"``).
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast.data.base import SOURCES, Dataset
from neuroplast.data.dates import check_dates, date_column
from neuroplast.data.smoothing import (
    ets_forecast,
    fit_unit,
    mase_caveat,
    mase_scale,
    theta_forecast,
)
from neuroplast.data.tabular import read_csv
from neuroplast.errors import DataError, UserError, did_you_mean
from neuroplast.spec import DataSpec

log = logging.getLogger(__name__)

# The season a date column's step implies when data.season is not set (AutoGluon's get_seasonality).
SEASON_OF_STEP = {"1 month(s)": 12, "3 month(s)": 4, "1 day(s)": 7, "1 business day(s)": 5}

SUNSPOTS_SEASON = 11  # years: the Schwabe solar cycle
# ARIMA orders searched by AIC: p in 0..3, d in 0..1, q in 0..2 (24 fits, a few seconds).
ARIMA_ORDERS = list(itertools.product(range(4), range(2), range(3)))


# --------------------------------------------------------------------------- splits and windows
def split_bounds(num_values: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """``(train_end, val_end)``: training is ``[0, train_end)``, validation ``[train_end, val_end)``,
    test ``[val_end, num_values)``."""
    num_test = int(round(num_values * test_fraction))
    num_val = int(round(num_values * val_fraction))
    return num_values - num_test - num_val, num_values - num_test


def split_origins(num_values: int, train_end: int, val_end: int, window: int,
                  horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origins (index of the first target) of the train, validation and test windows.

    A window with origin ``t`` reads ``values[t - window:t]`` and predicts ``values[t:t + horizon]``;
    it belongs to the part that holds all of its targets.
    """
    def origins(start: int, end: int) -> np.ndarray:
        return np.arange(max(start, window), end - horizon + 1, dtype=np.int64)

    return origins(0, train_end), origins(train_end, val_end), origins(val_end, num_values)


def make_windows(values: np.ndarray, origins: np.ndarray, window: int,
                 horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(N, window, 1)`` and targets ``(N, horizon)`` for the given origins."""
    origins = np.asarray(origins, dtype=np.int64)
    x = values[origins[:, None] + np.arange(-window, 0)]  # (N, W)
    y = values[origins[:, None] + np.arange(horizon)]  # (N, H)
    return x[:, :, None], y


def series_dataset(name: str, values: np.ndarray, spec: DataSpec,
                   season: int | None = None) -> Dataset:
    """Split a 1-D series in time order, standardize it and cut it into forecasting windows.

    ``season`` (``spec.season`` wins over it) is the period of the seasonal-naive baseline.
    """
    values = np.asarray(values, dtype=np.float64)
    window, horizon = spec.window, spec.horizon
    train_end, val_end = split_bounds(len(values), spec.val_fraction, spec.test_fraction)
    _check_lengths(name, len(values), train_end, val_end, spec)
    train, val, test = split_origins(len(values), train_end, val_end, window, horizon)
    mean = float(values[:train_end].mean())
    std = float(values[:train_end].std()) or 1.0
    scaled = (values - mean) / std
    tensors = []
    for origins in (train, val, test):
        x, y = make_windows(scaled, origins, window, horizon)
        tensors += [torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)]
    pre: dict[str, Any] = {"kind": "series", "window": window, "horizon": horizon,
                           "target_mean": [mean] * horizon, "target_std": [std] * horizon,
                           "mean": mean, "std": std, "column": spec.column, "date_column": spec.date_column}
    season = spec.season or season
    preds, order = baseline_predictions(values, test, horizon, season)
    scale = mase_scale(values, int(test[0]), season or 1)
    caveat = mase_caveat(values, int(test[0]), season or 1)
    if caveat:
        log.warning("%s: %s.", name, caveat)
    _, targets = make_windows(values, test, 0, horizon)
    extra = {"baselines": {k: forecast_scores(p, targets, scale) for k, p in preds.items()},
             "baseline_order": list(order), "season": season, "mase_scale": scale,
             "test_origins": test.tolist(), "baseline_forecasts": {k: p.tolist() for k, p in preds.items()},
             "series": values.tolist()}
    return Dataset(name, "forecast", *tensors, preprocess=pre, extra=extra)


def _check_lengths(source: str, num_values: int, train_end: int, val_end: int, spec: DataSpec) -> None:
    """One line naming ``source`` when the split at ``train_end``, ``val_end`` leaves a part without a window."""
    window, horizon = spec.window, spec.horizon
    parts = (f"the series has {num_values} values, {train_end} of them in the training part "
             f"(data.val_fraction = {spec.val_fraction}, data.test_fraction = {spec.test_fraction})")
    if train_end < window + horizon:
        raise DataError(f"{source}: window {window} + horizon {horizon} needs at least "
                        f"{window + horizon} values in the training part; {parts}. "
                        "Lower data.window or data.horizon.")
    for part, size, fraction, key in (("validation", val_end - train_end, spec.val_fraction, "val"),
                                      ("test", num_values - val_end, spec.test_fraction, "test")):
        if fraction > 0 and size < horizon:
            raise DataError(f"{source}: the {part} part has {size} values, fewer than horizon "
                            f"{horizon}, so it holds no window ({num_values} values, data."
                            f"{key}_fraction = {fraction}). Raise data.{key}_fraction or lower "
                            "data.horizon.")


# --------------------------------------------------------------------------- baselines
def naive_forecast(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed value ``values[t - 1]``, repeated for every step: ``(N, horizon)``."""
    last = np.asarray(values, dtype=np.float64)[np.asarray(origins) - 1]
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_naive_forecast(values: np.ndarray, origins: np.ndarray, horizon: int,
                            season: int) -> np.ndarray:
    """The value one season before each target, from data up to the origin: ``(N, horizon)``.

    Step ``h`` (1-based) from origin ``t`` predicts ``values[t-1+h - season*(floor((h-1)/season)+1)]``
    (Hyndman & Athanasopoulos, FPP3 5.2), so steps beyond one season reuse the last observed season.
    """
    h = np.arange(1, horizon + 1)
    lag = season * ((h - 1) // season + 1)  # (H,)
    return np.asarray(values, dtype=np.float64)[np.asarray(origins)[:, None] - 1 + h - lag]


def arima_forecast(values: np.ndarray, origins: np.ndarray,
                   horizon: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """ARIMA forecasts ``(N, horizon)`` from each origin, and the order chosen by AIC.

    The model is fitted once, on ``values[:origins.min()]`` (train + validation) divided by their spread
    (:func:`~neuroplast.data.smoothing.fit_unit`, forecasts scaled back), by exact Gaussian
    maximum likelihood (``method="innovations_mle"``: ~5x faster than the state-space optimizer
    here, same optima on sunspots). For each origin ``t`` the fitted results are *extended* with
    ``values[t0:t]`` (``ARIMAResults.extend``): the Kalman filter runs on from the end of the fitted
    sample with the same parameters, so each forecast is conditioned on all data before ``t``
    without refitting (identical to ``res.apply(values[:t])`` to ~1e-10, at a fraction of the cost).
    """
    origins = np.sort(np.asarray(origins, dtype=np.int64))
    first = int(origins[0])
    unit = fit_unit(values, first)
    values = np.asarray(values, dtype=np.float64) / unit
    res, order = _fit_arima(values[:first].tobytes(), tuple(ARIMA_ORDERS))
    preds = np.empty((len(origins), horizon))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, t in enumerate(origins):
            current = res.extend(values[first:t]) if t > first else res
            preds[i] = current.forecast(horizon)
    return preds * unit, order


@functools.lru_cache(maxsize=8)  # a run loads its data more than once; the search costs seconds
def _fit_arima(raw: bytes, orders: tuple[tuple[int, int, int], ...]) -> tuple[Any, tuple[int, int, int]]:
    ARIMA = _statsmodels_arima()
    values = np.frombuffer(raw, dtype=np.float64)
    start = time.perf_counter()
    best: tuple[float, Any, tuple[int, int, int]] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and differencing notices, per order
        for order in orders:
            trend = "c" if order[1] == 0 else "n"  # a constant vanishes under differencing
            try:
                res = ARIMA(values, order=order, trend=trend).fit(method="innovations_mle")
            except (ValueError, ArithmeticError):  # degenerate fits (e.g. a constant difference)
                continue
            if math.isfinite(res.aic) and (best is None or res.aic < best[0]):
                best = (res.aic, res, order)
    if best is None:
        raise DataError(f"ARIMA could not be fitted with any order in {orders[0]}..{orders[-1]} on "
                        f"{len(values)} values. Check that the series varies.")
    log.info("ARIMA%s chosen by AIC (%.1f) in %.1f s", best[2], best[0], time.perf_counter() - start)
    return best[1], best[2]


def baseline_predictions(values: np.ndarray, origins: np.ndarray, horizon: int, season: int | None = None
                         ) -> tuple[dict[str, np.ndarray], tuple[int, int, int]]:
    """Each baseline's forecasts ``(N, horizon)`` from these origins, in the units of ``values``, and
    the ARIMA order. Seasonal naive is left out without a season or when an origin has less than one
    season of history; ARIMA is fitted on ``values[:min(origins)]`` (see :func:`arima_forecast`); ETS
    and Theta as :mod:`neuroplast.data.smoothing` says (left out, with a warning, if they cannot fit)."""
    values = np.asarray(values, dtype=np.float64)
    origins = np.sort(np.asarray(origins, dtype=np.int64))
    if len(origins) == 0 or origins[0] < 1 or origins[-1] + horizon > len(values):
        raise ValueError(f"Forecast origins must lie in [1, {len(values) - horizon}] for {len(values)} "
                         f"values and horizon {horizon}; received {origins.tolist()}.")
    preds = {"naive": naive_forecast(values, origins, horizon)}
    if season is not None and origins[0] >= season:
        preds["seasonal_naive"] = seasonal_naive_forecast(values, origins, horizon, season)
    elif season is not None:
        log.warning("No seasonal-naive baseline: the season (data.season = %d) is longer than the %d values "
                    "before the first test window. Lower data.season or use a longer series.", season,
                    origins[0])
    preds["arima"], order = arima_forecast(values, origins, horizon)
    for name, method in (("ets", ets_forecast), ("theta", theta_forecast)):
        try:
            preds[name] = method(values, origins, horizon, season)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:  # e.g. too short to fit
            log.warning("No %s baseline: statsmodels could not fit it (%s).", name, err)
    return preds, order


def forecast_scores(pred: np.ndarray, truth: np.ndarray, scale: float) -> dict[str, Any]:
    """RMSE, MAE and MASE (MAE / ``scale``) pooled over origins and steps of ``(N, H)`` forecasts; with
    more than one step also ``steps``: ``{"rmse": [H], "mae": [H], "mase": [H]}``, one per step ahead."""
    err = np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    out: dict[str, Any] = {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
                           "mase": float(np.mean(np.abs(err))) / scale}
    if err.shape[1] > 1:
        mae = np.mean(np.abs(err), axis=0)
        out["steps"] = {"rmse": np.sqrt(np.mean(err**2, axis=0)).tolist(), "mae": mae.tolist(),
                        "mase": (mae / scale).tolist()}
    return out


def forecast_baselines(values: np.ndarray, origins: np.ndarray, horizon: int,
                       season: int | None = None) -> tuple[dict[str, dict[str, Any]], list[int] | None]:
    """The baselines' scores (:func:`forecast_scores`) over the windows with these origins, in the
    units of ``values``: ``({"naive": {"rmse", "mae", "mase"[, "steps"]}, "seasonal_naive": ...,
    "arima": ..., "ets": ..., "theta": ...}, [p, d, q])`` (see :func:`baseline_predictions`). MASE
    divides the MAE by the in-sample MAE of the naive forecast one season back (one step without a
    season) over the values before the first origin."""
    values = np.asarray(values, dtype=np.float64)
    preds, order = baseline_predictions(values, origins, horizon, season)
    origins = np.sort(np.asarray(origins, dtype=np.int64))
    _, targets = make_windows(values, origins, 0, horizon)
    scale = mase_scale(values, int(origins[0]), season or 1)
    return {k: forecast_scores(p, targets, scale) for k, p in preds.items()}, list(order)


def _statsmodels_arima() -> Any:
    try:
        from statsmodels.tsa.arima.model import ARIMA
    except ImportError:
        raise UserError('Time-series sources need statsmodels (for the sunspots data and the ARIMA '
                        'baseline), which is not installed. Run: pip install "neuroplast[series]".'
                        ) from None
    return ARIMA


# --------------------------------------------------------------------------- sources
def read_series(spec: DataSpec) -> tuple[str, np.ndarray, int | None, str | None]:
    """The raw series a source gives, before any split: ``(name, values, season, origin)``.

    The sunspots' season is the ~11-year solar cycle; a CSV's is ``data.season`` (None when not set).
    A CSV's date column (``data.date_column``, or one named like a date) must be in order without gaps.
    """
    _statsmodels_arima()  # one clear message if statsmodels is missing
    if spec.source == "sunspots":
        from statsmodels.datasets import sunspots

        values = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float64)
        return "sunspots", values, SUNSPOTS_SEASON, None
    if spec.path is None or spec.column is None:
        raise UserError("data.source = 'series' needs data.path = 'FILE.csv' and data.column = "
                        f"'COLUMN'; received path={spec.path!r}, column={spec.column!r}.")
    path = Path(spec.path)
    stat = path.stat() if path.is_file() else None
    version = stat and (stat.st_mtime_ns, stat.st_size)
    values, season = _read_once(path, version, spec.column, spec.date_column, spec.season)
    return path.stem, np.array(values), season, str(path.resolve())


@functools.lru_cache(maxsize=4)  # selection and loading read the same file: check it (and say so) once
def _read_once(path: Path, version: Any, column: str, date_column: str | None, season: int | None
               ) -> tuple[tuple[float, ...], int | None]:
    values, step = series_column(path, *read_csv(path), column, date_column)
    return tuple(values.tolist()), season or _season_of(step, path)


def _season_of(step: str | None, path: Path) -> int | None:
    """The season the dates imply (AutoGluon's and Darts' defaults), said in one line; None for yearly,
    weekly or undated rows."""
    season = SEASON_OF_STEP.get(step or "")
    if season is not None:
        log.warning("%s: the dates step by %s, so the season is %d (seasonal naive, seasonal ETS and "
                    "Theta, MASE scaled one season back); set data.season (--season) to change it.",
                    path.name, step, season)
    return season


def series_column(path: Path, header: list[str], columns: dict[str, list[str]], column: str,
                  given_date_column: str | None = None, fix: str = "Set data.column to one of them."
                  ) -> tuple[np.ndarray, str | None]:
    """The numbers of ``column`` of CSV file ``path`` (read as ``header``, ``columns``), one per time step,
    checked as a run checks them: every cell a finite number, and the date column (``given_date_column``,
    or one named like a date) in order without gaps; with the dates' step (``"1 month(s)"``, or None).
    Anything else is a one-line :class:`DataError` naming the rows and ``fix`` (for a missing column)."""
    if column not in columns:
        raise DataError(f"CSV file {path} has no column {column!r}.{did_you_mean(column, header)} "
                        f"Columns: {', '.join(header)}. {fix}")
    values = _numeric_column(columns[column], column, path)
    dates = date_column(header, given_date_column, path)
    step = None
    if dates is not None and dates != column:
        step = check_dates(columns[dates], dates, path, required=given_date_column is not None)
    return values, step


@SOURCES.register("sunspots")
def load_sunspots(spec: DataSpec, seed: int) -> Dataset:
    """Yearly mean sunspot numbers, 1700-2008 (309 values), as bundled with statsmodels.

    statsmodels bundles the *yearly* series, not the monthly one; its season is the ~11-year solar
    cycle. The split is chronological, so ``seed`` does not change it.
    """
    name, values, season, _ = read_series(spec)
    return series_dataset(name, values, spec, season=season)


@SOURCES.register("series")
def load_series(spec: DataSpec, seed: int) -> Dataset:
    """One numeric column (``data.column``) of a CSV file (``data.path``), one row per time step."""
    name, values, season, origin = read_series(spec)
    data = series_dataset(name, values, spec, season=season)
    data.origin = origin
    return data


def _numeric_column(raw: list[str], column: str, path: Path) -> np.ndarray:
    empty = [i + 1 for i, v in enumerate(raw) if v == ""]
    if empty:
        rows = ", ".join(map(str, empty[:5])) + (", ..." if len(empty) > 5 else "")
        raise DataError(f"CSV file {path}: column {column!r} has {len(empty)} empty value(s) (data rows "
                        f"{rows}); a series needs one number per time step. Fill or drop those rows.")
    values = np.empty(len(raw))
    for i, v in enumerate(raw):
        try:
            values[i] = float(v)
        except ValueError:
            values[i] = math.nan
        if not math.isfinite(values[i]):
            raise DataError(f"CSV file {path}: column {column!r} must hold finite numbers; data row "
                            f"{i + 1} has {v!r}. Fix that value or choose another data.column.")
    return values


# --------------------------------------------------------------------------- rolling-origin folds
def rolling_origin_folds(num_values: int, block: int, num_folds: int, window: int,
                         horizon: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Rolling-origin validation folds over a series of ``num_values`` values (pass the part before
    the test period only, so no fold can reach it).

    Fold ``k`` (1 = the latest) scores the block ``[e - block, e)`` with ``e = num_values - (k-1) block``:
    the model trains on windows whose targets end before ``e - 2 block`` and stops early on those in
    ``[e - 2 block, e - block)``. Returns, latest fold first, ``(train, stop, score)`` origins; every
    target of every fold lies in ``[0, num_values)``.
    """
    folds = []
    for k in range(1, num_folds + 1):
        end = num_values - (k - 1) * block
        train, stop, score = split_origins(end, end - 2 * block, end - block, window, horizon)
        if len(train) == 0 or len(stop) == 0 or len(score) == 0:
            break
        folds.append((train, stop, score))
    if not folds:
        raise DataError(f"Rolling-origin validation needs at least window {window} + 3 blocks of "
                        f"{block} values; the series has {num_values} before the test period. "
                        "Lower data.window or data.horizon, or use a longer series.")
    return folds
