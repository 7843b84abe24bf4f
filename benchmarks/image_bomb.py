"""An image bomb against ``neuroplast serve``: a 1-bit PNG of 13000x13000 pixels (tens of KB on the wire,
169 million pixels decoded) posted to ``/api/predict`` ``--bombs`` times, while a second client polls
``/api/model`` every 10 ms. Reports the refusal latency, the longest a poll waited, and the server
process's RSS before, after, and at its peak (VmHWM).

The server is the real command (``python -m neuroplast serve``, torch at 1 thread) on a small digits
run, on loopback. Run it from the repository with the code to measure on PYTHONPATH:

    PYTHONPATH=src python benchmarks/image_bomb.py --bombs 20
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "see"))
from test_server_guard import bomb_png  # noqa: E402  (the same bomb the tests send)


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def serve_run(run_dir: Path) -> tuple[subprocess.Popen, str]:
    """`neuroplast serve RUN_DIR` on a free port, once it answers: the process and its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "neuroplast", "serve", str(run_dir), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/api/model", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def _poll(url: str, stop: threading.Event, waits: list[float]) -> None:
    with httpx.Client(timeout=60) as c:
        while not stop.is_set():
            t = time.perf_counter()
            c.get(f"{url}/api/model")
            waits.append(time.perf_counter() - t)
            time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bombs", type=int, default=20)
    args = ap.parse_args()
    import neuroplast

    bomb = bomb_png()
    body = {"image": base64.b64encode(bomb).decode()}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "digits"
        neuroplast.run("digits-mlp", out=run_dir, progress=False, overrides=["train.epochs=2", "train.threads=1"])
        proc, url = serve_run(run_dir)
        try:
            with httpx.Client(timeout=120) as c:
                for _ in range(20):  # warm: the poll's route, the predict route, the allocator
                    c.get(f"{url}/api/model")
                    c.post(f"{url}/api/predict", json={"pixels": [[0.5] * 8] * 8})
                before = _rss_mb(proc.pid)
                stop, waits = threading.Event(), []
                poller = threading.Thread(target=_poll, args=(url, stop, waits))
                poller.start()
                time.sleep(0.3)
                latencies, statuses = [], set()
                for _ in range(args.bombs):
                    t = time.perf_counter()
                    r = c.post(f"{url}/api/predict", json=body)
                    latencies.append(time.perf_counter() - t)
                    statuses.add(r.status_code)
                    time.sleep(0.05)
                stop.set()
                poller.join()
                after, peak = _rss_mb(proc.pid), _rss_mb(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"bomb: {len(bomb):,} bytes PNG ({len(body['image']):,} base64), 13000x13000 1-bit; "
          f"{args.bombs} posts; server torch threads 1; client cores {os.cpu_count()}; "
          f"load average (1 min) at the end {os.getloadavg()[0]:.1f}: other work on the cores lengthens latencies")
    print(f"{'measure':38s} {'value':>12s}")
    print(f"{'answer status':38s} {','.join(map(str, sorted(statuses))):>12s}")
    print(f"{'refusal latency median (ms)':38s} {1000 * statistics.median(latencies):12.1f}")
    print(f"{'refusal latency max (ms)':38s} {1000 * max(latencies):12.1f}")
    print(f"{'/api/model polls during the bombs':38s} {len(waits):12d}")
    print(f"{'/api/model poll wait max (ms)':38s} {1000 * max(waits):12.1f}")
    print(f"{'/api/model poll wait median (ms)':38s} {1000 * statistics.median(waits):12.1f}")
    print(f"{'server RSS before (MB)':38s} {before:12.1f}")
    print(f"{'server RSS after (MB)':38s} {after:12.1f}")
    print(f"{'server RSS growth (MB)':38s} {after - before:12.1f}")
    print(f"{'server peak RSS VmHWM (MB)':38s} {peak:12.1f}")


if __name__ == "__main__":
    main()
