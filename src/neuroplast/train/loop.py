"""The training loop: backpropagation and gradient descent, read top to bottom.

Resident data: each epoch shuffles the training indices with a seeded generator and takes batches by
indexing the tensors on the device (no per-sample DataLoader). Streamed data (your own DataLoader or
Dataset, see :mod:`neuroplast.data.stream`): each epoch iterates the loader and moves every batch to the
device (:mod:`neuroplast.train.batches`). Losses are accumulated on the device and read back once per
epoch. After every epoch an exact-resume checkpoint (model, optimizer, scheduler, RNG states, history)
is written atomically; a streamed epoch resumes from its start, in the same order where the loader
shuffles with torch's global generator or the one :func:`fit` seeds (a loader with its own generator is
not rewound).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast.data.base import Dataset
from neuroplast.errors import TrainingDiverged, UserError
from neuroplast.spec import TrainSpec
from neuroplast.train import distributed
from neuroplast.train.batches import ResidentBatches, StreamedBatches, batch_source, streaming_line
from neuroplast.train.callbacks import Callback, CallbackList
from neuroplast.train.checkpoint import save_checkpoint
from neuroplast.train.cuda_graph import GraphedStep
from neuroplast.train.early_stopping import EarlyStopping
from neuroplast.train.evaluate import evaluate, predict_outputs
from neuroplast.train.metrics import UserMetrics
from neuroplast.train.objective import Objective, distilled, make_objective, with_loss
from neuroplast.train.optimizers import make_optimizer, make_scheduler, resolve_device
from neuroplast.train.own import OwnParts, describe, fuse
from neuroplast.train.progress import PlainProgress, make_progress
from neuroplast.train.seed import rng_state, set_rng_state
from neuroplast.train.threads import choose, training_step


@dataclass
class FitResult:
    """What training produced besides the weights (which stay in the model)."""

    history: list[dict[str, Any]]
    best_epoch: int
    seconds: float
    samples_per_second: float
    device: str
    objective: Objective
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.history)


@dataclass
class _Loop:
    """What the epochs read and update, made once by :func:`_set_up` (and :func:`_resume`)."""

    model: nn.Module
    train_model: nn.Module  # the model, or its DistributedDataParallel / torch.compile wrapper
    data: Dataset
    spec: TrainSpec
    device: torch.device
    layout: torch.memory_format | None  # channels-last images, else None
    objective: Objective
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    amp_dtype: torch.dtype | None
    ema: Any
    gen: torch.Generator
    stopper: EarlyStopping
    rank: int
    world_size: int
    steps_per_epoch: int
    samples_per_epoch: int
    local_batch: int
    use_graph: bool
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None
    teacher: nn.Module | None
    distill: float
    temperature: float
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    seconds: float = 0.0
    graphed: GraphedStep | None = None
    capture_seconds: float = 0.0  # warm-up and capture of the CUDA graph, inside the first epoch's time
    shuffle: bool = True
    epoch_scheduler: Any = None  # the caller's own LR scheduler, stepped after every epoch
    notes: list[str] = field(default_factory=list)  # said once when training starts
    facts: dict[str, Any] = field(default_factory=dict)  # what metrics.json's "train" records of the set-up
    batches: ResidentBatches | StreamedBatches | None = None  # where each epoch's batches come from

    @property
    def scored(self) -> nn.Module:
        """The weights validation scores: the EMA average when there is one."""
        return self.model if self.ema is None else self.ema.module


def fit(model: nn.Module, data: Dataset, spec: TrainSpec | None = None, *, seed: int = 0,
        checkpoint_path: Path | None = None, resume: dict[str, Any] | None = None,
        callbacks: Sequence[Callback] = (), progress: bool | PlainProgress = True,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        teacher: nn.Module | None = None, distill: float = 0.5, temperature: float = 4.0,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        optimizer: torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer] | None = None,
        scheduler: Any = None, metrics: Sequence[Any] = (), shuffle: bool = True) -> FitResult:
    """Train ``model`` on ``data`` as ``spec`` says; the model ends with the best (or last) weights.

    Args:
        model: any ``nn.Module`` mapping a batch of ``data.x_*`` to logits / targets.
        data: the in-memory :class:`~neuroplast.data.Dataset`.
        spec: optimizer, schedule, epochs, device...; defaults to ``TrainSpec()``.
        seed: seeds the shuffling generator (the model's initialisation is the caller's).
        checkpoint_path: where to write the exact-resume checkpoint after every epoch.
        resume: a checkpoint dict from :func:`~neuroplast.train.checkpoint.load_checkpoint`.
        callbacks: objects with ``on_epoch_end(epoch, logs)``; returning True stops training. One
            with a ``set_model(model)`` method is handed the model before the first epoch.
        progress: True for a bar (terminal) or per-epoch lines; False for silence.
        augment: ``augment(batch, generator) -> batch`` applied to training batches only.
        teacher: a trained classifier to distil from (Hinton et al. 2015,
            https://arxiv.org/abs/1503.02531): the loss becomes ``(1 - distill) * loss + distill *
            T² * KL(teacher || student)`` on logits softened by ``temperature`` T (used by pruning to
            fine-tune the pruned network towards its dense parent).
        loss: your own ``loss(output, target) -> scalar`` (a callable or an ``nn.Module`` such as
            ``nn.CrossEntropyLoss()``) instead of the one ``spec.loss`` names.
        optimizer: your own optimizer over ``model``'s parameters, or a factory ``params -> Optimizer``,
            instead of the one ``spec`` describes (``spec.schedule`` still applies to it).
        scheduler: your own LR scheduler (or a factory ``optimizer -> scheduler``), stepped after every
            epoch as the PyTorch tutorial steps it (``ReduceLROnPlateau`` with the validation loss);
            instead of ``spec.schedule``, which must then be ``"none"``.
        metrics: your own metrics (torchmetrics objects or callables ``(output, target) -> number``),
            scored on the validation split after every epoch as ``val_<name>`` (see :mod:`~neuroplast.train.metrics`).
        shuffle: False keeps the training examples in their order every epoch (a ``DataLoader`` with
            ``shuffle=False``).
    """
    own = OwnParts(loss, optimizer, shuffle, scheduler)
    scorers = UserMetrics(metrics)
    hooks = CallbackList(callbacks)
    loop = _set_up(model, data, spec or TrainSpec(), seed, callbacks, augment, teacher, distill, temperature, own)
    if resume is not None:
        _resume(loop, resume)
    _set_threads(loop, resume)
    if loop.rank != 0:  # rank 0 alone prints and writes checkpoints
        progress, checkpoint_path = False, None
    bar = progress if isinstance(progress, PlainProgress) else make_progress(bool(progress))
    bar.start(loop.spec.epochs, loop.steps_per_epoch, loop.start_epoch)
    for note in loop.notes:
        bar.note(note)
    stopped = loop.stopper.should_stop
    hooks.call("on_train_begin", {})
    try:
        for epoch in range(loop.start_epoch, loop.spec.epochs):
            if stopped:
                break
            t0 = time.perf_counter()
            hooks.call("on_epoch_begin", epoch + 1, {})
            train_loss = _train_epoch(loop, epoch, bar, hooks)
            stopped = _end_epoch(loop, epoch, train_loss, t0, hooks, bar, scorers)
            if checkpoint_path is not None:
                save_checkpoint(checkpoint_path, _checkpoint(loop, epoch, stopped))
    finally:
        bar.close()
    result = _finish(loop)
    hooks.call("on_train_end", dict(loop.history[-1]) if loop.history else {})
    return result


# --------------------------------------------------------------------------- set-up
def _set_up(model: nn.Module, data: Dataset, spec: TrainSpec, seed: int, callbacks: Sequence[Callback],
            augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None, teacher: nn.Module | None,
            distill: float, temperature: float, own: OwnParts) -> _Loop:
    """Check the settings, place the model and data on the device, and make the optimizer, schedule,
    loss scaler, shuffling generator, wrappers (DDP, compile) and EMA, in that order."""
    if spec.lr == "auto":
        raise UserError('train.lr = "auto" is resolved by neuroplast.run / neuroplast.fit; fit() needs a '
                        "number. Call neuroplast.train.find_lr(model, data, spec) and pass its suggestion.")
    rank, world_size = distributed.world()
    device, data, layout = _place(model, data, spec)
    for cb in callbacks:  # Keras' hook: a callback that wants to look at the model while it learns
        if hasattr(cb, "set_model"):
            cb.set_model(model)
    out_width = _output_width(model, data, checked=own.loss is None and spec.loss in ("auto", "mse", "huber"))
    objective = make_objective(data.task, out_width, spec.loss, spec.label_smoothing, data.num_classes)
    if own.loss is not None:
        objective = with_loss(objective, own.loss)
    gen = torch.Generator(device=device).manual_seed(seed)
    batches = batch_source(data, spec, device, gen, own.shuffle, (rank, world_size))
    steps_per_epoch = batches.steps
    use_graph = spec.cuda_graphs and device.type == "cuda" and world_size == 1 and teacher is None  # else ignored
    if teacher is not None:
        if not 0.0 <= distill <= 1.0 or temperature <= 0:
            raise UserError(f"distillation needs 0 <= distill <= 1 and temperature > 0; received distill={distill}, "
                            f"temperature={temperature}.")
        teacher = teacher.to(device).eval()
    local_batch = _local_batch(spec, world_size)
    if use_graph and (spec.compile or spec.amp == "fp16"):
        other = "compile = true" if spec.compile else "amp = 'fp16'"
        raise UserError(f"train.cuda_graphs = true cannot be combined with {other}. Use one of them.")
    optimizer = own.optimizer_for(model)
    fused_by_fit = optimizer is not None and fuse(optimizer)
    optimizer = optimizer or make_optimizer(model, spec, capturable=use_graph)
    if use_graph and spec.gradient_accumulation > 1:
        raise UserError("train.cuda_graphs = true replays one whole step per batch; it cannot accumulate gradients "
                        f"(train.gradient_accumulation = {spec.gradient_accumulation}). Use one of them.")
    optimizer_steps = math.ceil(steps_per_epoch / spec.gradient_accumulation)
    scheduler = make_scheduler(optimizer, spec, optimizer_steps, cycle_momentum=not use_graph)
    if own.scheduler is not None and scheduler is not None:
        raise UserError(f"pass either your own scheduler or train.schedule = {spec.schedule!r}, not both.")
    scaler = torch.amp.GradScaler(device.type) if spec.amp == "fp16" and device.type == "cuda" else None
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec.amp)
    train_model, ema = _wrap(model, spec, device, world_size)
    return _Loop(model=model, train_model=train_model, data=data, spec=spec, device=device, layout=layout,
                 objective=objective, optimizer=optimizer, scheduler=scheduler, scaler=scaler, amp_dtype=amp_dtype,
                 ema=ema, gen=gen, stopper=EarlyStopping(spec), rank=rank, world_size=world_size,
                 steps_per_epoch=steps_per_epoch, samples_per_epoch=batches.samples_per_epoch,
                 local_batch=local_batch, use_graph=use_graph, augment=augment, teacher=teacher, distill=distill,
                 temperature=temperature, shuffle=own.shuffle, epoch_scheduler=own.scheduler_for(optimizer),
                 notes=([streaming_line(batches)] if isinstance(batches, StreamedBatches) else []) + (
                     [f"your {type(optimizer).__name__} steps with torch's fused kernel (the same update; pass "
                      "fused=False to keep torch's per-parameter loop)"] if fused_by_fit else []),
                 facts={"optimizer": describe(optimizer, fused_by_fit)}, batches=batches)


def _output_width(model: nn.Module, data: Dataset, checked: bool) -> int:
    """The model's outputs per sample, from two training inputs: a model that cannot take them, or (for
    a regression with the spec's loss) gives another number of outputs than the targets have, is refused."""
    try:
        width = predict_outputs(model, data.x_train[:2]).shape[-1]
    except RuntimeError as e:
        raise UserError(f"the model cannot take the data's inputs of shape {tuple(data.x_train.shape[1:])} per sample "
                        f"({str(e).splitlines()[0]}); make its first layer fit them.") from None
    if checked and data.task == "regression" and width != data.num_outputs:
        floats = "; class labels as floats? pass integers (y.long())" if data.num_outputs == 1 else ""
        raise UserError(f"the model gives {width} outputs per sample but the regression targets have "
                        f"{data.num_outputs}{floats}.")
    return width


def _set_threads(loop: _Loop, resume: dict[str, Any] | None) -> None:
    """torch's thread count: the one a resumed run trained with (exact resume), else ``train.threads``:
    fixed, torch's default, or ``"auto"``, timed on a copy of the model and a batch (:mod:`.threads`)."""
    setting = int(resume["threads"]) if resume is not None and resume.get("threads") else loop.spec.threads
    xb, yb = loop.data.x_train[:loop.local_batch], loop.data.y_train[:loop.local_batch]  # a stream's first batch
    step = training_step(loop.model, loop.optimizer, loop.objective.loss, xb, yb) if setting == "auto" and len(xb) \
        else None
    loop.facts["threads"] = choose(setting, step, loop.device, loop.world_size)


def _place(model: nn.Module, data: Dataset,
           spec: TrainSpec) -> tuple[torch.device, Dataset, torch.memory_format | None]:
    """Move the model and the resident data to this process's device (channels-last if asked)."""
    device = distributed.local_device(resolve_device(spec.device))
    model.to(device)
    data = data.to(device)
    layout = torch.channels_last if spec.channels_last and data.x_train.ndim == 4 else None
    if layout is not None:  # NHWC: the model's conv weights and the resident images
        model.to(memory_format=layout)
        data = data.to(device, memory_format=layout)
    if len(data.x_train) == 0:
        raise UserError("The training split is empty. Lower data.val_fraction / data.test_fraction or add data.")
    return device, data, layout


def _local_batch(spec: TrainSpec, world_size: int) -> int:
    """This process's share of ``train.batch_size``, which is the global batch."""
    if world_size > 1:  # each rank takes its slice
        if spec.batch_size % world_size:
            raise UserError(f"train.batch_size = {spec.batch_size} is the global batch and must divide "
                            f"evenly over the {world_size} processes. Use a multiple of {world_size}.")
        return spec.batch_size // world_size
    return spec.batch_size


def _wrap(model: nn.Module, spec: TrainSpec, device: torch.device, world_size: int) -> tuple[nn.Module, Any]:
    """The module the batches go through (DDP over several processes, torch.compile if asked) and the
    EMA average of the weights (None without ``train.ema``)."""
    train_model = model
    if world_size > 1:  # averages the gradients over the ranks in backward
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    train_model = torch.compile(train_model) if spec.compile else train_model
    ema = None
    if spec.ema:  # Polyak averaging (Keras' use_ema): validation and the final model use the average
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(spec.ema), use_buffers=True)
    return train_model, ema


