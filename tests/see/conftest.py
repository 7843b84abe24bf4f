"""Tiny runs to serve (an 8x8 digits MLP, a character LSTM) and a live uvicorn server in a thread, for the
server's guard, limits and schema tests."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's 8x8 digits, an MLP trained 2 epochs (~3 s)."""
    import neuroplast

    out = tmp_path_factory.mktemp("tiny") / "digits"
    neuroplast.run("digits-mlp", out=out, progress=False, overrides=["train.epochs=2", "train.threads=1"])
    return out


@pytest.fixture(scope="session")
def tiny_lm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A character LSTM on tiny Shakespeare, 10 steps (~3 s): its text is noise, its vocabulary is real."""
    import neuroplast

    out = tmp_path_factory.mktemp("tiny") / "lm"
    neuroplast.run("shakespeare-lstm", out=out, data_dir=SHARED_DATA / "tinyshakespeare", progress=False,
                   overrides=["model.hidden_size=32", "model.num_layers=1", "data.block_size=16", "train.epochs=1",
                              "train.max_steps_per_epoch=10", "train.threads=1"])
    return out


class LiveServer:
    """``app`` served by uvicorn with the settings ``neuroplast serve`` uses, on a free loopback port, in
    a thread of this process."""

    def __init__(self, app, read_timeout: float | None = None) -> None:
        import uvicorn

        from neuroplast.see.server.limits import READ_TIMEOUT, uvicorn_config

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(app, "127.0.0.1", self.port, read_timeout or READ_TIMEOUT)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start within 30 s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server():
    """``live_server(app, read_timeout=None)`` -> a started :class:`LiveServer`, stopped after the test."""
    started: list[LiveServer] = []

    def start(app, read_timeout: float | None = None) -> LiveServer:
        started.append(LiveServer(app, read_timeout))
        return started[-1]

    yield start
    for s in started:
        s.stop()
