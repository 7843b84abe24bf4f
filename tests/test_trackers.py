"""TensorBoard and MLflow receive exactly the numbers the run folder keeps."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import neuroplast
from neuroplast.cli import main

QUICK = {"train": {"epochs": 3, "threads": 1, "device": "cpu"}}


def test_tensorboard_scalars_equal_the_history(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = neuroplast.run("digits-mlp", out=tmp_path / "r", progress=False,
                         train={**QUICK["train"], "log": ["tensorboard"]})
    events = EventAccumulator(str(run.dir / "tensorboard")).Reload()
    losses = [e.value for e in events.Scalars("train_loss")]
    assert losses == pytest.approx([h["train_loss"] for h in run.history], rel=1e-6)
    assert [e.step for e in events.Scalars("val_accuracy")] == [1, 2, 3]
    final = events.Scalars("final/test_accuracy")[0].value
    assert final == pytest.approx(run.metrics["test"]["accuracy"], rel=1e-6)


def test_mlflow_run_holds_params_metrics_and_artifact(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = neuroplast.run("digits-mlp", out=tmp_path / "r", progress=False,
                         train={**QUICK["train"], "log": ["mlflow"]})
    client = MlflowClient(tracking_uri=(run.dir / "mlruns").resolve().as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == "digits-mlp"]
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.data.params["train.epochs"] == "3" and logged.data.params["model.family"] == "mlp"
    history = client.get_metric_history(logged.info.run_id, "train_loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
        [h["train_loss"] for h in run.history], rel=1e-6)
    assert logged.data.metrics["test_accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])
    assert [a.path for a in client.list_artifacts(logged.info.run_id)] == ["metrics.json"]


@pytest.mark.parametrize("tool", ["tensorboard", "mlflow"])
def test_a_tracker_without_its_package_is_a_one_line_error(tool: str, tmp_path: Path, monkeypatch,
                                                            capsys) -> None:
    module = "torch.utils.tensorboard" if tool == "tensorboard" else "mlflow"
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    code = main(["run", "digits-mlp", "--out", str(tmp_path / "r"), "--quiet", "--set",
                 f'train.log=["{tool}"]', "--set", "train.epochs=1"])
    err = capsys.readouterr().err
    assert code == 2 and f"pip install {tool}" in err and len(err.strip().splitlines()) == 1
