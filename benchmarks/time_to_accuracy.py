"""Time to 99.0% MNIST test accuracy: neuroplast's ``mnist-fast`` spec against the pytorch/examples recipe.

Both run in this one process on the same machine, seed by seed, interleaved (fast, recipe, fast,
recipe, ...) so they share the machine's noise:

  mnist-fast       -- ``neuroplast.train.fit`` with the shipped ``mnist-fast`` spec, unchanged: its
                      full schedule (3 epochs) is timed, and every seed must end at >= 99.0%.
  examples recipe  -- pytorch/examples ``mnist/main.py`` as written there: its ``Net`` (two 3x3 convs
                      32/64, max-pool, dropout 0.25/0.5, 9216-128-10), Adadelta lr 1.0, StepLR(1,
                      gamma 0.7), batch 64, a shuffling ``DataLoader`` (no workers, as the recipe on a
                      CPU) over a dataset that does per sample what torchvision's ``MNIST`` +
                      ``ToTensor`` + ``Normalize((0.1307,), (0.3081,))`` do: uint8 array -> PIL image
                      -> float tensor in [0, 1] -> normalized (torchvision itself does not load beside
                      the CPU wheel, so these three steps are written out). After each epoch the official test set is scored; its time to
                      99.0% is the training time summed up to the first epoch that reaches it (the
                      test passes are not counted, which favours the recipe).

Only training is timed (data loading and evaluation excluded, for both). On a GPU the model, the
data and the timing are synchronized; ``--warmup`` first trains one throwaway copy for a few steps
so that CUDA start-up and cuDNN's algorithm search are reported apart from the timed runs.

    python benchmarks/time_to_accuracy.py --data-dir ../shared/data/mnist --seeds 0 1 2
    python benchmarks/time_to_accuracy.py --skip-recipe --device cuda --warmup   # GPU: mnist-fast alone

The last line is ``mnist_fast_seconds=A examples_recipe_seconds=B ratio=C min_accuracy=D`` with A and
B medians over seeds, C = B / A and D the lowest mnist-fast test accuracy over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

import neuroplast
from neuroplast.data import load_dataset
from neuroplast.data.idx import read_idx
from neuroplast.models import build_model
from neuroplast.train import evaluate, fit

DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared/data/mnist"
TARGET = 0.99


# --------------------------------------------------------------------------- the pytorch/examples recipe
class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py's ``Net``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


class PerSampleMNIST(TorchDataset):
    """What torchvision's ``MNIST`` dataset with ``ToTensor()`` and ``Normalize((0.1307,), (0.3081,))``
    does per sample: the uint8 array becomes a PIL image, then a float tensor in [0, 1], normalized."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = torch.from_numpy(np.array(images))  # a writable copy
        self.labels = labels.astype(np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = Image.fromarray(self.images[i].numpy(), mode="L")  # torchvision.datasets.MNIST
        x = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(1, 28, 28)  # ToTensor
        x = x.to(torch.float32).div(255)
        return (x - 0.1307) / 0.3081, int(self.labels[i])  # Normalize


def examples_recipe(seed: int, data_dir: Path, device: torch.device, max_epochs: int) -> tuple[float, float, int]:
    """(seconds to reach TARGET, accuracy then, epochs); seconds is inf when it never does."""
    torch.manual_seed(seed)
    train = PerSampleMNIST(read_idx(data_dir / "train-images-idx3-ubyte.gz"),
                           read_idx(data_dir / "train-labels-idx1-ubyte.gz"))
    test_x = read_idx(data_dir / "t10k-images-idx3-ubyte.gz")
    test_y = torch.from_numpy(read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").astype(np.int64)).to(device)
    test_x = ((torch.from_numpy(test_x).float() / 255.0 - 0.1307) / 0.3081).unsqueeze(1).to(device)
    loader = DataLoader(train, batch_size=64, shuffle=True)
    model = ExamplesNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    seconds, acc = 0.0, 0.0
    for epoch in range(1, max_epochs + 1):
        model.train()
        _sync(device)
        t0 = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()
        _sync(device)
        seconds += time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(test_x[i:i + 1000]).argmax(1) for i in range(0, len(test_x), 1000)])
        acc = (pred == test_y).float().mean().item()
        print(f"  examples recipe seed {seed} epoch {epoch}: {seconds:.1f} s, test accuracy {acc:.4f}", flush=True)
        if acc >= TARGET:
            return seconds, acc, epoch
    return float("inf"), acc, max_epochs


# --------------------------------------------------------------------------- neuroplast
def mnist_fast(seed: int, spec: neuroplast.ExperimentSpec, data, device: torch.device) -> tuple[float, float]:
    """(training seconds of the full mnist-fast schedule, final test accuracy)."""
    torch.manual_seed(seed)
    model = build_model(spec.model, data.input_shape, data.num_outputs, data.task)
    train = spec.train.model_copy(update={"device": device.type})
    result = fit(model, data, train, seed=seed, progress=False)
    acc = evaluate(model, data.x_test.to(device), data.y_test.to(device), result.objective,
                   num_classes=data.num_classes)["accuracy"]
    return result.seconds, acc


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_MNIST_DIR)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--max-epochs", type=int, default=14, help="the recipe's epoch budget (its default)")
    parser.add_argument("--skip-recipe", action="store_true", help="time mnist-fast alone")
    parser.add_argument("--warmup", action="store_true", help="train a throwaway copy for 20 steps first")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    spec = neuroplast.load_spec("mnist-fast").updated(data={"dir": str(args.data_dir)})

    t0 = time.perf_counter()
    data = load_dataset(spec.data, spec.seed)
    data_seconds = time.perf_counter() - t0
    print(f"torch {torch.__version__}, device {device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if device.type == 'cuda' else ''}, "
          f"threads {torch.get_num_threads()}; MNIST loaded in {data_seconds:.2f} s", flush=True)
    if args.warmup:
        t0 = time.perf_counter()
        warm = spec.train.model_copy(update={"device": device.type, "epochs": 1, "max_steps_per_epoch": 20})
        fit(build_model(spec.model, data.input_shape, data.num_outputs, data.task), data, warm, progress=False)
        _sync(device)
        print(f"warm-up (CUDA context, cuDNN search, first kernels): {time.perf_counter() - t0:.2f} s",
              flush=True)

    fast, recipe = [], []
    for seed in args.seeds:
        seconds, acc = mnist_fast(seed, spec, data, device)
        fast.append((seconds, acc))
        print(f"mnist-fast seed {seed}: {seconds:.2f} s, test accuracy {acc:.4f}", flush=True)
        if not args.skip_recipe:
            seconds, acc, epochs = examples_recipe(seed, args.data_dir, device, args.max_epochs)
            recipe.append(seconds)
            print(f"examples recipe seed {seed}: {seconds:.1f} s to {acc:.4f} ({epochs} epochs)", flush=True)

    print("\n| seed | mnist-fast s | mnist-fast accuracy | examples recipe s to 99.0% |")
    print("|---|---|---|---|")
    for i, seed in enumerate(args.seeds):
        r = f"{recipe[i]:.1f}" if recipe else "-"
        print(f"| {seed} | {fast[i][0]:.2f} | {fast[i][1]:.4f} | {r} |")
    a = statistics.median(s for s, _ in fast)
    b = statistics.median(recipe) if recipe else float("nan")
    print(f"mnist_fast_seconds={a:.2f} examples_recipe_seconds={b:.1f} ratio={b / a:.2f} "
          f"min_accuracy={min(acc for _, acc in fast):.4f}")


if __name__ == "__main__":
    main()