def _resume(loop: _Loop, resume: dict[str, Any]) -> None:
    """Put back the state a checkpoint saved: weights, EMA, optimizer, schedule, scaler, history,
    early stopping and every RNG."""
    loop.model.load_state_dict(resume["model"])
    if loop.ema is not None and resume.get("ema"):
        loop.ema.load_state_dict(resume["ema"])
    loop.optimizer.load_state_dict(resume["optimizer"])
    if loop.scheduler is not None and resume.get("scheduler"):
        loop.scheduler.load_state_dict(resume["scheduler"])
    if loop.epoch_scheduler is not None and resume.get("epoch_scheduler"):
        loop.epoch_scheduler.load_state_dict(resume["epoch_scheduler"])
    if loop.scaler is not None and resume.get("scaler"):
        loop.scaler.load_state_dict(resume["scaler"])
    loop.history, loop.start_epoch, loop.seconds = list(resume["history"]), resume["epoch"], resume["seconds"]
    loop.stopper.load_state_dict(resume["early_stopping"])
    set_rng_state(resume["rng"], loop.gen)


# --------------------------------------------------------------------------- one epoch
def _train_epoch(loop: _Loop, epoch: int, bar: PlainProgress, hooks: CallbackList) -> float:
    """One pass over the training batches (a seeded shuffle of the resident split, or the stream); the
    mean training loss."""
    loop.model.train()
    loss_sum = torch.zeros((), device=loop.device)
    pending = 0  # batches whose gradients wait for the optimizer (train.gradient_accumulation)
    for step, (xb, yb, share) in enumerate(loop.batches.epoch(), start=1):
        try:
            loss, pending = _train_step(loop, xb, yb, share, pending)
        except RuntimeError as e:  # a streamed batch of another shape (a padding collate_fn) the model cannot take
            shape = loop.batches.stream.input_shape if isinstance(loop.batches, StreamedBatches) else None
            if shape is None or tuple(xb.shape[1:]) == tuple(shape):
                raise
            raise UserError(f"data: batch {step - 1} has inputs of shape {tuple(xb.shape[1:])} per sample, the first "
                            f"batch read had {tuple(shape)}, and the model cannot take them ({str(e).splitlines()[0]})"
                            "; give every sample one shape (resize or pad them) or make the model take any.") from None
        if pending == loop.spec.gradient_accumulation:
            pending = _optimizer_step(loop, pending)
        loss_sum.add_(loss.detach(), alpha=len(xb))  # stays on the device: no sync
        if hooks.wants_batches:  # a callback asked for every batch: one sync each
            hooks.call("on_batch_end", step, {"loss": loss.item(), "size": len(xb)})
        bar.step()
    if pending:  # the epoch's last, shorter window
        _optimizer_step(loop, pending)
    distributed.all_reduce_sum(loss_sum)
    loop.samples_per_epoch = loop.batches.samples
    train_loss = loss_sum.item() / loop.batches.samples  # the one host-device sync of the epoch
    if not math.isfinite(train_loss):
        raise TrainingDiverged(
            f"The training loss became {train_loss} in epoch {epoch + 1}. The last good checkpoint "
            f"(epoch {epoch}) is kept. Lower train.lr, set train.grad_clip, or check the data "
            "for NaN/inf values.")
    return train_loss


