"""What a caller of :func:`neuroplast.train.fit` brings instead of the spec's: a loss, an optimizer
and an LR scheduler (or factories of them), and whether to shuffle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError


@dataclass(frozen=True)
class OwnParts:
    """What the caller brings instead of the spec's: a loss, an optimizer, and whether to shuffle."""

    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    optimizer: torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer] | None = None
    shuffle: bool = True
    scheduler: Any = None  # an LR scheduler, or a factory optimizer -> scheduler; stepped once per epoch

    def optimizer_for(self, model: nn.Module) -> torch.optim.Optimizer | None:
        """The caller's optimizer (built by its factory from ``model``'s parameters), or None."""
        if self.optimizer is None or isinstance(self.optimizer, torch.optim.Optimizer):
            opt = self.optimizer
        elif callable(self.optimizer):
            opt = self.optimizer(model.parameters())
        else:
            raise UserError(f"optimizer must be a torch.optim.Optimizer or a factory params -> Optimizer; "
                            f"received {type(self.optimizer).__name__}.")
        if callable(self.optimizer) and not isinstance(opt, torch.optim.Optimizer):
            raise UserError(f"the optimizer factory returned {type(opt).__name__}, not a torch.optim.Optimizer; "
                            "return one: optimizer=lambda params: optim.SGD(params, lr=0.1).")
        if opt is not None:
            mine = {id(p) for p in model.parameters()}
            if not any(id(p) in mine for g in opt.param_groups for p in g["params"]):
                raise UserError("the optimizer holds none of this model's parameters; build it from "
                                "model.parameters() of the model you pass to fit.")
        return opt

    def scheduler_for(self, optimizer: torch.optim.Optimizer) -> Any:
        """The caller's LR scheduler (built by its factory from ``optimizer``), or None."""
        sched = self.scheduler
        if sched is not None and not hasattr(sched, "step") and callable(sched):
            sched = sched(optimizer)
        if sched is not None and not hasattr(sched, "step"):
            raise UserError(f"scheduler must be an LR scheduler (with .step()) or a factory optimizer -> scheduler; "
                            f"received {type(sched).__name__}.")
        if sched is not None and getattr(sched, "optimizer", optimizer) is not optimizer:
            raise UserError("the scheduler drives another optimizer; build it from the optimizer you pass to fit "
                            "(or pass a factory: scheduler=lambda opt: StepLR(opt, 5)).")
        return sched


FUSABLE = (torch.optim.Adam, torch.optim.AdamW)


def fuse(optimizer: torch.optim.Optimizer) -> bool:
    """Give an Adam or AdamW left at torch's default implementation (``fused=None, foreach=None``) and not
    yet stepped torch's fused kernel: the same update rule in one pass over each tensor (the per-parameter
    loop torch picks on a CPU makes the optimizer most of a small network's step). The spec's own
    optimizers are built fused (:func:`~neuroplast.train.optimizers.make_optimizer`); this gives yours the same.
    True if it switched; anything asked for explicitly (``fused=False``, ``foreach=...``), a subclass, a
    non-float parameter or a device without the kernel is left as it is."""
    groups = optimizer.param_groups
    if type(optimizer) not in FUSABLE or optimizer.state:
        return False
    if any(g.get("fused") is not None or g.get("foreach") is not None or g.get("differentiable")
           or g.get("capturable") for g in groups):
        return False
    if not all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for g in groups for p in g["params"]):
        return False
    for g in groups:
        g["fused"] = True
    optimizer.defaults["fused"] = True
    return True


def describe(optimizer: torch.optim.Optimizer, fused_by_fit: bool) -> dict[str, Any]:
    """What metrics.json says about the optimizer that trained: its class, rate and implementation."""
    group = optimizer.param_groups[0]
    lr = group.get("lr")
    return {"class": type(optimizer).__name__, "lr": float(lr) if lr is not None else None,
            "fused": bool(group.get("fused")), "fused_by_fit": fused_by_fit}
