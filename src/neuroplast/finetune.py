"""Fine-tuning: start a training from another run's weights (``train.init_from``) and keep named
layers fixed (``train.freeze``).

- **Loading** reads the parent's ``model.json``, ``preprocess.json`` and ``model.safetensors`` (no
  pickle). The family (for a spec) and the input shape must be the parent's. Every tensor whose name
  and shape match is copied; where only the output layer differs (a new number of classes), that
  layer keeps its fresh initialisation and one note says so. Any other difference is an error.
- **Preprocessing** of images follows the parent: ``data.normalize`` is set to the parent's
  (mean, std), so the new pixels reach the network on the scale it learned (the image size and
  channels must already match: the input-shape check says what to set).
- **Freezing** turns ``requires_grad`` off for every parameter whose name is a prefix named in
  ``train.freeze`` (``"features"`` covers ``features.0.weight``; ``"features.1"`` does not cover
  ``features.10``); the optimizer never sees them. Batch norm inside a frozen block stays in
  inference mode (its running statistics are not updated either), as Keras does for a layer with
  ``trainable = False``: a frozen block computes exactly the function it computed in the parent.

Example:
    >>> neuroplast.run("my-digits.toml")  # [train] init_from = "runs/mnist-cnn-...", freeze = ["features"]
    >>> neuroplast.fit(MyNet(), (x, y), init_from="runs/my-net", freeze=["body"], epochs=5)
"""

from __future__ import annotations

import dataclasses
import logging
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast import rundir
from neuroplast.data import Dataset
from neuroplast.errors import UserError
from neuroplast.spec import ExperimentSpec, TrainSpec

log = logging.getLogger(__name__)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class Parent:
    """A finished run to start from: its folder, ``model.json`` and ``preprocess.json``."""

    dir: Path
    info: dict[str, Any]
    preprocess: dict[str, Any]

    @property
    def family(self) -> str:
        return str(self.info.get("family"))

    def image_stats(self) -> list[float] | None:
        """The parent's pixel (mean, std), for image runs; None for any other kind of input."""
        if self.preprocess.get("kind") != "image":
            return None
        return [float(self.preprocess["mean"]), float(self.preprocess["std"])]


def read_parent(run_dir: str | Path) -> Parent:
    """The run folder ``train.init_from`` names; one line naming the option when it is not a finished run."""
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise UserError(f"train.init_from {path} is not a folder; pass the run folder that `neuroplast run` "
                        "printed (e.g. runs/mnist-cnn-20261123-101500).")
    if not (path / rundir.MODEL_INFO).is_file() or not (path / rundir.WEIGHTS).is_file():
        hint = (f" It holds a checkpoint only: finish it first with `neuroplast resume {path}`."
                if (path / rundir.CHECKPOINT).is_file() else "")
        raise UserError(f"train.init_from {path} is not a finished neuroplast run (no {rundir.MODEL_INFO} and "
                        f"{rundir.WEIGHTS}).{hint} Pass the folder that `neuroplast run` printed.")
    preprocess = rundir.read_preprocess(path) if (path / rundir.PREPROCESS).is_file() else {}
    return Parent(path.resolve(), rundir.read_model_info(path), preprocess)


# --------------------------------------------------------------------------- the spec and the data
def inherit_preprocessing(spec: ExperimentSpec) -> ExperimentSpec:
    """``spec`` with ``train.init_from`` made absolute and, when the parent is an image run,
    ``data.normalize`` (and a folder's ``data.style``) set to the parent's; refuses a parent of another family.
    Unchanged without ``init_from``; calling it twice changes nothing more."""
    if spec.train.init_from is None:
        return spec
    parent = read_parent(spec.train.init_from)
    if parent.family != spec.model.family:
        raise UserError(
            f"train.init_from {parent.dir} holds a {parent.family!r} network; this spec's model.family is "
            f"{spec.model.family!r}. Start from a {spec.model.family} run, or copy the [model] section of "
            f"{parent.dir / rundir.SPEC} into this spec.")
    changes: dict[str, Any] = {"train": {"init_from": str(parent.dir)}}
    if parent.image_stats() is not None:
        changes["data"] = _image_preprocessing(spec, parent)
    return spec.updated(**changes)


