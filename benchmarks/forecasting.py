"""Forecasting on real series shipped offline in packages: neuroplast against naive, seasonal naive,
ETS, ARIMA and Theta on exactly the same test origins.

    python benchmarks/forecasting.py [--forecasters chosen top2 lstm dlinear ...] [--seeds 0 1 2] [--series co2 ...]
        [--candidates dlinear nlinear lstm nbeats] [--threads 1]

Every series is split in time order as ``neuroplast run`` splits it (the last 20% of the values is
the test period, the 10% before it validation, the rest training; ``data.val_fraction`` and
``data.test_fraction`` of the shipped specs). Each forecast is made from every test origin ``t``
(stride 1) with the values before ``t`` only, for horizon 1 and horizon = the season length (4 for
yearly series); errors are pooled over origins and steps.

Metrics: RMSE, MAE and MASE (MAE divided by the in-sample MAE of the seasonal naive forecast with the
calendar period m = 1 yearly, 4 quarterly, 12 monthly, over the values before the test period:
Hyndman & Koehler 2006, the M4 convention). neuroplast's figure per case is the median over seeds.

Baselines (statsmodels, fitted on the values before the first test origin, then run on from each
origin with the fitted parameters, as :func:`neuroplast.data.series.arima_forecast` does):
naive, seasonal naive, ETS (additive Holt-Winters, damped trend, additive season when the series
has one), ARIMA (order by AIC) and Theta (``ThetaModel``, deseasonalized when there is a season).

The forecaster never sees the test values before it is scored: :func:`neuroplast_forecast` gets the
whole series but trains on the training part and stops early on the validation part only; the test
windows are predicted once, at the end. ``chosen`` is the product's own choice
(:func:`neuroplast.train.select.choose`, what ``neuroplast run FILE.csv --column C`` runs, with the
shipped ``csv-series`` spec's candidates, folds and training) per series, horizon and seed, by
rolling-origin validation on ``values[:val_end]`` only (:func:`chosen_forecasts` slices the test values
off before the choice) and prints every candidate's mean fold score, the committee (the median of the
best three's forecasts) among them; ``single`` is the best single network on validation, the default
before the committee existed (the control). The last lines are the done item of issue 20, per
forecaster: ``MASE <= seasonal naive on k/N cases; median ratio to min(ETS, ARIMA) = r``, then the
test coverage of the chosen forecaster's adaptive conformal 90% intervals.

``--suite design`` (default) runs the 10 series the defaults were shaped on; ``--suite heldout`` 8 more
that no forecaster had been run on when the committee default was fixed.
"""

from __future__ import annotations

import argparse
import csv
import logging
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import neuroplast
from neuroplast.data import Dataset
from neuroplast.data.series import (
    arima_forecast,
    naive_forecast,
    seasonal_naive_forecast,
    series_dataset,
    split_bounds,
)
from neuroplast.data.smoothing import ets_forecast, mase_scale, theta_forecast
from neuroplast.models import build_model
from neuroplast.train import fit
from neuroplast.train.evaluate import predict_outputs
from neuroplast.train.select import candidate_spec, choose, pretest_values
from neuroplast.trust.intervals import AdaptiveConformal, coverage

SITE = Path(np.__file__).resolve().parent.parent
STATSMODELS = SITE / "statsmodels" / "datasets"
PLOTNINE = SITE / "plotnine" / "data"
BOKEH = SITE / "bokeh_sampledata" / "_data"
VEGA = SITE / "vega_datasets" / "_data"


# --------------------------------------------------------------------------- the suite
def _column(path: Path, column: str, where: Callable[[dict[str, str]], bool] = lambda r: True) -> np.ndarray:
    with open(path, newline="") as f:
        return np.array([float(r[column]) for r in csv.DictReader(f) if where(r)], dtype=np.float64)


