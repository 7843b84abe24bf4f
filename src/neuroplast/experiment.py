"""Training into a run folder: a spec (or your own ``nn.Module``) and its data -> a trained network,
its weights, metrics, history and plots. No stage after training and no report: those are the
pipeline's (:mod:`neuroplast.pipeline`), which calls these functions.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast import finetune, rundir
from neuroplast.data import Dataset, load_dataset
from neuroplast.data.adapters import LoaderOptions
from neuroplast.data.augment import make_augment
from neuroplast.data.given import HeldOut, dataset_from_arrays, own_data
from neuroplast.data.series import forecast_scores
from neuroplast.data.text import text_default
from neuroplast.errors import UserError, check_output, did_you_mean
from neuroplast.io import save_json
from neuroplast.models import build_model, count_parameters, model_outputs
from neuroplast.models.budget import check_parameters
from neuroplast.models.mlp import start_at_linear
from neuroplast.plasticity.hebbian import movement_callbacks, plot_receptive_fields
from neuroplast.plots import plot_confusion_matrix, plot_learning_curves
from neuroplast.rundir import CHECKPOINT, LR_FIND, Run
from neuroplast.spec import DataSpec, ExperimentSpec, TrainSpec, load_spec
from neuroplast.trackers import Trackers, flatten
from neuroplast.train import Callback, FitResult, distributed, evaluate, fit, seed_everything
from neuroplast.train.evaluate import predict_outputs
from neuroplast.train.lr_find import LRFinderResult, find_lr
from neuroplast.train.metrics import UserMetrics
from neuroplast.train.progress import say

log = logging.getLogger(__name__)


def resolve_spec(spec: str | Path | ExperimentSpec | None, data_dir: str | Path | None = None,
                 overrides: Sequence[str] = (), changes: dict[str, Any] | None = None) -> ExperimentSpec:
    """A spec name, path or object, with ``--set`` overrides, section changes and the data folder."""
    if not isinstance(spec, ExperimentSpec):
        spec = text_default(spec, list(overrides)) or load_spec(spec, list(overrides))
    elif overrides:
        raise UserError("overrides apply to spec files or names; change an ExperimentSpec with .updated().")
    if changes:
        spec = spec.updated(**changes)
    if data_dir is not None:
        spec = spec.updated(data={"dir": str(Path(data_dir).resolve())})
    return finetune.inherit_preprocessing(spec)  # train.init_from: the parent's image scale


def load_data(spec: ExperimentSpec) -> Dataset:
    """What every training starts with: join a torchrun group if launched by one, seed everything,
    and load the spec's data (once; the stages after training reuse it)."""
    distributed.init_from_env(spec.train.device)
    seed_everything(spec.seed, spec.train.threads)
    return load_dataset(spec.data, spec.seed)


def build(spec: ExperimentSpec, data: Dataset) -> nn.Module:
    """The network the spec describes, for this data's shapes, seeded by the spec."""
    if 0 in tuple(data.input_shape):
        raise UserError(f"data: each input has shape {tuple(data.input_shape)}, no values to learn from (a table whose "
                        "only column is the target, or whose other columns were all dropped: see the column "
                        "roles); add feature columns, or pick another data.target.")
    outputs = model_outputs(data.num_outputs, spec.train.loss)
    check_parameters(spec.model, data.input_shape, outputs, data.task, data.vocab_size, spec.limits.parameters,
                     f"model ({spec.name})", f"--set limits.parameters=N (now {spec.limits.parameters:,})")
    seed_everything(spec.seed, spec.train.threads)
    model = build_model(spec.model, data.input_shape, outputs, data.task, data.vocab_size)
    start = getattr(spec.model, "skip_start", "zero")
    if start == "linear" or (start == "ridge" and data.task == "regression"):
        start_at_linear(model, data.x_train, data.y_train, data.task)
    return model


