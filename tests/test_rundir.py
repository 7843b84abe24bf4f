"""The Python API: run / load / predict, and a hand-written nn.Module as in the PyTorch tutorial."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

import neuroplast


class Net(nn.Module):
    """Written the way the classic PyTorch tutorial writes one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def test_run_load_predict_round_trip(tmp_path) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "r", train={"epochs": 4}, progress=False)
    assert run.metrics["test"]["accuracy"] > 0.85
    loaded = neuroplast.load(tmp_path / "r")
    assert loaded.spec == run.spec and loaded.metrics == run.metrics and len(loaded.history) == 4
    images = load_digits().images[:20] / 16.0  # raw pixels in [0, 1]
    proba = loaded.predict_proba(images)
    assert proba.shape == (20, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert np.array_equal(loaded.predict(images), proba.argmax(1))
    assert np.array_equal(run.predict(images), loaded.predict(images))  # weights survive safetensors
    stages = loaded.embed(images)  # the vector space: raw inputs in, a vector per stage out
    assert list(stages)[0] == "input" and list(stages)[-1] == "output" and len(stages) > 2
    torch.testing.assert_close(stages["input"], loaded.inputs(images).flatten(1))
    torch.testing.assert_close(stages["output"], loaded.outputs(images))
    hidden = list(stages)[1]
    torch.testing.assert_close(loaded.embed(images, layer=hidden), stages[hidden])
    with pytest.raises(neuroplast.UserError, match="'fc9' is not a stage of this network; its stages: input, "):
        loaded.embed(images, layer="fc9")


def test_regression_predictions_are_in_target_units(tmp_path) -> None:
    neuroplast.run("diabetes-mlp", out=tmp_path / "d", train={"epochs": 30}, progress=False)
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    pred = neuroplast.load(tmp_path / "d").predict(x)
    assert pred.shape == (len(y),) and 50 < pred.mean() < 250  # disease progression is ~25..346
    assert np.corrcoef(pred, y)[0, 1] > 0.5


def test_fit_a_hand_written_module() -> None:
    torch.manual_seed(0)
    run = neuroplast.fit(Net(), "digits", epochs=6, lr=3e-3, progress=False, seed=2)
    assert run.metrics["test"]["accuracy"] > 0.9
    assert run.predict(load_digits().images[:5] / 16.0).shape == (5,)
    again = run.evaluate("test")  # the name and the seed reload its split
    assert (again["accuracy"], again["loss"]) == pytest.approx((run.metrics["test"]["accuracy"], run.metrics["test"]["loss"]))


def test_fit_on_arrays_and_save_reload_with_the_module(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # XOR: needs a hidden layer
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    run = neuroplast.fit(model, (x, y), test_split=0.2, epochs=150, lr=0.03, out=tmp_path / "xor", progress=False)
    assert run.metrics["test"]["accuracy"] > 0.9
    with pytest.raises(neuroplast.UserError, match="pass it: neuroplast.load"):
        neuroplast.load(tmp_path / "xor")
    again = neuroplast.load(tmp_path / "xor", model=nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)))
    assert np.array_equal(again.predict(x), run.predict(x))


def test_fit_rejects_an_unknown_option() -> None:
    with pytest.raises(neuroplast.UserError, match=r"unknown train option 'epoch'. Did you mean 'epochs'"):
        neuroplast.fit(Net(), "digits", epoch=3)


def test_load_rebuilds_from_model_json_without_the_spec(tmp_path) -> None:
    run = neuroplast.run("digits-cnn", out=tmp_path / "r", train={"epochs": 1}, progress=False)
    (tmp_path / "r" / "spec.toml").unlink()
    images = load_digits().images[:8] / 16.0
    assert np.array_equal(neuroplast.load(tmp_path / "r").predict(images), run.predict(images))


def test_generate_is_the_top_level_function_and_the_submodule_still_imports() -> None:
    import sys

    from neuroplast.generate import generate, generate_stream

    assert neuroplast.generate is generate and callable(neuroplast.generate)
    assert "generate" in neuroplast.__all__
    assert sys.modules["neuroplast.generate"].generate_stream is generate_stream


@pytest.mark.parametrize("existing", [False, True])
def test_a_failure_before_anything_is_written_leaves_no_empty_run_folder(tmp_path, monkeypatch,
                                                                         existing: bool) -> None:
    import neuroplast.rundir

    def broken(*args, **kwargs):
        raise neuroplast.UserError("the model does not fit the data")

    out = tmp_path / "r"
    if existing:  # a folder the user made, with a file in it, is never removed
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
    monkeypatch.setattr(neuroplast.rundir, "model_info", broken)  # fails after the folder is made
    with pytest.raises(neuroplast.UserError, match="does not fit"):
        neuroplast.run("digits-mlp", out=out, train={"epochs": 1}, progress=False)
    assert out.exists() == existing
    if existing:
        assert (out / "notes.txt").read_text() == "keep me"


