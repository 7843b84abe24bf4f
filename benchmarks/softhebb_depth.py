"""Validation-only study: does a second SoftHebb layer help, against the same layers left random?

    python benchmarks/softhebb_depth.py one deep deep-random --data-dir ../shared/data/mnist

One seed; the last 6,000 of the shuffled MNIST training images are held out and the test split is never
read. The same plain loop for every variant: 5 epochs, batch 128, Adam 2e-3 one-cycle on the readout only;
the Hebbian layers learn during the first epoch. ``one`` is the product's ``HebbianNet``; ``deep`` adds a
batch norm, 384 SoftHebb 3x3 units (lr 0.05, inverse temperature 5, triangle power 1.4) and a 4/2 max-pool;
``deep-random`` is ``deep`` with both layers' rate at 1e-12. Prints the validation accuracy after each epoch.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neuroplast.data.idx import read_idx
from neuroplast.models.hebbian import HebbianNet
from neuroplast.plasticity.hebbian import SoftHebbConv2d, Triangle

LEARNING_SAMPLES = 54_000


class TwoLayerSoftHebb(nn.Module):
    """Two SoftHebb layers, each followed by its triangle and max pooling, then a linear readout."""

    def __init__(self, lr: float, units2: int = 384) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.h1 = SoftHebbConv2d(1, 96, 5, 2, lr, 5.0, LEARNING_SAMPLES, generator=g)
        self.h2 = SoftHebbConv2d(96, units2, 3, 1, lr, 5.0, LEARNING_SAMPLES, generator=g)
        self.a1, self.a2 = Triangle(0.7), Triangle(1.4)
        self.p1, self.p2 = nn.MaxPool2d(4, 2, padding=1), nn.MaxPool2d(4, 2, padding=1)
        self.bn1 = nn.BatchNorm2d(96, affine=False)
        self.readout = nn.Sequential(nn.BatchNorm2d(units2, affine=False), nn.Flatten(),
                                     nn.Linear(units2 * 49, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bn1(self.a1.rectify(self.p1(self.h1(x, center=True))))
        return self.readout(self.a2.rectify(self.p2(self.h2(z, center=True))))


def mnist_train(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The 60,000 training images (N, 1, 28, 28) in [0, 1] and their labels, read by the product's IDX reader."""
    x = read_idx(folder / "train-images-idx3-ubyte.gz")[:, None].astype(np.float32) / 255
    return torch.from_numpy(x), torch.from_numpy(read_idx(folder / "train-labels-idx1-ubyte.gz").astype(np.int64))


def study(variant: str, x: torch.Tensor, y: torch.Tensor, epochs: int = 5, batch: int = 128) -> list[float]:
    torch.manual_seed(0)
    model = {"one": lambda: HebbianNet((1, 28, 28), 10, learning_samples=LEARNING_SAMPLES),
             "deep": lambda: TwoLayerSoftHebb(0.05), "deep-random": lambda: TwoLayerSoftHebb(1e-12)}[variant]()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, val = perm[:-6000], perm[-6000:]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=epochs * (len(train) // batch + 1))
    start, scores = time.perf_counter(), []
    for epoch in range(epochs):
        model.train()
        order = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch))]
        for i in range(0, len(order), batch):
            b = order[i:i + batch]
            loss = nn.functional.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            right = sum(int((model(x[val[i:i + 500]]).argmax(1) == y[val[i:i + 500]]).sum())
                        for i in range(0, len(val), 500))
        scores.append(round(right / len(val), 4))
        print(f"{variant} epoch {epoch + 1} val {scores[-1]} {time.perf_counter() - start:.0f}s", flush=True)
    return scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="+", choices=["one", "deep", "deep-random"])
    p.add_argument("--data-dir", type=Path, required=True, help="folder with the MNIST IDX files")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x, y = mnist_train(args.data_dir)
    for variant in args.variants:
        print(f"{variant} threads={torch.get_num_threads()} val by epoch {study(variant, x, y)}", flush=True)


if __name__ == "__main__":
    main()
