"""The scikit-learn estimators: scikit-learn's own estimator checks, a grid search that agrees with
a direct neuroplast run, and the usual tools (Pipeline, cross_val_score, clone, pandas)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import neuroplast
from neuroplast.data import load_dataset
from neuroplast.sklearn import NeuralClassifier, NeuralRegressor
from neuroplast.spec import DataSpec

FAST = {"hidden": (32,), "epochs": 40, "lr": 1e-2, "random_state": 0, "threads": 1}

# Every check of scikit-learn's suite runs; none is expected to fail.
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks([NeuralClassifier(**FAST), NeuralRegressor(**FAST)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_grid_search_on_digits_agrees_with_a_direct_run(tmp_path) -> None:
    """The grid search's refitted best estimator scores, on the official digits test rows, what
    `neuroplast.run` scores with the same hidden sizes, learning rate and training settings."""
    data = load_dataset(DataSpec(source="digits", val_fraction=0.0), 0)
    x_train, y_train = data.x_train.flatten(1).numpy(), data.y_train.numpy()
    x_test, y_test = data.x_test.flatten(1).numpy(), data.y_test.numpy()
    base = NeuralClassifier(epochs=30, batch_size=64, random_state=0, threads=1)
    search = GridSearchCV(base, {"hidden": [(16,), (64,)], "lr": [1e-4, 3e-3]}, cv=3).fit(x_train, y_train)
    best = search.best_params_
    assert best == {"hidden": (64,), "lr": 3e-3}  # 16 units or lr 1e-4 are clearly worse in 30 epochs
    estimator_accuracy = search.best_estimator_.score(x_test, y_test)

    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False,
                         data={"val_fraction": 0.0},
                         model={"hidden": list(best["hidden"]), "dropout": 0.0},
                         train={"lr": best["lr"], "epochs": 30, "batch_size": 64, "optimizer": "adam",
                                "schedule": "none", "threads": 1})
    assert estimator_accuracy > 0.95
    assert estimator_accuracy == pytest.approx(run.metrics["test"]["accuracy"], abs=0.015)


def test_pipeline_cross_val_score_clone_and_pandas() -> None:
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame, y = bunch.data, bunch.target.map(dict(enumerate(bunch.target_names)))  # string labels
    assert isinstance(frame, pd.DataFrame)
    model = make_pipeline(StandardScaler(), NeuralClassifier(**FAST))
    scores = cross_val_score(model, frame, y, cv=3)
    assert scores.min() > 0.85
    fitted = clone(model).fit(frame, y)
    est = fitted[-1]
    assert list(est.classes_) == sorted(bunch.target_names) and est.n_features_in_ == 13
    proba = fitted.predict_proba(frame)
    assert proba.shape == (len(frame), 3) and np.allclose(proba.sum(1), 1)
    assert clone(est).get_params() == est.get_params()
    reg = NeuralRegressor(**FAST).fit(frame.astype(np.float64), frame["alcohol"] * 2.0)
    assert reg.score(frame, frame["alcohol"] * 2.0) > 0.9  # the target is a column of X
    assert reg.set_params(lr=1e-3).lr == 1e-3