def _image_preprocessing(spec: ExperimentSpec, parent: Parent) -> dict[str, Any]:
    """``data.normalize`` (and for a folder, ``data.style``) as the parent's; one note when they are set."""
    stats, style = parent.image_stats(), parent.preprocess.get("style", "resize")
    if spec.data.normalize is not None and _rounded(spec.data.normalize) != _rounded(stats):
        raise UserError(f"data.normalize = {list(spec.data.normalize)} differs from the pixel (mean, std) "
                        f"{stats} that train.init_from {parent.dir} was trained with. Remove data.normalize: "
                        "init_from sets it.")
    changes: dict[str, Any] = {"normalize": stats}
    framing = ""
    if spec.data.source == "folder" and spec.data.style is None:
        changes["style"], framing = style, f"framed as the parent's were (data.style = {style!r}) and "
    elif spec.data.source == "folder" and spec.data.style != style:
        log.warning("init_from: data.style = %r frames the images otherwise than the parent's %r", spec.data.style,
                    style)
    if spec.data.normalize is None:
        log.warning("init_from: images are %sstandardized with the parent run's mean %.4g and std %.4g "
                    "(data.normalize), as its weights learned", framing, *stats)
    return changes


def match_preprocessing(data: Dataset, parent: Parent) -> Dataset:
    """``data`` on the parent's pixel scale: images standardized with other statistics are
    re-standardized with the parent's (exactly: x * std + mean undoes the first); tensors of your own
    are taken as they are, with a note when the parent standardized its images."""
    stats = parent.image_stats()
    pre = data.preprocess
    if parent.preprocess.get("kind") == "table" and pre.get("kind") == "table":
        log.warning("init_from: the new rows are standardized with their own training statistics, not the "
                    "parent's (only images are put on the parent's scale)")
    if stats is None:
        return data
    if pre.get("kind") != "image":
        log.warning("init_from: the parent standardized its images as (x - %.4g) / %.4g; your inputs are taken "
                    "as they are, so prepare them the same way", *stats)
        return data
    if _rounded([pre["mean"], pre["std"]]) == _rounded(stats):
        return data
    log.warning("init_from: images are re-standardized with the parent run's mean %.4g and std %.4g", *stats)

    def rescale(x: torch.Tensor) -> torch.Tensor:
        return ((x * pre["std"] + pre["mean"]) - stats[0]) / stats[1]

    return dataclasses.replace(data, x_train=rescale(data.x_train), x_val=rescale(data.x_val),
                               x_test=rescale(data.x_test), preprocess={**pre, "mean": stats[0], "std": stats[1]})


def prepare_data(data: Dataset, train: TrainSpec) -> Dataset:
    """``data`` as the run ``train.init_from`` names expects it (see :func:`match_preprocessing`)."""
    return data if train.init_from is None else match_preprocessing(data, read_parent(train.init_from))


def _rounded(values: Any) -> list[float]:
    return [round(float(v), 6) for v in values]


# --------------------------------------------------------------------------- weights and freezing
def prepare(model: nn.Module, train: TrainSpec, data: Dataset, family: str | None = None,
            load: bool = True) -> dict[str, Any]:
    """Start ``model`` from ``train.init_from`` (unless ``load=False``: a resumed run has its own
    weights) and freeze ``train.freeze``; the record that goes into metrics.json ({} for neither).

    ``family`` is the spec's model family (None for your own module: the parameter names and shapes
    are then the check)."""
    record: dict[str, Any] = {}
    fresh: list[str] = []
    if train.init_from is not None:
        parent = read_parent(train.init_from)
        record["init_from"] = start_from(model, parent, data, family, load=load)
        fresh = record["init_from"]["fresh"]
    if train.freeze:
        record["frozen"] = freeze(model, train.freeze, fresh)
        if train.init_from is None and family is not None:  # a spec's network starts from random weights
            log.warning("train.freeze without train.init_from: %s keep their random initial weights (set "
                        "train.init_from to start from a trained run)", ", ".join(train.freeze))
    return record


def start_from(model: nn.Module, parent: Parent, data: Dataset, family: str | None = None,
               load: bool = True) -> dict[str, Any]:
    """Copy the parent's weights into ``model``: every tensor of the same name and shape; the output
    layer starts fresh (with a note) when only its shape differs. Returns what was loaded."""
    where = f"train.init_from {parent.dir}"
    if family is not None and parent.family != family:
        raise UserError(f"{where} holds a {parent.family!r} network; this model is {family!r}. Start from a "
                        f"{family} run, or copy the [model] section of {parent.dir / rundir.SPEC}.")
    theirs = tuple(parent.info.get("input_shape", ()))
    if theirs != tuple(data.input_shape):
        raise UserError(f"{where} was trained on inputs of shape {theirs}; this data gives {tuple(data.input_shape)}. "
                        f"{_shape_fix(theirs)}")
    state = rundir.read_weights(parent.dir / rundir.WEIGHTS)
    fresh = _fresh_head(model.state_dict(), state, where, parent)
    if load:
        model.load_state_dict({k: v for k, v in state.items() if k not in fresh}, strict=False)
    _note_classes(parent, data, fresh)
    return {"run": str(parent.dir), "family": parent.family, "loaded": len(state) - len(fresh), "fresh": fresh}


