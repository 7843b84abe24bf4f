"""Slow clients against ``neuroplast serve``: ``--dribblers`` connections that send a request's headers one
byte every 0.5 s, and ``--idle`` connections that send nothing, opened at once; a prompt client polls
``/api/model`` meanwhile. Reports how long until the server had closed them (at most ``--window``
seconds watched) and the prompt client's worst wait and answers.

    PYTHONPATH=src python benchmarks/slow_clients.py --dribblers 500 --idle 20 --window 30
"""

from __future__ import annotations

import argparse
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_bomb import serve_run  # noqa: E402  (the real command on a small digits run)

HEAD = b"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * 1000


def _watch(port: int, dribblers: int, idle: int, window: float) -> list[float | None]:
    """Open the connections, dribble, and return each one's seconds until the server closed it (None: open
    at the end of the window)."""
    sel = selectors.DefaultSelector()
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(dribblers + idle)]
    start = time.perf_counter()
    closed: list[float | None] = [None] * len(socks)
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    sent, next_byte = 0, start
    while time.perf_counter() - start < window and any(c is None for c in closed):
        if time.perf_counter() >= next_byte and sent < len(HEAD):
            for i in range(dribblers):
                if closed[i] is None:
                    try:
                        socks[i].send(HEAD[sent:sent + 1])
                    except OSError:
                        closed[i] = time.perf_counter() - start
            sent, next_byte = sent + 1, next_byte + 0.5
        for key, _ in sel.select(timeout=0.05):
            i = key.data
            try:
                data = socks[i].recv(65536)
            except OSError:
                data = b""
            if not data and closed[i] is None:
                closed[i] = time.perf_counter() - start
                sel.unregister(socks[i])
    for s in socks:
        s.close()
    return closed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dribblers", type=int, default=500)
    ap.add_argument("--idle", type=int, default=20)
    ap.add_argument("--window", type=float, default=30.0)
    args = ap.parse_args()
    import neuroplast

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "digits"
        neuroplast.run("digits-mlp", out=run_dir, progress=False, overrides=["train.epochs=2", "train.threads=1"])
        proc, url = serve_run(run_dir)
        port = int(url.rsplit(":", 1)[1])
        waits, statuses, stop = [], [], threading.Event()

        def poll() -> None:
            with httpx.Client(timeout=60) as c:
                while not stop.is_set():
                    t = time.perf_counter()
                    statuses.append(c.get(f"{url}/api/model").status_code)
                    waits.append(time.perf_counter() - t)
                    time.sleep(0.05)

        try:
            poller = threading.Thread(target=poll)
            poller.start()
            closed = _watch(port, args.dribblers, args.idle, args.window)
            after = len(statuses)
            time.sleep(2)  # the prompt client once the slow ones are gone
            stop.set()
            poller.join()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    drib, idle = closed[:args.dribblers], closed[args.dribblers:]
    print(f"{args.dribblers} dribbling + {args.idle} idle connections, watched {args.window:.0f} s; "
          "server torch threads 1")
    for name, group in (("dribblers", drib), ("idle", idle)):
        shut = [c for c in group if c is not None]
        print(f"{name:10s} closed by the server: {len(shut)}/{len(group)}"
              + (f", after median {statistics.median(shut):.1f} s, max {max(shut):.1f} s" if shut else ""))
    print(f"prompt client: {len(waits)} polls, worst wait {1000 * max(waits):.0f} ms, "
          f"answers while they were open {sorted(set(statuses[:after]))} ({statuses[:after].count(200)} x 200 "
          f"of {after}), in the 2 s after: {sorted(set(statuses[after:]))}")


if __name__ == "__main__":
    main()
