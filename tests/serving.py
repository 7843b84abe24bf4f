"""`neuroplast serve` in a child process, for the tests that need the real command (a browser, a token
printed at start-up, the page): started on a free loopback port and waited for until it answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``neuroplast serve`` in a child process."""

    def __init__(self, run_dir: Path, host: str = "127.0.0.1", lang: str = "en") -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "neuroplast", "serve", str(run_dir), "--host", host, "--port", str(self.port),
             "--lang", lang], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.first_line = self.proc.stdout.readline()
        self.token = self.first_line.split("?token=")[1].strip() if "?token=" in self.first_line else None
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                httpx.get(f"{self.url}/api/model", timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"neuroplast serve exited: {self.first_line}{self.proc.stdout.read()}") from None
                time.sleep(0.2)
        raise RuntimeError("neuroplast serve did not answer within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
