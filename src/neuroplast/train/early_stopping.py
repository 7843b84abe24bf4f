"""Early stopping: the best epoch so far, and whether to stop after ``patience`` epochs without improvement."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from neuroplast.spec import TrainSpec


class EarlyStopping:
    """Tracks the best epoch (always) and stops after ``patience`` epochs without improvement
    (only when ``train.early_stopping`` is set), restoring the best weights if asked."""

    def __init__(self, spec: TrainSpec) -> None:
        self.cfg = spec.early_stopping
        self.monitor = self.cfg.monitor if self.cfg else "val_loss"
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.should_stop = False

    def update(self, epoch: int, logs: dict[str, Any], model: nn.Module) -> bool:
        value = logs.get(self.monitor, logs.get("val_loss", logs["train_loss"]))
        sign = -1.0 if self.monitor == "val_accuracy" and self.monitor in logs else 1.0
        delta = self.cfg.min_delta if self.cfg else 0.0
        if self.best is None or sign * value < sign * self.best - delta:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            if self.cfg and self.cfg.restore_best:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
        self.should_stop = bool(self.cfg) and self.bad_epochs >= self.cfg.patience
        return self.should_stop

    def reason(self, epoch: int) -> str:
        """Why training stopped after ``epoch`` and whose weights the model ends with, in one line."""
        by = f" by more than {self.cfg.min_delta:g}" if self.cfg and self.cfg.min_delta else ""
        kept = (f"the model keeps epoch {self.best_epoch}'s weights" if self.cfg and self.cfg.restore_best
                else "the model keeps the last epoch's weights (restore_best = false)")
        patience = self.cfg.patience if self.cfg else 0
        return (f"early stopping after epoch {epoch}: {self.monitor} has not improved{by} for {patience} epochs "
                f"(best {self.best:.4g} at epoch {self.best_epoch}); {kept}")

    def restore(self, model: nn.Module) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state_dict(self, stopped: bool) -> dict[str, Any]:
        best_state = {k: v.cpu() for k, v in self.best_state.items()} if self.best_state else {}
        return {"best": self.best if self.best is not None else float("nan"), "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs, "best_state": best_state, "stopped": stopped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = None if math.isnan(state["best"]) else state["best"]
        self.best_epoch, self.bad_epochs = state["best_epoch"], state["bad_epochs"]
        self.best_state = copy.copy(state["best_state"]) or None
        self.should_stop = state["stopped"]
