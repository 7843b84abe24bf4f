"""A run: spec -> data -> model -> training -> run folder, and the :class:`Run` that reads one back.

A run folder holds ``spec.toml`` (resolved), ``model.json`` + ``model.safetensors`` (rebuild without
the spec), ``preprocess.json`` (raw input -> tensor), ``metrics.json``, ``history.csv``,
``checkpoint/last.pt`` (exact resume) and PNG plots. See ``docs/run-folder.md`` for the schema.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import platform
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast.data import Dataset, load_dataset
from neuroplast.data.augment import make_augment
from neuroplast.errors import UserError, check_output
from neuroplast.models import build_model, count_parameters, model_outputs
from neuroplast.spec import ExperimentSpec, TrainSpec, load_spec
from neuroplast.train import (
    Callback,
    FitResult,
    distributed,
    evaluate,
    fit,
    make_objective,
    predict_outputs,
)
from neuroplast.io import atomic_write, load_weights, read_json, save_json, save_weights
from neuroplast.train.checkpoint import load_checkpoint
from neuroplast.train.lr_find import LRFinderResult, find_lr

METRICS_SCHEMA_VERSION = 1
CHECKPOINT = Path("checkpoint") / "last.pt"
LR_FIND = "lr_find.json"
log = logging.getLogger(__name__)


class Run:
    """A trained network with its spec, metrics and preprocessing; what ``neuroplast.run`` and
    ``neuroplast.load`` return.

    Attributes:
        dir: the run folder (None for an in-memory run).
        spec: the resolved :class:`ExperimentSpec` (None for a hand-written module).
        model: the trained ``nn.Module``, in eval mode, on the CPU.
        metrics: the contents of ``metrics.json``.
        history: one dict per epoch.

    Example:
        >>> run = neuroplast.load("runs/digits-cnn-20261123-101500")
        >>> run.predict(["seven.png"]), run.predict_proba(["seven.png"]).max()
    """

    def __init__(self, model: nn.Module, info: dict[str, Any], preprocess: dict[str, Any],
                 metrics: dict[str, Any], history: list[dict[str, Any]], spec: ExperimentSpec | None = None,
                 run_dir: Path | None = None) -> None:
        self.model = model.cpu().eval()
        self.info = info
        self.preprocess = preprocess
        self.metrics = metrics
        self.history = history
        self.spec = spec
        self.dir = run_dir
        self.objective = make_objective(info["task"], info["output_width"], info.get("loss", "auto"),
                                        num_classes=len(info.get("class_names") or []))

    @property
    def class_names(self) -> list[str] | None:
        return self.info.get("class_names")

    def inputs(self, x: Any) -> torch.Tensor:
        """Turn raw inputs into the model's input tensor: image/CSV file paths, arrays of raw pixels
        in [0, 1] or raw table rows (arrays or dicts), or an already preprocessed tensor."""
        from neuroplast.data.inputs import to_inputs

        return to_inputs(x, self.preprocess)

    def outputs(self, x: Any) -> torch.Tensor:
        return predict_outputs(self.model, self.inputs(x))

    def predict(self, x: Any) -> np.ndarray:
        """Class indices (classification) or values in the target's units (regression)."""
        out = self.outputs(x)
        if self.objective.kind == "regression":  # also forecasts: (N, horizon)
            std = np.asarray(self.preprocess.get("target_std", [1.0]))
            mean = np.asarray(self.preprocess.get("target_mean", [0.0]))
            values = self.objective.predict(out).numpy() * std + mean
            return values[:, 0] if values.shape[1] == 1 else values
        return self.objective.predict(out).numpy()

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, shape (N, classes)."""
        if self.objective.kind == "regression":
            raise UserError("predict_proba is for classifiers; this run is a regression. Use predict.")
        return self.objective.proba(self.outputs(x)).numpy()

    def evaluate(self, split: str = "test") -> dict[str, Any]:
        """Re-measure the model on a split of its spec's data (``test``, ``val`` or ``train``)."""
        if self.spec is None:
            raise UserError("This run has no spec to reload its data from; call neuroplast.train.evaluate.")
        data = load_dataset(self.spec.data, self.spec.seed)
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if len(x) == 0:
            others = [s for s in ("test", "val", "train") if s != split and len(getattr(data, f"x_{s}"))]
            raise UserError(f"This run's data has no {split} split ({self.info['task']}, data.source "
                            f"{self.spec.data.source!r}); use --split {' or --split '.join(others)}.")
        return evaluate(self.model, x, y, self.objective, self.spec.train.eval_batch_size, data.preprocess,
                        data.num_classes)

    def __repr__(self) -> str:
        where = f" at {self.dir}" if self.dir else ""
        return f"Run({self.info.get('family')!r}, task={self.info['task']!r}{where})"


