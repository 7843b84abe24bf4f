"""The plots never pick a matplotlib backend nor touch pyplot: a notebook's inline backend and a user's own
``plt`` figures are left alone, and writing a PNG needs no display."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroplast import plots
from neuroplast.errors import UserError

SRC = Path(__file__).resolve().parents[1] / "src"


def test_no_module_of_the_package_picks_a_backend_or_imports_pyplot() -> None:
    offenders = [f"{path.relative_to(SRC)}: {needle}" for path in sorted(SRC.rglob("*.py"))
                 for needle in ("matplotlib.use(", "import matplotlib.pyplot", "from matplotlib import pyplot")
                 if needle in path.read_text()]
    assert offenders == [], "use neuroplast.plots.figure() (a Figure no backend holds) instead"


def test_writing_every_plot_leaves_pyplot_unimported_and_the_backend_unset(tmp_path) -> None:
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2, "val_accuracy": 0.5},
               {"epoch": 2, "train_loss": 0.5, "val_loss": 0.9, "val_accuracy": 0.7}]
    code = f"""
import sys
from pathlib import Path
from neuroplast import plots
from neuroplast.errors import UserError
out = Path({str(tmp_path)!r})
plots.plot_learning_curves({history!r}, out / "curves.png")
plots.plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], out / "confusion.png")
plots.plot_reliability({{"m": {{"confidence": [0.5, 0.9], "accuracy": [0.4, 0.95], "count": [3, 5]}}}}, out / "r.png")
plots.lr_find_figure([1e-3, 1e-2, 1e-1], [2.0, 1.0, 3.0], [2.0, 1.5, 2.0], 1e-3, "by hand").savefig(out / "lr.png")
import matplotlib
print("matplotlib.pyplot" in sys.modules, matplotlib.rcParams["backend"])
"""
    env = {**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "module://not.a.real.backend"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # pyplot would have tried to load that backend and failed; matplotlib.use() would have replaced it
    assert done.stdout.split() == ["False", "module://not.a.real.backend"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion.png", "curves.png", "lr.png", "r.png"]


def test_learning_curve_figure_raises_one_line_for_a_metric_the_history_lacks() -> None:
    with pytest.raises(UserError, match=r"no 'f1' per epoch; choose one of 'loss', 'lr'\."):
        plots.learning_curve_figure([{"epoch": 1, "train_loss": 1.0, "lr": 0.1}], "f1")
    with pytest.raises(UserError, match=r"choose one of none \(no epoch was trained\)"):
        plots.learning_curve_figure([], "loss")


def test_a_reliability_diagram_draws_only_bins_with_enough_samples_and_labels_their_counts(tmp_path) -> None:
    """A bin of one sample is accuracy 0 or 1: drawn, it looks like a collapse of calibration. Bins under
    MIN_BIN_COUNT samples are left out, and every drawn point carries its count."""
    from neuroplast import plots

    diagram = {"confidence": [0.15, 0.55, 0.95], "accuracy": [0.0, 0.6, 0.97], "count": [1, 40, 900]}
    assert plots.MIN_BIN_COUNT == 5
    assert plots.reliability_points(diagram) == [(0.55, 0.6, 40), (0.95, 0.97, 900)]
    fig_texts = []
    import matplotlib.axes

    original = matplotlib.axes.Axes.annotate
    try:
        matplotlib.axes.Axes.annotate = lambda self, text, *a, **k: fig_texts.append(text) or original(self, text, *a, **k)
        plots.plot_reliability({"model": diagram}, tmp_path / "r.png")
    finally:
        matplotlib.axes.Axes.annotate = original
    assert fig_texts == ["40", "900"] and (tmp_path / "r.png").stat().st_size > 5_000


def test_the_ood_histogram_has_axis_labels_and_a_legend() -> None:
    import io

    import matplotlib.figure

    from neuroplast.see.pictures import histograms

    seen: list[matplotlib.figure.Figure] = []
    original = matplotlib.figure.Figure.savefig
    try:
        matplotlib.figure.Figure.savefig = lambda self, *a, **k: seen.append(self) or original(self, *a, **k)
        histograms(np.array([1.0, 2.0, 3.0]), np.array([50.0, 80.0]), 10.0, io.BytesIO(), {"images": "how many"})
    finally:
        matplotlib.figure.Figure.savefig = original
    ax = seen[0].axes[0]
    assert ax.get_xlabel() == "Mahalanobis distance (log scale)" and ax.get_ylabel() == "how many"  # translated
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "test images", "the same images, pixels shuffled", "threshold"]


def test_learning_curves_tick_whole_epochs_and_say_when_one_epoch_is_only_a_point() -> None:
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e} for e in (1, 2, 3)]
    ax = plots.learning_curve_figure(history).axes[0]
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)  # no 1.25, 1.5
    assert ax.get_title() == ""
    one = plots.learning_curve_figure(history[:1], labels={"one_epoch": "only one"}).axes[0]
    assert one.get_title() == "only one"
