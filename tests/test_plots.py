"""The plots never pick a matplotlib backend nor touch pyplot: a notebook's inline backend and a user's own
``plt`` figures are left alone, and writing a PNG needs no display."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
