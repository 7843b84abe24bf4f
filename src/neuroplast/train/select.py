"""Choose a series' forecaster by rolling-origin validation on the values before the test period.

``neuroplast run series.csv --column C`` trains every candidate of the spec's ``[select]`` section
(DLinear, NLinear, the LSTM and N-BEATS, each with the per-window normalisation) on rolling-origin
folds of ``values[:val_end]`` (:func:`~neuroplast.data.series.rolling_origin_folds`), adds the median
of the best three's forecasts as one more candidate (a committee), keeps the one with the lowest mean
validation MASE, and returns the spec with its model section; the run then trains it as usual and
scores the test period once. The test values are sliced off before
anything else happens (:func:`pretest_values`), so the choice cannot read them.

On a short series the window, the number of folds and the candidates' sizes adapt to the length
(:func:`plan`), said in one line; a series too short for even one fold is refused with the minimum.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuroplast.data.base import Dataset
from neuroplast.data.series import (
    make_windows,
    naive_forecast,
    read_series,
    rolling_origin_folds,
    seasonal_naive_forecast,
    split_bounds,
)
from neuroplast.data.smoothing import mase_scale
from neuroplast.errors import DataError
from neuroplast.models import build_model
from neuroplast.spec import CANDIDATE_MODELS, ExperimentSpec
from neuroplast.train.evaluate import predict_outputs
from neuroplast.train.loop import fit
from neuroplast.train.progress import say
from neuroplast.train.seed import seed_everything

FOLD_BLOCKS = 7  # a fold scores one block of about 1/7 of the values before the test period
MIN_FOLD_WINDOWS = 8  # a fold needs at least this many training windows
MIN_WINDOW = 4  # adapting never shrinks the window below this (or data.window if smaller)
SHORT = 150  # values before the test period below which the LSTM and N-BEATS are halved


@dataclass(frozen=True)
class Plan:
    """How the choice runs on one series: the window, the fold block and the folds' origins."""

    window: int
    block: int
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def pretest_values(values: np.ndarray, spec: ExperimentSpec) -> np.ndarray:
    """``values[:val_end]``: the training and validation parts, the only values the choice reads."""
    _, val_end = split_bounds(len(values), spec.data.val_fraction, spec.data.test_fraction)
    return np.asarray(values[:val_end], dtype=np.float64)