def _co2_monthly() -> np.ndarray:
    """Weekly Mauna Loa readings (with gaps) averaged per month."""
    months: dict[str, list[float]] = {}
    with open(STATSMODELS / "co2" / "co2.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["co2"]:
                months.setdefault(r["date"][:6], []).append(float(r["co2"]))
    return np.array([statistics.fmean(v) for _, v in sorted(months.items())])


def _elnino() -> np.ndarray:
    with open(STATSMODELS / "elnino" / "elnino.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    return np.array([float(v) for r in rows for v in r[1:]])


def _unemployment1948() -> np.ndarray:
    """One row per year, a column per month."""
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    with open(BOKEH / "unemployment1948.csv", newline="") as f:
        return np.array([float(r[m]) for r in csv.DictReader(f) for m in months])


def _marriages() -> np.ndarray:
    """Marriages per 1000 people, 1867 up to the first missing year (1982)."""
    values = []
    with open(BOKEH / "us_marriages_divorces.csv", newline="") as f:
        for r in csv.DictReader(f):
            if not r["Marriages_per_1000"]:
                break
            values.append(float(r["Marriages_per_1000"]))
    return np.array(values)


@dataclass(frozen=True)
class Series:
    name: str
    origin: str  # where the file comes from
    period: int  # calendar period m: 1 yearly, 4 quarterly, 12 monthly
    season: int  # seasonal naive's lag (the period, or sunspots' 11-year cycle)
    load: Callable[[], np.ndarray]

    @property
    def horizons(self) -> tuple[int, int]:
        return (1, self.period if self.period > 1 else 4)


SUITE = [
    Series("sunspots", "statsmodels sunspots, yearly 1700-2008", 1, 11,
           lambda: _column(STATSMODELS / "sunspots" / "sunspots.csv", "SUNACTIVITY")),
    Series("nile", "statsmodels nile, yearly flow 1871-1970", 1, 1,
           lambda: _column(STATSMODELS / "nile" / "nile.csv", "volume")),
    Series("huron", "plotnine huron, yearly lake level 1875-1972", 1, 1,
           lambda: _column(PLOTNINE / "huron.csv", "level")),
    Series("realgdp", "statsmodels macrodata, quarterly US real GDP 1959-2009 (trending)", 4, 4,
           lambda: _column(STATSMODELS / "macrodata" / "macrodata.csv", "realgdp")),
    Series("unemp", "statsmodels macrodata, quarterly US unemployment rate 1959-2009", 4, 4,
           lambda: _column(STATSMODELS / "macrodata" / "macrodata.csv", "unemp")),
    Series("co2", "statsmodels co2, Mauna Loa weekly -> monthly means 1958-2001 (trend + season)", 12, 12,
           _co2_monthly),
    Series("elnino", "statsmodels elnino, monthly sea surface temperature 1950-2010 (seasonal)", 12, 12,
           _elnino),
    Series("elec_equip", "statsmodels elec_equip, monthly euro-area electrical equipment orders "
           "1995-2016 (seasonal)", 12, 12,
           lambda: _column(STATSMODELS / "elec_equip" / "elec_equip.csv", "STS.M.I7.W.TOVT.NS0016.4.000")),
    Series("unemploy", "plotnine economics, monthly US unemployed (thousands) 1967-2015 (trending)", 12, 12,
           lambda: _column(PLOTNINE / "economics.csv", "unemploy")),
    Series("austin_sales", "plotnine txhousing, monthly Austin home sales 2000-2015 (trend + season)", 12, 12,
           lambda: _column(PLOTNINE / "txhousing.csv", "sales", lambda r: r["city"] == "Austin")),
]
# Held out: chosen and written down before any forecaster was run on them, after the committee default
# was fixed on SUITE, so they test that design on series it was not shaped on (`--suite heldout`).
HELD_OUT = [
    Series("marriages", "bokeh_sampledata us_marriages_divorces, yearly US marriages per 1000 people "
           "1867-1981 (before the first missing year)", 1, 1, _marriages),
    Series("cpi", "statsmodels macrodata, quarterly US consumer price index 1959-2009 (trending)", 4, 4,
           lambda: _column(STATSMODELS / "macrodata" / "macrodata.csv", "cpi")),
    Series("infl", "statsmodels macrodata, quarterly US inflation rate 1959-2009", 4, 4,
           lambda: _column(STATSMODELS / "macrodata" / "macrodata.csv", "infl")),
    Series("beef", "plotnine meat, monthly US beef production 1944-2023 (trend + season)", 12, 12,
           lambda: _column(PLOTNINE / "meat.csv", "beef")),
    Series("broilers", "plotnine meat, monthly US broiler production 1960-2023 (trend + season)", 12, 12,
           lambda: _column(PLOTNINE / "meat.csv", "broilers", lambda r: r["broilers"] != "")),
    Series("psavert", "plotnine economics, monthly US personal savings rate 1967-2015", 12, 12,
           lambda: _column(PLOTNINE / "economics.csv", "psavert")),
    Series("unemployment1948", "bokeh_sampledata unemployment1948, monthly US unemployment rate 1948-2016 "
           "(not seasonally adjusted)", 12, 12, _unemployment1948),
    Series("nonfarm", "vega_datasets us-employment, monthly US nonfarm payrolls 2006-2015 (short: 120 values)",
           12, 12, lambda: _column(VEGA / "us-employment.csv", "nonfarm")),
]


# --------------------------------------------------------------------------- baselines
def test_origins(num_values: int, horizon: int) -> np.ndarray:
    """Origins (first target index) of the test windows, as :func:`series_dataset` makes them."""
    spec = neuroplast.load_spec("sunspots-lstm").data
    _, val_end = split_bounds(num_values, spec.val_fraction, spec.test_fraction)
    return np.arange(val_end, num_values - horizon + 1)


def baseline_forecasts(values: np.ndarray, origins: np.ndarray, horizon: int,
                       s: Series) -> dict[str, np.ndarray]:
    return {"naive": naive_forecast(values, origins, horizon),
            "seasonal_naive": seasonal_naive_forecast(values, origins, horizon, s.season),
            "ets": ets_forecast(values, origins, horizon, s.period),
            "arima": arima_forecast(values, origins, horizon)[0],
            "theta": theta_forecast(values, origins, horizon, s.period)}


# --------------------------------------------------------------------------- neuroplast
def _spec_for(spec: neuroplast.ExperimentSpec, s: Series, horizon: int, seed: int) -> neuroplast.ExperimentSpec:
    return spec.updated(data={"source": "series", "horizon": horizon, "season": s.season}, seed=seed)


def _train(spec: neuroplast.ExperimentSpec, data: Dataset, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(spec.model, data.input_shape, data.num_outputs, data.task)
    fit(model, data, spec.train, seed=seed, progress=False)
    return model


def _forecast(model: torch.nn.Module, data: Dataset, x: torch.Tensor) -> np.ndarray:
    scaled = predict_outputs(model, x).double().numpy()
    return scaled * data.preprocess["std"] + data.preprocess["mean"]


def _train_predict(spec: neuroplast.ExperimentSpec, data: Dataset, x: torch.Tensor, seed: int) -> np.ndarray:
    return _forecast(_train(spec, data, seed), data, x)


def neuroplast_forecast(values: np.ndarray, s: Series, horizon: int, seed: int,
                        spec: neuroplast.ExperimentSpec) -> np.ndarray:
    """The spec's forecaster on this series, as ``neuroplast run`` trains it: ``(num_test, horizon)``
    forecasts in original units from the test origins. Training reads the training part, early
    stopping the validation part; the test windows are only predicted."""
    spec = _spec_for(spec, s, horizon, seed)
    data = series_dataset(s.name, values, spec.data, season=s.season)
    return _train_predict(spec, data, data.x_test, seed)


def _base() -> neuroplast.ExperimentSpec:
    return neuroplast.load_spec("sunspots-lstm")


FORECASTERS: dict[str, Callable[[], neuroplast.ExperimentSpec]] = {
    # `--set data.source=series` on the shipped spec: issue 20's starting point when run before the
    # per-window normalisation existed; now the LSTM with model.window_norm = 'last' (its default).
    "lstm": _base,
    "lstm-raw": lambda: _base().updated(model={"window_norm": "none"}),
    "dlinear": lambda: _base().updated(model={"family": "linear", "kernel_size": 25}),
    "nlinear": lambda: _base().updated(model={"family": "linear", "kernel_size": 1}),
    "nbeats": lambda: _base().updated(model={"family": "nbeats"}),
}
# What the product's choice picks from (the csv-series spec's [select] section unless --candidates).
CANDIDATES: list[str] = []


def _series_default(s: Series, horizon: int, seed: int) -> neuroplast.ExperimentSpec:
    """The spec `neuroplast run FILE.csv --column C --season S --horizon H` trains (csv-series)."""
    spec = neuroplast.load_spec("csv-series", ["data.path=unused.csv", "data.column=unused"])
    return spec.updated(data={"horizon": horizon, "season": s.season}, seed=seed,
                        select={"candidates": CANDIDATES or list(spec.select.candidates)})


def chosen_forecasts(values: np.ndarray, s: Series, horizon: int, seed: int,
                     log_choice: list[str]) -> dict[str, Any]:
    """The product's choice (:func:`neuroplast.train.select.choose`, what ``neuroplast run FILE.csv
    --column C`` calls) on ``values[:val_end]`` only (the test values are sliced off first), then the
    chosen forecaster trained as ``neuroplast run`` trains it, forecasting the test windows once:
    ``{"chosen": ..., "single": the best single network on validation (the default before the
    committee; the same forecasts when it is the choice), "coverage": the chosen forecaster's adaptive
    conformal 90% intervals' test coverage}``."""
    spec = _series_default(s, horizon, seed)
    pretest = pretest_values(values, spec)  # the choice never sees values[val_end:]
    chosen_spec, record = choose(spec, pretest, s.season, s.name)
    cands = record["candidates"]
    single = min((k for k in cands if k != "committee"), key=lambda k: cands[k]["val_mase"])
    members = "+".join(cands["committee"]["members"]) if "committee" in cands else ""
    log_choice.append(f"{s.name} h={horizon} seed={seed} window={record['window']} folds={record['folds']}: "
                      + " ".join(f"{k}={v['val_mase']:.3f}" for k, v in cands.items())
                      + f" -> {record['chosen']}" + (f" ({members})" if record["chosen"] == "committee" else ""))
    data = series_dataset(s.name, values, chosen_spec.data, season=s.season)
    model = _train(chosen_spec, data, seed)
    preds: dict[str, Any] = {"chosen": _forecast(model, data, data.x_test)}
    aci = AdaptiveConformal(model, 0.1).fit(data.x_val, data.y_val)
    preds["coverage"] = coverage(aci.predict_online(data.x_test, data.y_test), data.y_test)
    preds["single"] = preds["chosen"] if record["chosen"] == single else _train_predict(
        candidate_spec(spec, single, record["window"], len(pretest)), data, data.x_test, seed)
    return preds


# --------------------------------------------------------------------------- scoring
def scores(pred: np.ndarray, truth: np.ndarray, scale: float) -> dict[str, float]:
    err = pred - truth
    mae = float(np.mean(np.abs(err)))
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": mae, "mase": mae / scale}


def run_case(s: Series, values: np.ndarray, horizon: int, seeds: list[int],
             forecasters: list[str], choices: list[str]) -> dict[str, dict[str, Any]]:
    origins = test_origins(len(values), horizon)
    truth = values[origins[:, None] + np.arange(horizon)]
    scale = mase_scale(values, int(origins[0]), s.period)
    out: dict[str, dict[str, Any]] = {
        k: scores(p, truth, scale) for k, p in baseline_forecasts(values, origins, horizon, s).items()}
    chosen = [chosen_forecasts(values, s, horizon, seed, choices) for seed in seeds] \
        if {"chosen", "single"} & set(forecasters) else []
    for name in forecasters:
        if name in ("chosen", "single"):
            runs = [scores(c[name], truth, scale) for c in chosen]
        else:
            spec = FORECASTERS[name]()
            runs = [scores(neuroplast_forecast(values, s, horizon, seed, spec), truth, scale) for seed in seeds]
        out[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out[name]["mase_seeds"] = [r["mase"] for r in runs]
    if chosen:
        out["coverage"] = [c["coverage"] for c in chosen]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forecasters", nargs="+", choices=[*FORECASTERS, "chosen", "single"],
                        default=["chosen", "single"])
    parser.add_argument("--suite", choices=["design", "heldout", "all"], default="design",
                        help="design: the 10 series the defaults were shaped on; heldout: 8 series first run "
                             "after the committee default was fixed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--series", nargs="+", choices=[s.name for s in SUITE + HELD_OUT], default=None)
    parser.add_argument("--candidates", nargs="+", choices=["dlinear", "nlinear", "lstm", "nbeats"], default=None,
                        help="what the choice picks from (default: the csv-series spec's [select] section)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    CANDIDATES[:] = args.candidates or []
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    pool = {"design": SUITE, "heldout": HELD_OUT, "all": SUITE + HELD_OUT}[args.suite]
    suite = [s for s in pool if args.series is None or s.name in args.series]
    print(f"forecasters={args.forecasters} candidates={_series_default(SUITE[0], 1, 0).select.candidates} seeds={args.seeds} torch threads={torch.get_num_threads()}")
    for s in suite:
        print(f"  {s.name}: {len(s.load())} values, m={s.period}, seasonal-naive lag {s.season}; {s.origin}")
    names = ["naive", "seasonal_naive", "ets", "arima", "theta"]
    print("\n| series | h | forecaster | MASE (seeds) | " + " | ".join(names)
          + " | / snaive | / min(ETS, ARIMA) | RMSE | s |")
    print("|---|---|---|---|" + "---|" * len(names) + "---|---|---|---|")
    wins = {f: 0 for f in args.forecasters}
    ratios: dict[str, list[float]] = {f: [] for f in args.forecasters}
    choices: list[str] = []
    covered: list[float] = []
    start_all = time.perf_counter()
    for s in suite:
        values = s.load()
        for horizon in s.horizons:
            start = time.perf_counter()
            r = run_case(s, values, horizon, args.seeds, args.forecasters, choices)
            best = min(r["ets"]["mase"], r["arima"]["mase"])
            covered += r.get("coverage", [])
            for f in args.forecasters:
                m = r[f]["mase"]
                wins[f] += m <= r["seasonal_naive"]["mase"]
                ratios[f].append(m / best)
                seeds = " ".join(f"{v:.3f}" for v in r[f]["mase_seeds"])
                print(f"| {s.name} | {horizon} | {f} | {m:.3f} ({seeds}) | "
                      + " | ".join(f"{r[k]['mase']:.3f}" for k in names)
                      + f" | {m / r['seasonal_naive']['mase']:.2f} | {m / best:.2f} | {r[f]['rmse']:.4g} "
                      f"| {time.perf_counter() - start:.0f} |", flush=True)
    if choices:
        print("\nchoices (mean fold MASE on the values before the test period):")
        print("\n".join(f"  {c}" for c in choices))
    print(f"\nwall time {time.perf_counter() - start_all:.0f} s")
    for f in args.forecasters:
        print(f"{f}: MASE <= seasonal naive on {wins[f]}/{len(ratios[f])} cases (series x horizon); "
              f"median ratio to min(ETS, ARIMA) = {statistics.median(ratios[f]):.3f}")
    if covered:
        print(f"chosen: adaptive conformal 90% intervals cover {statistics.median(covered):.3f} of the test targets "
              f"at the median of {len(covered)} runs (lowest {min(covered):.3f}, highest {max(covered):.3f})")


if __name__ == "__main__":
    sys.exit(main())
