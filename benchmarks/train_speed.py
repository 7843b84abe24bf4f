"""Training speed on the CPU: the PyTorch-tutorial DataLoader loop vs a lean in-memory loop vs neuroplast.

Three trainers get the same model (one initialised MLP, deep-copied), the same data tensors, epochs,
batch size, optimizer (Adam, constant learning rate) and thread count. (a) uses Adam as the tutorial
writes it; (b) and (c) use PyTorch's fused Adam kernel, which neuroplast picks by default:

  (a) dataloader -- the classic tutorial loop: ``TensorDataset`` + ``DataLoader(shuffle=True)``,
      ``running_loss += loss.item()`` after every batch;
  (b) inmemory   -- a hand-written lean loop: ``torch.randperm`` with a seeded generator, batches by
      indexing the resident tensors, the loss summed on a tensor and read once per epoch, and the
      same fused Adam kernel that neuroplast uses (so Y is the trainer's own overhead);
  (c) neuroplast -- ``neuroplast.train.fit`` (no checkpoint, no progress, no schedule).

Fairness: the data is loaded with ``val_fraction = 0``, so all three train on the full training split
and none runs a per-epoch validation pass (neuroplast's ``fit`` skips evaluation on an empty val
split). Only training is timed (wall clock around each trainer, data loading excluded). Within each
repeat the trainers run interleaved (a, b, c, a, b, c, ...) so that they share the machine's noise;
the table shows the median over repeats, then the test accuracy of each trained model.

Run (from the repository root, with the venv active):

    python benchmarks/train_speed.py                      # MNIST, 2 epochs, batch 128, 3 repeats,
                                                          # torch's default threads
    python benchmarks/train_speed.py --data digits --repeats 1   # quick check, no files needed
    python benchmarks/train_speed.py --data-dir /path/to/mnist --threads 1 --repeats 5

The last line is ``speedup_vs_dataloader=X overhead_vs_inmemory=Y`` with X = time(a) / time(c) and
Y = time(c) / time(b) - 1, both from medians.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neuroplast.data import Dataset, load_dataset
from neuroplast.models.mlp import MLP
from neuroplast.spec import DataSpec, TrainSpec
from neuroplast.train import fit

DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared/data/mnist"
DEFAULT_EPOCHS = {"mnist": 2, "digits": 20}

Trainer = Callable[[nn.Module, Dataset, argparse.Namespace], None]


def train_dataloader(model: nn.Module, data: Dataset, args: argparse.Namespace) -> None:
    """(a) The PyTorch tutorial loop."""
    torch.manual_seed(args.seed)  # DataLoader shuffles with the global generator
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=args.batch_size,
                        shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    model.train()
    epoch_losses = []
    for _ in range(args.epochs):
        running_loss = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            running_loss += loss.item()
        epoch_losses.append(running_loss / len(loader))


def train_inmemory(model: nn.Module, data: Dataset, args: argparse.Namespace) -> None:
    """(b) A lean hand-written loop over the resident tensors, with the same fused Adam that
    neuroplast picks, so that (c) - (b) is the trainer's own overhead and nothing else."""
    g = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, fused=True)
    x, y = data.x_train, data.y_train
    n = len(x)
    model.train()
    epoch_losses = []
    for _ in range(args.epochs):
        perm = torch.randperm(n, generator=g)
        loss_sum = torch.zeros(())
        for i in range(0, n, args.batch_size):
            idx = perm[i: i + args.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
        epoch_losses.append(loss_sum.item() / n)  # the one read of the epoch


def train_neuroplast(model: nn.Module, data: Dataset, args: argparse.Namespace) -> None:
    """(c) neuroplast's trainer."""
    spec = TrainSpec(epochs=args.epochs, batch_size=args.batch_size, optimizer="adam", lr=args.lr,
                     schedule="none", checkpoint=False, device="cpu")
    fit(model, data, spec, seed=args.seed, progress=False)


TRAINERS: dict[str, Trainer] = {
    "(a) dataloader": train_dataloader,
    "(b) inmemory": train_inmemory,
    "(c) neuroplast": train_neuroplast,
}


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    model.eval()
    correct = sum(int((model(x[i: i + batch_size]).argmax(1) == y[i: i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def load(args: argparse.Namespace) -> Dataset:
    spec = DataSpec(source=args.data, val_fraction=0.0,
                    dir=args.data_dir if args.data == "mnist" else None)
    data = load_dataset(spec, seed=args.seed)
    assert len(data.x_val) == 0
    return data


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["mnist", "digits"], default="mnist")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_MNIST_DIR,
                   help="folder with the MNIST IDX files (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per training (default: 2 on mnist, 20 on digits)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, nargs="*", default=[256],
                   help="hidden layer widths of the MLP (default: 256)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's own default, one per core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-warmup", action="store_true",
                   help="skip the short untimed warm-up of each trainer")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = DEFAULT_EPOCHS[args.data]

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load(args)
    n_train = len(data.x_train)
    in_features = data.x_train[0].numel()
    torch.manual_seed(args.seed)
    init = MLP(in_features, data.num_classes, hidden=tuple(args.hidden))
    arch = "-".join(map(str, [in_features, *args.hidden, data.num_classes]))
    print(f"data={data.name} train={n_train} test={len(data.x_test)} val=0 (empty, see below)")
    print(f"model=MLP {arch} relu params={sum(p.numel() for p in init.parameters())} "
          f"epochs={args.epochs} batch_size={args.batch_size} optimizer=adam lr={args.lr} "
          f"repeats={args.repeats}")
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} device=cpu")
    print("fairness: val split is empty (val_fraction=0), so no trainer evaluates per epoch; "
          "only training is timed (data loading excluded)")

    if not args.no_warmup:  # one short untimed pass each: allocator, kernels, lazy imports
        small = replace(data, x_train=data.x_train[:4 * args.batch_size],
                        y_train=data.y_train[:4 * args.batch_size])
        warm_args = argparse.Namespace(**{**vars(args), "epochs": 1})
        for trainer in TRAINERS.values():
            trainer(copy.deepcopy(init), small, warm_args)

    times: dict[str, list[float]] = {name: [] for name in TRAINERS}
    accs: dict[str, list[float]] = {name: [] for name in TRAINERS}
    finals: dict[str, nn.Module] = {}
    for r in range(args.repeats):
        for name, trainer in TRAINERS.items():
            model = copy.deepcopy(init)
            t0 = time.perf_counter()
            trainer(model, data, args)
            seconds = time.perf_counter() - t0
            times[name].append(seconds)
            accs[name].append(accuracy(model, data.x_test, data.y_test))
            finals[name] = model
            print(f"  repeat {r + 1}/{args.repeats} {name:<15} {seconds:8.3f} s")

    med = {name: statistics.median(ts) for name, ts in times.items()}
    samples = n_train * args.epochs
    print()
    print(f"{'trainer':<16} {'median s':>9} {'min s':>8} {'samples/s':>11} {'test acc':>9}")
    for name in TRAINERS:
        print(f"{name:<16} {med[name]:9.3f} {min(times[name]):8.3f} {samples / med[name]:11.0f} "
              f"{statistics.median(accs[name]):9.4f}")
    b, c = (finals["(b) inmemory"].state_dict(), finals["(c) neuroplast"].state_dict())
    same = all(torch.equal(b[k], c[k]) for k in b)
    print(f"(b) and (c) end with identical weights (same seed, same permutations): {same}")
    x = med["(a) dataloader"] / med["(c) neuroplast"]
    y = med["(c) neuroplast"] / med["(b) inmemory"] - 1
    print(f"speedup_vs_dataloader={x:.3f} overhead_vs_inmemory={y:.3f}")


if __name__ == "__main__":
    main()
