"""``neuroplast prune``: prune a trained run, fine-tune it, measure what it saved, write a new run.

Flow: load the parent run -> for each round of the schedule: prune to that round's target,
fine-tune (or, for ``lottery``, rewind the survivors to early weights and retrain), score
validation and test -> fold the masks in (unstructured) or record the new widths (structured)
-> measure dense against pruned in one process -> write the new run folder, linked to its parent.
"""

from __future__ import annotations

import copy
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast.data import Dataset, load_dataset
from neuroplast.data.augment import make_augment
from neuroplast.errors import UserError
from neuroplast.plasticity import prune as unstructured
from neuroplast.plasticity import structured
from neuroplast.plasticity.measure import compare
from neuroplast.spec import TrainSpec
from neuroplast.train import evaluate, fit
from neuroplast.io import save_json, save_weights

METHODS = ("magnitude", "saliency", "structured")
log = logging.getLogger(__name__)


def prune_run(run_dir: str | Path, method: str = "magnitude", sparsity: float = 0.9,
              schedule: str = "one-shot", rounds: int | None = None, epochs: int | None = None,
              lr: float | None = None, scope: str = "global", rewind_epoch: int = 1,
              out: str | Path | None = None, progress: bool = True, latency_repeats: int = 30,
              final_epochs: int | None = None, distill: float = 0.0):
    """Prune the network of a finished run and write the pruned network as a new run folder.

    Args:
        run_dir: the parent run folder (from ``neuroplast run``).
        method: ``magnitude`` (|w|), ``saliency`` (|w·∂L/∂w|) or ``structured`` (whole neurons,
            channels or hidden units removed: a smaller, faster dense model; MLP, CNN and
            one-directional RNN/LSTM/GRU).
        sparsity: share of the weights to remove (``magnitude``/``saliency``), or of each layer's
            neurons/channels (``structured``; the weights removed are reported, about
            ``1 - (1 - sparsity)**2`` of a layer between two pruned ones).
        schedule: ``one-shot``, ``iterative``, ``gradual`` or ``lottery`` (see
            :func:`neuroplast.plasticity.prune.schedule_targets`).
        rounds: rounds of ``iterative``/``gradual``/``lottery`` (default: ~20% of the remaining
            weights per round).
        epochs: fine-tuning epochs after each round but the last (default 2), with a cosine
            decay from ``lr``.
        lr: fine-tuning learning rate of those rounds (default: the parent's).
        final_epochs: epochs after the last round (default: the parent's), retraining at the final
            sparsity with the parent's own recipe (optimizer, learning rate, schedule), as Han et
            al. retrain; ``lottery`` retrains every round this way from the rewound weights.
        scope: ``global`` (one threshold across layers), ``layer`` (the same share of each) or
            ``lamp`` (one threshold on layer-adaptive scores).
        distill: classifiers: weight of distillation from the dense parent while fine-tuning
            (0: none; 0.5: half the loss is the KL divergence from the parent's softened outputs).
        rewind_epoch: ``lottery`` only: rewind survivors to the weights after this many epochs of
            the parent's training (0: the initialization), reproduced from the parent's seed.
        out: the new run folder (default ``<run_dir>-pruned-<method>``).
        latency_repeats: rounds of the latency measurement (median reported).

    Returns:
        The pruned :class:`~neuroplast.rundir.Run`; its ``metrics["pruning"]`` holds the curve
        (one point per round), sparsity, parameters, bytes on disk, MACs and latency, dense
        against pruned.
    """
    from neuroplast.rundir import _seed_everything, derived_dir, load

    run_dir = Path(run_dir)
    if method not in METHODS:
        raise UserError(f"method must be one of {', '.join(METHODS)}; received {method!r}.")
    parent = load(run_dir)
    if parent.spec is None:
        raise UserError(f"{run_dir} has no spec.toml to reload its data from; prune a run made by `neuroplast run`.")
    spec, info = parent.spec, parent.info
    if info["task"] == "language-model":
        raise UserError(f"prune measures and fine-tunes classifiers and regressors; {run_dir} is a language-model "
                        "run. Prune a sequence classifier or a forecaster instead.")
    if lr is not None and not 0.0 < lr < float("inf"):
        raise UserError(f"--lr must be a positive number such as 1e-3; received {lr}.")
    if schedule == "one-shot" and rounds not in (None, 1):
        raise UserError(f"--rounds {rounds} needs a schedule that prunes in rounds: add --schedule iterative, "
                        "gradual or lottery.")
    if method == "structured" and scope in ("lamp", "erk"):
        raise UserError(f"--scope {scope} shares out single weights across layers; structured pruning removes the "
                        "same share of each layer's neurons/channels. Leave --scope out, or use --method magnitude.")
    targets = unstructured.schedule_targets(sparsity, schedule, rounds)
    if method == "structured":
        structured.check_family(info["family"], parent.model)
        if schedule == "lottery":
            raise UserError("schedule 'lottery' rewinds individual weights; use it with --method magnitude or "
                            "saliency. Structured pruning takes one-shot, iterative or gradual.")
    out_dir = derived_dir(run_dir, out, f"pruned-{method}")
    _seed_everything(spec.seed, spec.train)
    data = load_dataset(spec.data, spec.seed)
    model, dense = parent.model, copy.deepcopy(parent.model)
    objective = parent.objective
    between = _finetune_spec(spec.train, epochs, lr)
    final = _retrain_spec(spec.train, final_epochs)
    augment = make_augment(spec.data.augment)
    baseline = _scores(_evaluate(model, data, objective, spec.train.eval_batch_size))
    curve = [{"round": 0, "target": 0.0, "sparsity": 0.0, **baseline}]
    history: list[dict[str, Any]] = []
    skipped = unstructured.not_pruned(model) if method != "structured" else structured.unprunable_layers(model)
    if skipped and method != "structured":
        log.warning("%s pruning leaves these layers dense: %s", method, ", ".join(skipped))
    dense_weights = _prunable_count(model)
    rewind = _rewind_state(spec, data, rewind_epoch) if schedule == "lottery" else None
    original = structured.layer_widths(model) if method == "structured" else {}
    if distill and info["task"] != "classification":
        raise UserError(f"distill applies to classifiers (soft class probabilities); this run is {info['task']!r}.")
    teacher = dense if distill else None  # the untouched dense copy; fit only reads it
    example = data.x_test[:256].cpu()
    for k, target in enumerate(targets, start=1):
        model.cpu().eval()
        if method == "structured" and info["family"] in structured.RECURRENT:
            structured.prune_hidden_units(model, max(1, round(original["rnn"] * (1 - target))))
        elif method == "structured":
            structured.prune_units(model, example[:2], {n: max(1, round(w * (1 - target)))
                                                        for n, w in original.items()})
        else:
            scores = (unstructured.saliency_scores(model, data.x_train, data.y_train, objective.loss, seed=spec.seed + k)
                      if method == "saliency" else None)
            unstructured.prune_to(model, target, scope, scores)
            if rewind is not None:  # the lottery ticket: the mask on early weights
                masks = unstructured.current_masks(model)
                unstructured.finalize(model)
                model.load_state_dict(rewind)
                unstructured.apply_masks(model, masks)
        last = k == len(targets) or schedule == "lottery"
        result = fit(model, data, final if last else between, seed=spec.seed + k, progress=progress,
                     augment=augment, teacher=teacher, distill=distill)
        history += [{"round": k, **h} for h in result.history]
        model.cpu().eval()
        removed = (_weight_sparsity(model, dense_weights) if method == "structured"
                   else unstructured.sparsity(model))
        final_eval = _evaluate(model, data, objective, spec.train.eval_batch_size)
        curve.append({"round": k, "target": target, "sparsity": removed, **_scores(final_eval)})
        log.info("round %d: sparsity %.4f, %s", k, removed, {k2: v for k2, v in curve[-1].items() if "_" in k2})
    if method == "structured":
        config = {**info["config"], **structured.spec_widths(info["family"], model, info["config"])}
        if "preset" in config:
            config["preset"] = None  # the widths are no longer the preset's
    else:
        unstructured.finalize(model)
        config = info["config"]
    new_spec = spec.updated(model=config, prune=None)
    summary = {
        "method": method, "schedule": schedule, "scope": scope if method != "structured" else "layer",
        "rounds": len(targets), "target_sparsity": sparsity,
        "sparsity": curve[-1]["sparsity"],
        "epochs_per_round": between.epochs, "lr": between.lr, "final_epochs": final.epochs,
        "final_lr": final.lr, "final_schedule": final.schedule, "distill": distill,
        **({"rewind_epoch": rewind_epoch} if schedule == "lottery" else {}),
        "baseline": baseline, "curve": curve,
        "not_pruned": skipped,
        **({"layer_sparsity": unstructured.layer_sparsity(model)} if method != "structured"
           else {"widths": {"dense": original, "pruned": structured.layer_widths(model)}}),
        **compare(dense.cpu(), model, example, sparse=method != "structured", repeats=latency_repeats),
    }
    primary = "accuracy" if "test_accuracy" in baseline else "rmse"
    summary[f"test_{primary}_change"] = curve[-1][f"test_{primary}"] - baseline[f"test_{primary}"]
    _write(out_dir, run_dir, parent, new_spec, {**info, "config": config}, model, data, summary, history,
           final_eval)
    pruned = load(out_dir)
    from neuroplast.see.report import write_report_safely

    write_report_safely(out_dir, run=pruned, data=data)  # report.html; a failure only logs a warning
    return pruned


