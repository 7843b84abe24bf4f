"""The prune stage: prune a trained run, fine-tune it, measure what it saved, write a new run folder
(``neuroplast prune``, ``[prune]``).

Flow: load the parent run -> for each round of the schedule: prune to that round's target,
fine-tune (or, for ``lottery``, rewind the survivors to early weights and retrain), score
validation and test -> fold the masks in (unstructured) or record the new widths (structured)
-> measure dense against pruned in one process -> write the new run folder, linked to its parent.
"""

from __future__ import annotations

import copy
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast import experiment, rundir
from neuroplast.data import Dataset
from neuroplast.data.augment import make_augment
from neuroplast.errors import UserError
from neuroplast.plasticity import prune as unstructured
from neuroplast.plasticity import structured
from neuroplast.plasticity.measure import compare
from neuroplast.plots import plot_confusion_matrix, plot_pruning
from neuroplast.rundir import Run
from neuroplast.spec import ExperimentSpec, PruneSpec, TrainSpec
from neuroplast.spec.stages import HIGH_SPARSITY
from neuroplast.train import Objective, evaluate, fit, seed_everything

log = logging.getLogger(__name__)


def prune(run_dir: str | Path, spec: PruneSpec | None = None, *, out: str | Path | None = None,
          data: Dataset | None = None, progress: bool = True, latency_repeats: int = 30) -> Path:
    """Prune the network of a finished run as ``spec`` says and write the pruned network as a new run
    folder (``out``, default ``RUN_DIR/pruned-METHOD``); returns that folder.

    Its ``metrics["pruning"]`` holds the curve (one point per round), sparsity, parameters, bytes on
    disk, MACs and latency (median of ``latency_repeats``), dense against pruned. See
    :class:`~neuroplast.spec.PruneSpec` for the methods, schedules and scopes.

    Example:
        >>> folder = prune("runs/mnist-cnn-...", PruneSpec(method="structured", sparsity=0.5))
    """
    spec = PruneSpec() if spec is None else spec
    run_dir = Path(run_dir)
    parent = _prunable(run_dir, spec)
    out_dir = rundir.stage_dir(run_dir, "prune", spec.method, out)
    spec = _resolved(spec, parent)
    seed_everything(parent.spec.seed, parent.spec.train.threads)
    data = parent.dataset() if data is None else data
    dense = copy.deepcopy(parent.model)
    rounds = _run_rounds(parent, spec, data, dense, progress)
    model = parent.model
    if spec.method == "structured":
        config = {**parent.info["config"], **structured.spec_widths(parent.info["family"], model,
                                                                     parent.info["config"])}
        if "preset" in config:
            config["preset"] = None  # the widths are no longer the preset's
    else:
        unstructured.finalize(model)
        config = parent.info["config"]
    summary = _summary(spec, rounds, model, compare(dense.cpu(), model, rounds.example,
                                                    sparse=spec.method != "structured", repeats=latency_repeats))
    _write(out_dir, run_dir, parent, parent.spec.updated(model=config, prune=None),
           {**parent.info, "config": config}, model, data, summary, rounds.history, rounds.final_eval)
    return out_dir


def _prunable(run_dir: Path, spec: PruneSpec) -> Run:
    """The parent run, refused when it cannot be pruned as asked."""
    parent = rundir.load(run_dir)
    if parent.spec is None:
        raise UserError(f"{run_dir} has no spec.toml to reload its data from; prune a run made by `neuroplast run`.")
    task = parent.info["task"]
    if task == "language-model":
        raise UserError(f"prune measures and fine-tunes classifiers and regressors; {run_dir} is a language-model "
                        "run. Prune a sequence classifier or a forecaster instead.")
    if "compression" in parent.metrics:
        raise UserError(f"{run_dir} is a quantized run; prune the run it was quantized from "
                        f"({parent.metrics.get('parent', 'its parent')}), then quantize the pruned run.")
    if spec.method == "structured":
        structured.check_family(parent.info["family"], parent.model)
    elif (already := _zero_fraction(parent.model)) >= spec.sparsity:
        raise UserError(f"{run_dir} is already {already:.1%} sparse; pruning it to "
                        f"--sparsity {spec.sparsity} would let fine-tuning grow weights back. Ask for more, or "
                        "prune the dense run it came from.")
    if spec.distill and task != "classification":
        raise UserError(f"distill applies to classifiers (soft class probabilities); this run is {task!r}.")
    return parent


def _resolved(spec: PruneSpec, parent: Run) -> PruneSpec:
    """The options left out, chosen from the sparsity asked (:meth:`PruneSpec.resolved`); the measured
    high-sparsity recipe is said in one line."""
    convolutional = any(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) for m in parent.model.modules())
    full = spec.resolved(parent.info["task"] == "classification", parent.spec.train.epochs, convolutional)
    chosen = {k: getattr(full, k) for k in ("schedule", "rounds", "epochs", "final_epochs", "scope", "distill")
              if getattr(spec, k) is None and getattr(full, k) is not None}
    if chosen and spec.sparsity >= HIGH_SPARSITY and spec.method != "structured":
        log.warning("prune %s at sparsity %s: chose %s (give them to override)", spec.method, spec.sparsity,
                    ", ".join(f"{k}={v}" for k, v in chosen.items()))
    return full