# --------------------------------------------------------------------------- public entry points
def run(spec: str | Path | ExperimentSpec | None = None, *, out: str | Path | None = None,
        data_dir: str | Path | None = None, overrides: Sequence[str] = (),
        callbacks: Sequence[Callback] = (), progress: bool = True, **changes: Any) -> Run:
    """Train the network a spec describes and write its run folder.

    Args:
        spec: a shipped spec name (``"digits-cnn"``, the default), a TOML path or an ExperimentSpec.
        out: the run folder (default ``runs/<name>-<time>``).
        data_dir: folder with the data files (overrides ``data.dir``).
        overrides: dotted ``"key=value"`` strings, as ``--set`` on the command line.
        callbacks: objects with ``on_epoch_end(epoch, logs)``.
        progress: show a progress bar / per-epoch lines.
        **changes: nested section changes, e.g. ``train={"epochs": 3}``, ``seed=1``.

    Example:
        >>> run = neuroplast.run("digits-cnn", train={"epochs": 5})
        >>> run.metrics["test"]["accuracy"]
    """
    spec = _resolve_spec(spec, data_dir, overrides, changes)
    distributed.init_from_env(spec.train.device)  # under torchrun: join the process group
    main = distributed.is_main()  # rank 0 alone writes the run folder
    _seed_everything(spec.seed, spec.train)
    data = load_dataset(spec.data, spec.seed)
    if data.origin and spec.data.source in ("mnist", "fashion-mnist", "folder"):
        spec = spec.updated(data={"dir": data.origin})
    elif data.origin:  # a file: record it so resume/evaluate find it from anywhere
        spec = spec.updated(data={"path": data.origin})
    run_dir = Path(out) if out is not None else _new_run_dir(spec.name)
    check_output(run_dir, "folder", f"runs/{spec.name}")
    if main and ((run_dir / "metrics.json").is_file() or (run_dir / CHECKPOINT).is_file()):
        raise UserError(f"--out {run_dir} already holds a run; choose a new folder (or continue that one: "
                        f"neuroplast resume {run_dir}).")
    model = build_model(spec.model, data.input_shape, model_outputs(data.num_outputs, spec.train.loss), data.task,
                        data.vocab_size)  # before the folder: a model that cannot be built leaves none
    _check_stages(spec, data, model)  # and a stage after training that cannot run fails before it
    created = main and not run_dir.exists()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _clear_lr_find(run_dir)
    try:
        if spec.train.lr == "auto":  # the resolved spec records the number the run trains with
            found = _auto_lr(model, data, spec.train, spec.seed, make_augment(spec.data.augment),
                             run_dir if main else None)
            spec = spec.updated(train={"lr": found.suggestion})
        info = _model_info(spec.model.family, spec.model.model_dump(mode="json"), data, model, spec.train)
    except BaseException:
        if created:
            _remove_if_empty(run_dir)
        raise
    if main:
        atomic_write(run_dir / "spec.toml", lambda p: p.write_text(spec.to_toml()))
        save_json(run_dir / "preprocess.json", data.preprocess)
        save_json(run_dir / "model.json", info)
    trackers = _trackers(spec, run_dir) if main else None
    result = fit(model, data, spec.train, seed=spec.seed, checkpoint_path=_ckpt(run_dir, spec.train),
                 callbacks=[*callbacks, *([trackers] if trackers else [])], progress=progress,
                 augment=make_augment(spec.data.augment))
    return _finish(run_dir, spec, model, data, result, info, trackers)


