"""Pictures for the offline report: arrays and plots as embedded ``data:`` PNG URIs.

Every function returns (or writes) a PNG; nothing here reads a run folder, so the report's sections
(:mod:`neuroplast.see.report`) decide what to draw and these only draw it.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def file_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI."""
    return _uri(path.read_bytes())


def png(values: torch.Tensor | np.ndarray, cmap: str | None = None, size: int = 96,
         symmetric: bool = False) -> str:
    """A ``data:`` URI of an image: ``(H, W)`` values (gray, or through ``cmap``; NaN is white) or
    ``(H, W, 3)`` RGB in [0, 1], enlarged without smoothing to about ``size`` pixels."""
    from PIL import Image

    a = np.asarray(torch.as_tensor(values).detach().float().cpu(), dtype=np.float64)
    if a.ndim == 2:
        blank = np.isnan(a)
        finite = a[~blank] if (~blank).any() else np.zeros(1)
        if symmetric:
            top = max(float(np.abs(finite).max()), 1e-12)
            a = (a / top + 1) / 2
        else:
            a = (a - finite.min()) / max(float(np.ptp(finite)), 1e-12)
        if cmap is None:
            rgb = np.repeat(a[..., None], 3, axis=2)
        else:
            import matplotlib

            rgb = matplotlib.colormaps[cmap](np.nan_to_num(a))[..., :3]
        rgb[blank] = 1.0
        a = rgb
    a = np.clip(np.nan_to_num(a), 0, 1)
    scale = max(1, size // max(a.shape[:2]))
    image = Image.fromarray((a * 255).round().astype(np.uint8))
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return _uri(buf.getvalue())


def image(x: torch.Tensor) -> np.ndarray:
    """A preprocessed ``(C, H, W)`` input as a displayable ``(H, W)`` or ``(H, W, 3)`` array in [0, 1]."""
    a = x.detach().float().cpu().numpy()
    a = a.transpose(1, 2, 0) if a.shape[0] == 3 else a[0]
    return (a - a.min()) / max(float(np.ptp(a)), 1e-12)


def grid(tiles: list[torch.Tensor | np.ndarray], pad: int = 1) -> np.ndarray:
    """2-D tiles, each min-max scaled, on a square-ish grid separated by NaN (white) lines."""
    arrays = [np.asarray(torch.as_tensor(t).float(), dtype=np.float64) for t in tiles]
    h, w = arrays[0].shape
    cols = math.ceil(math.sqrt(len(arrays)))
    rows = math.ceil(len(arrays) / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan)
    for i, a in enumerate(arrays):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = (a - a.min()) / max(np.ptp(a), 1e-12)
    return out


def plot(draw: Callable[[io.BytesIO], None]) -> str:
    """Run a plotting function that saves to a file object and return its PNG as a ``data:`` URI."""
    buf = io.BytesIO()
    draw(buf)
    return _uri(buf.getvalue())


def scatter(y_true: np.ndarray, y_pred: np.ndarray, buf: io.BytesIO) -> None:
    from neuroplast.plots import figure

    fig = figure(figsize=(4.2, 4.0))
    ax = fig.subplots()
    ax.scatter(y_true, y_pred, s=8, alpha=0.6)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], color="grey", lw=1, ls="--")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)


def histograms(inside: np.ndarray, outside: np.ndarray, threshold: float, buf: io.BytesIO,
               labels: dict[str, str] | None = None) -> None:
    """Out-of-distribution scores of test images and of the same images with shuffled pixels, with the
    threshold, axis labels and a legend (``labels`` translate them)."""
    from neuroplast.plots import LABELS, figure

    t = {**LABELS, **(labels or {})}
    fig = figure(figsize=(5.2, 3.4))
    ax = fig.subplots()
    both = np.concatenate([inside, outside, [threshold]])
    low = max(float(both[both > 0].min()) if (both > 0).any() else 1e-6, 1e-12)
    bins = np.geomspace(low, max(float(both.max()), low * 10), 50)  # the two groups lie decades apart
    ax.hist(np.clip(inside, low, None), bins=bins, alpha=0.6, color="C0", label=t["test_images"])
    ax.hist(np.clip(outside, low, None), bins=bins, alpha=0.6, color="C3", label=t["shuffled"])
    ax.axvline(threshold, color="black", lw=1, ls="--", label=t["threshold"])
    ax.set_xscale("log")
    ax.set_xlabel(t["distance"])
    ax.set_ylabel(t["images"])
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)


def _uri(png_bytes: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def space_plot(coords: np.ndarray, labels: np.ndarray, wrong: np.ndarray, buf: io.BytesIO,
               names: list[str] | None = None) -> None:
    """Examples at their 2-D coordinates, coloured by class, the misclassified ones ringed in black."""
    from neuroplast.plots import figure

    fig = figure(figsize=(3.2, 3.2))
    ax = fig.subplots()
    points = ax.scatter(coords[:, 0], coords[:, 1], c=labels, cmap="tab10", s=5, alpha=0.7,
                        vmin=0, vmax=max(9, int(labels.max())))
    if wrong.any():
        ax.scatter(coords[wrong, 0], coords[wrong, 1], facecolors="none", edgecolors="black", s=22, lw=0.7)
    if names and len(names) <= 10:
        handles = points.legend_elements()[0]
        ax.legend(handles, [names[int(i)] for i in np.unique(labels)], fontsize=5, loc="best", markerscale=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)


def forecast_lines(steps: np.ndarray, truth: np.ndarray, forecasts: dict[str, np.ndarray], buf: io.BytesIO,
                   axis_labels: tuple[str, str] = ("time step", "value")) -> None:
    """The test period: the true values (black) and each named forecast (the first one, this model, in
    a thicker line), with a legend."""
    from neuroplast.plots import figure

    fig = figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    ax.plot(steps, truth, color="black", lw=1.6, label=axis_labels[1])
    for i, (name, values) in enumerate(forecasts.items()):
        ax.plot(steps[:len(values)], values, lw=1.6 if i == 0 else 0.9, alpha=1.0 if i == 0 else 0.75,
                ls="-" if i == 0 else "--", label=name)
    ax.set_xlabel(axis_labels[0])
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
