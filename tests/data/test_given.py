"""What neuroplast.fit makes of arrays and DataFrames: one encoding whether or not validation data is given,
and the same raw data scored by evaluate as predict reads it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris, load_wine
from torch import nn

import neuroplast
from neuroplast.errors import UserError


def _wine() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_wine(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], y[order]


def _mlp(inputs: int = 13, outputs: int = 3) -> nn.Module:
    return nn.Sequential(nn.Linear(inputs, 16), nn.ReLU(), nn.Linear(16, outputs))


def test_validation_arrays_are_encoded_with_the_training_rows_statistics(capsys) -> None:
    x, y = _wine()
    run = neuroplast.fit(_mlp(), (x[:124], y[:124]), validation_data=(x[124:], y[124:]), epochs=20, threads=1)
    said = capsys.readouterr().err
    assert "note: X's 13 columns are standardized with the training rows' mean and std" in said
    mean, std = x[:124].mean(0), x[:124].std(0)  # the oracle: standardize by hand, score the module directly
    module = run.model.eval()
    logits = module(torch.tensor((x[124:] - mean) / std, dtype=torch.float32))
    by_hand = float((logits.argmax(1).numpy() == y[124:]).mean())
    assert run.metrics["val"]["accuracy"] == pytest.approx(by_hand)
    assert run.evaluate((x[124:], y[124:]))["accuracy"] == pytest.approx(by_hand)  # raw arrays, as predict
    assert float((run.predict(x[124:]) == y[124:]).mean()) == pytest.approx(by_hand)
    with pytest.raises(UserError, match=r"validation_data's y has labels 7, 8, 9 that the training data did not have \(0, 1, 2\)"):
        neuroplast.fit(_mlp(), (x[:124], y[:124]), validation_data=(x[124:], y[124:] + 7), epochs=1, progress=False)


def test_a_regression_with_the_default_split_and_a_dataframe_scored_by_evaluate() -> None:
    x, y = load_diabetes(return_X_y=True)
    run = neuroplast.fit(_mlp(10, 1), (x, y), epochs=3, threads=1, progress=False)  # no test part: none made
    assert run.metrics["test"] == {} and run.metrics["data"]["split"].endswith("none for testing (seed 0)")
    rmse = run.evaluate((x[:50], y[:50]))["rmse"]  # in the target's units, as predict's values are
    assert rmse == pytest.approx(float(np.sqrt(np.mean((run.predict(x[:50]) - y[:50]) ** 2))), rel=1e-4)
    iris = load_iris(as_frame=True)
    frame = iris.data.assign(species=[iris.target_names[t] for t in iris.target])
    run = neuroplast.fit(_mlp(4), frame, target="species", epochs=20, lr=1e-2, threads=1, progress=False)
    rows = frame.drop(columns="species").to_dict("records")
    expected = float((run.predict(rows) == frame["species"].to_numpy()).mean())
    assert run.evaluate(frame)["accuracy"] == pytest.approx(expected)  # its target column by default
    with pytest.raises(UserError, match="the DataFrame has no target column 'kind'"):
        run.evaluate(frame, target="kind")


def test_images_given_as_arrays_with_no_test_part_record_no_test_rows() -> None:
    from neuroplast.data.given import HeldOut, dataset_from_arrays

    x, y = np.random.default_rng(0).random((40, 1, 8, 8)), np.arange(40) % 2
    rows = dataset_from_arrays(x, y, seed=0, held_out=HeldOut(0.1, 0.0)).extra["rows"]
    assert rows["test"] == [] and sorted(rows["train"] + rows["val"]) == list(range(40))  # no "official" test set
