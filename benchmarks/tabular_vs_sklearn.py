"""Small tables: neuroplast's shipped MLP specs vs scikit-learn's MLPClassifier / MLPRegressor.

For ``wine-mlp`` and ``breast-cancer-mlp`` (test accuracy) and ``diabetes-mlp`` (test R²), and for
each seed, neuroplast trains the shipped spec as is (``neuroplast.run(spec, seed=s)``: its dropout,
weight decay, optimizer and early stopping on the validation split) and reports
``run.metrics["test"]``. scikit-learn then gets the SAME splits, taken from
``neuroplast.data.load_dataset(spec.data, seed)`` (features already standardized with training
statistics; regression targets standardized too, mapped back to original units for R²), and trains
``MLPClassifier`` / ``MLPRegressor`` with the same hidden sizes, ``random_state=seed``,
``max_iter=1000`` and every other setting at its default. scikit-learn makes no separate use of a
validation split by default, so it is fitted on train + val concatenated; both score on the same
test split. Everything runs on one thread.

Run (from the repository root, with the venv active):

    python benchmarks/tabular_vs_sklearn.py               # seeds 0 1 2
    python benchmarks/tabular_vs_sklearn.py --seeds 0     # quick check

The last line reads ``wine: np=.. sk=.. ok=.. breast_cancer: ... diabetes: np_r2=.. sk_r2=.. ok=..``;
ok means neuroplast's median accuracy >= scikit-learn's (classification), or neuroplast's median
R² >= scikit-learn's median R² - 0.02 (regression); accuracies compare with a 1e-6 slack, since
neuroplast's is a float32 mean and scikit-learn's a float64 one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

import neuroplast
from neuroplast.data import load_dataset

SPECS = ["wine-mlp", "breast-cancer-mlp", "diabetes-mlp"]
R2_TOLERANCE = 0.02
EPS = 1e-6  # neuroplast's accuracy is a float32 mean: 109/114 must compare equal to sklearn's float64


def run_neuroplast(spec: neuroplast.ExperimentSpec, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = neuroplast.run(spec, seed=seed, out=tmp, progress=False)
        seconds = time.perf_counter() - t0
    test = run.metrics["test"]
    score = test["r2"] if run.metrics["task"] == "regression" else test["accuracy"]
    return {"score": score, "seconds": seconds, "epochs": run.metrics["train"]["epochs"],
            "test_samples": test["samples"]}


def run_sklearn(spec: neuroplast.ExperimentSpec, seed: int) -> dict[str, Any]:
    data = load_dataset(spec.data, seed)
    x = torch.cat([data.x_train, data.x_val]).numpy()
    y = torch.cat([data.y_train, data.y_val]).numpy()
    x_test, y_test = data.x_test.numpy(), data.y_test.numpy()
    regression = data.task == "regression"
    cls = MLPRegressor if regression else MLPClassifier
    model = cls(hidden_layer_sizes=tuple(spec.model.hidden), random_state=seed, max_iter=1000)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x, y.ravel() if regression else y)
    seconds = time.perf_counter() - t0
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    pred = model.predict(x_test)
    if regression:
        std = np.asarray(data.preprocess["target_std"])
        mean = np.asarray(data.preprocess["target_mean"])
        score = r2_score(y_test * std + mean, pred.reshape(y_test.shape) * std + mean)
    else:
        score = accuracy_score(y_test, pred)
    return {"score": float(score), "seconds": seconds, "n_iter": model.n_iter_,
            "converged": converged, "test_samples": len(x_test),
            "sizes": (len(data.x_train), len(data.x_val), len(data.x_test))}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--specs", nargs="+", default=SPECS, choices=SPECS)
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy / scikit-learn BLAS
    print(f"neuroplast={neuroplast.__version__} torch={torch.__version__} threads=1 "
          f"seeds={args.seeds}")
    print("neuroplast: the shipped spec as is (early stopping on val); scikit-learn: defaults + "
          "same hidden sizes, max_iter=1000, fitted on train+val (it makes no separate use of val); "
          "both scored on the same test split")
    summary = []
    for name in args.specs:
        spec = neuroplast.load_spec(name)
        regression = spec.data.source == "diabetes"
        metric = "r2" if regression else "accuracy"
        print(f"\n{name} (data={spec.data.source}, hidden={list(spec.model.hidden)}, "
              f"metric=test {metric})")
        print(f"{'seed':>4} {'train/val/test':>15} {'neuroplast':>10} {'np s':>6} {'np ep':>5} "
              f"{'sklearn':>8} {'sk s':>6} {'sk iter':>7} {'converged':>9}")
        np_scores, sk_scores = [], []
        for seed in args.seeds:
            a = run_neuroplast(spec, seed)
            b = run_sklearn(spec, seed)
            assert a["test_samples"] == b["test_samples"], "test splits differ"
            np_scores.append(a["score"])
            sk_scores.append(b["score"])
            sizes = "/".join(map(str, b["sizes"]))
            print(f"{seed:>4} {sizes:>15} {a['score']:10.4f} {a['seconds']:6.1f} {a['epochs']:5d} "
                  f"{b['score']:8.4f} {b['seconds']:6.1f} {b['n_iter']:7d} {b['converged']!s:>9}")
        np_med, sk_med = statistics.median(np_scores), statistics.median(sk_scores)
        ok = np_med >= sk_med - (R2_TOLERANCE if regression else EPS)
        print(f"{'med':>4} {'':>15} {np_med:10.4f} {'':>6} {'':>5} {sk_med:8.4f}")
        key = "_r2" if regression else ""
        summary.append(f"{spec.data.source}: np{key}={np_med:.4f} sk{key}={sk_med:.4f} ok={ok}")
    print()
    print(" ".join(summary))


if __name__ == "__main__":
    main()