def train(spec: ExperimentSpec, data: Dataset | None = None, *, out: str | Path | None = None,
          callbacks: Sequence[Callback] = (), progress: bool = True,
          check: Callable[[nn.Module], None] | None = None) -> Run:
    """Train the network ``spec`` describes on ``data`` (loaded from the spec when None) and write its
    run folder (``out``, default ``runs/<name>-<time>``). ``check(model)`` runs after the model is
    built and before any folder is made: a later stage that cannot run fails before the training."""
    spec = finetune.inherit_preprocessing(spec)
    data = finetune.prepare_data(load_data(spec) if data is None else data, spec.train)
    spec = _record_origin(spec, data)
    main = distributed.is_main()  # rank 0 alone writes the run folder
    run_dir = Path(out) if out is not None else rundir.new_run_dir(spec.name)
    check_output(run_dir, "folder", f"runs/{spec.name}")
    with rundir.claim(run_dir) if main else contextlib.nullcontext():  # held until the results are written
        if main and ((run_dir / rundir.METRICS).is_file() or (run_dir / CHECKPOINT).is_file()):
            raise UserError(f"--out {run_dir} already holds a run; choose a new folder (or continue that one: "
                            f"neuroplast resume {run_dir}).")
        return _train_into(run_dir, spec, data, main, callbacks, progress, check)


