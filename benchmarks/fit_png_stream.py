"""MNIST read from PNG files one at a time, streamed through the user's own DataLoader, against the same
network trained on the decoded tensors held in memory.

The 70,000 MNIST images are written as PNG files into a temporary folder (60,000 train, 10,000 test).
Both runs train the MNIST CNN of ``configs/mnist-cnn.toml`` (same architecture, same initialisation,
AdamW 3e-3, one-cycle, weight decay 1e-4, batch 128, no augmentation) for ``--epochs`` epochs on the first
55,000 training images, validate on the last 5,000 and test on the 10,000 test images:

  (a) stream -- a map-style ``Dataset`` whose ``__getitem__`` opens one PNG (PIL), normalises it and
                returns ``(image, label)``; ``neuroplast.fit(cnn, DataLoader(ds, batch_size=128,
                shuffle=True, num_workers=W), validation_data=val_ds, test_data=test_ds)``: the training
                set streams, never decoded whole (validation and test Datasets are read into memory);
  (b) memory -- the same images decoded from the IDX files into tensors, passed as
                ``DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)``: the resident path.

Each run is its own subprocess, so each peak resident set size (``ru_maxrss``) is its own; the stream's
worker processes are reported apart (``RUSAGE_CHILDREN``: the largest of them). Run from the repository
root, with the venv active (several minutes on 2 cores):

    python benchmarks/fit_png_stream.py                       # 3 epochs, 1 torch thread, 1 worker
    python benchmarks/fit_png_stream.py --epochs 3 --threads 1 --workers 2
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data import Dataset as TorchDataset

DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared/data/mnist"
MEAN, STD = 0.1307, 0.3081  # MNIST's usual normalisation
NUM_TRAIN = 55_000  # the rest of the 60,000 validate, as configs/mnist-cnn.toml's val_fraction = 0.05


class PngDigits(TorchDataset):
    """MNIST digits as PNG files ``<folder>/<index>.png`` and a ``labels.npy``; one file read per sample."""

    def __init__(self, folder: Path, start: int = 0, stop: int | None = None) -> None:
        self.folder = Path(folder)
        labels = np.load(self.folder / "labels.npy")
        self.start, self.stop = start, len(labels) if stop is None else stop
        self.labels = labels[self.start:self.stop].astype(np.int64)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        with Image.open(self.folder / f"{self.start + i}.png") as image:
            pixels = np.asarray(image, dtype=np.float32)
        return torch.from_numpy((pixels / 255.0 - MEAN) / STD)[None], int(self.labels[i])


def write_pngs(mnist_dir: Path, out: Path) -> float:
    """MNIST's train and test images as PNG files in ``out/train`` and ``out/test``; the seconds it took."""
    from PIL import Image

    from neuroplast.data.idx import read_idx

    t0 = time.perf_counter()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        folder = out / split
        folder.mkdir(parents=True)
        images = read_idx(mnist_dir / f"{prefix}-images-idx3-ubyte.gz")
        for i, pixels in enumerate(images):
            Image.fromarray(pixels).save(folder / f"{i}.png")
        np.save(folder / "labels.npy", read_idx(mnist_dir / f"{prefix}-labels-idx1-ubyte.gz"))
    return time.perf_counter() - t0


def cnn() -> torch.nn.Module:
    """configs/mnist-cnn.toml's network, seeded."""
    from neuroplast.models import build_model
    from neuroplast.spec import load_spec

    torch.manual_seed(0)
    return build_model(load_spec("mnist-cnn").model, (1, 28, 28), 10, "classification")


def resident(mnist_dir: Path) -> tuple[torch.Tensor, ...]:
    """The same images decoded from the IDX files and normalised, as tensors in memory."""
    from neuroplast.data.idx import read_idx

    def images(name: str) -> torch.Tensor:
        return (torch.from_numpy(read_idx(mnist_dir / name).astype(np.float32))[:, None] / 255.0 - MEAN) / STD

    def labels(name: str) -> torch.Tensor:
        return torch.from_numpy(read_idx(mnist_dir / name).astype(np.int64))

    x, y = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    return x, y, images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")


def child(mode: str, folder: Path, args: argparse.Namespace) -> None:
    """One run, in this process; prints its figures as one JSON line."""
    import neuroplast

    mnist_dir, workers = args.mnist_dir, args.workers
    options = {"epochs": args.epochs, "lr": 3e-3, "schedule": "onecycle", "threads": args.threads,
               "max_steps_per_epoch": args.max_steps, "progress": True,  # the spec's AdamW (fit's optimizer=
               "optimizer": lambda params: torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)}  # is an object)
    model = cnn()
    t0 = time.perf_counter()
    if mode == "stream":
        train = DataLoader(PngDigits(folder / "train", 0, NUM_TRAIN), batch_size=128, shuffle=True,
                           num_workers=workers)
        run = neuroplast.fit(model, train, validation_data=PngDigits(folder / "train", NUM_TRAIN),
                             test_data=PngDigits(folder / "test"), **options)
    else:
        x, y, x_test, y_test = resident(mnist_dir)
        train = DataLoader(TensorDataset(x[:NUM_TRAIN], y[:NUM_TRAIN]), batch_size=128, shuffle=True)
        run = neuroplast.fit(model, train, validation_data=(x[NUM_TRAIN:], y[NUM_TRAIN:]),
                             test_data=(x_test, y_test), **options)
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "mode": mode, "test_accuracy": run.metrics["test"]["accuracy"], "wall_s": seconds,
        "train_s": run.metrics["train"]["seconds"], "streamed": bool(run.metrics["data"].get("streamed")),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "val_accuracy": run.history[-1].get("val_accuracy"), "threads": torch.get_num_threads()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist-dir", type=Path, default=DEFAULT_MNIST_DIR)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers of the streamed run")
    parser.add_argument("--max-steps", type=int, default=None, help="batches per epoch (a quick check of the script)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args)
        return
    print(f"torch threads per training process: {args.threads}; streamed run's DataLoader workers: {args.workers}; "
          f"epochs: {args.epochs}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mnist-png-") as tmp:
        folder = Path(tmp)
        print(f"wrote 70000 PNG files in {write_pngs(args.mnist_dir, folder):.1f} s", flush=True)
        results = []
        for mode in ("stream", "memory"):
            cmd = [sys.executable, __file__, "--child", mode, str(folder), "--mnist-dir", str(args.mnist_dir),
                   "--epochs", str(args.epochs), "--threads", str(args.threads), "--workers", str(args.workers),
                   *(["--max-steps", str(args.max_steps)] if args.max_steps else [])]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    print(f"\n{'run':<8} {'test acc':>9} {'val acc':>8} {'wall s':>8} {'train s':>8} {'peak RSS MB':>12} "
          f"{'worker peak MB':>15}")
    for r in results:
        print(f"{r['mode']:<8} {r['test_accuracy']:>9.4f} {r['val_accuracy']:>8.4f} {r['wall_s']:>8.1f} "
              f"{r['train_s']:>8.1f} {r['peak_rss_mb']:>12.0f} {r['worker_peak_rss_mb']:>15.0f}")
    stream = results[0]
    print(f"\nstreamed={stream['streamed']} threads={args.threads} workers={args.workers} "
          f"stream_test_accuracy={stream['test_accuracy']:.4f} bar=0.990 "
          f"{'MET' if stream['test_accuracy'] >= 0.99 else 'NOT MET'}")


if __name__ == "__main__":
    main()