def lr_find(spec: str | Path | ExperimentSpec | None = None, *, data_dir: str | Path | None = None,
            overrides: Sequence[str] = (), start_lr: float = 1e-7, end_lr: float = 10.0,
            num_steps: int = 100, **changes: Any) -> LRFinderResult:
    """Sweep the learning rate on the model and data a spec describes, and suggest one.

    The model is built and seeded exactly as ``run`` would build it; the sweep trains it for up to
    ``num_steps`` batches with the spec's optimizer while the rate grows from ``start_lr`` to
    ``end_lr``, then throws it away. See :func:`neuroplast.train.lr_find.find_lr` for the rule.

    Args:
        spec, data_dir, overrides, **changes: as for :func:`run`; ``train.lr`` is ignored.
        start_lr, end_lr, num_steps: the sweep's range and length.

    Example:
        >>> found = neuroplast.lr_find("digits-cnn")
        >>> found.suggestion, found.reason
        >>> found.plot("lr_find.png")
        >>> neuroplast.run("digits-cnn", train={"lr": found.suggestion})  # or train.lr = "auto"
    """
    spec = _resolve_spec(spec, data_dir, overrides, changes)
    _seed_everything(spec.seed, spec.train)
    data = load_dataset(spec.data, spec.seed)
    model = build_model(spec.model, data.input_shape, model_outputs(data.num_outputs, spec.train.loss), data.task,
                        data.vocab_size)
    return find_lr(model, data, spec.train, seed=spec.seed, start_lr=start_lr, end_lr=end_lr,
                   num_steps=num_steps, augment=make_augment(spec.data.augment))


def resume(run_dir: str | Path, *, callbacks: Sequence[Callback] = (), progress: bool = True) -> Run:
    """Continue an interrupted run from its last completed epoch; the result equals an
    uninterrupted run with the same seed (on the CPU)."""
    run_dir = Path(run_dir)
    if not (run_dir / "spec.toml").is_file():
        raise UserError(f"{run_dir} is not a neuroplast run folder (no spec.toml). Pass the folder "
                        "that `neuroplast run` printed.")
    spec = load_spec(run_dir / "spec.toml")
    state = load_checkpoint(run_dir / CHECKPOINT)
    if (run_dir / "metrics.json").is_file() and state.get("epoch", 0) >= spec.train.epochs:
        raise UserError(f"{run_dir} finished all {spec.train.epochs} epochs of its spec: nothing to resume. To "
                        f"train longer, raise train.epochs in {run_dir / 'spec.toml'} and resume.")
    distributed.init_from_env(spec.train.device)
    _seed_everything(spec.seed, spec.train)
    data = load_dataset(spec.data, spec.seed)
    model = build_model(spec.model, data.input_shape, model_outputs(data.num_outputs, spec.train.loss), data.task,
                        data.vocab_size)
    info = read_json(run_dir / "model.json")
    try:  # a spec.toml edited since the checkpoint was written builds another network
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        raise UserError(f"{run_dir / CHECKPOINT} does not fit the network {run_dir / 'spec.toml'} describes "
                        f"({str(e).strip().splitlines()[0]}); restore the spec or start a new run.") from None
    trackers = _trackers(spec, run_dir) if distributed.is_main() else None
    result = fit(model, data, spec.train, seed=spec.seed, checkpoint_path=_ckpt(run_dir, spec.train),
                 resume=state, callbacks=[*callbacks, *([trackers] if trackers else [])],
                 progress=progress, augment=make_augment(spec.data.augment))
    return _finish(run_dir, spec, model, data, result, info, trackers)


