"""The classic PyTorch tutorial's training loop against the one call that replaces it, on MNIST's MLP.

Both get the same objects, as the tutorial writes them: an MLP 784-256-10 (one initialisation,
deep-copied), ``DataLoader(TensorDataset(x, y), batch_size=B, shuffle=True)``, ``nn.CrossEntropyLoss()``
and ``optim.Adam(model.parameters(), lr=1e-3)``:

  (a) loop       -- the tutorial's loop: for each batch of the loader, zero_grad, forward, loss,
                    backward, step, ``running_loss += loss.item()``;
  (b) neuroplast -- ``neuroplast.fit(model, loader, loss=criterion, optimizer=optimizer, epochs=E)`` with
                    its defaults: train.threads = "auto" (timed on the model when training starts) and
                    the tutorial's Adam given torch's fused kernel (fit says so in a note);
  (c) control    -- (b) with ``threads=T``, the loop's count: what "auto" is worth is (c)/(b);
  (d) control    -- (c) with ``optim.Adam(..., fused=False)``: the per-parameter loop kept, so (a)/(d) is
                    what the rest of fit (resident batches, no per-step sync) is worth, (d)/(c) the kernel.

Only training is timed (wall clock around each call); the four run interleaved (a, b, c, d, a, b, ...) so that
they share the machine's noise; the table shows medians over repeats and each trained model's accuracy
on the 10,000 official test images. Run from the repository root, with the venv active:

    python benchmarks/fit_dataloader.py                    # MNIST from ../shared/data/mnist, 5 repeats
    python benchmarks/fit_dataloader.py --threads 1 --repeats 3

The last line is ``speedup_vs_loop=X``: median time of (a) over median time of (b).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

import neuroplast
from neuroplast.data.idx import read_idx

DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared/data/mnist"


def mnist(folder: Path) -> tuple[torch.Tensor, ...]:
    """Train and test images as flat float tensors in [0, 1], labels as int64."""
    def images(name: str) -> torch.Tensor:
        return torch.from_numpy(read_idx(folder / name).reshape(-1, 784).astype(np.float32) / 255.0)

    def labels(name: str) -> torch.Tensor:
        return torch.from_numpy(read_idx(folder / name).astype(np.int64))

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


LOOP_THREADS = 0  # torch's thread count for the loop (its default, or --threads)


def tutorial_loop(model: nn.Module, loader: DataLoader, epochs: int) -> None:
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        model.train()
        running_loss = 0.0
        for inputs, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()


CHOSEN: list[int] = []  # the counts "auto" picked


def one_call(model: nn.Module, loader: DataLoader, epochs: int) -> None:
    run = neuroplast.fit(model, loader, loss=nn.CrossEntropyLoss(),
                         optimizer=optim.Adam(model.parameters(), lr=1e-3), epochs=epochs, progress=False)
    CHOSEN.append(run.metrics["train"]["threads"]["threads"])


def one_call_fixed_threads(model: nn.Module, loader: DataLoader, epochs: int) -> None:
    neuroplast.fit(model, loader, loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(model.parameters(), lr=1e-3),
                   epochs=epochs, progress=False, threads=LOOP_THREADS)


def one_call_unfused(model: nn.Module, loader: DataLoader, epochs: int) -> None:
    neuroplast.fit(model, loader, loss=nn.CrossEntropyLoss(),
                   optimizer=optim.Adam(model.parameters(), lr=1e-3, fused=False), epochs=epochs, progress=False,
                   threads=LOOP_THREADS)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=DEFAULT_MNIST_DIR)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y, x_test, y_test = mnist(args.data_dir)
    torch.manual_seed(0)
    init = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    global LOOP_THREADS
    LOOP_THREADS = torch.get_num_threads()
    trainers = {"(a) loop": tutorial_loop, "(b) neuroplast": one_call, f"(c) threads={LOOP_THREADS}":
                one_call_fixed_threads, "(d) + fused=False": one_call_unfused}
    times: dict[str, list[float]] = {k: [] for k in trainers}
    accs: dict[str, list[float]] = {k: [] for k in trainers}
    for r in range(args.repeats):
        for name, train in trainers.items():
            model = copy.deepcopy(init)
            torch.manual_seed(r)  # the loader's shuffle
            loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True)
            start = time.perf_counter()
            torch.set_num_threads(LOOP_THREADS)  # fit's "auto" may have changed it: the loop gets torch's count
            train(model, loader, args.epochs)
            times[name].append(time.perf_counter() - start)
            accs[name].append(accuracy(model, x_test, y_test))
    print(f"MNIST MLP 784-256-10, {args.epochs} epochs, batch {args.batch_size}, threads={torch.get_num_threads()}, "
          f"median of {args.repeats}")
    print(f"{'trainer':20s} {'median s':>9s} {'min s':>7s} {'test acc (median)':>18s}")
    for name in trainers:
        print(f"{name:20s} {statistics.median(times[name]):9.3f} {min(times[name]):7.3f} "
              f"{statistics.median(accs[name]):18.4f}")
    print(f"threads chosen by auto: {CHOSEN}")
    for name in list(trainers)[2:]:
        print(f"speedup of {name.split(' ', 1)[1]}: {statistics.median(times['(a) loop']) / statistics.median(times[name]):.3f}")
    print(f"speedup_vs_loop={statistics.median(times['(a) loop']) / statistics.median(times['(b) neuroplast']):.3f}")


if __name__ == "__main__":
    main()
