"""The run folder's one public API: its file names, :class:`Run`, :func:`load`, the writers, and the
rule for where a stage after training writes.

A run folder holds ``spec.toml`` (resolved), ``model.json`` + ``model.safetensors`` (rebuild without
the spec), ``preprocess.json`` (raw input -> tensor), ``metrics.json``, ``history.csv``,
``checkpoint/last.pt`` (exact resume) and PNG plots; the stages after training write their own
folders inside it (:func:`stage_dir`). See ``docs/run-folder.md`` for the schema.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast.data import Dataset, load_dataset
from neuroplast.data.adapters import from_torch
from neuroplast.data.given import is_frame
from neuroplast.data.inputs import to_inputs, to_targets
from neuroplast.errors import UserError, check_output
from neuroplast.export.plain_pytorch import plain_pytorch_source
from neuroplast.io import atomic_write, claim_folder, save_json, save_weights
from neuroplast.models import build_model, model_outputs
from neuroplast.plots import curve_svg, embedding_figure, learning_curve_figure
from neuroplast.runfiles import (  # noqa: F401  (the run folder's API)
    CHECKPOINT,
    COMPRESSED,
    FINISHED,
    HISTORY,
    METRICS,
    MODEL_INFO,
    PREPROCESS,
    SPEC,
    WEIGHTS,
    model_spec,
    read_bytes,
    read_checkpoint,
    read_compressed,
    read_history_file,
    read_metrics_file,
    read_model_info,
    read_preprocess,
    read_run_spec,
    read_small_json,
    read_weights,
)
from neuroplast.spec import DataSpec, ExperimentSpec, LimitsSpec, limits_from_env
from neuroplast.train import distributed, evaluate, make_objective, predict_outputs
from neuroplast.train.progress import say
from neuroplast.version import __version__

METRICS_SCHEMA_VERSION = 1
SPLIT = "split.json"
LR_FIND = "lr_find.json"
# The folder each stage after training writes inside the run folder, by method (one rule for the
# CLI, Python and the spec's sections; folders written beside the run before this rule still load).
STAGE_FOLDERS = {"calibrate": "calibrated-{method}", "prune": "pruned-{method}", "explain": "explain-{method}",
                 "quantize": "quantized-{method}"}
_LEGACY_BESIDE = {"calibrate": "{run}-{method}", "prune": "{run}-pruned-{method}"}
_STAGE_METRICS = {"calibrate": "calibration", "prune": "pruning", "quantize": "compression"}  # the metrics.json key each stage writes


class Run:
    """A trained network with its spec, metrics and preprocessing; what ``neuroplast.run`` and
    ``neuroplast.load`` return.

    Attributes:
        dir: the run folder (None for an in-memory run).
        spec: the resolved :class:`ExperimentSpec` (None for a hand-written module).
        model: the trained ``nn.Module``, in eval mode, on the CPU.
        metrics: the contents of ``metrics.json``.
        history: one dict per epoch (the rows of ``history.csv``): ``epoch``, ``train_loss``, ``val_loss``,
            ``val_accuracy``, ``lr``... :attr:`history_df` gives the same as a pandas DataFrame.

    In Jupyter a run shows as a card (task, scores, learning curve, folder), and :meth:`plot` returns
    its learning curves as a figure that displays inline.

    Example:
        >>> run = neuroplast.load("runs/digits-cnn-20261123-101500")
        >>> run.predict(["seven.png"]), run.predict_proba(["seven.png"]).max()
        >>> run.history_df.tail(3)           # pandas; run.history is the same as a list of dicts
        >>> run.plot("accuracy")             # a matplotlib Figure
        >>> run.plot_embeddings()            # the test set in the network's vector space
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
        return to_inputs(x, self.preprocess)

    def outputs(self, x: Any) -> torch.Tensor:
        return predict_outputs(self.model, self.inputs(x))

    def embed(self, x: Any, layer: str | None = None) -> dict[str, torch.Tensor] | torch.Tensor:
        """Where inputs land in the network's vector space: ``x`` (raw, as :meth:`predict` takes it) as
        vectors ``(N, features)`` after each block, ``{"input": ..., "features.3": ..., "output": ...}``
        (:func:`neuroplast.trust.space.representations`), or the one stage named by ``layer``."""
        from neuroplast.trust.space import representations

        stages = representations(self.model, self.inputs(x))
        if layer is None:
            return stages
        if layer not in stages:
            raise UserError(f"layer {layer!r} is not a stage of this network; its stages: {', '.join(stages)}.")
        return stages[layer]

    def plot_embeddings(self, x: Any = None, y: Any = None, layer: str | None = None, ax: Any = None) -> Any:
        """The 2-D map of :meth:`embed`'s vectors after ``layer`` (default: the last block before the output),
        projected by :func:`neuroplast.trust.space.project` (principal components); ``x`` defaults to the first
        1,000 test examples coloured by their class, ``y`` colours given inputs. Draws on ``ax`` when given;
        returns the ``matplotlib.figure.Figure`` (shown inline in Jupyter). Example: ``run.plot_embeddings()``."""
        from neuroplast.trust.space import project

        if x is None:
            data = self.dataset()
            x, labels = (data.x_test, data.y_test) if len(data.x_test) else (data.x_val, data.y_val)
            x, y = x[:1000], labels[:1000] if y is None else y
        stages = self.embed(x) if layer is None else {layer: self.embed(x, layer)}
        name = list(stages)[-2] if layer is None and len(stages) > 2 else list(stages)[-1]
        y = np.asarray(y) if y is not None and np.asarray(y).ndim == 1 else None  # per-position targets: no colour
        return embedding_figure(project(stages[name])[0].numpy(), y, ax, self.class_names,
                                f"{name}: {len(stages[name]):,} inputs")

    def predict(self, x: Any) -> np.ndarray:
        """The predicted labels, as scikit-learn's ``predict`` gives them: the class names the data had
        (integers when every name is one, e.g. digits 0-9 or a CSV's 3/5/7; else strings such as a
        folder's ``cat``/``dog``), or values in the target's units (regression). The class index is
        ``run.predict_proba(x).argmax(1)``."""
        out = self.outputs(x)
        if self.objective.kind == "regression":  # also forecasts: (N, horizon)
            std = np.asarray(self.preprocess.get("target_std", [1.0]))
            mean = np.asarray(self.preprocess.get("target_mean", [0.0]))
            values = self.objective.predict(out).numpy() * std + mean
            return values[:, 0] if values.shape[1] == 1 else values
        index = self.objective.predict(out).numpy()
        return index if self.class_names is None else labels(self.class_names)[index]

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, shape (N, classes)."""
        if self.objective.kind == "regression":
            raise UserError("predict_proba is for classifiers; this run is a regression. Use predict.")
        return self.objective.proba(self.outputs(x)).numpy()

    def dataset(self) -> Dataset:
        """The data this run was trained on, reloaded from its spec (same splits), or for ``neuroplast.fit``
        on a shipped name, from that name and the seed (metrics.json ``data.reload``)."""
        reload = self.metrics.get("data", {}).get("reload")
        if self.spec is None and reload:
            return load_dataset(DataSpec(source=reload["source"]), reload["seed"])
        if self.spec is None:
            raise UserError(f"{self.dir or 'This run'} has no spec.toml to reload its data from (a hand-written "
                            "module trained by neuroplast.fit); pass the data to score: run.evaluate((x, y)) or "
                            "run.evaluate(DataLoader(...)).")
        return load_dataset(self.spec.data, self.spec.seed)

    def evaluate(self, data: Any = "test", target: str | None = None) -> dict[str, Any]:
        """The model's metrics on ``data``: the name of a split of its spec's data (``"test"``, ``"val"``
        or ``"train"``), or data of your own, scored whole. Raw data is prepared as ``predict`` prepares
        it: an ``(x, y)`` pair of arrays (table rows in their original units, pixels in [0, 1]; ``y`` the
        labels as the data had them, or values in the target's units) or a pandas DataFrame with its
        ``target`` column (default: the column the run learned). Tensors are taken as the model's inputs
        and class indices, as given: a ``DataLoader``, a torch ``Dataset`` or an ``(x, y)`` pair of tensors.

        Example:
            >>> run.evaluate()                     # the test split
            >>> run.evaluate((x_new, y_new))       # arrays, in their original units
            >>> run.evaluate(DataLoader(TensorDataset(x_new, y_new), batch_size=256))
        """
        if isinstance(data, str):
            return self._evaluate_split(data, self.dataset())
        if isinstance(data, Dataset):  # a loaded neuroplast Dataset: its test split
            return self._evaluate_split("test", data)
        classes = len(self.class_names or [])
        raw = self._raw_pair(data, target)
        if raw is not None:
            x, y = self.inputs(raw[0]), to_targets(raw[1], self.preprocess, self.class_names)
            return evaluate(self.model, x, y, self.objective, 1024, self.preprocess, classes)
        own, _ = from_torch(data)
        if self.class_names is not None and own.task == "classification" and own.y_train.max() >= len(self.class_names):
            raise UserError(f"data has class {int(own.y_train.max())} but this run knows "
                            f"{len(self.class_names)} classes (0 to {len(self.class_names) - 1}).")
        return evaluate(self.model, own.x_train, own.y_train, self.objective, 1024, self.preprocess,
                        classes if own.task == "classification" else 0)

    def _raw_pair(self, data: Any, target: str | None) -> tuple[Any, Any] | None:
        """``(inputs, targets)`` in their original units (a DataFrame's rows and target column, or a pair of
        arrays), or None for tensors and torch data, which are taken as they are."""
        if is_frame(data):
            target = target or self.preprocess.get("target")
            if target not in data.columns:
                raise UserError(f"evaluate: the DataFrame has no target column {target!r}; pass target='COLUMN' "
                                f"(columns: {', '.join(map(str, data.columns))}).")
            return data.drop(columns=[target]).to_dict("records"), data[target].to_numpy()
        if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], torch.Tensor) \
                and self.preprocess.get("kind") != "tensor":
            return data
        return None

    def _evaluate_split(self, split: str, data: Dataset) -> dict[str, Any]:
        if split not in ("test", "val", "train"):
            raise UserError(f"evaluate takes a split name (test, val or train) or your own data; received {split!r}.")
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if len(x) == 0:
            others = [s for s in ("test", "val", "train") if s != split and len(getattr(data, f"x_{s}"))]
            source = f", data.source {self.spec.data.source!r}" if self.spec is not None else ""
            raise UserError(f"This run's data has no {split} split ({self.info['task']}{source}); use "
                            f"--split {' or --split '.join(others)}.")
        batch = self.spec.train.eval_batch_size if self.spec is not None else 1024
        return evaluate(self.model, x, y, self.objective, batch, data.preprocess, data.num_classes)

    @property
    def history_df(self) -> Any:
        """The history as a ``pandas.DataFrame``, one row per epoch, indexed by ``epoch`` (Keras users:
        ``pd.DataFrame(history.history)``). Needs pandas; :attr:`history` is the same data as a list of
        dicts, without it."""
        try:
            import pandas as pd
        except ImportError:
            raise UserError("run.history_df needs pandas (pip install pandas); run.history holds the same "
                            "rows as a list of dicts.") from None
        frame = pd.DataFrame(self.history)
        return frame.set_index("epoch") if "epoch" in frame.columns else frame

    def plot(self, metric: str = "loss", ax: Any = None) -> Any:
        """The learning curves: ``metric`` per epoch, training against validation (``"loss"``,
        ``"accuracy"``, a metric of yours, or any history column such as ``"lr"``). Draws on ``ax`` (a
        matplotlib Axes) when given, else on a new figure; returns the ``matplotlib.figure.Figure``, which
        Jupyter shows inline. Picks no matplotlib backend and leaves pyplot alone.

        Example:
            >>> run.plot()                           # train_loss and val_loss
            >>> fig, (a, b) = plt.subplots(1, 2); run.plot("loss", ax=a); run.plot("accuracy", ax=b)
        """
        return learning_curve_figure(self.history, metric, ax)

    def _repr_html_(self) -> str:
        """A compact card for Jupyter: the task, the headline scores, the learning curve, the folder."""
        m = self.metrics
        rows = [("model", f"{self.info.get('family')} ({self.info.get('class', '')})".replace(" ()", "")),
                ("task", self.info["task"]), ("epochs", str(len(self.history)))]
        for split in ("test", "val"):
            for key in ("accuracy", "rmse", "r2", "loss"):
                value = m.get(split, {}).get(key)
                if isinstance(value, (int, float)):
                    rows.append((f"{split} {key}", f"{value:.4g}"))
        rows.append(("folder", str(self.dir) if self.dir else "in memory (pass out= to keep it)"))
        table = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                        for k, v in rows)
        return (f"<div><b>neuroplast Run</b><table>{table}</table>{curve_svg(self.history)}</div>")

    def __repr__(self) -> str:
        where = f", dir={str(self.dir)!r}" if self.dir else ""
        return f"Run({self.info.get('family')!r}, task={self.info['task']!r}{where})"


def labels(class_names: list[str]) -> np.ndarray:
    """Class names as the labels they were: integers when every name is one, else strings."""
    try:
        as_int = [int(name) for name in class_names]
    except ValueError:
        return np.asarray(class_names, dtype=str)
    return np.asarray(as_int, dtype=np.int64) if [str(v) for v in as_int] == list(class_names) else \
        np.asarray(class_names, dtype=str)


# --------------------------------------------------------------------------- reading
def load(run_dir: str | Path, model: nn.Module | None = None, limits: LimitsSpec | None = None) -> Run:
    """Read a run folder: the model is rebuilt from ``model.json`` and ``model.safetensors``
    (no pickle). Pass ``model`` for runs of a hand-written module. Every file is validated
    (:mod:`neuroplast.runfiles`) against ``limits`` (default: :func:`~neuroplast.spec.limits_from_env`)."""
    run_dir = Path(run_dir)
    if not (run_dir / MODEL_INFO).is_file():
        raise UserError(f"{run_dir} is not a neuroplast run folder (no model.json). Pass the folder "
                        "that `neuroplast run` printed.")
    limits = limits or limits_from_env()
    info = read_model_info(run_dir, limits if model is None else limits.model_copy(update={"parameters": 2**62}))
    preprocess = read_preprocess(run_dir, limits)
    if preprocess["kind"] == "table" and [len(preprocess["mean"])] != info["input_shape"]:
        raise UserError(f"{run_dir / PREPROCESS} standardizes {len(preprocess['mean'])} features, but model.json's "
                        f"input_shape is {info['input_shape']}; the folder is damaged. Re-run training.")
    metrics, history = read_metrics_file(run_dir, limits), read_history_file(run_dir, HISTORY, limits)
    spec = read_run_spec(run_dir, limits) if (run_dir / SPEC).is_file() else None
    if model is None:
        model = _rebuild(run_dir, info)
    weights = run_dir / (COMPRESSED if (run_dir / COMPRESSED).is_file() else WEIGHTS)
    state = read_compressed(weights, limits) if weights.name == COMPRESSED else read_weights(weights, limits)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{weights} does not fit the model in model.json "
                        f"({str(e).splitlines()[0]}). Re-run training.") from None
    return Run(model, info, preprocess, metrics, history, spec, run_dir)


def _rebuild(run_dir: Path, info: dict[str, Any]) -> nn.Module:
    """The network ``model.json`` describes (already validated and counted), with fresh weights."""
    if info["family"] == "custom":
        raise UserError(f"{run_dir} holds a hand-written module ({info.get('class')}); pass it: "
                        "neuroplast.load(run_dir, model=MyNet()).")
    model_config = model_spec(run_dir / MODEL_INFO, info["config"])
    try:
        model = build_model(model_config, tuple(info["input_shape"]),
                            model_outputs(info["num_outputs"], info.get("loss", "auto")), info["task"],
                            info.get("vocab_size", 0))
    except (RuntimeError, ValueError, TypeError) as e:
        raise UserError(f"{run_dir / MODEL_INFO}: its network cannot be built ({str(e).splitlines()[0][:120]}); "
                        "the file is damaged. Re-run training.") from None
    if getattr(model, "pad_id", None) is not None and not info.get("masks_padding"):
        model.pad_id = None  # a text Transformer saved before padding was masked: read as it was trained
    return model


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """``metrics.json`` of a run or stage folder ({} when there is none yet), validated."""
    return read_metrics_file(run_dir)


def read_history(path: Path) -> list[dict[str, Any]]:
    """``history.csv``: one dict per epoch ([] when there is none yet), validated."""
    return read_history_file(Path(path).parent, Path(path).name)


def read_spec(run_dir: str | Path) -> ExperimentSpec:
    """A run's ``spec.toml``, validated (its data paths name data, never a file of the run)."""
    return read_run_spec(run_dir)


def read_spec_text(run_dir: str | Path) -> str:
    """``spec.toml``'s text as written (for the report), size-bounded and inside the folder."""
    try:
        return read_bytes(run_dir, SPEC).decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{Path(run_dir) / SPEC} is not UTF-8 text; restore it or re-run training.") from None


def read_lr_find(run_dir: str | Path) -> dict[str, Any]:
    return read_small_json(run_dir, LR_FIND)


def claim(run_dir: str | Path, create: bool = True) -> Any:
    """Hold the run folder for the block (``run.lock``): a second writer is refused in one line; a lock
    left by a killed process is taken over with a note; a killed write's temp files are removed. Under
    torchrun only rank 0 writes the folder, so only it holds the lock (the other ranks hold nothing)."""
    if not distributed.is_main() or os.environ.get("RANK", "0") != "0":  # before or after the group is joined
        return contextlib.nullcontext()
    return claim_folder(Path(run_dir), note=say, create=create)


def is_complete(run_dir: str | Path, at_last_epoch: bool) -> bool:
    """Whether the run's training is complete: its checkpoint is at the spec's last epoch and
    ``finished.json`` (written last) is there. A kill before that file leaves a folder that resume
    finishes (from its last checkpoint: the same weights and metrics, its missing files written)."""
    return at_last_epoch and (Path(run_dir) / FINISHED).is_file()


def write_finished(run_dir: Path, metrics: dict[str, Any]) -> None:
    """``finished.json``, the last file training writes: from then on the folder is complete."""
    save_json(run_dir / FINISHED, {"finished": metrics.get("finished"), "epochs": metrics.get("train", {}).get("epochs")})


# --------------------------------------------------------------------------- where things go
def new_run_dir(name: str) -> Path:
    """``runs/<name>-<time>``, with ``-2``, ``-3``... when that exists."""
    base = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


def stage_dir(run_dir: str | Path, stage: str, method: str, out: str | Path | None = None) -> Path:
    """Where a stage after training writes: ``out``, or ``RUN_DIR/<folder>`` (:data:`STAGE_FOLDERS`),
    the same from the CLI, Python and the spec's sections. Refuses the run itself, a file, and a
    folder holding a trained run."""
    run_dir = Path(run_dir)
    default = STAGE_FOLDERS[stage].format(method=method)
    out_dir = Path(out) if out is not None else run_dir / default
    check_output(out_dir, "folder", str(run_dir / default))
    if out_dir.resolve() == run_dir.resolve():
        raise UserError(f"--out {out_dir} is the run being read; choose a new folder (default: "
                        f"{run_dir / default}).")
    if (out_dir / "checkpoint").is_dir():  # what `neuroplast run` leaves, and the stages never write
        raise UserError(f"--out {out_dir} already holds a trained run; choose a new folder, so neither is "
                        "overwritten.")
    if (out_dir / METRICS).is_file() and _STAGE_METRICS.get(stage) not in read_metrics(out_dir):
        raise UserError(f"--out {out_dir} already holds another stage's results (its metrics.json has no "
                        f"{_STAGE_METRICS.get(stage, 'explain')!r}); choose a new folder, so neither is overwritten.")
    return out_dir


def open_stage_folder(out_dir: Path) -> Path:
    """Create ``out_dir`` (see :func:`stage_dir`) without a previous result's metrics (first) and network
    files, so no other method's weights are left to be loaded in place of the new ones."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (METRICS, MODEL_INFO, WEIGHTS, COMPRESSED, "model.int8.onnx", "model.onnx", "model.py"):
        (out_dir / name).unlink(missing_ok=True)
    return out_dir


def stage_dirs(run_dir: str | Path, stage: str) -> list[Path]:
    """The folders a stage wrote for this run: inside it, and (for runs made before the one rule of
    :func:`stage_dir`) beside it."""
    run_dir = Path(run_dir)
    inside = sorted(run_dir.glob(STAGE_FOLDERS[stage].format(method="*")))
    beside = []
    if stage in _LEGACY_BESIDE:
        pattern = _LEGACY_BESIDE[stage].format(run=run_dir.name, method="*")
        beside = [d for d in sorted(run_dir.parent.glob(pattern))
                  if read_metrics(d).get("parent") == str(run_dir.resolve())]
    return [d for d in inside + beside if d.is_dir()]


# --------------------------------------------------------------------------- writing
def write_spec(run_dir: Path, spec: ExperimentSpec) -> None:
    atomic_write(run_dir / SPEC, lambda p: p.write_text(spec.to_toml()))


def write_model(run_dir: Path, model: nn.Module, info: dict[str, Any], *, sparse: bool = False,
                weights: bool = True) -> None:
    """``model.json``, ``model.safetensors`` (sparse: pruned weights as bitmask + values) and, for the
    families that have one, ``model.py`` in plain PyTorch (``weights=False``: ``model.json`` alone, for a
    folder whose weights are ``model.compressed``)."""
    save_json(run_dir / MODEL_INFO, info)
    if weights:
        save_weights(run_dir / WEIGHTS, model, sparse=sparse)
        write_plain_pytorch(run_dir, model, info)


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics.json``, stamped with the schema version (every writer goes through here); returns
    what was written."""
    metrics = {"schema_version": METRICS_SCHEMA_VERSION, **metrics}
    save_json(run_dir / METRICS, metrics)
    return metrics


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    keys = list(dict.fromkeys(k for h in history for k in h))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write(path, lambda p: p.write_text(buf.getvalue()))


def write_plain_pytorch(run_dir: Path, model: nn.Module, info: dict[str, Any]) -> None:
    """``model.py``: the network in plain PyTorch (perceptron, MLP, CNN), checked before writing."""
    source = plain_pytorch_source(model, info) if info.get("family") != "custom" else None
    path = run_dir / "model.py"
    if source is None:
        path.unlink(missing_ok=True)
        return
    atomic_write(path, lambda p: p.write_text(source))


def model_info(family: str, config: dict[str, Any], data: Dataset, model: nn.Module,
               loss: str) -> dict[str, Any]:
    """``model.json``: what rebuilds the network without the spec."""
    width = predict_outputs(model, data.x_train[:2]).shape[-1]
    return {"family": family, "config": config, "input_shape": list(data.input_shape),
            "num_outputs": data.num_outputs, "output_width": int(width), "task": data.task,
            "vocab_size": data.vocab_size,
            "class_names": data.class_names, "loss": loss,
            **({"masks_padding": True} if getattr(model, "pad_id", None) is not None else {}),
            **({"class": config["class"]} if family == "custom" else {})}


def versions() -> dict[str, str]:
    import sklearn

    return {"neuroplast": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}
