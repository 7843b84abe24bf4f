"""Progress reporting: a live display in a Jupyter notebook, a rich bar in a terminal, one plain line per
epoch otherwise (logs, CI); :func:`make_progress` picks."""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


def format_logs(logs: dict[str, Any]) -> str:
    parts = []
    for k, v in logs.items():
        if k == "epoch":
            continue
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)


def say(text: str, stream: TextIO | None = None) -> None:
    """One line about what neuroplast decided for you (a split it made, a kernel it picked), on stderr."""
    print(f"note: {text}", file=stream or sys.stderr, flush=True)


class PlainProgress:
    """One line per epoch to a stream (logs, CI, a notebook's output), and within a long epoch a line at
    least every ``interval`` seconds saying how far it got, so a slow epoch never looks stalled."""

    CHECK_EVERY = 16  # steps between looks at the clock: step() is in the hot loop

    def __init__(self, stream: TextIO | None = None, interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.interval, self.clock = interval, clock

    def start(self, epochs: int, steps: int, first_epoch: int) -> None:
        self.epochs, self.steps, self.epoch, self.done = epochs, steps, first_epoch + 1, 0
        self.last = self.started = self.clock()

    def step(self) -> None:
        self.done += 1
        if self.done % self.CHECK_EVERY == 0 and self.clock() - self.last >= self.interval:
            self.last = self.clock()
            done = f"{self.done}/{self.steps} ({self.done / self.steps:.0%}, " if self.steps else f"{self.done} ("
            print(f"epoch {self.epoch}/{self.epochs} step {done}{self.last - self.started:.0f} s)", file=self.stream,
                  flush=True)  # a stream with no length: the steps done so far

    def note(self, text: str) -> None:
        """One line about the run that is not an epoch's numbers (what fit decided, and why)."""
        say(text, self.stream)

    def epoch_end(self, logs: dict[str, Any]) -> None:
        print(f"epoch {logs['epoch']}/{self.epochs} {format_logs(logs)}", file=self.stream, flush=True)
        self.epoch, self.done = logs["epoch"] + 1, 0
        self.last = self.started = self.clock()

    def close(self) -> None:
        pass


class RichProgress(PlainProgress):
    """A live bar over all training steps, plus a printed line per epoch."""

    def start(self, epochs: int, steps: int, first_epoch: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.epochs, self.steps = epochs, steps
        self.bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
                            MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[logs]}"),
                            console=Console(file=self.stream), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("train", total=(epochs - first_epoch) * steps, epoch=first_epoch + 1,
                                      epochs=epochs, logs="")
        self.pending = 0

    def step(self) -> None:
        self.pending += 1
        if self.pending >= 8:  # batch the bar's bookkeeping: it is the hot loop
            self.bar.advance(self.task, self.pending)
            self.pending = 0

    def epoch_end(self, logs: dict[str, Any]) -> None:
        self.bar.advance(self.task, self.pending)
        self.pending = 0
        self.bar.update(self.task, epoch=min(logs["epoch"] + 1, self.epochs), logs=format_logs(logs))
        self.bar.console.print(f"epoch {logs['epoch']}/{self.epochs} {format_logs(logs)}")

    def note(self, text: str) -> None:
        self.bar.console.print(f"note: {text}", markup=False, highlight=False)

    def close(self) -> None:
        self.bar.stop()


class NotebookProgress(PlainProgress):
    """In a Jupyter notebook: one display updated in place (IPython's display handle, no widgets needed):
    a bar over all training steps with the epoch, the step count and the time, and under it the lines
    :class:`PlainProgress` prints, one per finished epoch. The saved notebook keeps the final state.

    Args:
        display: ``display(view) -> handle`` with ``handle.update(view)``; default IPython's
            ``display(view, display_id=True)``.
        refresh: the least seconds between two redraws within an epoch.
    """

    def __init__(self, display: Callable[[Any], Any] | None = None, refresh: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.display, self.refresh, self.clock = display or _display_updatable, refresh, clock

    def start(self, epochs: int, steps: int, first_epoch: int) -> None:
        self.epochs, self.epoch, self.lines = epochs, first_epoch + 1, []
        self.total, self.done = max((epochs - first_epoch) * steps, 1), 0
        self.started = self.shown = self.clock()
        self.handle = self.display(self.view())

    def step(self) -> None:
        self.done += 1
        if self.done % self.CHECK_EVERY == 0 and self.clock() - self.shown >= self.refresh:
            self.redraw()

    def note(self, text: str) -> None:
        self.lines.append(f"note: {text}")
        self.redraw()

    def epoch_end(self, logs: dict[str, Any]) -> None:
        self.lines.append(f"epoch {logs['epoch']}/{self.epochs} {format_logs(logs)}")
        self.epoch = logs["epoch"] + 1
        self.redraw()

    def close(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        self.shown = self.clock()
        self.handle.update(self.view())

    def view(self) -> ProgressView:
        head = (f"epoch {min(self.epoch, self.epochs)}/{self.epochs} · step {self.done}/{self.total} "
                f"· {self.clock() - self.started:.0f} s")
        return ProgressView(self.done / self.total, head, tuple(self.lines))


class ProgressView:
    """What :class:`NotebookProgress` shows: HTML in Jupyter, the same lines as text elsewhere."""

    def __init__(self, fraction: float, head: str, lines: tuple[str, ...]) -> None:
        self.fraction, self.head, self.lines = fraction, head, lines

    def _repr_html_(self) -> str:
        body = html.escape("\n".join(self.lines))
        return (f"<div class='neuroplast-progress'><progress value='{self.fraction:.4f}' max='1' "
                f"style='width:16em;vertical-align:middle'></progress> <code>{html.escape(self.head)}</code>"
                + (f"<pre style='margin:0.3em 0 0 0'>{body}</pre>" if body else "") + "</div>")

    def __repr__(self) -> str:
        return "\n".join([f"[{'#' * round(20 * self.fraction):<20}] {self.head}", *self.lines])


def _display_updatable(view: Any) -> Any:
    from IPython.display import display

    return display(view, display_id=True)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab, nbclient): IPython's shell is a
    ``ZMQInteractiveShell``. Never imports IPython: a kernel has it loaded already."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


class NoProgress(PlainProgress):
    def step(self) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def epoch_end(self, logs: dict[str, Any]) -> None:
        pass


def make_progress(enabled: bool = True, stream: TextIO | None = None) -> PlainProgress:
    """Silence when not ``enabled``; with no ``stream`` given, a live display in a Jupyter notebook
    (:func:`in_notebook`); a rich bar when the stream is a terminal; else one plain line per epoch
    (logs, CI, a redirected stream)."""
    if enabled and stream is None and in_notebook():
        return NotebookProgress()
    stream = stream or sys.stderr
    if not enabled:
        return NoProgress(stream)
    return RichProgress(stream) if stream.isatty() else PlainProgress(stream)
