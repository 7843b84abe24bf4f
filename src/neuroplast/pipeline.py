"""The whole life of a run, in order: preflight -> training -> the spec's stage sections
(``[uncertainty]``, ``[explain]``, ``[prune]``) -> the report. The data is loaded once and handed
from step to step. ``neuroplast.run``, ``neuroplast.resume``, ``neuroplast.fit`` and the CLI call
these functions; a single stage run on its own (``neuroplast prune RUN``...) goes through
:func:`run_stage`, which also writes its folder's report and refreshes the parent's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from neuroplast import experiment, rundir
from neuroplast.data import Dataset, load_dataset
from neuroplast.errors import UserError, check_output
from neuroplast.plasticity import structured
from neuroplast.rundir import Run
from neuroplast.see.report import rewrite_report, write_report_safely
from neuroplast.spec import ExperimentSpec, PruneSpec, QuantizeSpec, section
from neuroplast.stages import ORDER, SECTIONS
from neuroplast.stages.space import write_space
from neuroplast.train import Callback, distributed
from neuroplast.train.progress import say
from neuroplast.train.select import select_forecaster
from neuroplast.trust import MCDropout
from neuroplast.trust.explain import gradcam_layer


def run(spec: str | Path | ExperimentSpec | None = None, *, out: str | Path | None = None,
        data_dir: str | Path | None = None, overrides: Sequence[str] = (),
        callbacks: Sequence[Callback] = (), progress: bool = True, **changes: Any) -> Run:
    """Train the network a spec describes, write its run folder, then run the spec's stage sections
    and write ``report.html``.

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
    spec = experiment.resolve_spec(spec, data_dir, overrides, changes)
    spec, selection = select_forecaster(spec)  # a series' [select]: the test values stay unread
    data = experiment.load_data(spec)
    if selection is not None:
        data.extra["selection"] = selection
    run_dir = Path(out) if out is not None else rundir.new_run_dir(spec.name)
    check_output(run_dir, "folder", f"runs/{spec.name}")
    with _claimed(run_dir):  # the whole run, stages and report included: a second writer is refused
        trained = experiment.train(spec, data, out=run_dir, callbacks=callbacks, progress=progress,
                                   check=lambda model: preflight(spec, data, model))
        return finish(trained, data, progress)


def resume(run_dir: str | Path, *, callbacks: Sequence[Callback] = (), progress: bool = True) -> Run:
    """Continue an interrupted run from its last completed epoch, then its stages and report; the
    result equals an uninterrupted run with the same seed (on the CPU)."""
    with _claimed(Path(run_dir), create=False):
        spec, _ = experiment.resumable(run_dir)
        data = experiment.load_data(spec)
        return finish(experiment.resume(run_dir, data, callbacks=callbacks, progress=progress), data, progress)


def _claimed(run_dir: Path, create: bool = True) -> Any:
    """The run folder's lock (:func:`neuroplast.rundir.claim`); none on a torchrun rank other than 0."""
    import contextlib

    return rundir.claim(run_dir, create) if distributed.is_main() else contextlib.nullcontext()


