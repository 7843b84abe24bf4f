"""Your own metrics: torchmetrics objects and plain callables, per epoch on validation and at the end on test."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

import neuroplast
from neuroplast.errors import UserError
from neuroplast.train.metrics import UserMetrics, metric_name


def _split() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    d = load_digits()
    x, y = torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target)
    return (x[:1400], y[:1400]), (x[1400:1600], y[1400:1600]), (x[1600:], y[1600:])


def test_metrics_per_epoch_on_validation_and_at_the_end_on_test() -> None:
    def top2(out: torch.Tensor, y: torch.Tensor) -> float:  # a plain callable, averaged by batch size
        return float((out.topk(2, dim=1).indices == y[:, None]).any(1).float().mean())

    train, val, test = _split()
    run = neuroplast.fit(nn.Linear(64, 10), train, validation_data=val, test_data=test, epochs=3, lr=1e-2,
                         metrics=[MulticlassAccuracy(num_classes=10, average="micro"), top2], progress=False)
    for row in run.history:  # torchmetrics' micro accuracy is neuroplast's own accuracy
        assert row["val_multiclass_accuracy"] == pytest.approx(row["val_accuracy"], abs=1e-6)
        assert row["val_accuracy"] <= row["val_top2"] <= 1.0
    model = run.model
    with torch.inference_mode():  # the test figures, worked out apart
        out = model(test[0])
    assert run.metrics["test"]["top2"] == pytest.approx(top2(out, test[1]), abs=1e-6)
    assert run.metrics["test"]["multiclass_accuracy"] == pytest.approx(run.metrics["test"]["accuracy"], abs=1e-6)


def test_metric_names_and_bad_metrics() -> None:
    assert metric_name(MulticlassAccuracy(num_classes=3)) == "multiclass_accuracy"
    assert metric_name(lambda o, t: 0.0) == "<lambda>"
    with pytest.raises(UserError, match="neither a torchmetrics Metric nor a callable"):
        UserMetrics([3])
    with pytest.raises(UserError, match="two metrics share a name"):
        UserMetrics([MulticlassAccuracy(num_classes=3), MulticlassAccuracy(num_classes=3)])