@dataclass
class _Rounds:
    """What the rounds of a schedule leave: the curve, the history and the last evaluation."""

    baseline: dict[str, float]
    between: TrainSpec
    final: TrainSpec
    example: torch.Tensor
    skipped: list[str]
    original: dict[str, int]
    curve: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    final_eval: dict[str, dict[str, Any]] = field(default_factory=dict)


def _run_rounds(parent: Run, spec: PruneSpec, data: Dataset, dense: nn.Module, progress: bool) -> _Rounds:
    """Prune ``parent.model`` round by round, fine-tuning after each, and score every round."""
    train, model, objective = parent.spec.train, parent.model, parent.objective
    method = spec.method
    skipped = unstructured.not_pruned(model) if method != "structured" else structured.unprunable_layers(model)
    if skipped and method != "structured":
        log.warning("%s pruning leaves these layers dense: %s", method, ", ".join(skipped))
    rounds = _Rounds(baseline=_scores(_evaluate(model, data, objective, train.eval_batch_size)),
                     between=_finetune_spec(train, spec.epochs, spec.lr),
                     final=_retrain_spec(train, spec.final_epochs), example=data.x_test[:256].cpu(),
                     skipped=skipped, original=structured.layer_widths(model) if method == "structured" else {})
    rounds.curve.append({"round": 0, "target": 0.0, "sparsity": 0.0, **rounds.baseline})
    dense_weights = _prunable_count(model)
    rewind = _rewind_state(parent.spec, data, spec.rewind_epoch) if spec.schedule == "lottery" else None
    teacher = dense if spec.distill else None  # the untouched dense copy; fit only reads it
    targets = unstructured.schedule_targets(spec.sparsity, spec.schedule, spec.rounds)
    for k, target in enumerate(targets, start=1):
        _prune_once(parent, spec, data, target, k, rounds, rewind)
        last = k == len(targets) or spec.schedule == "lottery"
        result = fit(model, data, rounds.final if last else rounds.between, seed=parent.spec.seed + k,
                     progress=progress, augment=make_augment(parent.spec.data.augment), teacher=teacher,
                     distill=spec.distill)
        rounds.history += [{"round": k, **h} for h in result.history]
        model.cpu().eval()
        removed = (_weight_sparsity(model, dense_weights) if method == "structured"
                   else unstructured.sparsity(model))
        rounds.final_eval = _evaluate(model, data, objective, train.eval_batch_size)
        rounds.curve.append({"round": k, "target": target, "sparsity": removed, **_scores(rounds.final_eval)})
        log.info("round %d: sparsity %.4f, %s", k, removed,
                 {k2: v for k2, v in rounds.curve[-1].items() if "_" in k2})
    return rounds


def _prune_once(parent: Run, spec: PruneSpec, data: Dataset, target: float, k: int, rounds: _Rounds,
                rewind: dict[str, torch.Tensor] | None) -> None:
    """One round's pruning of ``parent.model`` to ``target`` (before its fine-tuning)."""
    model = parent.model.cpu().eval()
    if spec.method == "structured" and parent.info["family"] in structured.RECURRENT:
        structured.prune_hidden_units(model, max(1, round(rounds.original["rnn"] * (1 - target))))
    elif spec.method == "structured":
        structured.prune_units(model, rounds.example[:2], {n: max(1, round(w * (1 - target)))
                                                           for n, w in rounds.original.items()})
    else:
        scores = (unstructured.saliency_scores(model, data.x_train, data.y_train, parent.objective.loss,
                                               seed=parent.spec.seed + k)
                  if spec.method == "saliency" else None)
        unstructured.prune_to(model, target, spec.scope, scores)
        if rewind is not None:  # the lottery ticket: the mask on early weights
            masks = unstructured.current_masks(model)
            unstructured.finalize(model)
            model.load_state_dict(rewind)
            unstructured.apply_masks(model, masks)


def _summary(spec: PruneSpec, rounds: _Rounds, model: nn.Module, measured: dict[str, Any]) -> dict[str, Any]:
    """``metrics["pruning"]``: what was asked, the curve, and dense against pruned."""
    structured_ = spec.method == "structured"
    summary = {
        "method": spec.method, "schedule": spec.schedule, "scope": spec.scope if not structured_ else "layer",
        "rounds": len(rounds.curve) - 1, "target_sparsity": spec.sparsity,
        "sparsity": rounds.curve[-1]["sparsity"],
        "epochs_per_round": rounds.between.epochs, "lr": rounds.between.lr, "final_epochs": rounds.final.epochs,
        "final_lr": rounds.final.lr, "final_schedule": rounds.final.schedule, "distill": spec.distill,
        **({"rewind_epoch": spec.rewind_epoch} if spec.schedule == "lottery" else {}),
        "baseline": rounds.baseline, "curve": rounds.curve,
        "not_pruned": rounds.skipped,
        **({"layer_sparsity": unstructured.layer_sparsity(model)} if not structured_
           else {"widths": {"dense": rounds.original, "pruned": structured.layer_widths(model)}}),
        **measured,
    }
    primary = "accuracy" if "test_accuracy" in rounds.baseline else "rmse"
    summary[f"test_{primary}_change"] = rounds.curve[-1][f"test_{primary}"] - rounds.baseline[f"test_{primary}"]
    return summary


