"""The example notebook (examples/tutorial.ipynb) runs top to bottom in a real Jupyter kernel, as CI runs it:
the classic PyTorch tutorial with its loop replaced by ``neuroplast.fit``, then lr_find, calibrate, explain and
prune. In it a ``Run`` renders as its HTML card, the plots display inline, and the progress is one live display."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "tutorial.ipynb"


def outputs_of(nb: nbformat.NotebookNode, source: str) -> list[dict]:
    """The outputs of the one code cell whose source is ``source``, or else starts with it."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    cells = [c for c in code if c.source.strip() == source] or [c for c in code if c.source.startswith(source)]
    assert len(cells) == 1, f"{len(cells)} cells start with {source!r}"
    return cells[0].outputs


def data_of(outputs: list[dict], mime: str) -> list[str]:
    return [o["data"][mime] for o in outputs if mime in o.get("data", {})]


def test_the_committed_notebook_holds_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.slow
def test_the_tutorial_notebook_runs_and_shows_runs_plots_and_progress(tmp_path, monkeypatch) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's run folders (tempfile.mkdtemp) land here
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    started = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - started
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o["text"] for o in outputs if o.get("name") == "stderr"]  # no warning or stray line in red

    # the fit cell: one live display, updated in place to its final state, and nothing printed beside it
    fit = outputs_of(nb, "run = neuroplast.fit(")
    assert [o["output_type"] for o in fit] == ["display_data"]
    progress = data_of(fit, "text/html")[0]
    assert "<progress value='1.0000'" in progress and "epoch 15/15 · step 300/300" in progress
    assert all(f"epoch {k}/15 train_loss=" in progress for k in range(1, 16))

    card = data_of(outputs_of(nb, "run"), "text/html")
    assert card and "neuroplast Run" in card[0] and "custom (Net)" in card[0] and "test accuracy" in card[0]
    folder = next(tmp_path.glob("neuroplast-tutorial-*"))
    assert str(folder / "tutorial-mlp") in card[0] and card[0].count("<polyline") == 2  # the learning curve
    assert "val_accuracy" in data_of(outputs_of(nb, "run.history_df"), "text/html")[0]  # pandas' table

    for cell in ("run.plot()", 'run.plot("accuracy")', "found = neuroplast.lr_find(",
                 "import matplotlib.pyplot as plt"):  # the last: the user's own pyplot still shows inline
        (png,) = data_of(outputs_of(nb, cell), "image/png")
        assert base64.b64decode(png).startswith(b"\x89PNG"), cell
    assert len(data_of(outputs_of(nb, "from IPython.display import Image"), "image/png")) == 3  # heatmaps
    assert "neuroplast Run" in data_of(outputs_of(nb, "pruned = neuroplast.prune("), "text/html")[-1]  # after its bar
    assert (folder / "digits-cnn" / "pruned-structured" / "report.html").is_file()
    assert not list(Path(NOTEBOOK.parent).glob("**/report.html"))  # nothing written into the repository
    print(f"notebook executed in {seconds:.1f} s")