def fit(module: nn.Module, data: Any, *, validation_data: Any = None, test_data: Any = None, target: str | None = None,
        validation_split: float = 0.1, test_split: float = 0.0, loss: Any = None, optimizer: Any = None, scheduler: Any = None, metrics: Sequence[Any] = (),
        seed: int = 0, out: str | Path | None = None, callbacks: Sequence[Callback] = (), progress: bool = True,
        **train_options: Any) -> Run:
    """Train your own ``nn.Module`` (written as in the classic PyTorch tutorial) on ``data``.

    Args:
        module: any module mapping a batch of inputs to logits (or regression targets).
        data: the training data: a torch ``DataLoader`` or a map-style or iterable ``Dataset`` of ``(input,
            target)`` samples, trained on whole. Tensors in memory (a ``TensorDataset``, or a plain DataLoader over
            one: its batch size and shuffling are kept) take the resident fast path; any other Dataset streams
            through its DataLoader every epoch (your loader as given: batch size, sampler, workers, collate_fn),
            never held whole, so data larger than memory trains (``stream=False`` reads it into memory once;
            see :mod:`neuroplast.data.stream`). Or a :class:`Dataset`, a source name (``"digits"``,
            ``"wine"``...: its own split), an ``(X, y)`` pair of arrays (2-D X = table, 4-D X = images in
            [0, 1]) or a pandas DataFrame with ``target`` naming the column to predict (the CSV source's column
            handling), of which ``validation_split`` is held out for validation unless ``validation_data`` is
            given; a note says what was held out, and metrics.json's ``data.split``.
        validation_data, test_data: the same kinds, scored after every epoch / at the end (read into memory).
        target: the column of a DataFrame ``data`` to predict.
        validation_split, test_split: the fractions of arrays' or a DataFrame's rows held out for validation
            (0.1) and for testing (0: no test part; score one with ``test_data`` or ``run.evaluate(...)``),
            stratified for classes.
        loss: your own ``loss(output, target) -> scalar`` (e.g. ``nn.CrossEntropyLoss()``).
        optimizer: your own optimizer over ``module.parameters()``, or a factory ``params -> Optimizer``.
        scheduler: your own LR scheduler (or a factory ``optimizer -> scheduler``), stepped after every epoch.
        metrics: torchmetrics objects or callables ``(output, target) -> number``: ``val_<name>`` per epoch,
            ``test.<name>`` in metrics.json (see :mod:`neuroplast.train.metrics`).
        callbacks: objects with Keras/Lightning-shaped hooks (see :mod:`neuroplast.train.callbacks`).
        seed: fixes the splits and shuffling.
        out: optional run folder to write (weights, metrics, history, plots, report).
        **train_options: fields of :class:`~neuroplast.spec.TrainSpec` (``epochs=5, lr=1e-3``...).

    Example:
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)
        ...     def forward(self, x):
        ...         return self.fc2(torch.relu(self.fc1(x.flatten(1))))
        >>> run = neuroplast.fit(Net(), "digits", epochs=5)
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)   # the tutorial's objects
        >>> run = neuroplast.fit(model, loader, loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(model.parameters()),
        ...                      epochs=10)
    """
    trained, dataset = experiment.fit_module(module, data, validation_data=validation_data, test_data=test_data,
                                             target=target, validation_split=validation_split,
                                             test_split=test_split,
                                             loss=loss, optimizer=optimizer, scheduler=scheduler, metrics=metrics,
                                             seed=seed, out=out,
                                             callbacks=callbacks,
                                             progress=progress, **train_options)
    return finish(trained, dataset, progress)


def prune(run_dir: str | Path, *, out: str | Path | None = None, progress: bool = True,
          latency_repeats: int = 30, **options: Any) -> Run:
    """Prune a trained run (the options are :class:`~neuroplast.spec.PruneSpec`'s: ``method``,
    ``sparsity``, ``schedule``...) into a new run folder, default ``RUN_DIR/pruned-METHOD``, with its
    report; returns the pruned run.

    Example:
        >>> pruned = neuroplast.prune(run.dir, method="structured", sparsity=0.5)
        >>> pruned.metrics["pruning"]["bytes"]
    """
    folder = run_stage("prune", run_dir, section(PruneSpec, options), out=out, progress=progress,
                       latency_repeats=latency_repeats)
    return rundir.load(folder)


def quantize(run_dir: str | Path, *, out: str | Path | None = None, progress: bool = True,
             latency_repeats: int = 30, **options: Any) -> Run:
    """Quantize a trained (usually pruned) run (the options are :class:`~neuroplast.spec.QuantizeSpec`'s:
    ``method``, ``bits``, ``conv_bits``...) into a new run folder, default ``RUN_DIR/quantized-METHOD``,
    with its report; returns the quantized run.

    Example:
        >>> small = neuroplast.quantize(pruned.dir, method="codebook", bits=5)
        >>> small.metrics["compression"]["ratio"]
    """
    folder = run_stage("quantize", run_dir, section(QuantizeSpec, options), out=out, progress=progress,
                       latency_repeats=latency_repeats)
    return rundir.load(folder)


