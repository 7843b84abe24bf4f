"""PNG plots for a run folder: learning curves, the confusion matrix and the learning-rate sweep
(matplotlib, no display)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


LABELS = {"epoch": "epoch", "loss": "loss", "accuracy": "accuracy", "train": "train", "val": "val",
          "predicted": "predicted", "true": "true", "confidence": "confidence", "calibrated": "calibrated"}


def plot_learning_curves(history: list[dict[str, Any]], path: Path, labels: dict[str, str] | None = None) -> None:
    """Loss (and accuracy, when there is one) per epoch, training against validation. ``labels``
    replaces the axis and legend words (see :data:`LABELS`), e.g. for a translated report."""
    t = {**LABELS, **(labels or {})}
    plt = pyplot()
    has_acc = any("val_accuracy" in h or "train_accuracy" in h for h in history)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5, 3.6), squeeze=False)
    epochs = [h["epoch"] for h in history]
    panels = [("loss", "loss")] + ([("accuracy", "accuracy")] if has_acc else [])
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        for split in ("train", "val"):
            values = [h.get(f"{split}_{key}") for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=t[split])
        ax.set_xlabel(t["epoch"])
        ax.set_ylabel(t[label])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion_matrix(matrix: list[list[int]], class_names: list[str], path: Path,
                          labels: dict[str, str] | None = None) -> None:
    """Rows are true classes, columns predicted classes; counts written in each cell."""
    t = {**LABELS, **(labels or {})}
    plt = pyplot()
    k = len(matrix)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * k, 0.8 + 0.5 * k))
    ax.imshow(matrix, cmap="Blues")
    names = class_names if len(class_names) == k else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel(t["predicted"])
    ax.set_ylabel(t["true"])
    top = max(max(row) for row in matrix) or 1
    for i in range(k):
        for j in range(k):
            ax.text(j, i, matrix[i][j], ha="center", va="center", fontsize=8,
                    color="white" if matrix[i][j] > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_lr_find(lrs: list[float], losses: list[float], smoothed: list[float], suggestion: float,
                 reason: str, path: Path) -> None:
    """The learning-rate sweep: raw and smoothed training loss against the rate (log axis), with
    the suggested rate marked and the rule that picked it in the title."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(lrs, losses, color="0.75", linewidth=0.8, label="loss per batch")
    ax.plot(lrs, smoothed, color="C0", label="smoothed loss")
    ax.axvline(suggestion, color="C3", linestyle="--", label=f"suggested lr {suggestion:.2g}")
    ax.set_xscale("log")
    low = [v for v in losses + smoothed if math.isfinite(v)]
    high = [v for v in smoothed if math.isfinite(v)]
    if low and high:  # the smoothed curve sets the top: raw spikes at divergence would squash the rest
        ax.set_ylim(min(low) - 0.05 * abs(min(low)), min(max(high), 1.5 * high[0]) * 1.05)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(textwrap.fill(f"suggested lr {suggestion:.2g}: {reason}", 80), fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(diagrams: dict[str, dict[str, list[float]]], path: Path,
                     labels: dict[str, str] | None = None) -> None:
    """Reliability diagram: accuracy against confidence per bin, one line per method, with the
    diagonal of perfect calibration."""
    t = {**LABELS, **(labels or {})}
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label=t["calibrated"])
    for name, d in diagrams.items():
        pts = [(c, a) for c, a, n in zip(d["confidence"], d["accuracy"], d["count"], strict=True) if n]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
    ax.set_xlabel(t["confidence"])
    ax.set_ylabel(t["accuracy"])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pruning(pruning: dict[str, Any], path: Path) -> None:
    """Accuracy (or RMSE) against the share of weights removed, one point per round, with the dense
    baseline as a line; the title gives what the pruned model saves."""
    plt = pyplot()
    curve = pruning["curve"]
    key = "accuracy" if "test_accuracy" in curve[0] else "rmse"
    fig, ax = plt.subplots(figsize=(6, 3.8))
    x = [100 * c["sparsity"] for c in curve]
    for split, style in (("test", "o-"), ("val", "s--")):
        if f"{split}_{key}" in curve[0]:
            ax.plot(x, [c[f"{split}_{key}"] for c in curve], style, markersize=4, label=split)
    ax.axhline(curve[0][f"test_{key}"], color="gray", lw=0.8, ls=":", label="dense test")
    ax.set_xlabel("weights removed (%)")
    ax.set_ylabel(key)
    b, lat = pruning["bytes"], pruning["latency_ms"]
    speed = ", ".join(f"{k.replace('batch_', 'batch ')} {v['speedup']:.2f}x" for k, v in lat.items())
    ax.set_title(f"{pruning['method']} / {pruning['schedule']}: {b['ratio']:.1f}x smaller on disk; "
                 f"latency {speed}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
