"""Plots: the PNG writers of a run folder (learning curves, the confusion matrix, the learning-rate sweep,
reliability, pruning) and the figures behind them, which ``Run.plot()`` and ``LRFinderResult.plot()``
return for a notebook.

Every figure is a bare ``matplotlib.figure.Figure`` (:func:`figure`), never one of pyplot's: nothing here
picks a backend or touches pyplot's global state, so a notebook's inline backend and a user's own
``plt`` figures are left alone, no window ever opens, and writing a PNG works on a machine without a
display. A returned figure shows itself inline in Jupyter (``_repr_png_``).
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuroplast.errors import UserError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def figure(figsize: tuple[float, float] = (6.4, 4.2), **options: Any) -> Figure:
    """A new figure held by no backend: ``savefig`` writes it anywhere, and in Jupyter it displays inline
    when a cell returns it (as a PNG, whatever backend the notebook uses). ``options`` go to
    ``matplotlib.figure.Figure`` (``dpi``, ``layout``...)."""
    return _figure_class()(figsize=figsize, **options)


@functools.cache
def _figure_class() -> type:
    """The figure class, made on first use so that importing this module does not import matplotlib."""
    from matplotlib.figure import Figure

    class InlineFigure(Figure):
        """A matplotlib ``Figure`` that renders itself as a PNG for IPython's display."""

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            self.savefig(buf, format="png", bbox_inches="tight")
            return buf.getvalue()

    InlineFigure.__module__, InlineFigure.__qualname__ = __name__, "InlineFigure"
    return InlineFigure


LABELS = {"epoch": "epoch", "loss": "loss", "accuracy": "accuracy", "train": "train", "val": "val",
          "predicted": "predicted", "true": "true", "confidence": "confidence", "calibrated": "calibrated",
          "distance": "Mahalanobis distance (log scale)", "images": "images", "test_images": "test images",
          "shuffled": "the same images, pixels shuffled", "threshold": "threshold",
          "one_epoch": "one epoch: a point, not yet a curve"}
MIN_BIN_COUNT = 5  # a reliability bin with fewer samples is not drawn (one sample is accuracy 0 or 1)


def curve_keys(history: list[dict[str, Any]], metric: str) -> list[tuple[str, str]]:
    """The history columns that plot ``metric``, as ``(legend, column)`` pairs: ``train_<metric>`` and
    ``val_<metric>`` where they exist, else the column ``metric`` itself (``"lr"``, ``"val_f1"``...).
    A metric the history does not have is a :class:`UserError` naming those it has."""
    columns = list(dict.fromkeys(k for h in history for k in h if k != "epoch"))
    pairs = _curve_columns(columns, metric)
    if pairs:
        return pairs
    names = list(dict.fromkeys(c.split("_", 1)[1] if c.startswith(("train_", "val_")) else c for c in columns))
    raise UserError(f"plot(metric={metric!r}): the history has no {metric!r} per epoch; choose one of "
                    f"{', '.join(map(repr, names)) or 'none (no epoch was trained)'}.")


def _curve_columns(columns: list[str], metric: str) -> list[tuple[str, str]]:
    pairs = [(split, f"{split}_{metric}") for split in ("train", "val") if f"{split}_{metric}" in columns]
    return pairs or ([(metric, metric)] if metric in columns else [])


def draw_learning_curve(ax: Axes, history: list[dict[str, Any]], metric: str = "loss",
                        labels: dict[str, str] | None = None) -> None:
    """Draw ``metric`` per epoch on ``ax``: training against validation (see :func:`curve_keys`)."""
    t = {**LABELS, **(labels or {})}
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    for legend, key in curve_keys(history, metric):
        values = [h.get(key) for h in history]
        ax.plot(epochs, [math.nan if v is None else v for v in values], marker="o", markersize=3,
                label=t.get(legend, legend))
    ax.set_xlabel(t["epoch"])
    ax.set_ylabel(t.get(metric, metric))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at 1.25
    if len(set(epochs)) == 1:
        ax.set_title(t["one_epoch"], fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()


def learning_curve_figure(history: list[dict[str, Any]], metric: str = "loss", ax: Axes | None = None,
                          labels: dict[str, str] | None = None) -> Figure:
    """``metric`` per epoch (training and validation) on ``ax``, or on a new figure; returns the figure."""
    if ax is None:
        fig = figure(figsize=(5, 3.6), layout="tight")
        ax = fig.subplots()
    draw_learning_curve(ax, history, metric, labels)
    return ax.figure


def plot_learning_curves(history: list[dict[str, Any]], path: Path, labels: dict[str, str] | None = None) -> None:
    """Loss (and accuracy, when there is one) per epoch, training against validation. ``labels``
    replaces the axis and legend words (see :data:`LABELS`), e.g. for a translated report."""
    columns = list(dict.fromkeys(k for h in history for k in h))
    panels = [m for m in ("loss", "accuracy") if any(k.startswith(("train_", "val_")) for _, k in
                                                      _curve_columns(columns, m))] or ["loss"]
    fig = figure(figsize=(5 * len(panels), 3.6))
    for ax, metric in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        if _curve_columns(columns, metric):
            draw_learning_curve(ax, history, metric, labels)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_confusion_matrix(matrix: list[list[int]], class_names: list[str], path: Path,
                          labels: dict[str, str] | None = None) -> None:
    """Rows are true classes, columns predicted classes; counts written in each cell."""
    t = {**LABELS, **(labels or {})}
    k = len(matrix)
    fig = figure(figsize=(1.0 + 0.5 * k, 0.8 + 0.5 * k))
    ax = fig.subplots()
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


def lr_find_figure(lrs: list[float], losses: list[float], smoothed: list[float], suggestion: float,
                   reason: str) -> Figure:
    """The learning-rate sweep: raw and smoothed training loss against the rate (log axis), with
    the suggested rate marked and the rule that picked it in the title."""
    fig = figure(figsize=(6.4, 4.2), layout="tight")
    ax = fig.subplots()
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
    return fig


def plot_reliability(diagrams: dict[str, dict[str, list[float]]], path: Path,
                     labels: dict[str, str] | None = None) -> None:
    """Reliability diagram: accuracy against confidence per bin, one line per method, with the
    diagonal of perfect calibration; each point is labelled with its bin's sample count, and bins under
    :data:`MIN_BIN_COUNT` samples are left out (:func:`reliability_points`)."""
    t = {**LABELS, **(labels or {})}
    fig = figure(figsize=(4.8, 4.4))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label=t["calibrated"])
    for name, d in diagrams.items():
        pts = reliability_points(d)
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
        for c, a, n in pts:  # each bin's sample count beside its point
            ax.annotate(f"{n}", (c, a), textcoords="offset points", xytext=(3, -9), fontsize=6,
                        color=line.get_color())
    ax.set_xlabel(t["confidence"])
    ax.set_ylabel(t["accuracy"])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def reliability_points(diagram: dict[str, list[float]], min_count: int = MIN_BIN_COUNT) -> list[tuple[float, float, int]]:
    """``(confidence, accuracy, count)`` of the bins a reliability diagram draws: those holding at least
    ``min_count`` samples (a bin of one sample would be drawn as a drop to 0 or a jump to 1)."""
    return [(c, a, int(n)) for c, a, n in zip(diagram["confidence"], diagram["accuracy"], diagram["count"],
                                               strict=True) if n >= min_count]