_ROUND = {"early_stopping": None, "ema": None, "checkpoint": False, "cuda_graphs": False, "compile": False,
          "log": ()}  # inside a round: no early stopping, weight averaging, checkpoints or trackers


def _finetune_spec(train: TrainSpec, epochs: int | None, lr: float | None) -> TrainSpec:
    """Between rounds: a short fine-tune with a cosine decay from the parent's learning rate."""
    if epochs is not None and epochs < 1:
        raise UserError(f"epochs must be at least 1 (fine-tuning epochs per round); received {epochs}.")
    return train.model_copy(update={**_ROUND, "epochs": epochs or 2, "lr": lr or train.lr, "schedule": "cosine"})


def _retrain_spec(train: TrainSpec, epochs: int | None) -> TrainSpec:
    """After the last round: the parent's own recipe, for ``epochs`` (default: all of them)."""
    if epochs is not None and epochs < 1:
        raise UserError(f"final_epochs (--final-epochs) must be at least 1; received {epochs}.")
    return train.model_copy(update={**_ROUND, "epochs": epochs or train.epochs})


def _rewind_state(spec, data: Dataset, rewind_epoch: int) -> dict[str, torch.Tensor]:
    """The parent's weights after ``rewind_epoch`` epochs, reproduced from its seed (0: at init)."""
    from neuroplast.models import build_model, model_outputs
    from neuroplast.rundir import _seed_everything

    if rewind_epoch < 0 or rewind_epoch >= spec.train.epochs:
        raise UserError(f"rewind_epoch (--rewind-epoch) must be between 0 and the parent's epochs - 1 ({spec.train.epochs - 1}); "
                        f"received {rewind_epoch}.")
    _seed_everything(spec.seed, spec.train)
    load_dataset(spec.data, spec.seed)  # the same random draws as the parent before its model was built
    model = build_model(spec.model, data.input_shape, model_outputs(data.num_outputs, spec.train.loss), data.task,
                        data.vocab_size)
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


