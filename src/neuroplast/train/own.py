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
        if opt is not None and not isinstance(opt, torch.optim.Optimizer):
            raise UserError(f"the optimizer factory returned {type(opt).__name__}, not a torch.optim.Optimizer.")
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