def load(run_dir: str | Path, model: nn.Module | None = None) -> Run:
    """Read a run folder: the model is rebuilt from ``model.json`` and ``model.safetensors``
    (no pickle). Pass ``model`` for runs of a hand-written module."""
    run_dir = Path(run_dir)
    if not (run_dir / "model.json").is_file():
        raise UserError(f"{run_dir} is not a neuroplast run folder (no model.json). Pass the folder "
                        "that `neuroplast run` printed.")
    info = read_json(run_dir / "model.json")
    spec = load_spec(run_dir / "spec.toml") if (run_dir / "spec.toml").is_file() else None
    if model is None:
        if info["family"] == "custom":
            raise UserError(f"{run_dir} holds a hand-written module ({info.get('class')}); pass it: "
                            "neuroplast.load(run_dir, model=MyNet()).")
        from pydantic import TypeAdapter

        from neuroplast.spec import ModelSpec

        model_spec = TypeAdapter(ModelSpec).validate_python(info["config"])
        model = build_model(model_spec, tuple(info["input_shape"]),
                            model_outputs(info["num_outputs"], info.get("loss", "auto")), info["task"],
                            info.get("vocab_size", 0))
        if getattr(model, "pad_id", None) is not None and not info.get("masks_padding"):
            model.pad_id = None  # a text Transformer saved before padding was masked: read as it was trained
    state = load_weights(run_dir / "model.safetensors")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{run_dir / 'model.safetensors'} does not fit the model in model.json "
                        f"({str(e).splitlines()[0]}). Re-run training.") from None
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else {}
    preprocess = read_json(run_dir / "preprocess.json")
    return Run(model, info, preprocess, metrics, _read_history(run_dir / "history.csv"), spec, run_dir)


def derived_dir(run_dir: Path, out: str | Path | None, suffix: str) -> Path:
    """Where a command that reads ``run_dir`` writes its own folder (calibrate, prune): ``out``, or
    ``<run_dir>-<suffix>`` beside it. Refuses the run itself, a file, and a folder holding a trained run."""
    run_dir = run_dir.resolve()
    out_dir = Path(out) if out is not None else run_dir.with_name(f"{run_dir.name}-{suffix}")
    check_output(out_dir, "folder", f"{run_dir.name}-{suffix}")
    if out_dir.resolve() == run_dir:
        raise UserError(f"--out {out_dir} is the run being read; choose a new folder (default: "
                        f"{run_dir.name}-{suffix} beside it).")
    if (out_dir / "checkpoint").is_dir():  # what `neuroplast run` leaves, and calibrate / prune never write
        raise UserError(f"--out {out_dir} already holds a trained run; choose a new folder, so neither is "
                        "overwritten.")
    return out_dir


def fit_module(module: nn.Module, data: Dataset | str | tuple[Any, Any], *, seed: int = 0,
               out: str | Path | None = None, callbacks: Sequence[Callback] = (), progress: bool = True,
               **train_options: Any) -> Run:
    """Train your own ``nn.Module`` (written as in the classic PyTorch tutorial) on ``data``.

    Args:
        module: any module mapping a batch of inputs to logits (or regression targets).
        data: a :class:`Dataset`, a source name (``"digits"``, ``"wine"``...) or an ``(X, y)`` pair of
            arrays (2-D X = table, 4-D X = images in [0, 1]).
        seed: fixes the splits and shuffling.
        out: optional run folder to write (weights, metrics, history, plots).
        **train_options: fields of :class:`~neuroplast.spec.TrainSpec` (``epochs=5, lr=1e-3``...).

    Example:
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)
        ...     def forward(self, x):
        ...         return self.fc2(torch.relu(self.fc1(x.flatten(1))))
        >>> run = neuroplast.fit(Net(), "digits", epochs=5)
    """
    from pydantic import ValidationError

    from neuroplast.spec import DataSpec

    try:
        train = TrainSpec(**train_options)
    except ValidationError as e:
        err = e.errors()[0]
        raise UserError(f"fit(): invalid train option {'.'.join(map(str, err['loc']))!r}: {err['msg']}. "
                        f"Options are the fields of TrainSpec: {', '.join(TrainSpec.model_fields)}.") from None
    _seed_everything(seed, train)
    if isinstance(data, str):
        data = load_dataset(DataSpec(source=data), seed)
    elif isinstance(data, tuple):
        data = _dataset_from_arrays(*data, seed=seed)
    run_dir = Path(out) if out is not None else None
    found = None
    if run_dir is not None:
        _clear_lr_find(run_dir)
    if train.lr == "auto":
        found = _auto_lr(module, data, train, seed, None, run_dir)
        train = train.model_copy(update={"lr": found.suggestion})
    info = _model_info("custom", {"class": type(module).__name__}, data, module, train)
    result = fit(module, data, train, seed=seed, callbacks=callbacks, progress=progress,
                 checkpoint_path=_ckpt(run_dir, train) if run_dir else None)
    if run_dir is None:
        metrics = _metrics(None, module, data, result, seed)
        if found is not None:
            metrics["lr_find"] = _lr_find_summary(found.to_dict())
        return Run(module, info, data.preprocess, metrics, result.history)
    save_json(run_dir / "preprocess.json", data.preprocess)
    save_json(run_dir / "model.json", info)
    return _finish(run_dir, None, module, data, result, info)