def hebbian_schedule(spec: ExperimentSpec, data: Dataset) -> ExperimentSpec:
    """How long a Hebbian layer learns: ``model.learning_samples`` left out is the first half of training;
    a number that keeps the layer learning to the last batch is said in one line (the readout would
    train on moving features)."""
    given = getattr(spec.model, "learning_samples", 0)
    n = data.num_train
    if given == 0 or n is None:  # not a Hebbian network, or a stream that does not say its size
        return spec
    if given is None:
        return spec.updated(model={"learning_samples": max(1, spec.train.epochs // 2) * n})
    if given >= n * spec.train.epochs:
        say(f"model.learning_samples = {given:,}, but training shows {n * spec.train.epochs:,} samples ({n:,} x "
            f"{spec.train.epochs} epochs): the Hebbian layer learns until the end and the readout trains on "
            f"features that still move. Leave model.learning_samples out (half of training) or raise train.epochs.")
    return spec


def _train_into(run_dir: Path, spec: ExperimentSpec, data: Dataset, main: bool, callbacks: Sequence[Callback],
                progress: bool, check: Callable[[nn.Module], None] | None) -> Run:
    """:func:`train`'s work once the folder is claimed: build, write the spec and model.json, fit, write."""
    spec = hebbian_schedule(spec, data)
    model = build(spec, data)  # before any file: a model that cannot be built leaves no folder
    tuned = finetune.prepare(model, spec.train, data, spec.model.family)  # init_from, freeze
    if check is not None:
        check(model)
    if main:
        _clear_lr_find(run_dir)
    if spec.train.lr == "auto":  # the resolved spec records the number the run trains with
        found = _auto_lr(model, data, spec.train, spec.seed, make_augment(spec.data.augment),
                         run_dir if main else None)
        spec = spec.updated(train={"lr": found.suggestion})
    info = rundir.model_info(spec.model.family, spec.model.model_dump(mode="json"), data, model, spec.train.loss)
    if main:
        rundir.write_spec(run_dir, spec)
        save_json(run_dir / rundir.PREPROCESS, data.preprocess)
        save_json(run_dir / rundir.MODEL_INFO, info)
        if hasattr(model, "receptive_fields"):  # a Hebbian layer before it learns: the random control's fields
            plot_receptive_fields(model.receptive_fields(), run_dir / "receptive_fields_initial.png")
    trackers = _trackers(spec, run_dir) if main else None
    result = fit(model, data, spec.train, seed=spec.seed, checkpoint_path=_ckpt(run_dir, spec.train),
                 callbacks=[*callbacks, *movement_callbacks(model), *([trackers] if trackers else [])],
                 progress=progress, augment=make_augment(spec.data.augment))
    return _write_results(run_dir, spec, model, data, result, info, trackers, tuned=tuned)


def resumable(run_dir: str | Path) -> tuple[ExperimentSpec, dict[str, Any]]:
    """The spec and last checkpoint of an interrupted run; a folder that is not one, or one already
    complete (at its last epoch, with ``finished.json`` written), is refused."""
    run_dir = Path(run_dir)
    if not (run_dir / rundir.SPEC).is_file():
        raise UserError(f"{run_dir} is not a neuroplast run folder (no spec.toml). Pass the folder "
                        "that `neuroplast run` printed.")
    spec = rundir.read_spec(run_dir)
    state = rundir.read_checkpoint(run_dir)
    stopped = isinstance(state.get("early_stopping"), dict) and state["early_stopping"].get("stopped") is True
    if rundir.is_complete(run_dir, state.get("epoch", 0) >= spec.train.epochs or stopped):
        raise UserError(f"{run_dir} is complete: it finished all {spec.train.epochs} epochs of its spec: nothing to "
                        f"resume. To train longer, raise train.epochs in {run_dir / rundir.SPEC} and resume.")
    return spec, state


def resume(run_dir: str | Path, data: Dataset | None = None, *, callbacks: Sequence[Callback] = (),
           progress: bool = True) -> Run:
    """Continue an interrupted run from its last completed epoch; the result equals an
    uninterrupted run with the same seed (on the CPU). The folder is claimed for the whole resume."""
    run_dir = Path(run_dir)
    with rundir.claim(run_dir, create=False) if distributed.is_main() else contextlib.nullcontext():
        spec, state = resumable(run_dir)
        (run_dir / rundir.FINISHED).unlink(missing_ok=True)  # incomplete again until the results are rewritten
        data = load_data(spec) if data is None else data
        model = build(spec, data)
        info = rundir.read_model_info(run_dir)
        try:  # a spec.toml edited since the checkpoint was written builds another network
            model.load_state_dict(state["model"])
        except (RuntimeError, KeyError) as e:
            raise UserError(f"{run_dir / CHECKPOINT} does not fit the network {run_dir / rundir.SPEC} describes "
                            f"({str(e).strip().splitlines()[0]}); restore the spec or start a new run.") from None
        tuned = finetune.prepare(model, spec.train, data, spec.model.family, load=False)  # freeze again
        trackers = _trackers(spec, run_dir) if distributed.is_main() else None
        result = fit(model, data, spec.train, seed=spec.seed, checkpoint_path=_ckpt(run_dir, spec.train),
                     resume=state, callbacks=[*callbacks, *movement_callbacks(model),
                                              *([trackers] if trackers else [])],
                     progress=progress, augment=make_augment(spec.data.augment))
        return _write_results(run_dir, spec, model, data, result, info, trackers, tuned=tuned)


def lr_find(spec: str | Path | ExperimentSpec | None = None, *, data_dir: str | Path | None = None,
            overrides: Sequence[str] = (), start_lr: float = 1e-7, end_lr: float = 10.0,
            num_steps: int = 100, **changes: Any) -> LRFinderResult:
    """Sweep the learning rate on the model and data a spec describes, and suggest one.

    The model is built and seeded exactly as ``run`` would build it; the sweep trains it for up to
    ``num_steps`` batches with the spec's optimizer while the rate grows from ``start_lr`` to
    ``end_lr``, then throws it away. See :func:`neuroplast.train.lr_find.find_lr` for the rule.

    Args:
        spec, data_dir, overrides, **changes: as for :func:`neuroplast.run`; ``train.lr`` is ignored.
        start_lr, end_lr, num_steps: the sweep's range and length.

    Example:
        >>> found = neuroplast.lr_find("digits-cnn")
        >>> found.suggestion, found.reason
        >>> found.plot("lr_find.png")
        >>> neuroplast.run("digits-cnn", train={"lr": found.suggestion})  # or train.lr = "auto"
    """
    spec = resolve_spec(spec, data_dir, overrides, changes)
    seed_everything(spec.seed, spec.train.threads)
    data = load_dataset(spec.data, spec.seed)
    model = build(spec, data)
    finetune.prepare(model, spec.train, data, spec.model.family)  # sweep what run would train
    return find_lr(model, data, spec.train, seed=spec.seed, start_lr=start_lr, end_lr=end_lr,
                   num_steps=num_steps, augment=make_augment(spec.data.augment))


def fit_module(module: nn.Module, data: Any, *, validation_data: Any = None, test_data: Any = None,
               target: str | None = None, validation_split: float = 0.1, test_split: float = 0.0,
               loss: Any = None, optimizer: Any = None, scheduler: Any = None, metrics: Sequence[Any] = (),
               seed: int = 0,
               out: str | Path | None = None,
               callbacks: Sequence[Callback] = (), progress: bool = True,
               **train_options: Any) -> tuple[Run, Dataset]:
    """Train your own ``nn.Module`` on ``data``; see :func:`neuroplast.fit`. Returns the run and the
    dataset it was trained on."""
    optimizer, loss, callbacks, metrics, train_options = _arguments(module, optimizer, loss, callbacks, metrics,
                                                                    train_options, progress)
    held_out = HeldOut(validation_split, test_split)
    stream = _train_spec(train_options).stream  # the options are checked before any data is read
    data, loader = own_data(data, validation_data, test_data, target, seed, held_out, stream, module)
    if loader.batch_size is not None:  # a DataLoader's batch size, unless batch_size= says otherwise
        train_options = {"batch_size": loader.batch_size, **train_options}
    train_spec = _train_spec(train_options)
    if isinstance(data, Dataset) and data.stream is not None:
        _check_streamed(data, loader, train_spec)  # a streamed loader keeps its own batch size
    elif loader.batch_size is not None and train_spec.batch_size != loader.batch_size and progress:
        say(f"batch_size={train_spec.batch_size} replaces the DataLoader's batch_size={loader.batch_size}")
    seed_everything(seed, train_spec.threads)
    if isinstance(data, str):
        data = load_dataset(DataSpec(source=data), seed)
        data.extra["split"] = f"the {data.name} source's own split"
        data.extra["reload"] = {"source": data.name, "seed": seed}  # run.evaluate("test") reloads it
    elif isinstance(data, tuple):
        data = dataset_from_arrays(*data, seed=seed, held_out=held_out)
    if progress:
        _say_what_was_made(data)
    data = finetune.prepare_data(data, train_spec)
    tuned = finetune.prepare(module, train_spec, data)  # init_from, freeze: checked by names and shapes
    shuffle = loader.shuffle if loader.shuffle is not None else True
    run_dir = Path(out) if out is not None else None
    with rundir.claim(run_dir) if run_dir is not None else contextlib.nullcontext():
        return _fit_into(run_dir, module, data, train_spec, seed, tuned, shuffle, callbacks, progress, loss,
                         optimizer, scheduler, metrics), data


def _fit_into(run_dir: Path | None, module: nn.Module, data: Dataset, train_spec: TrainSpec, seed: int,
              tuned: dict[str, Any], shuffle: bool, callbacks: Sequence[Callback], progress: bool, loss: Any,
              optimizer: Any, scheduler: Any, metrics: Sequence[Any]) -> Run:
    """:func:`fit_module`'s training and writing, once its folder (if any) is claimed."""
    found = None
    if run_dir is not None:
        _clear_lr_find(run_dir)
    if train_spec.lr == "auto":
        found = _auto_lr(module, data, train_spec, seed, None, run_dir)
        train_spec = train_spec.model_copy(update={"lr": found.suggestion})
    result = fit(module, data, train_spec, seed=seed, callbacks=callbacks, progress=progress,
                 checkpoint_path=_ckpt(run_dir, train_spec) if run_dir else None, loss=loss, optimizer=optimizer,
                 scheduler=scheduler, metrics=metrics, shuffle=shuffle)
    info = rundir.model_info("custom", {"class": type(module).__name__}, data, module, train_spec.loss)
    device = next(module.parameters()).device
    scored = UserMetrics(metrics).score(module, data.x_test.to(device), data.y_test.to(device))
    if run_dir is None:
        summary = _metrics(None, module, data, result, seed)
        summary["test"].update(scored)
        summary.update(tuned)
        if found is not None:
            summary["lr_find"] = _lr_find_summary(found.to_dict())
        return Run(module, info, data.preprocess, summary, result.history)
    save_json(run_dir / rundir.PREPROCESS, data.preprocess)
    save_json(run_dir / rundir.MODEL_INFO, info)
    return _write_results(run_dir, None, module, data, result, info, extra_test=scored, tuned=tuned)


# --------------------------------------------------------------------------- helpers
def _arguments(module: Any, optimizer: Any, loss: Any, callbacks: Any, metrics: Any, train_options: dict[str, Any],
               progress: bool) -> tuple[Any, Any, list[Any], list[Any], dict[str, Any]]:
    """fit's arguments checked, each refused in one line: an optimizer or loss named as Keras names them
    (``"adam"``, ``"mse"``) becomes the train option; one callback or metric alone is a list of one."""
    if not isinstance(module, nn.Module):
        raise UserError(f"fit(): module must be a torch nn.Module (your network); received {type(module).__name__}.")
    for name, given in (("optimizer", optimizer), ("loss", loss)):  # Keras' optimizer="adam", loss="mse"
        if isinstance(given, str):
            train_options = {**train_options, name: given}
    optimizer, loss = (None if isinstance(v, str) else v for v in (optimizer, loss))
    if optimizer is not None and "lr" in train_options and train_options.get("schedule", "none") == "none" \
            and progress:  # a schedule's peak is lr (onecycle), so it is used then
        say(f"lr={train_options['lr']} is not used: your optimizer has its own rate")
    lists = []
    for name, given in (("callbacks", callbacks), ("metrics", metrics)):
        if isinstance(given, (str, bytes, dict)):
            example = "[EarlyStopping()]" if name == "callbacks" else "[MulticlassF1Score(10), my_metric]"
            raise UserError(f"fit(): {name} is a list of objects (e.g. {example}); received {given!r}.")
        lists.append(list(given) if isinstance(given, (list, tuple)) else [given])
    return optimizer, loss, lists[0], lists[1], train_options


def _say_what_was_made(data: Dataset) -> None:
    """The notes on what fit made of arrays, a DataFrame or a name: what it held out, how it encoded them."""
    if "split" in data.extra:
        say(f"{data.extra['split']}: {len(data.x_train)} training, {len(data.x_val)} validation, "
            f"{len(data.x_test)} test samples" + ("" if len(data.x_test) else " (pass test_data= or test_split= "
                                                    "to score a test part)"))
    if "encoding" in data.extra:
        say(data.extra["encoding"])


def _train_spec(options: dict[str, Any]) -> TrainSpec:
    from pydantic import ValidationError

    try:
        return TrainSpec(**options)
    except ValidationError as e:
        err = e.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "?"  # the field, not pydantic's inner validator names
        if err["type"] == "extra_forbidden":
            raise UserError(f"fit(): unknown train option {key!r}.{did_you_mean(key, list(TrainSpec.model_fields))} "
                            f"Options are the fields of TrainSpec: {', '.join(TrainSpec.model_fields)}.") from None
        raise UserError(f"fit(): invalid train option {key}={options.get(key)!r}: {err['msg']}.") from None


def _check_streamed(data: Dataset, loader: LoaderOptions, train: TrainSpec) -> None:
    """What a streamed training set cannot do, refused in one line before training."""
    if train.lr == "auto":
        raise UserError("fit(): lr='auto' sweeps the learning rate over training data held in memory, and this "
                        f"{data.stream.kind} streams; pass a number (lr=1e-3), or stream=False to read it into "
                        "memory first.")
    if loader.batch_size is not None and train.batch_size != loader.batch_size:
        raise UserError(f"fit(): batch_size={train.batch_size}, but the DataLoader streams batches of "
                        f"{loader.batch_size} as given; pass DataLoader(..., batch_size={train.batch_size}) "
                        "or leave batch_size out.")


def _record_origin(spec: ExperimentSpec, data: Dataset) -> ExperimentSpec:
    """The folder or file the data came from, in the spec, so resume/evaluate find it from anywhere."""
    if spec.data.test_dir is not None:
        spec = spec.updated(data={"test_dir": str(Path(spec.data.test_dir).resolve())})
    if data.origin and spec.data.source in ("mnist", "fashion-mnist", "folder"):
        return spec.updated(data={"dir": data.origin})
    if data.origin:
        return spec.updated(data={"path": data.origin})
    return spec


def _write_results(run_dir: Path, spec: ExperimentSpec | None, model: nn.Module, data: Dataset,
                   result: FitResult, info: dict[str, Any], trackers: Any = None,
                   extra_test: dict[str, float] | None = None, tuned: dict[str, Any] | None = None) -> Run:
    """Weights, metrics, history and plots of a finished training (rank 0 only); ``tuned``: what
    fine-tuning loaded and froze."""
    if not distributed.is_main():  # the other ranks of a torchrun job write nothing
        return Run(model, info, data.preprocess, {}, result.history, spec, None)
    rundir.write_model(run_dir, model, info)
    if "rows" in data.extra:  # which rows (samples) of the data each split holds
        save_json(run_dir / rundir.SPLIT, data.extra["rows"])
    metrics = _metrics(spec, model, data, result, spec.seed if spec else 0)
    metrics["test"].update(extra_test or {})  # your own metrics, on the test split
    metrics.update(tuned or {})  # "init_from", "frozen"
    if (run_dir / LR_FIND).is_file():  # written before training by lr = "auto"; survives a resume
        metrics["lr_find"] = _lr_find_summary(rundir.read_lr_find(run_dir))
    metrics = rundir.write_metrics(run_dir, metrics)
    if trackers is not None:
        trackers.finish(metrics)
    rundir.write_history(run_dir / rundir.HISTORY, result.history)
    plot_learning_curves(result.history, run_dir / "learning_curves.png")
    if "confusion_matrix" in metrics["test"]:
        plot_confusion_matrix(metrics["test"]["confusion_matrix"], data.class_names or [],
                              run_dir / "confusion_matrix.png")
    if hasattr(model, "receptive_fields"):  # a Hebbian layer's learned filters, as images
        plot_receptive_fields(model.receptive_fields(), run_dir / "receptive_fields.png")
    rundir.write_finished(run_dir, metrics)  # last: the folder is complete, no longer resumable
    return Run(model, info, data.preprocess, metrics, result.history, spec, run_dir)


def _trackers(spec: ExperimentSpec, run_dir: Path) -> Any:
    """TensorBoard / MLflow loggers for ``train.log`` (None when it is empty)."""
    if not spec.train.log:
        return None
    return Trackers(spec.train.log, run_dir, spec.name, flatten(spec.model_dump(mode="json")))


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
    streamed = result.extra.get("data", {})  # how a streamed training set was read
    device = next(model.parameters()).device
    split = {s: evaluate(model, getattr(data, f"x_{s}").to(device), getattr(data, f"y_{s}").to(device),
                         result.objective, bs, data.preprocess, data.num_classes) for s in ("val", "test")}
    if "mase_scale" in data.extra:  # a forecast: MASE and per-step scores, as the baselines have them
        split["test"].update(_forecast_scores(model, data, bs))
    return {
        "name": spec.name if spec else type(model).__name__,
        "task": data.task,
        "test": split["test"],
        "val": split["val"],
        "train": {"seconds": result.seconds, "samples_per_second": result.samples_per_second,
                  "epochs": result.epochs, "final_loss": result.history[-1]["train_loss"] if result.history
                  else None, "stopped_early": result.stopped_early,
                  **{k: v for k, v in result.extra.items() if k != "data"}},
        **({"baselines": data.extra["baselines"]} if "baselines" in data.extra else {}),
        **({"arima_order": data.extra["baseline_order"]} if data.extra.get("baseline_order") else {}),
        **({"selection": data.extra["selection"]} if "selection" in data.extra else {}),
        "best_epoch": result.best_epoch,
        "seed": seed,
        "device": result.device,
        "processes": distributed.world()[1],
        "threads": torch.get_num_threads(),
        "model": {"family": spec.model.family if spec else "custom", "parameters": count_parameters(model)},
        "data": {"source": data.name, "train": data.num_train or streamed.get("samples_per_epoch"),
                 "val": len(data.x_val), "test": len(data.x_test), "classes": data.class_names, **streamed,
                 **{k: data.extra[k] for k in ("split", "encoding", "reload") if k in data.extra}},
        "versions": rundir.versions(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _forecast_scores(model: nn.Module, data: Dataset, batch_size: int) -> dict[str, Any]:
    """RMSE, MAE, MASE (and per step) of the test forecasts in the series' units."""
    device = next(model.parameters()).device
    out = predict_outputs(model, data.x_test.to(device), batch_size).double().cpu().numpy()
    std, mean = np.asarray(data.preprocess["target_std"]), np.asarray(data.preprocess["target_mean"])
    truth = data.y_test.double().numpy() * std + mean
    return forecast_scores(out * std + mean, truth, data.extra["mase_scale"])


def _ckpt(run_dir: Path | None, train: TrainSpec) -> Path | None:
    return run_dir / CHECKPOINT if run_dir is not None and train.checkpoint else None
