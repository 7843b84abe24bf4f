"""Callbacks: your code at fixed points of training, shaped as in Keras and Lightning.

A callback is any object with some of these methods (each optional):

- ``set_model(model)``: handed the model before the first epoch;
- ``on_train_begin(logs)`` / ``on_train_end(logs)``: once, around everything (``logs``: the last epoch's row);
- ``on_epoch_begin(epoch, logs)`` / ``on_epoch_end(epoch, logs)``: around each epoch (1-based); ``logs`` at the
  end holds ``train_loss``, ``val_loss``, ``val_accuracy`` (or ``val_rmse``...), ``lr`` and ``seconds``;
- ``on_batch_end(batch, logs)``: after each optimizer step, ``logs = {"loss": float, "size": n}`` (reading
  the loss costs a device sync per batch: only asked for when a callback has this method).

To stop training after the current epoch, set ``callback.stop_training = True`` (Keras' flag) or return
True from ``on_epoch_end``. Built in: :class:`EarlyStopping`, :class:`ModelCheckpoint`, :class:`CSVLogger`.

Example:
    >>> stop = EarlyStopping(monitor="val_loss", patience=3)
    >>> run = neuroplast.fit(model, loader, validation_data=val, callbacks=[stop, CSVLogger("log.csv")])
"""

from __future__ import annotations

import copy
import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from neuroplast.errors import UserError
from neuroplast.io import atomic_write, save_weights


class Callback:
    """A base with every hook doing nothing; subclass it and override the hooks you need (or write any
    object with some of the methods: they are looked up by name)."""

    stop_training: bool = False
    model: nn.Module | None = None

    def set_model(self, model: nn.Module) -> None:
        self.model = model

    def on_train_begin(self, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, logs: dict[str, Any]) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool | None: ...

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None: ...


class CallbackList:
    """The callbacks of one training, called in order; each hook only on those that have it."""

    def __init__(self, callbacks: Sequence[Any]) -> None:
        self.callbacks = list(callbacks)
        self.wants_batches = any(_own(cb, "on_batch_end") for cb in self.callbacks)
        self.stopped_by: Any = None  # the first callback that asked to stop

    def call(self, hook: str, *args: Any) -> bool:
        """Call ``hook`` on every callback that has it; True when one asks to stop."""
        stop = False
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            asked = bool(method(*args)) if method is not None else False
            if asked or getattr(cb, "stop_training", False):
                stop = True
                self.stopped_by = self.stopped_by or cb
        return stop

    def stop_reason(self, epoch: int) -> str:
        """Which callback stopped training after ``epoch``, and why when it says (its ``reason``)."""
        cb = self.stopped_by
        return getattr(cb, "reason", None) or f"{type(cb).__name__} stopped training after epoch {epoch}"


def _own(cb: Any, hook: str) -> bool:
    """Whether ``cb`` really implements ``hook`` (not just inherits the base's no-op)."""
    method = getattr(type(cb), hook, None)
    return method is not None and method is not getattr(Callback, hook, None)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; with
    ``restore_best_weights`` the model ends with the best epoch's weights (kept in memory).

    Args:
        monitor: a key of the epoch logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy, r2; min otherwise).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = True) -> None:
        if mode not in ("min", "max", "auto"):
            raise UserError(f"EarlyStopping mode must be 'min', 'max' or 'auto'; received {mode!r}.")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = mode if mode != "auto" else ("max" if monitor.endswith(("accuracy", "r2")) else "min")
        self.restore_best_weights = restore_best_weights
        self.best, self.best_epoch, self.wait, self.best_state = math.inf, 0, 0, None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.monitor not in logs:
            raise UserError(f"EarlyStopping monitors {self.monitor!r}, which the epoch logs do not have "
                            f"({', '.join(logs)}); pass validation_data or monitor another key.")
        value = logs[self.monitor] if self.mode == "min" else -logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights and self.model is not None:
                self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            self.wait += 1
            self.stop_training = self.wait >= self.patience
        if self.stop_training:
            kept = (f"epoch {self.best_epoch}'s weights are restored at the end" if self.restore_best_weights
                    else "the last epoch's weights are kept (restore_best_weights=False)")
            best = self.best if self.mode == "min" else -self.best
            self.reason = (f"EarlyStopping after epoch {epoch}: {self.monitor} has not improved for {self.patience} "
                           f"epochs (best {best:.4g} at epoch {self.best_epoch}); {kept}")

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.best_state is not None and self.model is not None:
            self.model.load_state_dict(self.best_state)


class ModelCheckpoint(Callback):
    """Write the weights to ``folder``: ``last.safetensors`` after every epoch and ``best.safetensors``
    whenever ``monitor`` improves (atomic writes, no pickle)."""

    def __init__(self, folder: str | Path, monitor: str = "val_loss", mode: str = "auto") -> None:
        self.folder = Path(folder)
        self.monitor = monitor
        self.sign = -1.0 if (mode == "max" or (mode == "auto" and monitor.endswith(("accuracy", "r2")))) else 1.0
        self.best = math.inf

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.model is None:
            return
        save_weights(self.folder / "last.safetensors", self.model)
        if self.monitor in logs and self.sign * logs[self.monitor] < self.best:
            self.best = self.sign * logs[self.monitor]
            save_weights(self.folder / "best.safetensors", self.model)


class CSVLogger(Callback):
    """The epoch logs as a CSV file, rewritten atomically after every epoch."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.rows.append(dict(logs))
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.path, lambda p: p.write_text(buf.getvalue()))
