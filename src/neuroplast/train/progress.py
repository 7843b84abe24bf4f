"""Progress reporting: a rich bar in a terminal, one plain line per epoch otherwise (logs, CI)."""

from __future__ import annotations

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
            print(f"epoch {self.epoch}/{self.epochs} step {self.done}/{self.steps} "
                  f"({self.done / max(self.steps, 1):.0%}, {self.last - self.started:.0f} s)", file=self.stream,
                  flush=True)

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


class NoProgress(PlainProgress):
    def step(self) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def epoch_end(self, logs: dict[str, Any]) -> None:
        pass


def make_progress(enabled: bool = True, stream: TextIO | None = None) -> PlainProgress:
    stream = stream or sys.stderr
    if not enabled:
        return NoProgress(stream)
    return RichProgress(stream) if stream.isatty() else PlainProgress(stream)
