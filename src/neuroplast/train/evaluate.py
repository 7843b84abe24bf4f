"""Metrics on a split: loss, accuracy and confusion matrix, or RMSE, MAE and R² in the target's units."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from neuroplast.train.objective import Objective


@torch.inference_mode()
def predict_outputs(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Raw model outputs for ``x`` in evaluation mode, batch by batch, on ``x``'s device."""
    was_training = model.training
    model.eval()
    try:
        outs = [model(x[i: i + batch_size]).float() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, objective: Objective,
             batch_size: int = 1024, preprocess: dict[str, Any] | None = None,
             num_classes: int = 0) -> dict[str, Any]:
    """Metrics of ``model`` on (x, y). Regression metrics are in the target's original units."""
    if len(x) == 0:
        return {}
    out = predict_outputs(model, x, batch_size)
    metrics: dict[str, Any] = {"loss": objective.loss(out, y).item(), "samples": len(x)}
    if objective.kind == "regression":
        scale = torch.tensor((preprocess or {}).get("target_std", [1.0]), device=out.device)
        err = (objective.predict(out) - y) * scale
        centered = (y - y.mean(0)) * scale
        metrics["rmse"] = err.pow(2).mean().sqrt().item()
        metrics["mae"] = err.abs().mean().item()
        metrics["r2"] = (1 - err.pow(2).sum() / centered.pow(2).sum().clamp_min(1e-12)).item()
        return metrics
    pred = objective.predict(out)
    metrics["accuracy"] = (pred == y).float().mean().item()
    if objective.kind == "language-model":  # loss in nats per character
        metrics["bits_per_char"] = metrics["loss"] / math.log(2)
        return metrics
    k = max(num_classes, 2)
    cm = torch.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    metrics["confusion_matrix"] = cm.cpu().tolist()
    return metrics
