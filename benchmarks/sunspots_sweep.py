"""Sunspots: a small sweep of recurrent configurations, five seeds each, scored on the validation
windows (for choosing) and the test windows (for reporting), against the ARIMA baseline.

    python benchmarks/sunspots_sweep.py [--skip both|off|on] [--folds 3]

Each configuration runs with and without ``model.linear_skip`` (a linear AR path beside the
network). The configuration is chosen on data before the test years only: rolling-origin
validation (``--folds K``: K consecutive validation blocks of the shipped validation length, the
last one being the shipped validation split, each trained on everything before it, scaled on its
own training part), by the mean over folds of the median RMSE over seeds. The test column is
reported, never used for the choice.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

import neuroplast
from neuroplast.data import Dataset, load_dataset
from neuroplast.data.series import make_windows, split_bounds, split_origins
from neuroplast.models import build_model
from neuroplast.train import evaluate, fit

CONFIGS = {
    "LSTM 32": {},
    "LSTM 64, dropout 0.2": {"model": {"hidden_size": 64, "dropout": 0.2}},
    "LSTM 32 x 2, dropout 0.1": {"model": {"num_layers": 2, "dropout": 0.1}},
    "GRU 32, window 11": {"data": {"window": 11}, "model": {"family": "gru"}},
    "Transformer d32 x 2": "sunspots-transformer",
}


def fold_datasets(spec: neuroplast.ExperimentSpec, folds: int) -> list[Dataset]:
    """Rolling-origin folds inside the years before the test split (the last is the shipped split)."""
    from statsmodels.datasets import sunspots

    values = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float64)
    d = spec.data
    train_end, val_end = split_bounds(len(values), d.val_fraction, d.test_fraction)
    block = val_end - train_end
    out = []
    for k in range(folds - 1, -1, -1):
        t_end, v_end = train_end - k * block, val_end - k * block
        part = values[:v_end]
        mean, std = part[:t_end].mean(), part[:t_end].std()
        scaled = (part - mean) / std
        tr, va, _ = split_origins(len(part), t_end, v_end, d.window, d.horizon)
        xt, yt = make_windows(scaled, tr, d.window, d.horizon)
        xv, yv = make_windows(scaled, va, d.window, d.horizon)
        t = [torch.as_tensor(a, dtype=torch.float32) for a in (xt, yt, xv, yv)]
        out.append(Dataset(f"sunspots-fold{k}", "forecast", *t, t[2][:0], t[3][:0],
                           preprocess={"target_std": [float(std)] * d.horizon}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", choices=["both", "off", "on"], default="both")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache, rows = {}, []
    skips = {"both": (False, True), "off": (False,), "on": (True,)}[args.skip]
    for skip in skips:
        for name, changes in CONFIGS.items():
            spec = (neuroplast.load_spec(changes) if isinstance(changes, str)
                    else neuroplast.load_spec("sunspots-lstm").updated(**changes))
            spec = spec.updated(model={"linear_skip": skip})
            key = spec.data.model_dump_json()
            if key not in cache:  # one load (and one ARIMA fit) per data setting
                cache[key] = load_dataset(spec.data, 0)
            data = cache[key]
            arima = data.extra["baselines"]["arima"]["rmse"]
            naive = data.extra["baselines"]["naive"]["rmse"]
            fold_vals = []
            for fold in fold_datasets(spec, args.folds)[:-1]:  # the earlier folds
                fold_vals.append(statistics.median(run_seeds(spec, fold, args.seeds, "val")[0]))
            vals, tests = run_seeds(spec, data, args.seeds, "val", "test")
            fold_vals.append(statistics.median(vals))
            label = f"{name}{', linear skip' if skip else ''}"
            row = (statistics.fmean(fold_vals), statistics.median(tests), label, tests)
            rows.append(row)
            print(f"| {label} | {' '.join(f'{v:.2f}' for v in fold_vals)} | {row[0]:.2f} | "
                  f"{row[1]:.2f} | {row[1] / arima:.3f} | {' '.join(f'{t:.2f}' for t in tests)} |",
                  flush=True)
    val, test, label, _ = min(rows)
    print(f"chosen_by_validation={label!r} mean_val_rmse={val:.2f} test_rmse={test:.2f} "
          f"arima_rmse={arima:.2f} naive_rmse={naive:.2f} ratio_to_arima={test / arima:.3f}")


def run_seeds(spec, data: Dataset, seeds: list[int], *splits: str) -> list[list[float]]:
    """RMSE (target units) on each split, one value per seed, training a fresh model per seed."""
    scores: list[list[float]] = [[] for _ in splits]
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model(spec.model, data.input_shape, data.num_outputs, data.task)
        res = fit(model, data, spec.train, seed=seed, progress=False)
        for split, out in zip(splits, scores, strict=True):
            x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
            out.append(evaluate(model, x, y, res.objective, preprocess=data.preprocess)["rmse"])
    return scores


if __name__ == "__main__":
    main()
