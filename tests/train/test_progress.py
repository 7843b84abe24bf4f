"""Progress a person can follow: a long epoch still prints a line every 30 s when output is not a terminal."""

from __future__ import annotations

import io

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


def test_a_fast_epoch_prints_only_its_line() -> None:
    stream = io.StringIO()
    bar = PlainProgress(stream, interval=30.0, clock=lambda: 0.0)
    bar.start(epochs=1, steps=50, first_epoch=0)
    for _ in range(50):
        bar.step()
    bar.epoch_end({"epoch": 1, "train_loss": 0.25})
    assert stream.getvalue().splitlines() == ["epoch 1/1 train_loss=0.25"]
