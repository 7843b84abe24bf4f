"""Progress reporting: a rich bar in a terminal, one plain line per epoch otherwise (logs, CI)."""

from __future__ import annotations

import sys
from typing import Any, TextIO


def format_logs(logs: dict[str, Any]) -> str:
    parts = []
    for k, v in logs.items():
        if k == "epoch":
            continue
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)


class PlainProgress:
    """One line per epoch to a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def start(self, epochs: int, steps: int, first_epoch: int) -> None:
        self.epochs = epochs

    def step(self) -> None:
        pass

    def epoch_end(self, logs: dict[str, Any]) -> None:
        print(f"epoch {logs['epoch']}/{self.epochs} {format_logs(logs)}", file=self.stream, flush=True)

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

    def close(self) -> None:
        self.bar.stop()


class NoProgress(PlainProgress):
    def epoch_end(self, logs: dict[str, Any]) -> None:
        pass


def make_progress(enabled: bool = True, stream: TextIO | None = None) -> PlainProgress:
    stream = stream or sys.stderr
    if not enabled:
        return NoProgress(stream)
    return RichProgress(stream) if stream.isatty() else PlainProgress(stream)