def preflight(spec: ExperimentSpec, data: Dataset, model: nn.Module) -> None:
    """``[uncertainty]``, ``[explain]``, ``[prune]`` and ``[quantize]`` on data or a model they cannot handle: one line
    before the training, not after it."""
    images = data.task == "classification" and data.x_train.dim() == 4
    if spec.uncertainty is not None and data.task != "classification":
        raise UserError(f"[uncertainty] calibrates classifiers; data.source {spec.data.source!r} is a {data.task} "
                        "task. Remove the [uncertainty] section (for regression, `neuroplast predict RUN --uncertainty` "
                        "gives split-conformal intervals).")
    if spec.uncertainty is not None and spec.uncertainty.method == "mc-dropout":
        MCDropout(model)  # refuses a network without dropout layers
    if spec.explain is not None and not images:
        raise UserError(f"[explain] draws heatmaps for image classifiers; data.source {spec.data.source!r} gives "
                        f"a {data.task} task on inputs of shape {tuple(data.x_train.shape[1:])}. Remove the "
                        "[explain] section (neuroplast.trust.attribute(model, x) explains tables and tokens).")
    if spec.explain is not None and spec.explain.method == "gradcam":
        gradcam_layer(model, tuple(data.x_train.shape))
    for name in ("prune", "quantize"):
        if getattr(spec, name) is not None and data.task == "language-model":
            raise UserError(f"[{name}] measures and fine-tunes classifiers and regressors; data.source "
                            f"{spec.data.source!r} is a language-model task. Remove the [{name}] section.")
    if spec.prune is not None and spec.prune.method == "structured":
        structured.check_family(spec.model.family, model)  # refuses what it cannot shrink, naming the layers


def finish(trained: Run, data: Dataset, progress: bool = True) -> Run:
    """After training: the spec's stage sections in order (each into its folder inside the run, each
    announced with a line when ``progress``), then the run's report. Nothing for an in-memory run or a
    torchrun worker other than rank 0."""
    if trained.dir is None or not distributed.is_main():
        return trained
    if trained.spec is not None:
        folders: dict[str, Path] = {}
        for name in ORDER:
            section = getattr(trained.spec, name)
            if section is not None:
                started = time.perf_counter()
                method = getattr(section, "method", None) or getattr(section, "format", None)
                source = folders.get("prune", trained.dir) if name == "quantize" else trained.dir
                if progress:
                    say(f"stage {name}" + (f" ({method})" if method else "") + f" of {source}")
                folder = folders[name] = SECTIONS.get(name)(source, section, data=data, **_quiet(name))
                _report_stage_folder(folder, data)
                if progress:
                    say(f"stage {name} done in {time.perf_counter() - started:.1f} s -> {folder}")
    _store_space(trained, data)
    write_report_safely(trained.dir, run=trained, data=data)  # a failure only logs a warning
    return trained


def _store_space(trained: Run, data: Dataset) -> None:
    """The run's vector space (space.safetensors) for the report and the page, quietly (a by-product, like
    the plots); a failure is said in one line and the report computes the space itself."""
    try:
        write_space(trained, data, trained.spec.space if trained.spec is not None else None)
    except (UserError, RuntimeError, ValueError) as e:
        say(f"vector space not stored: {str(e).splitlines()[0] if str(e) else type(e).__name__}")


def run_stage(name: str, run_dir: str | Path, section: Any, *, out: str | Path | None = None,
              data: Dataset | None = None, **options: Any) -> Path:
    """One stage on its own (the CLI's ``calibrate``, ``explain``, ``prune``): the stage, then its
    folder's report, then the parent's report again when the folder lies inside the run; the run's data
    is loaded once for all three."""
    stage: Callable[..., Path] = SECTIONS.get(name)
    data = data if data is not None else _run_data(Path(run_dir))
    folder = stage(run_dir, section, out=out, data=data, **options)
    _report_stage_folder(folder, data)
    if Path(folder).resolve().parent == Path(run_dir).resolve():
        rewrite_report(run_dir, data=data)
    return folder


def _run_data(run_dir: Path) -> Dataset | None:
    """The data of a run made from a spec, or None (no spec, or its data is not where it was: a stage
    that needs it then says so itself, and one that does not, e.g. explain on image files, runs)."""
    if not (run_dir / rundir.SPEC).is_file():
        return None
    try:
        spec = rundir.read_spec(run_dir)
        return load_dataset(spec.data, spec.seed)
    except UserError:
        return None


def _report_stage_folder(folder: Path, data: Dataset | None) -> None:
    """A stage folder that holds a model (calibrated, pruned) gets its own report."""
    if (folder / rundir.MODEL_INFO).is_file():
        write_report_safely(folder, data=data)


def _quiet(name: str) -> dict[str, Any]:
    """The prune stage's fine-tuning rounds print nothing inside a pipeline."""
    return {"progress": False} if name in ("prune", "quantize") else {}