def _train_step(loop: _Loop, xb: torch.Tensor, yb: torch.Tensor, share: float,
                pending: int) -> tuple[torch.Tensor, int]:
    """Forward, loss and backward on the batch ``(xb, yb)``, adding to the gradients of the ``pending``
    batches before it; the loss and the batches now pending (a CUDA graph steps at once: 0)."""
    if loop.augment is not None:
        xb = loop.augment(xb, loop.gen)
    if loop.layout is not None:  # a no-op when indexing kept the layout
        xb = xb.contiguous(memory_format=loop.layout)
    if loop.use_graph and len(xb) == loop.local_batch:  # full batches replay one CUDA graph
        if loop.graphed is None:
            t_capture = time.perf_counter()
            loop.graphed = GraphedStep(loop.model, loop.optimizer, loop.objective.loss, xb, yb, loop.amp_dtype,
                                       loop.spec.grad_clip)
            loop.capture_seconds = time.perf_counter() - t_capture
        loss = loop.graphed(xb, yb)
        _after_step(loop)
        return loss, 0
    with torch.autocast(loop.device.type, dtype=loop.amp_dtype) if loop.amp_dtype else contextlib.nullcontext():
        out = loop.train_model(xb)
        loss = loop.objective.loss(out, yb)
        if loop.teacher is not None:
            loss = distilled(loss, out, loop.teacher, xb, loop.distill, loop.temperature)
    if pending == 0:
        _zero_grad(loop.optimizer, set_to_none=not loop.use_graph)
    factor = share / loop.spec.gradient_accumulation  # the window's mean; DDP's uneven last batch
    scaled = loss if factor == 1.0 else loss * factor  # (a multiplication costs a node in the graph)
    (scaled if loop.scaler is None else loop.scaler.scale(scaled)).backward()
    return loss, pending + 1


