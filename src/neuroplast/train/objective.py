"""What the network's outputs mean: the loss to train with, and how outputs become predictions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import UserError


@dataclass(frozen=True)
class Objective:
    """``kind`` is ``"multiclass"`` (softmax over logits), ``"binary"`` (one logit), ``"regression"``
    (also forecasting) or ``"language-model"`` (softmax over the vocabulary at every position)."""

    kind: str
    loss_name: str
    label_smoothing: float = 0.0

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch's mean loss. An output with a members axis, ``(batch, k, outputs)`` (an ensemble in
        training), is each member's loss on the batch, averaged."""
        if self.kind != "language-model" and out.dim() == 3:
            return self.loss(out.flatten(0, 1), y.repeat_interleave(out.shape[1], dim=0))
        if self.kind == "language-model":  # (B, T, V) logits against (B, T) next tokens
            return F.cross_entropy(out.flatten(0, -2), y.flatten(), label_smoothing=self.label_smoothing)
        if self.kind == "multiclass":
            return F.cross_entropy(out, y, label_smoothing=self.label_smoothing)
        if self.kind == "binary":
            z = out.squeeze(1)
            if self.loss_name == "perceptron":  # Rosenblatt's criterion: max(0, -t z), t in {-1, +1}
                return F.relu(-(2.0 * y.to(z.dtype) - 1.0) * z).mean()
            return F.binary_cross_entropy_with_logits(z, y.to(z.dtype))
        if self.loss_name == "huber":
            return F.huber_loss(out, y)
        if self.loss_name == "gaussian_nll":  # a mean and a variance per target (Nix & Weigend 1994)
            mean, var = gaussian(out)
            return F.gaussian_nll_loss(mean, y.reshape(mean.shape), var)
        return F.mse_loss(out, y)

    def proba(self, out: torch.Tensor) -> torch.Tensor:
        """Class probabilities, (batch, classes)."""
        if self.kind == "binary":
            p = torch.sigmoid(out.float()) if self.loss_name != "perceptron" else (out.float() > 0).float()
            return torch.cat([1 - p, p], dim=1)
        return torch.softmax(out.float(), dim=-1)

    def predict(self, out: torch.Tensor) -> torch.Tensor:
        if self.kind == "binary":
            return (out.squeeze(1) > 0).long()
        if self.kind in ("multiclass", "language-model"):
            return out.argmax(-1)
        if self.loss_name == "gaussian_nll":
            return gaussian(out)[0]
        return out

    @property
    def heads(self) -> int:
        """Outputs per target: 2 for a Gaussian head (mean, variance), else 1."""
        return 2 if self.loss_name == "gaussian_nll" else 1


def gaussian(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A Gaussian head's raw outputs ``(N, 2 * targets)`` -> mean and variance, each ``(N, targets)``;
    the variance is ``softplus(raw) + 1e-6``, positive and smooth."""
    mean, raw = out.chunk(2, dim=-1)
    return mean, F.softplus(raw) + 1e-6


def make_objective(task: str, output_width: int, loss: str = "auto", label_smoothing: float = 0.0,
                   num_classes: int = 0) -> Objective:
    """Pick the objective from the task and the model's output width (1 logit = binary)."""
    if task == "language-model":
        if loss not in ("auto", "cross_entropy"):
            raise UserError(f"train.loss = {loss!r} does not fit a language model; use 'cross_entropy'.")
        return Objective("language-model", "cross_entropy", label_smoothing)
    if task in ("regression", "forecast"):
        name = "mse" if loss == "auto" else loss
        if name not in ("mse", "huber", "gaussian_nll"):
            raise UserError(f"train.loss = {loss!r} does not fit a regression task; use 'mse', 'huber' or "
                            "'gaussian_nll' (a mean and a variance per target).")
        return Objective("regression", name)
    kind = "binary" if output_width == 1 else "multiclass"
    if output_width not in (1, num_classes) and num_classes:
        raise UserError(f"The model gives {output_width} outputs but the data has {num_classes} classes. "
                        f"Make its last layer output {num_classes} logits (or 1 for two classes).")
    allowed = ("auto", "bce", "perceptron") if kind == "binary" else ("auto", "cross_entropy")
    if loss not in allowed:
        raise UserError(f"train.loss = {loss!r} does not fit a {kind} classifier; use one of {allowed}.")
    name = {"binary": "bce", "multiclass": "cross_entropy"}[kind] if loss == "auto" else loss
    return Objective(kind, name, label_smoothing)


@dataclass(frozen=True)
class OwnLoss(Objective):
    """An objective whose loss is your own callable or ``nn.Module`` (``nn.CrossEntropyLoss()``...);
    predictions and probabilities still follow ``kind``."""

    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        value = self.fn(out, y)
        if not isinstance(value, torch.Tensor) or value.ndim != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise UserError(f"loss must return one number (a 0-dim tensor) per batch; it returned {shape}. Use "
                            "reduction='mean' (the default of torch's losses) or .mean() the result.")
        return value


def with_loss(objective: Objective, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Objective:
    """``objective`` training with ``fn(output, target) -> scalar`` instead of its own loss."""
    if not callable(fn):
        raise UserError(f"loss must be a callable (output, target) -> scalar or an nn.Module such as "
                        f"nn.CrossEntropyLoss(); received {type(fn).__name__}.")
    return OwnLoss(objective.kind, "custom", objective.label_smoothing, fn)


def distilled(loss: torch.Tensor, out: torch.Tensor, teacher: nn.Module, xb: torch.Tensor, weight: float,
              temperature: float) -> torch.Tensor:
    """Knowledge distillation (Hinton et al. 2015, https://arxiv.org/abs/1503.02531): the task loss mixed
    with ``T² * KL(teacher || student)`` on logits softened by ``temperature`` T, ``weight`` of the latter."""
    with torch.no_grad():
        target = torch.log_softmax(teacher(xb).float() / temperature, dim=-1)
    student = torch.log_softmax(out.float() / temperature, dim=-1)
    kl = torch.nn.functional.kl_div(student, target, reduction="batchmean", log_target=True)
    return (1 - weight) * loss + weight * temperature**2 * kl
