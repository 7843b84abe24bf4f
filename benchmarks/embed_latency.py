"""Latency of ``POST /api/embed`` (where a drawn digit lands in the network's vector space, with its 8
nearest stored test digits), and the page's load with it.

1. One client, sequential keep-alive requests, one torch thread in the server (as ``neuroplast serve``):
   the 20 stroke-drawn digits of tests/drawn_digits.py as the page sends them (112x112 PNG, base64),
   ``--rounds`` times each after a warm-up, against a digits-cnn run (8x8) and a run of the shipped
   mnist-cnn architecture (28x28; trained briefly: latency depends on the architecture, not on the
   weights). Median and p99 per run, beside /api/predict on the same server; the size of
   ``space.safetensors`` and the seconds it took to write.
2. The 50x20 load of benchmarks/serve.py (50 concurrent users x 20 strokes, the mnist-fast model it
   serves), interleaved in one server session: /api/predict alone (the control); /api/predict and
   /api/embed at once on two connections (the page's first design); /api/predict with ``"place": true``
   (the page now: the point and neighbours in the same answer). p99 against the 50 ms budget.

    python benchmarks/embed_latency.py --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from serve import SHARED, bodies, start

import neuroplast

TARGET_MEDIAN_MS, LOAD_P99_MS = 20.0, 50.0


def train(name: str, out: Path, data_dir: Path | None, overrides: list[str]) -> tuple[Path, float]:
    """Train ``name`` into ``out`` (kept when ``out`` already holds a finished run of it: --root)."""
    if (out / "finished.json").is_file():
        return out, 0.0
    started = time.perf_counter()
    neuroplast.run(name, out=out, data_dir=data_dir, progress=False, overrides=["train.threads=1", *overrides])
    return out, time.perf_counter() - started


def sequential(port: int, routes: list[str], payloads: list[bytes], rounds: int) -> dict[str, list[float]]:
    """Latencies (ms) per route of ``rounds`` passes over ``payloads``, one keep-alive client, the routes
    alternating request by request (so both meet the same load on the machine), after one warm-up pass."""
    out: dict[str, list[float]] = {r: [] for r in routes}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Content-Type": "application/json"}) as c:
        for r in range(rounds + 1):
            for body in payloads:
                for path in routes:
                    t0 = time.perf_counter()
                    answer = c.post(path, content=body)
                    ms = 1000 * (time.perf_counter() - t0)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
                    if r:
                        out[path].append(ms)
    return out


async def _post(reader, writer, path: str, body: bytes) -> tuple[float, int]:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    t0 = time.perf_counter()
    writer.write(head.encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return 1000 * (time.perf_counter() - t0), status


MODES = {"predict only (control)": "predict", "predict + embed (two requests)": "embed",
         "predict with place (the page)": "place"}


def placed(body: bytes) -> bytes:
    """A predict body that also asks for the point: ``{..., "place": true}``."""
    return body.rstrip()[:-1] + b', "place": true}'


async def _user(port: int, strokes: list[bytes], mode: str, found: dict[str, list]) -> None:
    a = await asyncio.open_connection("127.0.0.1", port)
    b = await asyncio.open_connection("127.0.0.1", port)
    try:
        for body in strokes:
            calls = [_post(*a, "/api/predict", placed(body) if mode == "place" else body)]
            if mode == "embed":
                calls.append(_post(*b, "/api/embed", body))
            for route, (ms, status) in zip(("predict", "embed"), await asyncio.gather(*calls), strict=False):
                found[route].append(ms)
                found["errors"].append(status != 200)
    finally:
        for _, w in (a, b):
            w.close()


def load(port: int, payloads: list[bytes], mode: str, users: int = 50, strokes: int = 20) -> dict[str, list]:
    found: dict[str, list] = {"predict": [], "embed": [], "errors": []}

    async def main() -> None:
        await asyncio.gather(*(_user(port, [payloads[(u * strokes + i) % len(payloads)] for i in range(strokes)],
                                     mode, found) for u in range(users)))
    asyncio.run(main())
    return found


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def latency_rows(runs: dict[str, Path], rounds: int) -> list[dict]:
    rows = []
    payloads = bodies("image")
    for name, run_dir in runs.items():
        proc, port = start(run_dir, 64)
        try:
            found = sequential(port, ["/api/embed", "/api/predict"], payloads, rounds)
            for route, ms in found.items():
                rows.append({"run": name, "route": route, "requests": len(ms), "median_ms": statistics.median(ms),
                             "p99_ms": p(ms, 99), "space_bytes": (run_dir / "space.safetensors").stat().st_size})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            proc.terminate()
            proc.wait()
    return rows


def load_rows(run_dir: Path, repeats: int) -> list[dict]:
    rows = []
    payloads = bodies("image")
    proc, port = start(run_dir, 64)
    try:
        for mode in MODES.values():
            load(port, payloads, mode, users=10, strokes=10)  # warm-up
        for name, mode in list(MODES.items()) * repeats:  # interleaved, so drift hits each alike
            f = load(port, payloads, mode)
            both = f["predict"] + f["embed"]
            rows.append({"requests": name,
                         "errors": sum(f["errors"]), "n": len(both), "p50_ms": p(both, 50), "p99_ms": p(both, 99),
                         "predict_p99_ms": p(f["predict"], 99), "embed_p99_ms": p(f["embed"], 99)})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        proc.terminate()
        proc.wait()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=SHARED)
    ap.add_argument("--rounds", type=int, default=10, help="passes over the 20 drawn digits per route")
    ap.add_argument("--repeats", type=int, default=3, help="load runs per configuration (0: no load test)")
    ap.add_argument("--root", type=Path, help="folder for the runs (kept; runs already there are reused)")
    args = ap.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="embed-bench-"))
    print(f"runs in {root}; load average (1, 5, 15 min): {os.getloadavg()}", flush=True)
    print("server: 1 torch thread (torch.set_num_threads(1), as neuroplast serve); client and server on this "
          "machine's cores; training: train.threads=1", flush=True)
    digits, t_digits = train("digits-cnn", root / "digits-cnn", None, [])
    mnist, t_mnist = train("mnist-cnn", root / "mnist-cnn", args.data_dir,
                           ["train.epochs=1", "data.max_train_samples=10000"])
    fast = None if not args.repeats else train("mnist-fast", root / "mnist-fast", args.data_dir,
                    ["data.max_train_samples=30000", "data.val_fraction=0.1", "train.epochs=2", "data.augment.shift=2",
                     "data.augment.rotate=10", "data.augment.scale=0.15"])[0]
    print(f"trained digits-cnn in {t_digits:.1f} s, mnist-cnn (1 epoch, 10,000 images) in {t_mnist:.1f} s", flush=True)
    rows = latency_rows({"digits-cnn": digits, "mnist-cnn": mnist}, args.rounds)
    print("\n| run | route | requests | median ms | p99 ms | space.safetensors |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['route']} | {r['requests']} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['space_bytes'] / 1e6:.2f} MB |")
    verdict = all(r["median_ms"] < TARGET_MEDIAN_MS for r in rows if r["route"] == "/api/embed")
    print(f"embed median < {TARGET_MEDIAN_MS:.0f} ms: {'MET' if verdict else 'NOT MET'}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}", flush=True)
    if not args.repeats:
        return
    lrows = load_rows(fast, args.repeats)
    print("\n| 50 users x 20 strokes | errors | requests | p50 ms | p99 ms | predict p99 | embed p99 |")
    print("|---|---|---|---|---|---|---|")
    for r in lrows:
        print(f"| {r['requests']} | {r['errors']} | {r['n']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['predict_p99_ms']:.1f} | {r['embed_p99_ms']:.1f} |")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}", flush=True)
    for name in MODES:
        p99s = [r["p99_ms"] for r in lrows if r["requests"] == name]
        verdict = "MET" if statistics.median(p99s) <= LOAD_P99_MS else "NOT MET"
        print(f"{name}: p99 median of {len(p99s)} {statistics.median(p99s):.1f} ms; budget {LOAD_P99_MS:.0f} ms: "
              f"{verdict}")


if __name__ == "__main__":
    sys.exit(main())