# --------------------------------------------------------------------------- helpers
def _resolve_spec(spec: str | Path | ExperimentSpec | None, data_dir: str | Path | None,
                  overrides: Sequence[str], changes: dict[str, Any]) -> ExperimentSpec:
    """A spec name, path or object, with ``--set`` overrides, section changes and the data folder."""
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec, list(overrides))
    elif overrides:
        raise UserError("overrides apply to spec files or names; change an ExperimentSpec with .updated().")
    if changes:
        spec = spec.updated(**changes)
    if data_dir is not None:
        spec = spec.updated(data={"dir": str(Path(data_dir).resolve())})
    return spec


def _finish(run_dir: Path, spec: ExperimentSpec | None, model: nn.Module, data: Dataset, result: FitResult,
            info: dict[str, Any], trackers: Any = None) -> Run:
    from neuroplast.plots import plot_confusion_matrix, plot_learning_curves

    if not distributed.is_main():  # the other ranks of a torchrun job write nothing
        return Run(model, info, data.preprocess, {}, result.history, spec, None)
    save_weights(run_dir / "model.safetensors", model)
    _write_plain_pytorch(run_dir, model, info)
    metrics = _metrics(spec, model, data, result, spec.seed if spec else 0)
    if (run_dir / LR_FIND).is_file():  # written before training by lr = "auto"; survives a resume
        metrics["lr_find"] = _lr_find_summary(json.loads((run_dir / LR_FIND).read_text()))
    save_json(run_dir / "metrics.json", metrics)
    if trackers is not None:
        trackers.finish(metrics)
    _write_history(run_dir / "history.csv", result.history)
    plot_learning_curves(result.history, run_dir / "learning_curves.png")
    if "confusion_matrix" in metrics["test"]:
        plot_confusion_matrix(metrics["test"]["confusion_matrix"], data.class_names or [],
                              run_dir / "confusion_matrix.png")
    if hasattr(model, "receptive_fields"):  # a Hebbian layer's learned filters, as images
        from neuroplast.plasticity.hebbian import plot_receptive_fields

        plot_receptive_fields(model.receptive_fields(), run_dir / "receptive_fields.png")
    if spec is not None:  # [uncertainty], [explain], [prune]: stages that read the finished run folder
        _after_training(run_dir, spec)
    finished = Run(model, info, data.preprocess, metrics, result.history, spec, run_dir)
    from neuroplast.see.report import write_report_safely

    write_report_safely(run_dir, run=finished, data=data)  # report.html; a failure only logs a warning
    return finished