def _optimizer_step(loop: _Loop, batches: int) -> int:
    """One gradient-descent step on the mean gradient of the last ``batches`` batches (clipped if asked,
    through the fp16 loss scaler when there is one), then the per-step schedule and EMA; 0 batches pending."""
    if batches < loop.spec.gradient_accumulation:  # a shorter last window: each batch was divided by the full one
        for p in loop.model.parameters():
            if p.grad is not None:
                p.grad.mul_(loop.spec.gradient_accumulation / batches)
    if loop.scaler is not None:
        loop.scaler.unscale_(loop.optimizer)
    if loop.spec.grad_clip:
        nn.utils.clip_grad_norm_(loop.model.parameters(), loop.spec.grad_clip)
    if loop.scaler is None:
        loop.optimizer.step()
    else:
        loop.scaler.step(loop.optimizer)
        loop.scaler.update()
    _after_step(loop)
    return 0


def _zero_grad(optimizer: torch.optim.Optimizer, set_to_none: bool) -> None:
    """``optimizer.zero_grad`` without its per-call wrapper (a tenth of a small network's step on a CPU)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_().zero_()


def _after_step(loop: _Loop) -> None:
    """What follows every optimizer step: the per-step learning-rate schedule and the weights' EMA."""
    if loop.scheduler is not None:
        loop.scheduler.step()
    if loop.ema is not None:
        loop.ema.update_parameters(loop.model)


