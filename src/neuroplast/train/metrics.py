"""Your own metrics, scored on the validation split after every epoch (``val_<name>`` in the history and
the progress line) and on the test split at the end (``test.<name>`` in metrics.json).

A metric is a torchmetrics ``Metric`` (``reset``, ``update(output, target)``, ``compute``), or any callable
``metric(output, target) -> number``, averaged over the batches weighted by their size. Its name is its
``name`` attribute, a function's ``__name__``, or the class name in snake case
(``MulticlassAccuracy`` -> ``multiclass_accuracy``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError


def metric_name(metric: Any) -> str:
    """The key a metric's value is logged under."""
    name = getattr(metric, "name", None) or getattr(metric, "__name__", None) or type(metric).__name__
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name)).lower()


class UserMetrics:
    """The metrics passed to ``fit(..., metrics=[...])``, scored together in one pass over a split."""

    def __init__(self, metrics: Sequence[Any] = ()) -> None:
        self.metrics = list(metrics)
        names = [metric_name(m) for m in self.metrics]
        for m, name in zip(self.metrics, names, strict=True):
            if not (callable(m) or hasattr(m, "update")):
                raise UserError(f"metric {name!r} is neither a torchmetrics Metric nor a callable (output, target) "
                                "-> number; pass e.g. torchmetrics.classification.MulticlassAccuracy(10).")
        if len(set(names)) != len(names):
            raise UserError(f"two metrics share a name ({', '.join(names)}); give one a .name attribute.")
        self.names = names

    def __bool__(self) -> bool:
        return bool(self.metrics)

    @torch.inference_mode()
    def score(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
        """Every metric on ``(x, y)``; {} for an empty split."""
        if not self.metrics or len(x) == 0:
            return {}
        was_training = model.training
        model.eval()
        for m in self.metrics:
            if hasattr(m, "reset"):
                m.reset()
        sums = [0.0] * len(self.metrics)
        for i in range(0, len(x), batch_size):
            out, yb = model(x[i: i + batch_size]), y[i: i + batch_size]
            for k, m in enumerate(self.metrics):
                if hasattr(m, "update") and hasattr(m, "compute"):
                    m.update(out.to(getattr(m, "device", out.device)), yb)
                else:
                    sums[k] += float(m(out, yb)) * len(yb)
        model.train(was_training)
        return {name: float(m.compute()) if hasattr(m, "compute") else sums[k] / len(x)
                for k, (name, m) in enumerate(zip(self.names, self.metrics, strict=True))}