_ROUND = {"early_stopping": None, "ema": None, "checkpoint": False, "cuda_graphs": False, "compile": False,
          "log": ()}  # inside a round: no early stopping, weight averaging, checkpoints or trackers


def _finetune_spec(train: TrainSpec, epochs: int | None, lr: float | None) -> TrainSpec:
    """Between rounds: a short fine-tune with a cosine decay from the parent's learning rate."""
    return train.model_copy(update={**_ROUND, "epochs": epochs or 2, "lr": lr or train.lr, "schedule": "cosine"})


def _retrain_spec(train: TrainSpec, epochs: int | None) -> TrainSpec:
    """After the last round: the parent's own recipe, for ``epochs`` (default: all of them)."""
    return train.model_copy(update={**_ROUND, "epochs": epochs or train.epochs})


def _rewind_state(spec: ExperimentSpec, data: Dataset, rewind_epoch: int) -> dict[str, torch.Tensor]:
    """The parent's weights after ``rewind_epoch`` epochs, reproduced from its seed (0: at init)."""
    if rewind_epoch >= spec.train.epochs:
        raise UserError(f"rewind_epoch (--rewind-epoch) must be between 0 and the parent's epochs - 1 "
                        f"({spec.train.epochs - 1}); received {rewind_epoch}.")
    model = experiment.build(spec, data)  # seeded as the parent's was
    if rewind_epoch:
        stop = _StopAfter(rewind_epoch)
        fit(model, data, spec.train.model_copy(update={"checkpoint": False, "early_stopping": None, "log": ()}),
            seed=spec.seed, progress=False, callbacks=[stop], augment=make_augment(spec.data.augment))
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


class _StopAfter:
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool:
        return epoch >= self.epochs


def _evaluate(model: nn.Module, data: Dataset, objective: Objective, batch_size: int) -> dict[str, dict[str, Any]]:
    """The full metrics of the validation and test splits (as metrics.json holds them)."""
    return {split: evaluate(model, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"), objective,
                            batch_size, data.preprocess, data.num_classes) for split in ("val", "test")}


def _scores(evaluated: dict[str, dict[str, Any]]) -> dict[str, float]:
    """One curve point: ``val_accuracy``/``test_accuracy`` (``_rmse`` for regression)."""
    return {f"{split}_{key}": m[key] for split, m in evaluated.items() for key in ("accuracy", "rmse") if key in m}


def _zero_fraction(model: nn.Module) -> float:
    """The fraction of the prunable weights that are exactly zero (a pruned parent's sparsity)."""
    weights = [unstructured.weight(m, n) for _, m, n in unstructured.prunable_weights(model)]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / total if total else 0.0


def _prunable_count(model: nn.Module) -> int:
    return sum(unstructured.weight(m, n).numel() for _, m, n in unstructured.prunable_weights(model))


def _weight_sparsity(model: nn.Module, dense_count: int) -> float:
    return 1.0 - _prunable_count(model) / dense_count


def _write(out_dir: Path, parent_dir: Path, parent: Run, spec: ExperimentSpec, info: dict[str, Any],
           model: nn.Module, data: Dataset, pruning: dict[str, Any], history: list[dict[str, Any]],
           evaluated: dict[str, dict[str, Any]]) -> None:
    """The pruned run folder: spec, model (sparse unless structured), metrics, history and plots."""
    rundir.open_stage_folder(out_dir)
    rundir.write_spec(out_dir, spec)
    shutil.copy2(parent_dir / rundir.PREPROCESS, out_dir / rundir.PREPROCESS)
    rundir.write_model(out_dir, model, info, sparse=pruning["method"] != "structured")
    pruning["bytes"]["file"] = (out_dir / rundir.WEIGHTS).stat().st_size
    test, val = evaluated["test"], evaluated["val"]
    rundir.write_metrics(out_dir, {
        "name": f"{parent.metrics.get('name', parent_dir.name)}-pruned",
        "task": info["task"], "parent": str(parent_dir.resolve()), "test": test, "val": val,
        "pruning": pruning, "seed": spec.seed, "threads": torch.get_num_threads(),
        "model": {"family": info["family"], "parameters": sum(p.numel() for p in model.parameters())},
        "versions": rundir.versions(),
    })
    rundir.write_history(out_dir / rundir.HISTORY, history)
    plot_pruning(pruning, out_dir / "pruning.png")
    if "confusion_matrix" in test:
        plot_confusion_matrix(test["confusion_matrix"], data.class_names or [], out_dir / "confusion_matrix.png")