def _shape_fix(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        return (f"Give the new images the parent's size and channels: data.image_size = [{shape[1]}, {shape[2]}], "
                f"data.channels = {shape[0]}.")
    return "Give the new data the parent's inputs (the same features, in the same order)."


def _fresh_head(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], where: str,
                parent: Parent) -> list[str]:
    """The names of the tensors that start fresh: those of the last layer, when only its shape differs."""
    missing, extra = sorted(k for k in own if k not in state), sorted(k for k in state if k not in own)
    if missing or extra:
        raise UserError(f"{where} holds a {parent.family} network whose tensors do not match this model's "
                        f"(only here: {_few(missing)}; only in the run: {_few(extra)}). Build the same network: "
                        f"copy the [model] section of {parent.dir / rundir.SPEC} (or the class of its model.py).")
    differ = [k for k in own if own[k].shape != state[k].shape]
    head = _head_names(own)
    if any(k not in head for k in differ):
        shapes = ", ".join(f"{k} {tuple(state[k].shape)} -> {tuple(own[k].shape)}" for k in differ[:4])
        raise UserError(f"{where}: tensors differ in shape beyond the output layer ({shapes}). Build the same "
                        f"network: copy the [model] section of {parent.dir / rundir.SPEC}.")
    if differ:
        fresh = [k for k in own if k in head]
        log.warning("init_from: %s start fresh: the output width is %d here, %d in %s; every other tensor "
                    "comes from it", ", ".join(fresh), _width(own, fresh), _width(state, fresh), parent.dir)
        return fresh
    return []


def _head_names(state: dict[str, torch.Tensor]) -> set[str]:
    """The state-dict names of the last layer: the module holding the last weight."""
    last = [k for k in state if k.endswith("weight")][-1:] or list(state)[-1:]
    module = last[0].rpartition(".")[0] if last else ""
    return {k for k in state if k.rpartition(".")[0] == module}


def _width(state: dict[str, torch.Tensor], names: list[str]) -> int:
    return int(state[names[0]].shape[0])


def _few(names: list[str], most: int = 4) -> str:
    if not names:
        return "none"
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _note_classes(parent: Parent, data: Dataset, fresh: list[str]) -> None:
    """A kept head maps output i to the parent's class i: say so when the class names differ."""
    theirs, ours = parent.info.get("class_names"), data.class_names
    if not fresh and theirs and ours and list(theirs) != list(ours):
        log.warning("init_from: the output layer is kept, so output i starts as the parent's class i (parent: "
                    "%s; this data: %s)", ", ".join(theirs[:10]), ", ".join(ours[:10]))


def freeze(model: nn.Module, prefixes: tuple[str, ...] | list[str], fresh: list[str] = ()) -> list[str]:
    """Keep every parameter whose name is, or lies under, one of ``prefixes`` fixed (``requires_grad``
    off) and its batch norm in inference mode; the frozen parameters' names."""
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(_under(n, prefix) for n in names):
            top = list(dict.fromkeys(n.split(".")[0] for n in names))
            layers = list(dict.fromkeys(n.rpartition(".")[0] for n in names if "." in n))
            raise UserError(f"train.freeze: {prefix!r} names no parameter of this model. Name a module or a "
                            f"prefix of a parameter's name: its top-level modules are {', '.join(top)}; its layers "
                            f"with parameters {_few(layers, 8)} (e.g. freeze = [{(layers or top)[0]!r}]).")
    frozen = [n for n in names if any(_under(n, p) for p in prefixes)]
    if len(frozen) == len(names):
        raise UserError(f"train.freeze = {list(prefixes)} freezes every parameter, so nothing would train. Leave "
                        "the output layer out (e.g. freeze = ['features']).")
    starting = [n for n in frozen if n in fresh]
    if starting:
        raise UserError(f"train.freeze = {list(prefixes)} freezes {', '.join(starting)}, which start fresh (the "
                        "output width changed) and would never learn. Leave the output layer out of freeze.")
    for name, param in model.named_parameters():
        if name in frozen:
            param.requires_grad_(False)
    for name, module in model.named_modules():
        if isinstance(module, BATCH_NORMS) and _frozen_module(name, module, prefixes):
            _hold_in_inference(module)
    return frozen


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _frozen_module(name: str, module: nn.Module, prefixes: tuple[str, ...] | list[str]) -> bool:
    """A module inside a frozen block, or one whose own parameters are all frozen."""
    params = list(module.parameters())
    return any(_under(name, p) for p in prefixes) or bool(params) and not any(p.requires_grad for p in params)


def _inference_only(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def _hold_in_inference(module: nn.Module) -> None:
    """``module.train()`` leaves this batch norm in eval mode (the loop calls ``model.train()`` every
    epoch); bound to the module, so a deep copy (EMA) keeps the rule for its own copy."""
    module.train = types.MethodType(_inference_only, module)  # type: ignore[method-assign]  # per instance
    module.eval()