def test_a_stage_never_writes_over_another_stages_folder(tmp_path) -> None:
    from neuroplast import rundir

    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, train={"epochs": 1, "threads": 1})
    pruned = neuroplast.prune(run.dir, sparsity=0.5, final_epochs=1, progress=False, latency_repeats=2)
    with pytest.raises(neuroplast.UserError, match="already holds another stage's results"):
        rundir.stage_dir(run.dir, "calibrate", "temperature", out=pruned.dir)
    with pytest.raises(neuroplast.UserError, match="already holds another stage's results"):
        rundir.stage_dir(run.dir, "explain", "ig", out=pruned.dir)
    assert rundir.stage_dir(run.dir, "prune", "magnitude") == run.dir / "pruned-magnitude"  # running it again


def test_a_run_renders_as_a_card_in_a_notebook(tmp_path) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, train={"epochs": 3, "threads": 1})
    card = run._repr_html_()
    assert f"{run.metrics['test']['accuracy']:.4g}" in card and str(run.dir) in card
    assert card.count("<polyline") == 2 and "train_loss" in card and "val_loss" in card  # the learning curves
    one = neuroplast.fit(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), "digits", epochs=1,
                         progress=False)
    assert "in memory" in one._repr_html_() and "<svg" not in one._repr_html_()  # one epoch: no curve


@pytest.fixture(scope="module")
def three_epochs() -> neuroplast.Run:
    torch.manual_seed(0)
    return neuroplast.fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), "digits", epochs=3, threads=1,
                          progress=False)


def test_history_df_is_the_history_as_a_dataframe_indexed_by_epoch(three_epochs) -> None:
    import pandas as pd

    frame = three_epochs.history_df
    assert isinstance(frame, pd.DataFrame) and list(frame.index) == [1, 2, 3] and frame.index.name == "epoch"
    for row in three_epochs.history:  # run.history stays the list of dicts
        assert frame.loc[row["epoch"]].to_dict() == {k: v for k, v in row.items() if k != "epoch"}


def test_history_df_without_pandas_is_one_line_with_the_fix(three_epochs, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(neuroplast.UserError, match=r"needs pandas \(pip install pandas\); run\.history holds"):
        _ = three_epochs.history_df


def test_plot_draws_the_history_training_against_validation(three_epochs) -> None:
    history = three_epochs.history
    fig = three_epochs.plot()
    train, val = fig.axes[0].lines
    assert (train.get_label(), val.get_label()) == ("train", "val")
    assert list(train.get_xdata()) == [1, 2, 3] and list(train.get_ydata()) == [h["train_loss"] for h in history]
    assert list(val.get_ydata()) == [h["val_loss"] for h in history]
    (accuracy,) = three_epochs.plot("accuracy").axes[0].lines  # no train_accuracy in this history
    assert list(accuracy.get_ydata()) == [h["val_accuracy"] for h in history]
    (lr,) = three_epochs.plot("lr").axes[0].lines  # any column
    assert list(lr.get_ydata()) == [h["lr"] for h in history]
    assert fig._repr_png_().startswith(b"\x89PNG")  # Jupyter shows a returned figure inline


def test_plot_on_your_own_axes_and_an_unknown_metric(three_epochs) -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert three_epochs.plot("loss", ax=left) is fig and three_epochs.plot("accuracy", ax=right) is fig
    assert len(left.lines) == 2 and len(right.lines) == 1
    with pytest.raises(neuroplast.UserError, match=r"plot\(metric='f1'\): the history has no 'f1' per epoch; "
                       r"choose one of 'loss', 'accuracy', 'lr', 'seconds'\."):
        three_epochs.plot("f1")


def test_split_json_names_the_rows_of_each_split(tmp_path) -> None:
    """split.json holds the 0-based data rows of each split: the CSV's test rows are the test split's."""
    import json

    from conftest import iris_csv
    from sklearn.datasets import load_iris

    iris = load_iris()
    iris_csv(tmp_path / "iris.csv")
    run = neuroplast.run("wine-mlp", out=tmp_path / "r", progress=False, data={
        "source": "csv", "path": str(tmp_path / "iris.csv"), "target": "species"}, train={"epochs": 1, "threads": 1})
    rows = json.loads((tmp_path / "r" / "split.json").read_text())
    sizes = {k: len(v) for k, v in rows.items()}
    assert sizes == {k: run.metrics["data"][k] for k in ("train", "val", "test")}
    assert sorted(rows["train"] + rows["val"] + rows["test"]) == list(range(150))  # disjoint, every row once
    data = run.dataset()
    names = [iris.target_names[iris.target[i]] for i in rows["test"]]
    assert names == [run.class_names[int(c)] for c in data.y_test]  # the same rows, in the same order
