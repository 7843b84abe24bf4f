"""Sunspots: recurrent configurations, five seeds each, scored on validation folds (for choosing) and
the test windows (for reporting), against the ARIMA baseline.

    python benchmarks/sunspots_sweep.py [--skip both|off|on] [--transforms none sqrt] [--folds 3]

Candidates: each configuration with and without ``model.linear_skip`` (a linear AR path beside the
network), on the raw values and on their square root (``sqrt``: the variance-stabilising transform
of the sunspot literature; forecasts are squared back before scoring), each scored two ways — the
median RMSE over seeds, and the RMSE of the seeds' averaged forecast (a seed ensemble) — plus
forecast combinations (the average of every configuration's seed ensemble within a group).

The choice uses data before the test years only: rolling-origin validation (``--folds K``: K
consecutive validation blocks of the shipped validation length, the last one being the shipped
validation split, each trained on everything before it and scaled on its own training part), by
the mean RMSE over folds. The test column is reported, never used for the choice. On the test split
each network trains on the shipped training part with early stopping on the shipped validation
part, exactly as ``neuroplast run sunspots-lstm``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import numpy as np
import torch

import neuroplast
from neuroplast.data import Dataset, load_dataset
from neuroplast.data.series import make_windows, split_bounds, split_origins
from neuroplast.models import build_model
from neuroplast.train import fit
from neuroplast.train.evaluate import predict_outputs

CONFIGS = {
    "LSTM 32": {},
    "LSTM 64, dropout 0.2": {"model": {"hidden_size": 64, "dropout": 0.2}},
    "LSTM 32 x 2, dropout 0.1": {"model": {"num_layers": 2, "dropout": 0.1}},
    "GRU 32, window 11": {"data": {"window": 11}, "model": {"family": "gru"}},
    "Transformer d32 x 2": "sunspots-transformer",
}
TRANSFORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "none": (lambda v: v, lambda v: v),
    "sqrt": (np.sqrt, lambda v: np.clip(v, 0.0, None) ** 2),
}


def sunspot_values() -> np.ndarray:
    from statsmodels.datasets import sunspots

    return sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float64)


def folds(spec: neuroplast.ExperimentSpec, transform: str, k_folds: int) -> list[tuple[Dataset, np.ndarray]]:
    """``k_folds`` rolling-origin validation folds, then the test split: ``(data, truth)`` each, where
    the network is scored on ``data.x_test`` (test split) or ``data.x_val`` (folds) against ``truth``
    in original units."""
    values, (forward, _) = sunspot_values(), TRANSFORMS[transform]
    d = spec.data
    train_end, val_end = split_bounds(len(values), d.val_fraction, d.test_fraction)
    block = val_end - train_end
    out = []
    for k in [*range(k_folds - 1, -1, -1), None]:  # None: the test split
        t_end, v_end = (train_end, val_end) if k is None else (train_end - k * block, val_end - k * block)
        part = values if k is None else values[:v_end]
        moved = forward(part)
        mean, std = moved[:t_end].mean(), moved[:t_end].std()
        scaled = (moved - mean) / std
        tr, va, te = split_origins(len(part), t_end, v_end, d.window, d.horizon)
        arrays = [torch.as_tensor(a, dtype=torch.float32)
                  for origins in (tr, va, te) for a in make_windows(scaled, origins, d.window, d.horizon)]
        data = Dataset("sunspots", "forecast", *arrays, preprocess={"mean": mean, "std": std})
        out.append((data, part[te if k is None else va]))
    return out


def forecasts(spec: neuroplast.ExperimentSpec, transform: str, k_folds: int,
              seeds: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold (the test split last): the seeds' forecasts ``(S, N)`` in original units, and the truth."""
    inverse = TRANSFORMS[transform][1]
    out = []
    for data, truth in folds(spec, transform, k_folds):
        x = data.x_test if len(data.x_test) else data.x_val
        runs = []
        for seed in seeds:
            torch.manual_seed(seed)
            model = build_model(spec.model, data.input_shape, data.num_outputs, data.task)
            fit(model, data, spec.train, seed=seed, progress=False)
            scaled = predict_outputs(model, x)[:, 0].double().numpy()
            runs.append(inverse(scaled * data.preprocess["std"] + data.preprocess["mean"]))
        out.append((np.stack(runs), truth))
    return out


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", choices=["both", "off", "on"], default="both")
    parser.add_argument("--transforms", nargs="+", choices=list(TRANSFORMS), default=["none", "sqrt"])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--no-transformer", action="store_true", help="recurrent configurations only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = neuroplast.load_spec("sunspots-lstm")
    data = load_dataset(base.data, 0)  # the baselines, on exactly the test windows
    arima, naive = (data.extra["baselines"][k]["rmse"] for k in ("arima", "naive"))
    runs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    rows: list[tuple[str, list[float]]] = []

    def report(label: str, per_fold: list[float]) -> None:
        rows.append((label, per_fold))
        val, test = per_fold[:-1], per_fold[-1]
        print(f"| {label} | {' '.join(f'{v:.2f}' for v in val)} | {statistics.fmean(val):.2f} | "
              f"{test:.2f} | {test / arima:.3f} |", flush=True)

    print("| candidate | validation RMSE per fold | mean | test RMSE | test / ARIMA |\n|---|---|---|---|---|")
    skips = {"both": (False, True), "off": (False,), "on": (True,)}[args.skip]
    for transform in args.transforms:
        for skip in skips:
            for name, changes in CONFIGS.items():
                if isinstance(changes, str) and args.no_transformer:
                    continue
                spec = (neuroplast.load_spec(changes) if isinstance(changes, str)
                        else base.updated(**changes)).updated(model={"linear_skip": skip})
                label = f"{name}{', linear skip' if skip else ''}{', sqrt' if transform == 'sqrt' else ''}"
                runs[label] = forecasts(spec, transform, args.folds, args.seeds)
                report(f"{label} (median of seeds)",
                       [statistics.median(rmse(p, truth) for p in preds) for preds, truth in runs[label]])
                report(f"{label} (seed ensemble)", [rmse(preds.mean(0), truth) for preds, truth in runs[label]])
    groups = {"every candidate": list(runs)}
    for transform in args.transforms:
        groups[f"transform {transform}"] = [k for k in runs if (", sqrt" in k) == (transform == "sqrt")]
    for label, keys in groups.items():
        if len(keys) > 1:
            report(f"combination: {label} ({len(keys)})",
                   [rmse(np.mean([runs[k][f][0].mean(0) for k in keys], axis=0), runs[keys[0]][f][1])
                    for f in range(args.folds + 1)])
    label, per_fold = min(rows, key=lambda r: statistics.fmean(r[1][:-1]))
    print(f"chosen_by_validation={label!r} mean_val_rmse={statistics.fmean(per_fold[:-1]):.2f} "
          f"test_rmse={per_fold[-1]:.2f} arima_rmse={arima:.2f} naive_rmse={naive:.2f} "
          f"ratio_to_arima={per_fold[-1] / arima:.3f}")


if __name__ == "__main__":
    main()
