"""Experiment logs people already use: TensorBoard and MLflow get the metrics the run folder keeps.

``train.log = ["tensorboard", "mlflow"]`` in a spec adds them to a run. Each needs its own package
(``pip install tensorboard`` / ``pip install mlflow``); asking for one that is not installed is an
error that says so before training starts. TensorBoard event files go to ``RUN_DIR/tensorboard``
(``tensorboard --logdir runs``); MLflow logs to ``$MLFLOW_TRACKING_URI`` if set, else to
``RUN_DIR/mlruns``, MLflow's file store (``mlflow ui --backend-store-uri RUN_DIR/mlruns``; MLflow 3
needs ``MLFLOW_ALLOW_FILE_STORE=true`` for it, which neuroplast sets in its own process).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from neuroplast.errors import UserError
from neuroplast.registry import Registry

TRACKERS: Registry[type] = Registry("train.log entry")


class Tracker:
    """Receives per-epoch logs, then the final metrics; one subclass per tool."""

    def __init__(self, run_dir: Path, name: str, params: dict[str, Any]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def finish(self, metrics: dict[str, Any]) -> None: ...


def _scalars(logs: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and k != "epoch"}


def _final_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for split in ("test", "val"):
        for k, v in (metrics.get(split) or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[f"{split}_{k}"] = float(v)
    return out


@TRACKERS.register("tensorboard")
class TensorBoardTracker(Tracker):
    """Scalars per epoch (``train_loss``, ``val_loss``, ``val_accuracy``, ``lr``...), the spec as
    text, and the final test and validation metrics (``final/test_accuracy``...)."""

    def __init__(self, run_dir: Path, name: str, params: dict[str, Any]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError('train.log = ["tensorboard"] needs the tensorboard package. Run: pip install '
                            'tensorboard (or remove "tensorboard" from train.log).') from None
        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        self.writer.add_text("spec", "\n".join(f"    {k} = {v}" for k, v in params.items()))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        for key, value in _scalars(logs).items():
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def finish(self, metrics: dict[str, Any]) -> None:
        for key, value in _final_scalars(metrics).items():
            self.writer.add_scalar(f"final/{key}", value, 0)
        self.writer.close()


@TRACKERS.register("mlflow")
class MLflowTracker(Tracker):
    """One MLflow run named after the run folder: the flattened spec as params, per-epoch metrics
    with ``step = epoch``, the final test and validation metrics, and ``metrics.json`` as artifact."""

    def __init__(self, run_dir: Path, name: str, params: dict[str, Any]) -> None:
        try:
            import mlflow
        except ImportError:
            raise UserError('train.log = ["mlflow"] needs the mlflow package. Run: pip install mlflow '
                            '(or remove "mlflow" from train.log).') from None
        self.mlflow, self.run_dir = mlflow, run_dir
        if not os.environ.get("MLFLOW_TRACKING_URI"):  # no server given: a store in the run folder
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for the opt-in
            mlflow.set_tracking_uri((run_dir / "mlruns").resolve().as_uri())
        mlflow.set_experiment(name)
        self.active = mlflow.start_run(run_name=run_dir.name)
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.mlflow.log_metrics(_scalars(logs), step=epoch)

    def finish(self, metrics: dict[str, Any]) -> None:
        self.mlflow.log_metrics(_final_scalars(metrics))
        if (self.run_dir / "metrics.json").is_file():
            self.mlflow.log_artifact(str(self.run_dir / "metrics.json"))
        self.mlflow.end_run()


class Trackers:
    """The trackers a spec asks for, as one trainer callback (``on_epoch_end``) plus ``finish``."""

    def __init__(self, names: list[str] | tuple[str, ...], run_dir: Path, name: str,
                 params: dict[str, Any]) -> None:
        self.trackers = [TRACKERS.get(n)(run_dir, name, params) for n in names]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        for t in self.trackers:
            t.on_epoch_end(epoch, logs)

    def finish(self, metrics: dict[str, Any]) -> None:
        for t in self.trackers:
            t.finish(metrics)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