def plan(num_pretest: int, window: int, horizon: int, max_folds: int, adapt: bool) -> Plan | None:
    """The folds for ``num_pretest`` values before the test period (None when not even one fits).

    The block is ``max(horizon, num_pretest / 7)``; with ``adapt`` the window shrinks to
    ``(num_pretest - 3 blocks) / 2`` when that is smaller (never below 4); folds whose training part
    holds fewer than 8 windows are dropped.
    """
    block = max(horizon, round(num_pretest / FOLD_BLOCKS))
    if adapt:
        window = max(min(window, MIN_WINDOW), min(window, (num_pretest - 3 * block) // 2))
    if num_pretest < window + horizon + 2 * block:
        return None
    try:
        folds = rolling_origin_folds(num_pretest, block, max_folds, window, horizon)
    except DataError:
        return None
    folds = [f for f in folds if len(f[0]) >= MIN_FOLD_WINDOWS]
    return Plan(window, block, folds) if folds else None


def minimum_length(spec: ExperimentSpec) -> int:
    """The fewest values for which :func:`plan` finds a fold and the run's split holds its windows."""
    d, s = spec.data, spec.select
    for n in range(2, 100_000):
        train_end, val_end = split_bounds(n, d.val_fraction, d.test_fraction)
        p = plan(val_end, d.window, d.horizon, s.folds, s.adapt) if s else None
        if (p is not None and train_end >= p.window + d.horizon and n - val_end >= d.horizon
                and (d.val_fraction == 0 or val_end - train_end >= d.horizon)):
            return n
    return 100_000


def too_short(source: str, num_pretest: int, spec: ExperimentSpec) -> DataError:
    """The one line for a series shorter than :func:`minimum_length`."""
    d = spec.data
    return DataError(f"{source}: {num_pretest} values before the test period are too few to choose a "
                     f"forecaster by rolling-origin validation (window {d.window} + horizon {d.horizon} "
                     f"+ validation origins): the series needs at least {minimum_length(spec)} values "
                     f"with data.val_fraction = {d.val_fraction} and data.test_fraction = "
                     f"{d.test_fraction}. Use a longer series or lower data.horizon.")


def candidate_model(spec: ExperimentSpec, name: str, num_pretest: int) -> dict[str, Any]:
    """Candidate ``name``'s ``[model]`` section (the LSTM's and N-BEATS' width halved on a short series)."""
    model = dict(CANDIDATE_MODELS[name])
    if spec.select is not None and spec.select.adapt and num_pretest < SHORT and "hidden_size" in model:
        model["hidden_size"] //= 2
    return model


def candidate_spec(spec: ExperimentSpec, name: str, window: int, num_pretest: int,
                   members: list[str] | None = None) -> ExperimentSpec:
    """The run's spec with candidate ``name``'s model section; ``"committee"`` is the median of
    ``members``' forecasts (:class:`~neuroplast.models.committee.Committee`)."""
    if name == "committee":
        model = {"family": "committee", "combine": "median",
                 "members": [candidate_model(spec, m, num_pretest) for m in members or []]}
    else:
        model = candidate_model(spec, name, num_pretest)
    return spec.updated(model=model, data={"window": window})


def fold_forecasts(spec: ExperimentSpec, pretest: np.ndarray, p: Plan) -> list[np.ndarray]:
    """``spec``'s model on each fold, in the series' units, ``(scored origins, horizon)``: trained on the
    fold's training windows (scaled on them), stopped early on its next block, forecasting the block
    after that."""
    horizon = spec.data.horizon
    out = []
    for train, stop, score in p.folds:
        head = pretest[:int(stop[0])]
        mean, std = float(head.mean()), float(head.std()) or 1.0
        arrays = [torch.as_tensor(a, dtype=torch.float32) for o in (train, stop, score)
                  for a in make_windows((pretest - mean) / std, o, p.window, horizon)]
        data = Dataset("fold", "forecast", *arrays, preprocess={"mean": mean, "std": std})
        torch.manual_seed(spec.seed)
        model = build_model(spec.model, data.input_shape, horizon, "forecast")
        fit(model, data, spec.train, seed=spec.seed, progress=False)
        out.append(predict_outputs(model, data.x_test).double().numpy() * std + mean)
    return out


def fold_mase(forecasts: list[np.ndarray], pretest: np.ndarray, p: Plan, horizon: int,
              season: int | None) -> list[float]:
    """Each fold's MASE: the mean absolute error over its scored block, divided by the in-sample error
    of the seasonal naive forecast on ``pretest``."""
    scale = mase_scale(pretest, len(pretest), season or 1)
    return [float(np.mean(np.abs(f - pretest[score[:, None] + np.arange(horizon)]))) / scale
            for f, (_, _, score) in zip(forecasts, p.folds, strict=True)]


def score_candidates(spec: ExperimentSpec, pretest: np.ndarray, p: Plan,
                     season: int | None) -> dict[str, dict[str, Any]]:
    """``{name: {"val_mase", "folds"}}`` for every candidate of ``[select]``, then ``"committee"``: the
    median of the best ``select.committee`` candidates' fold forecasts (``"members"``, ranked on these
    same folds), when it has at least two. Its members are trained apart on the folds and side by side
    in the run (:class:`~neuroplast.models.committee.Committee`); the forecasts combined are the same
    networks' on the same windows."""
    assert spec.select is not None
    forecasts = {name: fold_forecasts(candidate_spec(spec, name, p.window, len(pretest)), pretest, p)
                 for name in spec.select.candidates}
    scored: dict[str, dict[str, Any]] = {}
    for name, f in forecasts.items():
        folds = fold_mase(f, pretest, p, spec.data.horizon, season)
        scored[name] = {"val_mase": statistics.fmean(folds), "folds": folds}
    members = sorted(scored, key=lambda k: scored[k]["val_mase"])[:spec.select.committee]
    if len(members) >= 2:
        combined = [np.median([forecasts[m][i] for m in members], axis=0) for i in range(len(p.folds))]
        folds = fold_mase(combined, pretest, p, spec.data.horizon, season)
        scored["committee"] = {"val_mase": statistics.fmean(folds), "folds": folds, "members": members}
    return scored


def reference_mase(pretest: np.ndarray, p: Plan, horizon: int, season: int | None) -> dict[str, float]:
    """Mean fold MASE of the naive forecast and (with a season every scored origin can look back on) the
    seasonal naive one, on the blocks the candidates are scored on: what a network must beat."""
    forecasts = {"naive": [naive_forecast(pretest, score, horizon) for _, _, score in p.folds]}
    if season and season > 1 and all(score.min() >= season for _, _, score in p.folds):
        forecasts["seasonal_naive"] = [seasonal_naive_forecast(pretest, score, horizon, season)
                                       for _, _, score in p.folds]
    return {k: statistics.fmean(fold_mase(f, pretest, p, horizon, season)) for k, f in forecasts.items()}


def choose(spec: ExperimentSpec, pretest: np.ndarray, season: int | None,
           source: str = "the series") -> tuple[ExperimentSpec, dict[str, Any]]:
    """The spec with the candidate of lowest mean fold MASE on ``pretest`` (values before the test
    period only), and the record for metrics.json: ``{"chosen", "candidates": {name: {"val_mase",
    "folds"}}, "references": {"naive", "seasonal_naive"}, "window", "folds", "block"}`` (see
    :func:`score_candidates` and :func:`reference_mase`). When a reference validates better than the
    choice, it says so in one line."""
    assert spec.select is not None
    d = spec.data
    p = plan(len(pretest), d.window, d.horizon, spec.select.folds, spec.select.adapt)
    if p is None:
        raise too_short(source, len(pretest), spec)
    _say_adapted(spec, p, len(pretest))
    candidates = score_candidates(spec, pretest, p, season)
    chosen = min(candidates, key=lambda k: candidates[k]["val_mase"])  # a tie keeps the single network
    members = candidates.get("committee", {}).get("members")
    say(f"forecaster chosen by rolling-origin validation ({len(p.folds)} fold(s) before the test period, "
        "mean MASE): " + ", ".join(f"{k} {v['val_mase']:.3f}" for k, v in candidates.items())
        + f" -> {chosen}" + (f" (the median of {', '.join(members)})" if chosen == "committee" else ""))
    references = reference_mase(pretest, p, d.horizon, season)
    best = min(references, key=lambda k: references[k])
    if references[best] < candidates[chosen]["val_mase"]:
        say(f"on validation no network beat the {best.replace('_', ' ')} forecast (mean MASE "
            f"{references[best]:.3f} against {candidates[chosen]['val_mase']:.3f} for {chosen}): expect the "
            "network's forecasts to be no better than it; compare them in metrics.json's baselines")
    record = {"chosen": chosen, "candidates": candidates, "references": references, "window": p.window,
              "folds": len(p.folds), "block": p.block}
    return candidate_spec(spec, chosen, p.window, len(pretest), members), record


def _say_adapted(spec: ExperimentSpec, p: Plan, num_pretest: int) -> None:
    changes = []
    if p.window != spec.data.window:
        changes.append(f"data.window {spec.data.window} -> {p.window}")
    if len(p.folds) < spec.select.folds:
        changes.append(f"{len(p.folds)} validation fold(s) of {p.block} values instead of {spec.select.folds}")
    halved = [n for n in spec.select.candidates if "hidden_size" in CANDIDATE_MODELS[n]]
    if spec.select.adapt and num_pretest < SHORT and halved:
        changes.append(f"{' and '.join(halved)} at half width")
    if changes:
        say(f"short series ({num_pretest} values before the test period): " + "; ".join(changes))


def select_forecaster(spec: ExperimentSpec) -> tuple[ExperimentSpec, dict[str, Any] | None]:
    """:func:`choose` on the spec's series when it has a ``[select]`` section (else unchanged, None).
    Only ``values[:val_end]`` reaches the choice."""
    if spec.select is None or spec.data.source not in ("series", "sunspots"):
        return spec, None
    seed_everything(spec.seed, spec.train.threads)
    name, values, season, _ = read_series(spec.data)
    if len(values) < minimum_length(spec):  # a run split without a window in some part: before the choice
        raise too_short(name, len(pretest_values(values, spec)), spec)
    return choose(spec, pretest_values(values, spec), spec.data.season or season, name)
