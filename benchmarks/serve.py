"""Load on loopback for ``neuroplast serve``: 50 concurrent clients x 20 requests to ``/api/predict``,
each answer with probabilities, calibrated confidence and the saliency map.

The model is the one the browser test serves (mnist-fast on 30,000 MNIST images, 2 epochs, light
augmentation). Bodies are the 20 stroke-drawn test digits as the page sends them (112x112 PNG,
base64), or the 28x28 ``pixels`` grid. Side by side, in one run: the server as shipped (concurrent
requests batched into one forward/backward pass) and the same server answering each request alone
(``max_batch=1``, the way a plain FastAPI endpoint around a model works). Each configuration is
measured ``--repeats`` times after a warm-up; the table gives the median and the worst of the repeats.

    python benchmarks/serve.py --data-dir ../shared/data/mnist --repeats 5
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from loadtest import load_test

import neuroplast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from drawn_digits import render, twenty  # noqa: E402

SHARED = HERE.parents[1] / "shared" / "data" / "mnist"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(run_dir: Path, max_batch: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    code = ("import gc, torch, uvicorn; from neuroplast.see.server import create_app; "
            f"app = create_app({str(run_dir)!r}, max_batch={max_batch}); torch.set_num_threads(1); gc.freeze(); "
            f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/model", timeout=1)
            return proc, port
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def bodies(kind: str) -> list[bytes]:
    import numpy as np

    from neuroplast.data.images import mnist_style

    out = []
    for _, strokes in twenty():
        im = render(strokes)
        if kind == "image":
            buf = io.BytesIO()
            im.resize((112, 112)).save(buf, "PNG")
            out.append(json.dumps({"image": base64.b64encode(buf.getvalue()).decode()}).encode())
        else:
            grid = mnist_style(np.asarray(im, dtype=np.float32) / 255.0)
            out.append(json.dumps({"pixels": np.round(grid.astype(float), 3).tolist()}).encode())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=SHARED)
    p.add_argument("--run", type=Path, help="serve this run instead of training one")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=20)
    args = p.parse_args()
    run_dir = args.run
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix="serve-bench-")) / "mnist"
        neuroplast.run("mnist-fast", out=run_dir, data_dir=args.data_dir, progress=False,
                       overrides=["data.max_train_samples=30000", "data.val_fraction=0.1", "train.epochs=2",
                                  "data.augment.shift=2", "data.augment.rotate=10", "data.augment.scale=0.15"])
    print(f"model: {run_dir}; {args.clients} clients x {args.requests} requests, {args.repeats} repeats")
    rows = []
    for max_batch, label in ((64, "batched (as shipped)"), (1, "one request per forward (max_batch=1)")):
        proc, port = start(run_dir, max_batch)
        try:
            for kind in ("image", "pixels"):
                b = bodies(kind)
                load_test(port, b, clients=10, requests=10)  # warm-up
                results = [load_test(port, b, clients=args.clients, requests=args.requests)
                           for _ in range(args.repeats)]
                s = [r.summary() for r in results]
                row = {"server": label, "body": kind, "errors": sum(x["errors"] for x in s),
                       "p50_ms": statistics.median(x["p50_ms"] for x in s),
                       "p99_ms": statistics.median(x["p99_ms"] for x in s),
                       "p99_worst_ms": max(x["p99_ms"] for x in s),
                       "rps": statistics.median(x["requests_per_second"] for x in s)}
                rows.append(row)
                print(json.dumps({**row, "p99_each": [round(x["p99_ms"], 1) for x in s]}), flush=True)
        finally:
            proc.terminate()
            proc.wait()
    print("\n| server | body | errors | p50 ms | p99 ms (median) | p99 ms (worst) | requests/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['server']} | {r['body']} | {r['errors']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['p99_worst_ms']:.1f} | {r['rps']:.0f} |")


if __name__ == "__main__":
    main()