def _check_stages(spec: ExperimentSpec, data: Dataset, model: nn.Module) -> None:
    """``[uncertainty]`` and ``[explain]`` on data or a model they cannot handle: one line now, not
    after the training."""
    images = data.task == "classification" and data.x_train.dim() == 4
    if spec.uncertainty is not None and data.task != "classification":
        raise UserError(f"[uncertainty] calibrates classifiers; data.source {spec.data.source!r} is a {data.task} "
                        "task. Remove the [uncertainty] section (for regression, `neuroplast predict RUN --uncertainty` "
                        "gives split-conformal intervals).")
    if spec.uncertainty is not None and spec.uncertainty.method == "mc-dropout":
        from neuroplast.trust.calibration import MCDropout

        MCDropout(model)  # refuses a network without dropout layers
    if spec.explain is not None and not images:
        raise UserError(f"[explain] draws heatmaps for image classifiers; data.source {spec.data.source!r} gives "
                        f"a {data.task} task on inputs of shape {tuple(data.x_train.shape[1:])}. Remove the "
                        "[explain] section (neuroplast.trust.attribute(model, x) explains tables and tokens).")
    if spec.explain is not None and spec.explain.method == "gradcam":
        from neuroplast.trust.explain import gradcam_layer

        gradcam_layer(model, tuple(data.x_train.shape))


def _after_training(run_dir: Path, spec: ExperimentSpec) -> None:
    """The ``[uncertainty]``, ``[explain]`` and ``[prune]`` sections: stages that read the finished run."""
    if spec.uncertainty is not None:
        from neuroplast.trust.calibration import calibrate_run

        u = spec.uncertainty
        extra = {"members": u.members} if u.members is not None else {}
        calibrate_run(run_dir, u.method, run_dir / f"calibrated-{u.method}", target_accuracy=u.target_accuracy,
                      ood=u.ood, then_temperature=u.then_temperature, perturb=u.perturb, **extra)
    if spec.explain is not None:
        from neuroplast.stages.explain import explain_run

        e = spec.explain
        explain_run(run_dir, None, e.method, None, e.count, e.sanity)
    if spec.prune is not None:
        from neuroplast.stages.prune import prune_run

        p = spec.prune
        prune_run(run_dir, p.method, p.sparsity, p.schedule, p.rounds, p.epochs, p.lr, p.scope, p.rewind_epoch,
                  out=run_dir / f"pruned-{p.method}", progress=False, final_epochs=p.final_epochs,
                  distill=p.distill)


def _trackers(spec: ExperimentSpec, run_dir: Path) -> Any:
    """TensorBoard / MLflow loggers for ``train.log`` (None when it is empty)."""
    if not spec.train.log:
        return None
    from neuroplast.trackers import Trackers, flatten

    return Trackers(spec.train.log, run_dir, spec.name, flatten(spec.model_dump(mode="json")))


def _write_plain_pytorch(run_dir: Path, model: nn.Module, info: dict[str, Any]) -> None:
    """``model.py``: the network in plain PyTorch (perceptron, MLP, CNN), checked before writing."""
    from neuroplast.export.onnx import plain_pytorch_source

    source = plain_pytorch_source(model, info) if info.get("family") != "custom" else None
    path = run_dir / "model.py"
    if source is None:
        path.unlink(missing_ok=True)
        return
    atomic_write(path, lambda p: p.write_text(source))


def _auto_lr(model: nn.Module, data: Dataset, train: TrainSpec, seed: int, augment: Any,
             run_dir: Path | None) -> LRFinderResult:
    """``train.lr = "auto"``: sweep, log the suggestion with its reason, and keep the sweep
    (``lr_find.json``, ``lr_find.png``) in the run folder."""
    found = find_lr(model, data, train, seed=seed, augment=augment)
    log.info("train.lr = 'auto': training with lr %.3g, %s", found.suggestion, found.reason)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_json(run_dir / LR_FIND, found.to_dict())
        found.plot(run_dir / "lr_find.png")
    return found


def _remove_if_empty(run_dir: Path) -> None:
    """Remove a run folder this run created when a failure left nothing in it (never one with files)."""
    try:
        run_dir.rmdir()  # fails on a folder that holds anything
    except OSError:
        pass


def _clear_lr_find(run_dir: Path) -> None:
    """Remove a sweep left by an earlier run into the same folder (it would land in metrics.json)."""
    for name in (LR_FIND, "lr_find.png"):
        (run_dir / name).unlink(missing_ok=True)


