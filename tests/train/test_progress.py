"""Progress a person can follow: a long epoch still prints a line every 30 s when output is not a terminal; in a
Jupyter notebook one live display, updated in place, ends with the same lines."""

from __future__ import annotations

import io
import sys
import types

import pytest

from neuroplast.train import progress
from neuroplast.train.progress import PlainProgress


def test_a_long_epoch_prints_a_line_at_least_every_interval() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    stream = io.StringIO()
    bar = PlainProgress(stream, interval=30.0, clock=clock)
    bar.start(epochs=2, steps=100, first_epoch=0)
    for _ in range(100):  # 2 s per step: 200 s for the epoch
        now[0] += 2.0
        bar.step()
    bar.epoch_end({"epoch": 1, "train_loss": 0.5})
    lines = stream.getvalue().splitlines()
    # the clock is read every 16 steps (32 s here), each time past 30 s: steps 16, 32, ... 96
    assert lines[:6] == [f"epoch 1/2 step {s}/100 ({s}%, {2 * s} s)" for s in (16, 32, 48, 64, 80, 96)]
    assert lines[6] == "epoch 1/2 train_loss=0.5" and len(lines) == 7


def test_a_stream_with_no_length_counts_its_steps() -> None:
    now = [0.0]
    stream = io.StringIO()
    bar = PlainProgress(stream, interval=30.0, clock=lambda: now[0])
    bar.start(epochs=1, steps=0, first_epoch=0)  # an IterableDataset without __len__
    for _ in range(16):
        now[0] += 2.0
        bar.step()
    assert stream.getvalue().splitlines() == ["epoch 1/1 step 16 (32 s)"]


def test_a_fast_epoch_prints_only_its_line() -> None:
    stream = io.StringIO()
    bar = PlainProgress(stream, interval=30.0, clock=lambda: 0.0)
    bar.start(epochs=1, steps=50, first_epoch=0)
    for _ in range(50):
        bar.step()
    bar.epoch_end({"epoch": 1, "train_loss": 0.25})
    assert stream.getvalue().splitlines() == ["epoch 1/1 train_loss=0.25"]


# --------------------------------------------------------------------------- in a Jupyter notebook
class ZMQInteractiveShell:  # named as ipykernel's shell: what the detection looks for
    pass


class ColabShell(ZMQInteractiveShell):  # Colab's shell subclasses ipykernel's
    pass


class TerminalInteractiveShell:  # plain `ipython` in a terminal
    pass


@pytest.mark.parametrize(("shell", "expected"), [(ZMQInteractiveShell(), True), (ColabShell(), True),
                                                  (TerminalInteractiveShell(), False), (None, False)])
def test_a_jupyter_kernel_is_told_from_a_terminal_ipython_and_plain_python(monkeypatch, shell, expected) -> None:
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert progress.in_notebook() is expected


def test_plain_python_is_not_a_notebook_and_ipython_is_not_imported_to_find_out(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert progress.in_notebook() is False
    assert "IPython" not in sys.modules


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("notebook", "stream", "enabled", "kind"), [
    (True, None, True, progress.NotebookProgress),      # Jupyter: the live display
    (True, io.StringIO(), True, PlainProgress),         # a stream given is honoured, even in Jupyter
    (True, None, False, progress.NoProgress),           # progress=False is silence everywhere
    (False, Terminal(), True, progress.RichProgress),   # a terminal: the rich bar
    (False, io.StringIO(), True, PlainProgress),        # a log file or CI: plain lines
])
def test_make_progress_picks_the_display_for_where_it_runs(monkeypatch, notebook, stream, enabled, kind) -> None:
    monkeypatch.setattr(progress, "in_notebook", lambda: notebook)
    bar = progress.make_progress(enabled, stream)
    assert type(bar) is kind


def test_when_not_a_terminal_and_not_a_notebook_stderr_gets_plain_lines(monkeypatch) -> None:
    monkeypatch.setattr(progress, "in_notebook", lambda: False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    bar = progress.make_progress(True)
    assert type(bar) is PlainProgress and bar.stream is sys.stderr


class Handle:
    """Records what a display handle is given, as IPython's DisplayHandle would show it."""

    def __init__(self, first: progress.ProgressView) -> None:
        self.views = [first]

    def update(self, view: progress.ProgressView) -> None:
        self.views.append(view)


def test_the_notebook_display_is_one_view_updated_in_place_ending_with_the_plain_lines() -> None:
    now = [0.0]
    handles: list[Handle] = []

    def display(view: progress.ProgressView) -> Handle:
        handles.append(Handle(view))
        return handles[-1]

    bar = progress.NotebookProgress(display=display, refresh=0.5, clock=lambda: now[0])
    bar.start(epochs=2, steps=40, first_epoch=0)
    logs = [{"epoch": 1, "train_loss": 0.5, "val_accuracy": 0.75},
            {"epoch": 2, "train_loss": 0.25, "val_accuracy": 0.875}]
    for epoch_logs in logs:
        for _ in range(40):  # 0.1 s per step; the clock is read every 16 steps
            now[0] += 0.1
            bar.step()
        bar.epoch_end(epoch_logs)
    bar.close()
    assert len(handles) == 1  # one display, updated: not a new output per step or epoch
    views = handles[0].views
    # the start, then redraws at steps 16 and 32 (1.6 s apart), epoch 1's end (step 40), steps 48, 64, 80, epoch
    # 2's end and close
    assert [round(v.fraction * 80) for v in views] == [0, 16, 32, 40, 48, 64, 80, 80, 80]
    plain = io.StringIO()
    oracle = PlainProgress(plain)
    oracle.start(epochs=2, steps=40, first_epoch=0)
    for epoch_logs in logs:
        oracle.epoch_end(epoch_logs)
    assert list(views[-1].lines) == plain.getvalue().splitlines()  # the same lines as a log gets
    assert views[-1].head == "epoch 2/2 · step 80/80 · 8 s"
    assert repr(views[-1]).splitlines()[0] == "[####################] epoch 2/2 · step 80/80 · 8 s"
    page = views[-1]._repr_html_()
    assert "<progress value='1.0000' max='1'" in page and "epoch 1/2 train_loss=0.5 val_accuracy=0.75" in page


def test_the_notebook_view_escapes_what_it_shows() -> None:
    view = progress.ProgressView(0.5, "epoch 1/2", ("epoch 1/2 note=<b>&</b>",))
    assert "note=&lt;b&gt;&amp;&lt;/b&gt;" in view._repr_html_() and "<b>&" not in view._repr_html_()
