"""The learning-rate finder: a short exponential sweep of the learning rate on training batches.

The range test of Leslie Smith ("Cyclical Learning Rates for Training Neural Networks", 2017,
https://arxiv.org/abs/1506.01186), as fastai runs it: take one optimizer step per batch while the
rate grows geometrically from ``start_lr`` to ``end_lr``, record an exponentially smoothed loss, and
stop once it diverges (more than ``diverge`` times the best smoothed loss so far, not tested in the
first tenth of the sweep, where one noisy batch would trip it). The suggestion is
one tenth of the rate at which the smoothed loss was lowest (fastai's ``lr_min``): the minimum sits
just before the loss blows up, and a tenth of it is still on the fast-falling part of the curve.

The model comes back exactly as it went in: weights, buffers (batch-norm statistics), gradients,
train/eval flags and the global random generators are restored, so a run after the sweep is the same
as a run without it. The sweep uses its own optimizer (built by ``make_optimizer``), so no optimizer
state of the caller is touched.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast.data.base import Dataset
from neuroplast.errors import UserError
from neuroplast.spec import TrainSpec
from neuroplast.train.evaluate import predict_outputs
from neuroplast.train.objective import make_objective
from neuroplast.train.optimizers import make_optimizer, resolve_device

RULE = "min_loss/10"


@dataclass(frozen=True)
class LRFinderResult:
    """What a sweep measured and what it suggests.

    Attributes:
        lrs: the learning rate of each step taken.
        losses: the raw training loss of each step's batch.
        smoothed: the bias-corrected exponential moving average of ``losses`` (what the rule reads).
        suggestion: the suggested learning rate.
        reason: one sentence saying how ``suggestion`` was picked from the curve.
        rule: the rule's name, ``"min_loss/10"``.
        stopped_early: True when the smoothed loss diverged before ``end_lr``.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    reason: str
    rule: str = RULE
    stopped_early: bool = False

    def plot(self, path: str | Path | None = None) -> Any:
        """The loss against the learning rate (log axis), the suggestion marked. With ``path``: write
        it as a PNG and return the path; without: return the ``matplotlib.figure.Figure`` (shown inline
        in Jupyter).

        Example:
            >>> result.plot()                  # in a notebook: the figure
            >>> result.plot("lr_find.png")     # a file
        """
        from neuroplast.plots import lr_find_figure

        fig = lr_find_figure(self.lrs, self.losses, self.smoothed, self.suggestion, self.reason)
        if path is None:
            return fig
        fig.savefig(path, dpi=100)
        return Path(path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        return f"LRFinderResult(suggestion={self.suggestion:.3g}, steps={len(self.lrs)}, rule={self.rule!r})"


def find_lr(model: nn.Module, data: Dataset, spec: TrainSpec | None = None, *, seed: int = 0,
            start_lr: float = 1e-7, end_lr: float = 10.0, num_steps: int = 100, smoothing: float = 0.98,
            diverge: float = 4.0,
            augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None) -> LRFinderResult:
    """Sweep the learning rate exponentially on training batches and suggest one.

    Args:
        model: the network, as training would start from it; it is restored afterwards.
        data: the in-memory :class:`~neuroplast.data.Dataset` (only the training split is used).
        spec: the optimizer, weight decay, batch size, loss, device... to sweep with; its ``lr``
            is ignored (it may be ``"auto"``).
        seed: seeds the order of the batches.
        start_lr, end_lr: the first and the last rate of the sweep.
        num_steps: optimizer steps from ``start_lr`` to ``end_lr`` (batches, cycling through the
            training split as often as needed).
        smoothing: the moving-average factor of the smoothed loss (0 = no smoothing).
        diverge: stop once the smoothed loss exceeds this multiple of its best value.
        augment: ``augment(batch, generator) -> batch``, as in training.

    Example:
        >>> result = find_lr(model, data, TrainSpec(optimizer="adamw"))
        >>> result.suggestion, result.reason
        >>> result.plot("lr_find.png")
    """
    spec = spec or TrainSpec()
    _check_sweep(start_lr, end_lr, num_steps, smoothing, diverge)
    if len(data.x_train) == 0:
        raise UserError("The training split is empty. Lower data.val_fraction / data.test_fraction or add data.")
    if isinstance(spec.threads, int):  # "auto" is measured by training; the sweep keeps the current count
        torch.set_num_threads(spec.threads)
    device = resolve_device(spec.device)
    with _restored(model):
        model.to(device)
        data = data.to(device)
        lrs, losses, smoothed, stopped = _sweep(model, data, spec, seed, start_lr, end_lr, num_steps,
                                                smoothing, diverge, augment)
    suggestion, reason = suggest(lrs, smoothed)
    return LRFinderResult(lrs, losses, smoothed, suggestion, reason, RULE, stopped)


def suggest(lrs: list[float], smoothed: list[float]) -> tuple[float, str]:
    """One tenth of the rate with the lowest smoothed loss, and a sentence saying so.

    The first tenth of the sweep is skipped (the moving average is still warming up there), as
    fastai does. A curve that is lowest right after that warm-up never fell, so it has no rate to
    suggest (the model may be trained already): that is a :class:`UserError`, not a silently tiny rate.
    """
    skip = len(smoothed) // 10
    candidates = [i for i, v in enumerate(smoothed) if i >= skip and math.isfinite(v)]
    if len(candidates) < 2:
        raise UserError(f"The learning-rate sweep got only {len(candidates)} usable loss value(s), too "
                        "few for a suggestion. Lower start_lr, or check the data for NaN/inf values.")
    best = min(candidates, key=lambda i: smoothed[i])
    if best == candidates[0]:
        raise UserError(f"The smoothed loss never fell during the learning-rate sweep (lowest at its start, "
                        f"lr {lrs[best]:.2g}), so there is no rate to suggest; the model may be trained "
                        "already. Set train.lr to a number instead of 'auto'.")
    suggestion = lrs[best] / 10
    reason = (f"one tenth of {lrs[best]:.2g}, the learning rate where the smoothed training loss was "
              f"lowest ({smoothed[best]:.3g}); rule {RULE}, as fastai's lr_min")
    return suggestion, reason


# --------------------------------------------------------------------------- helpers
def _check_sweep(start_lr: float, end_lr: float, num_steps: int, smoothing: float, diverge: float) -> None:
    if not 0 < start_lr < end_lr:
        raise UserError(f"lr_find needs 0 < start_lr < end_lr; received start_lr={start_lr}, "
                        f"end_lr={end_lr}. The usual range is 1e-7 to 10.")
    if num_steps < 2:
        raise UserError(f"lr_find needs num_steps >= 2; received {num_steps}. The usual value is 100.")
    if not 0 <= smoothing < 1:
        raise UserError(f"lr_find needs 0 <= smoothing < 1; received {smoothing}. The usual value is 0.98.")
    if diverge <= 1:
        raise UserError(f"lr_find needs diverge > 1; received {diverge}. The usual value is 4.")


def _sweep(model: nn.Module, data: Dataset, spec: TrainSpec, seed: int, start_lr: float, end_lr: float,
           num_steps: int, smoothing: float, diverge: float,
           augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None,
           ) -> tuple[list[float], list[float], list[float], bool]:
    """The sweep itself: one step per batch at a geometrically growing rate."""
    out_width = predict_outputs(model, data.x_train[:2]).shape[-1]
    objective = make_objective(data.task, out_width, spec.loss, spec.label_smoothing, data.num_classes)
    optimizer = make_optimizer(model, spec.model_copy(update={"lr": start_lr}))
    gen = torch.Generator(device=data.x_train.device).manual_seed(seed)
    factor = (end_lr / start_lr) ** (1 / (num_steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    average, best, warmup = 0.0, math.inf, num_steps // 10
    model.train()
    for step, idx in zip(range(num_steps), _batches(len(data.x_train), spec.batch_size, gen), strict=False):
        lr = start_lr * factor**step
        for group in optimizer.param_groups:
            group["lr"] = lr
        xb, yb = data.x_train[idx], data.y_train[idx]
        if augment is not None:
            xb = augment(xb, gen)
        loss = objective.loss(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if spec.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        optimizer.step()
        value = loss.item()  # one sync per step: the stopping test needs the number
        average = smoothing * average + (1 - smoothing) * value
        lrs.append(lr)
        losses.append(value)
        smoothed.append(average / (1 - smoothing ** (step + 1)))  # bias-corrected, as in Adam
        if not math.isfinite(smoothed[-1]):
            return lrs, losses, smoothed, True
        if step >= warmup:  # the first tenth is mostly single-batch noise: not a divergence
            best = min(best, smoothed[-1])
            if smoothed[-1] > diverge * best:
                return lrs, losses, smoothed, True
    return lrs, losses, smoothed, False


def _batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index batches, epoch after epoch, without end."""
    while True:
        perm = torch.randperm(n, generator=gen, device=gen.device)
        for i in range(0, n, batch_size):
            yield perm[i: i + batch_size]


class _restored:
    """Put back everything a sweep changes: the state_dict (weights and buffers), gradients, the
    train/eval flag of every module, the device, and torch's, NumPy's and Python's generators."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        m = self.model
        self.state = {k: v.detach().clone() for k, v in m.state_dict(keep_vars=True).items()}
        self.grads = [None if p.grad is None else p.grad.detach().clone() for p in m.parameters()]
        self.modes = [sub.training for sub in m.modules()]
        first = next(m.parameters(), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.rng = (torch.get_rng_state(), np.random.get_state(), random.getstate(),
                    torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)

    def __exit__(self, *exc: object) -> None:
        m = self.model
        m.to(self.device)
        m.load_state_dict(self.state)
        for p, g in zip(m.parameters(), self.grads, strict=True):
            p.grad = g
        for sub, mode in zip(m.modules(), self.modes, strict=True):
            sub.training = mode
        torch.set_rng_state(self.rng[0])
        np.random.set_state(self.rng[1])
        random.setstate(self.rng[2])
        if self.rng[3] is not None:
            torch.cuda.set_rng_state_all(self.rng[3])