def _evaluate(model: nn.Module, data: Dataset, objective, batch_size: int) -> dict[str, dict[str, Any]]:
    """The full metrics of the validation and test splits (as metrics.json holds them)."""
    return {split: evaluate(model, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"), objective,
                            batch_size, data.preprocess, data.num_classes) for split in ("val", "test")}


def _scores(evaluated: dict[str, dict[str, Any]]) -> dict[str, float]:
    """One curve point: ``val_accuracy``/``test_accuracy`` (``_rmse`` for regression)."""
    return {f"{split}_{key}": m[key] for split, m in evaluated.items() for key in ("accuracy", "rmse") if key in m}


def _prunable_count(model: nn.Module) -> int:
    return sum(unstructured.weight(m, n).numel() for _, m, n in unstructured.prunable_weights(model))


def _weight_sparsity(model: nn.Module, dense_count: int) -> float:
    return 1.0 - _prunable_count(model) / dense_count


def _write(out_dir: Path, parent_dir: Path, parent, spec, info: dict[str, Any], model: nn.Module,
           data: Dataset, pruning: dict[str, Any], history: list[dict[str, Any]],
           evaluated: dict[str, dict[str, Any]]) -> None:
    from neuroplast.plots import plot_confusion_matrix, plot_pruning
    from neuroplast.rundir import (
        METRICS_SCHEMA_VERSION,
        _versions,
        _write_history,
        _write_plain_pytorch,
    )
    from neuroplast.io import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "spec.toml", lambda p: p.write_text(spec.to_toml()))
    shutil.copy2(parent_dir / "preprocess.json", out_dir / "preprocess.json")
    save_json(out_dir / "model.json", info)
    save_weights(out_dir / "model.safetensors", model, sparse=pruning["method"] != "structured")
    pruning["bytes"]["file"] = (out_dir / "model.safetensors").stat().st_size
    _write_plain_pytorch(out_dir, model, info)
    test, val = evaluated["test"], evaluated["val"]
    metrics = {
        "schema_version": METRICS_SCHEMA_VERSION, "name": f"{parent.metrics.get('name', parent_dir.name)}-pruned",
        "task": info["task"], "parent": str(parent_dir.resolve()), "test": test, "val": val,
        "pruning": pruning, "seed": spec.seed, "threads": torch.get_num_threads(),
        "model": {"family": info["family"], "parameters": sum(p.numel() for p in model.parameters())},
        "versions": _versions(),
    }
    save_json(out_dir / "metrics.json", metrics)
    _write_history(out_dir / "history.csv", history)
    plot_pruning(pruning, out_dir / "pruning.png")
    if "confusion_matrix" in test:
        plot_confusion_matrix(test["confusion_matrix"], data.class_names or [], out_dir / "confusion_matrix.png")
