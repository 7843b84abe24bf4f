"""The conformal stage: split-conformal intervals for a regression or forecasting run, fitted on its
validation split and scored on its test split (``conformal.json``; ``predict --uncertainty``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from neuroplast import rundir
from neuroplast.data import Dataset
from neuroplast.errors import UserError
from neuroplast.io import save_json
from neuroplast.rundir import Run
from neuroplast.spec import ConformalSpec
from neuroplast.trust.intervals import (
    AdaptiveConformal,
    GaussianIntervals,
    SplitConformal,
    check_alpha,
    conformal_rank,
    coverage,
    min_calibration_points,
)

FILE = "conformal.json"


def conformal(run_dir: str | Path, spec: ConformalSpec | None = None, *, out: str | Path | None = None,
              data: Dataset | None = None) -> Path:
    """Fit split conformal on the run's validation split, score its test split, and write the scores
    to ``out`` (default ``RUN_DIR/conformal.json``); returns that file. See :func:`conformal_scores`."""
    spec = ConformalSpec() if spec is None else spec
    run = rundir.load(run_dir)
    path = Path(out) if out is not None else Path(run_dir) / FILE
    save_json(path, conformal_scores(run, spec.alpha, data))
    return path


def conformal_scores(run: Run, alpha: float = 0.1, data: Dataset | None = None) -> dict[str, Any]:
    """Split conformal fitted on a loaded run's validation split and scored on its test split.

    Forecasts also get adaptive conformal intervals (``adaptive_test_coverage``, ``adaptive_test_mean_width``),
    which walk the test windows in time order. Returns ``alpha``, ``q`` (one per target, in target units;
    in sigmas for a Gaussian head, whose residuals are normalized), ``rank`` (which order statistic),
    ``val_samples``, ``test_samples``, ``test_coverage`` (fraction over all test targets) and
    ``test_mean_width`` (target units).
    """
    method, data = on_validation(run, alpha, data)
    heads = run.objective.heads
    interval = method.predict(data.x_test).to_units(run.preprocess)
    std = torch.as_tensor(run.preprocess.get("target_std", [1.0]), dtype=torch.float64)
    y_test = _in_units(data.y_test, run.preprocess)
    result = {
        "alpha": alpha,
        "normalized": heads == 2,
        "q": (method.q.double() * (1 if heads == 2 else std)).tolist(),
        "rank": conformal_rank(method.n, alpha),
        "val_samples": method.n,
        "test_samples": len(data.x_test),
        "test_coverage": coverage(interval, y_test),
        "test_mean_width": interval.width.mean().item(),
    }
    if run.info["task"] == "forecast":  # the test windows come after the validation ones, in time order
        aci = AdaptiveConformal(run.model, alpha, heads=heads).fit(data.x_val, data.y_val)
        adaptive = aci.predict_online(data.x_test, data.y_test).to_units(run.preprocess)
        result["adaptive_test_coverage"] = coverage(adaptive, y_test)
        result["adaptive_test_mean_width"] = adaptive.width.mean().item()
    if heads == 2:  # the head's own intervals beside the conformal ones
        own = GaussianIntervals(run.model, alpha).predict(data.x_test).to_units(run.preprocess)
        result["gaussian_test_coverage"] = coverage(own, y_test)
        result["gaussian_test_mean_width"] = own.width.mean().item()
    return result


def on_validation(run: Run, alpha: float = 0.1, data: Dataset | None = None) -> tuple[SplitConformal, Dataset]:
    """:class:`SplitConformal` fitted on a loaded regression or forecasting run's validation split
    (normalized by the sigma of a Gaussian head), and the run's :class:`~neuroplast.data.Dataset`."""
    if run.spec is None and data is None:
        raise UserError(f"{run.dir} has no spec.toml to reload its data from; use a run made by `neuroplast run`.")
    if run.objective.kind != "regression":
        raise UserError(f"Conformal intervals here apply to regression and forecasting; {run.dir} is a "
                        f"{run.info['task']} run.")
    check_alpha(alpha)
    data = run.dataset() if data is None else data
    if len(data.x_val) == 0:
        raise UserError("Split conformal needs held-out calibration data and the validation split is empty. "
                        f"Set data.val_fraction > 0 (at least {min_calibration_points(alpha)} points) and train "
                        "again.")
    return SplitConformal(run.model, alpha, heads=run.objective.heads).fit(data.x_val, data.y_val), data


def _in_units(y: torch.Tensor, preprocess: dict[str, Any]) -> torch.Tensor:
    std = torch.as_tensor(preprocess.get("target_std", [1.0]), dtype=torch.float32)
    mean = torch.as_tensor(preprocess.get("target_mean", [0.0]), dtype=torch.float32)
    return y.float() * std + mean
