"""Fine-tuning the MNIST CNN on 100 of scikit-learn's 8x8 digits: from scratch vs ``train.init_from``
with the convolutions frozen vs ``init_from`` with everything fine-tuned, over seeds.

What a user with a small folder of their own digits does: for each seed, 10 images per class are
drawn (seeded) from ``sklearn.datasets.load_digits`` and written as 8x8 PNG files into
``train/<class>/``, the other 1,697 into ``test/<class>/``; the folder source reads them (resized to
28x28 and framed as the parent's MNIST digits, ``data.style = "mnist"``, which ``init_from`` sets) with
``data.test_dir`` as the whole test split. The arms share the network (configs/mnist-cnn.toml's
[model]), the framing, the augmentation, the optimizer and the epochs, fixed before any run (no choice
is made on the test split):

    scratch       the same network from its seeded initialisation (lr as the arms below)
    scratch-3e-3  control: from scratch at the spec's own peak lr 3e-3
    frozen        init_from the parent, freeze = ["features"] (the convolutions and their batch norm)
    fine-tuned    init_from the parent, every layer trains

    python benchmarks/finetune.py                                   # trains the parent first (2 epochs)
    python benchmarks/finetune.py --parent runs/mnist-cnn-20261123-101500   # or reuses a finished run
    python benchmarks/finetune.py --style resize     # every arm: plain resize (not the parent's framing)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits

import neuroplast
from neuroplast import experiment
from neuroplast.spec import load_spec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
ARMS = {  # name -> train-section changes on top of the shared ones
    "scratch": {},
    "scratch-3e-3": {"lr": 3e-3},
    "frozen": {"init_from": "PARENT", "freeze": ["features"]},
    "fine-tuned": {"init_from": "PARENT"},
}


def parent_run(args: argparse.Namespace, work: Path) -> tuple[Path, dict, float]:
    """The mnist-cnn run to start from: ``--parent``, or one trained here for ``--parent-epochs``."""
    if args.parent is not None:
        return args.parent, json.loads((args.parent / "metrics.json").read_text()), 0.0
    t0 = time.perf_counter()
    run = neuroplast.run("mnist-cnn", data_dir=args.data_dir, out=work / "parent", progress=False,
                         train={"epochs": args.parent_epochs, "threads": args.threads})
    return run.dir, run.metrics, time.perf_counter() - t0


def write_folders(seed: int, per_class: int, root: Path) -> tuple[Path, Path]:
    """``per_class`` digits of each class (drawn with ``seed``) as PNGs in root/train, the rest in root/test."""
    digits = load_digits()
    rng = np.random.default_rng(seed)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(digits.target == c))
        for part, chosen in (("train", idx[:per_class]), ("test", idx[per_class:])):
            (root / part / str(c)).mkdir(parents=True, exist_ok=True)
            for i in chosen:
                pixels = np.round(digits.images[i] * 255 / 16).astype(np.uint8)  # ink bright on black, as MNIST
                Image.fromarray(pixels).save(root / part / str(c) / f"{i}.png")
    return root / "train", root / "test"


def train_arm(arm: str, seed: int, folders: tuple[Path, Path], parent: Path, style: str,
              args: argparse.Namespace, work: Path) -> tuple[float, float]:
    """Test accuracy and wall time of one arm on one seed."""
    changes = {k: (str(parent) if v == "PARENT" else v) for k, v in ARMS[arm].items()}
    train = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
             "checkpoint": False, **changes}
    spec = load_spec("mnist-cnn").updated(
        name=f"digits-{arm}-s{seed}", seed=seed, train=train,
        data={"source": "folder", "dir": str(folders[0]), "test_dir": str(folders[1]), "val_fraction": 0.0,
              "style": style})
    t0 = time.perf_counter()
    run = experiment.train(experiment.resolve_spec(spec), out=work / f"{arm}-s{seed}", progress=False)
    return run.metrics["test"]["accuracy"], time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parent", type=Path, help="a finished mnist-cnn run folder to start from")
    p.add_argument("--data-dir", type=Path, default=SHARED, help="MNIST IDX files, to train the parent")
    p.add_argument("--parent-epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--style", choices=("parent", "resize", "mnist", "digits"), default="parent",
                   help="how every arm frames the images (parent: as the parent's preprocess.json says)")
    p.add_argument("--work", type=Path, help="keep the runs here (default: a temporary folder)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        parent, metrics, seconds = parent_run(args, work)
        style = json.loads((parent / "preprocess.json").read_text())["style"] if args.style == "parent" else args.style
        print(f"parent {parent}: mnist-cnn, {metrics['train']['epochs']} epochs, test accuracy "
              f"{metrics['test']['accuracy']:.4f}" + (f", {seconds:.0f} s" if seconds else " (reused)"))
        print(f"{args.per_class} training images per class, the rest of the 1,797 digits to test; {args.epochs} "
              f"epochs, batch {args.batch_size}, lr {args.lr:g} (onecycle, adamw), data.style {style!r}, "
              f"threads={args.threads}")
        scores: dict[str, list[float]] = {arm: [] for arm in ARMS}
        print(f"{'seed':>4}  " + "  ".join(f"{arm:>12}" for arm in ARMS) + "   seconds")
        for seed in args.seeds:
            folders = write_folders(seed, args.per_class, work / f"digits-s{seed}")
            times = []
            for arm in ARMS:
                accuracy, wall = train_arm(arm, seed, folders, parent, style, args, work)
                scores[arm].append(accuracy)
                times.append(wall)
            print(f"{seed:>4}  " + "  ".join(f"{scores[arm][-1]:>12.4f}" for arm in ARMS) +
                  "   " + "/".join(f"{t:.0f}" for t in times))
        print(f"{'med':>4}  " + "  ".join(f"{statistics.median(scores[arm]):>12.4f}" for arm in ARMS))
    print(f"threads={args.threads}  total wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