# --------------------------------------------------------------------------- end of an epoch
def _end_epoch(loop: _Loop, epoch: int, train_loss: float, t0: float, hooks: CallbackList,
               bar: PlainProgress, scorers: UserMetrics) -> bool:
    """Validate, add the epoch's row to the history, and ask early stopping and the callbacks whether
    to stop (True: stop)."""
    logs: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss}
    val = evaluate(loop.scored, loop.data.x_val, loop.data.y_val, loop.objective, loop.spec.eval_batch_size,
                   loop.data.preprocess, loop.data.num_classes)
    for key in ("loss", "accuracy", "bits_per_char", "rmse", "r2"):
        if key in val:
            logs[f"val_{key}"] = val[key]
    for name, value in scorers.score(loop.scored, loop.data.x_val, loop.data.y_val, loop.spec.eval_batch_size).items():
        logs[f"val_{name}"] = value
    logs["lr"] = loop.optimizer.param_groups[0]["lr"]
    epoch_seconds = time.perf_counter() - t0
    loop.seconds += epoch_seconds
    logs["seconds"] = epoch_seconds
    loop.history.append(logs)
    if loop.epoch_scheduler is not None:  # after the epoch's row: it logs the rate the epoch trained with
        if isinstance(loop.epoch_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            loop.epoch_scheduler.step(logs.get("val_loss", train_loss))
        else:
            loop.epoch_scheduler.step()
    stopped = loop.stopper.update(epoch + 1, logs, loop.scored)
    reason = loop.stopper.reason(epoch + 1) if stopped else None
    if hooks.call("on_epoch_end", epoch + 1, logs):
        stopped, reason = True, reason or hooks.stop_reason(epoch + 1)
    bar.epoch_end(logs)
    if reason is not None:
        bar.note(reason)
        loop.facts["stopped"] = reason
    return stopped


def _checkpoint(loop: _Loop, epoch: int, stopped: bool) -> dict[str, Any]:
    """The exact-resume state after ``epoch``: what :func:`_resume` puts back."""
    return {
        "model": {k: v.detach().cpu().clone() for k, v in loop.model.state_dict().items()},
        "optimizer": loop.optimizer.state_dict(),
        "scheduler": loop.scheduler.state_dict() if loop.scheduler is not None else {},
        "scaler": loop.scaler.state_dict() if loop.scaler is not None else {},
        "epoch": epoch + 1, "history": loop.history, "seconds": loop.seconds,
        "early_stopping": loop.stopper.state_dict(stopped), "rng": rng_state(loop.gen),
        "ema": loop.ema.state_dict() if loop.ema is not None else {},
        "epoch_scheduler": loop.epoch_scheduler.state_dict() if loop.epoch_scheduler is not None else {},
        "threads": torch.get_num_threads(),
    }


# --------------------------------------------------------------------------- finish
def _finish(loop: _Loop) -> FitResult:
    """The final weights (EMA average, then the best epoch's if early stopping restores them) and the result."""
    if loop.ema is not None:  # the averaged weights become the model's
        loop.model.load_state_dict(loop.ema.module.state_dict())
    loop.stopper.restore(loop.model)
    samples = loop.samples_per_epoch * len(loop.history)
    return FitResult(loop.history, loop.stopper.best_epoch or len(loop.history), loop.seconds,
                     samples / loop.seconds if loop.seconds > 0 else 0.0, str(loop.device), loop.objective,
                     stopped_early=len(loop.history) < loop.spec.epochs, extra=_extra(loop))


def _extra(loop: _Loop) -> dict[str, Any]:
    """What metrics.json records beyond the history: the CUDA graph's capture time, how the data streamed."""
    extra: dict[str, Any] = dict(loop.facts)
    if loop.graphed is not None:
        extra["cuda_graph_capture_seconds"] = loop.capture_seconds
    if isinstance(loop.batches, StreamedBatches):
        extra["data"] = {**loop.batches.stream.describe(), "samples_per_epoch": loop.samples_per_epoch}
    return extra