def plot_pruning(pruning: dict[str, Any], path: Path) -> None:
    """Accuracy (or RMSE) against the share of weights removed, one point per round labelled ``r<round>``,
    with the dense baseline as a line; the title gives what the pruned model saves."""
    curve = pruning["curve"]
    key = "accuracy" if "test_accuracy" in curve[0] else "rmse"
    fig = figure(figsize=(6, 3.8))
    ax = fig.subplots()
    x = [100 * c["sparsity"] for c in curve]
    for split, style in (("test", "o-"), ("val", "s--")):
        if f"{split}_{key}" in curve[0]:
            ax.plot(x, [c[f"{split}_{key}"] for c in curve], style, markersize=4, label=split)
    ax.axhline(curve[0][f"test_{key}"], color="gray", lw=0.8, ls=":", label="dense test")
    for i, c in enumerate(curve):  # each point's round (0: the dense parent)
        ax.annotate(f"r{c.get('round', i)}", (x[i], c[f"test_{key}"]), xytext=(3, 4), textcoords="offset points",
                    fontsize=7, color="0.3")
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


def embedding_figure(coords: Any, labels: Any = None, ax: Axes | None = None, names: list[str] | None = None,
                     title: str = "") -> Figure:
    """Points at their 2-D coordinates ``(N, 2)`` on ``ax`` (or a new figure), coloured by ``labels``
    (class indices: one colour per class, a legend naming up to 10 classes with ``names``; other numbers:
    a colour scale); the axes are the first two principal components. Returns the figure."""
    import numpy as np

    if ax is None:
        ax = figure(figsize=(5, 4.4), layout="tight").subplots()
    coords = np.asarray(coords)
    values = None if labels is None else np.asarray(labels).reshape(-1)
    if values is not None and len(values) != len(coords):
        raise UserError(f"plot_embeddings: y has {len(values)} labels for {len(coords)} inputs; pass one per input.")
    classes = values is not None and np.issubdtype(values.dtype, np.integer)
    points = ax.scatter(coords[:, 0], coords[:, 1], s=6, alpha=0.75, c=values,
                        cmap=("tab10" if classes and values.max() < 10 else "tab20") if classes else "viridis")
    if classes and len(np.unique(values)) <= 10:
        known = names if names and len(names) > int(values.max()) else None
        ax.legend(points.legend_elements()[0], [known[int(i)] if known else str(int(i)) for i in np.unique(values)],
                  fontsize=7, loc="best", markerscale=0.8)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def curve_svg(history: list[dict[str, Any]], width: int = 240, height: int = 60) -> str:
    """The training (and validation) loss per epoch as a small inline SVG; "" for fewer than 2 epochs."""
    series = [(k, [h[k] for h in history if isinstance(h.get(k), (int, float))], colour)
              for k, colour in (("train_loss", "#1f77b4"), ("val_loss", "#ff7f0e"))]
    series = [(k, v, c) for k, v, c in series if len(v) >= 2 and all(math.isfinite(x) for x in v)]
    if not series:
        return ""
    low = min(min(v) for _, v, _ in series)
    high = max(max(v) for _, v, _ in series)
    span = high - low or 1.0
    lines = []
    for key, values, colour in series:
        points = " ".join(f"{i * (width - 4) / (len(values) - 1) + 2:.1f},"
                          f"{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in enumerate(values))
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{points}'>"
                     f"<title>{key}</title></polyline>")
    return (f"<svg width='{width}' height='{height}' role='img' aria-label='loss per epoch'>"
            f"{''.join(lines)}</svg><div style='font-size:smaller'>loss per epoch: "
            + ", ".join(f"<span style='color:{c}'>{k}</span>" for k, _, c in series) + "</div>")