def _lr_find_summary(found: dict[str, Any]) -> dict[str, Any]:
    """The ``lr_find`` entry of metrics.json: the suggestion and why (the curve is in lr_find.json)."""
    return {k: found[k] for k in ("suggestion", "reason", "rule", "stopped_early")}


def _metrics(spec: ExperimentSpec | None, model: nn.Module, data: Dataset, result: FitResult,
             seed: int) -> dict[str, Any]:
    bs = spec.train.eval_batch_size if spec else 1024
    device = next(model.parameters()).device
    split = {s: evaluate(model, getattr(data, f"x_{s}").to(device), getattr(data, f"y_{s}").to(device),
                         result.objective, bs, data.preprocess, data.num_classes) for s in ("val", "test")}
    return {
        "schema_version": METRICS_SCHEMA_VERSION,
        "name": spec.name if spec else type(model).__name__,
        "task": data.task,
        "test": split["test"],
        "val": split["val"],
        "train": {"seconds": result.seconds, "samples_per_second": result.samples_per_second,
                  "epochs": result.epochs, "final_loss": result.history[-1]["train_loss"] if result.history
                  else None, "stopped_early": result.stopped_early},
        **({"baselines": data.extra["baselines"]} if "baselines" in data.extra else {}),
        **({"arima_order": data.extra["baseline_order"]} if data.extra.get("baseline_order") else {}),
        "best_epoch": result.best_epoch,
        "seed": seed,
        "device": result.device,
        "processes": distributed.world()[1],
        "threads": torch.get_num_threads(),
        "model": {"family": spec.model.family if spec else "custom", "parameters": count_parameters(model)},
        "data": {"source": data.name, "train": len(data.x_train), "val": len(data.x_val),
                 "test": len(data.x_test), "classes": data.class_names},
        "versions": _versions(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _model_info(family: str, config: dict[str, Any], data: Dataset, model: nn.Module,
                train: TrainSpec) -> dict[str, Any]:
    width = predict_outputs(model, data.x_train[:2]).shape[-1]
    return {"family": family, "config": config, "input_shape": list(data.input_shape),
            "num_outputs": data.num_outputs, "output_width": int(width), "task": data.task,
            "vocab_size": data.vocab_size,
            "class_names": data.class_names, "loss": train.loss,
            **({"masks_padding": True} if getattr(model, "pad_id", None) is not None else {}),
            **({"class": config["class"]} if family == "custom" else {})}


def _versions() -> dict[str, str]:
    import sklearn

    from neuroplast import __version__

    return {"neuroplast": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def _seed_everything(seed: int, train: TrainSpec) -> None:
    if train.threads:
        torch.set_num_threads(train.threads)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _ckpt(run_dir: Path | None, train: TrainSpec) -> Path | None:
    return run_dir / CHECKPOINT if run_dir is not None and train.checkpoint else None


def _new_run_dir(name: str) -> Path:
    base = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    keys = list(dict.fromkeys(k for h in history for k in h))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write(path, lambda p: p.write_text(buf.getvalue()))


def _read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: (float(v) if k != "epoch" else int(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]


def _dataset_from_arrays(x: Any, y: Any, seed: int) -> Dataset:
    from neuroplast.data.images import image_dataset
    from neuroplast.data.tabular import table_dataset
    from neuroplast.spec import DataSpec

    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise UserError(f"fit(): X has {len(x)} rows but y has {len(y)}. Pass one target per row.")
    classify = np.issubdtype(y.dtype, np.integer) or not np.issubdtype(y.dtype, np.number)
    if classify:
        names, y = np.unique(y, return_inverse=True)
        class_names = [str(n) for n in names]
    if x.ndim == 2:
        return table_dataset("arrays", x, y, "classification" if classify else "regression", DataSpec(), seed,
                             [f"x{i}" for i in range(x.shape[1])], "y", class_names if classify else None)
    if x.ndim == 4 and classify:
        return image_dataset("arrays", x.astype(np.float32), y, DataSpec(), seed, class_names, style="resize")
    raise UserError(f"fit(): X of shape {x.shape} is neither a table (N, features) nor images "
                    "(N, channels, height, width) with class labels.")
