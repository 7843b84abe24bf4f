"""A small closed-loop load generator for ``/api/predict``: N clients, each on its own keep-alive
connection, each sending its requests one after another (as wrk does, but with a JSON body). Raw
asyncio streams keep the generator itself cheap, so the latencies measured are the server's."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class LoadResult:
    latencies_ms: list[float]
    errors: int
    seconds: float

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> dict[str, float]:
        n = len(self.latencies_ms)
        return {"requests": n + self.errors, "errors": self.errors, "p50_ms": self.percentile(50),
                "p90_ms": self.percentile(90), "p99_ms": self.percentile(99), "max_ms": max(self.latencies_ms, default=0.0),
                "requests_per_second": (n + self.errors) / self.seconds}


async def _client(host: str, port: int, path: str, bodies: list[bytes], latencies: list[float],
                  errors: list[int], token: str | None) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    try:
        for body in bodies:
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            start = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
            latencies.append(1000 * (time.perf_counter() - start))
            status = int(status_line.split()[1])
            if status != 200 or "probabilities" not in json.loads(payload):
                errors.append(status)
    finally:
        writer.close()


async def _run(host: str, port: int, path: str, bodies: list[bytes], clients: int, requests: int,
               token: str | None) -> LoadResult:
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    results = await asyncio.gather(*(
        _client(host, port, path, [bodies[(c * requests + i) % len(bodies)] for i in range(requests)],
                latencies, errors, token) for c in range(clients)), return_exceptions=True)
    failed = sum(isinstance(r, BaseException) for r in results)
    return LoadResult(latencies, len(errors) + failed, time.perf_counter() - start)


def load_test(port: int, bodies: list[bytes], clients: int = 50, requests: int = 20, host: str = "127.0.0.1",
              path: str = "/api/predict", token: str | None = None) -> LoadResult:
    """``clients`` concurrent connections × ``requests`` POSTs each of the given JSON ``bodies``
    (cycled); latency per request from send to the last byte of the answer."""
    from concurrent.futures import ThreadPoolExecutor

    # a thread of its own: the caller's thread may already run an event loop (Jupyter, Playwright)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _run(host, port, path, bodies, clients, requests, token)).result()
