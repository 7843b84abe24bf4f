"""Sunspots: a small sweep of recurrent configurations, five seeds each, scored on the validation
windows (for choosing) and the test windows (for reporting), against the ARIMA baseline.

    python benchmarks/sunspots_sweep.py
"""

from __future__ import annotations

import statistics

import torch

import neuroplast
from neuroplast.data import load_dataset
from neuroplast.models import build_model
from neuroplast.train import evaluate, fit

CONFIGS = {
    "A lstm32 val.1": {},
    "B lstm32 val.05": {"data": {"val_fraction": 0.05}},
    "C gru32 w11 val.05": {"data": {"val_fraction": 0.05, "window": 11}, "model": {"family": "gru"}},
    "D lstm64 do.2 val.05": {"data": {"val_fraction": 0.05}, "model": {"hidden_size": 64, "dropout": 0.2}},
    "E lstm32 huber val.05": {"data": {"val_fraction": 0.05}, "train": {"loss": "huber"}},
    "F lstm32 w30 val.05": {"data": {"val_fraction": 0.05, "window": 30}},
    "G lstm32 2layers val.05": {"data": {"val_fraction": 0.05}, "model": {"num_layers": 2, "dropout": 0.1}},
}


def main(seeds: range = range(5)) -> None:
    torch.set_num_threads(1)
    base = neuroplast.load_spec("sunspots-lstm")
    cache = {}
    for name, changes in CONFIGS.items():
        spec = base.updated(**changes)
        key = spec.data.model_dump_json()
        if key not in cache:  # one load (and one ARIMA fit) per data setting
            cache[key] = load_dataset(spec.data, 0)
        data = cache[key]
        arima = data.extra["baselines"]["arima"]["rmse"]
        vals, tests = [], []
        for seed in seeds:
            torch.manual_seed(seed)
            model = build_model(spec.model, data.input_shape, data.num_outputs, data.task)
            res = fit(model, data, spec.train, seed=seed, progress=False)
            for split, out in (("val", vals), ("test", tests)):
                x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
                out.append(evaluate(model, x, y, res.objective, preprocess=data.preprocess)["rmse"])
        test = statistics.median(tests)
        print(f"{name:26s} val_med={statistics.median(vals):6.2f} test_med={test:6.2f} "
              f"ratio={test / arima:.3f} tests={[round(t, 2) for t in tests]}", flush=True)


if __name__ == "__main__":
    main()
