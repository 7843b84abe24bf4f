"""Training throughput on the CPU: neuroplast against four common ways to train the same CNN.

Every trainer gets the same model, data, epochs, batch size, optimizer (AdamW, constant learning
rate, the same weight decay) and thread count, in this one process:

  tutorial    -- the classic PyTorch tutorial loop: ``TensorDataset`` + ``DataLoader(shuffle=True)``,
                 ``running_loss += loss.item()`` after every batch, ``torch.optim.AdamW`` as written
                 there (PyTorch's default, non-fused implementation);
  examples    -- the pytorch/examples ``mnist/main.py`` loop style: a ``Dataset`` whose ``__getitem__``
                 turns one uint8 image into a normalized float tensor (what torchvision's ``ToTensor``
                 + ``Normalize`` do; torchvision itself does not load beside the CPU wheel), a
                 shuffling ``DataLoader`` -- but with the same batch size as everyone else, not its 64;
  keras       -- Keras 3 on its torch backend (``KERAS_BACKEND=torch``), the same architecture from
                 Keras layers, ``model.fit(x, y, batch_size, epochs, verbose=0)``. Keras wants images
                 channels-last, so its input is NHWC (its torch backend transposes around each conv).
                 Its layers start from the torch model's initial weights (conv kernels OIHW -> HWIO,
                 the first dense layer's rows permuted for NHWC flattening, BatchNorm epsilon 1e-5 and
                 momentum 0.9 as in torch), with ``AdamW(epsilon=1e-8)`` as in torch; eager
                 (``jit_compile=False``, its default on the torch backend), no metrics;
  lightning   -- PyTorch Lightning: a ``LightningModule`` wrapping the same ``nn.Module``,
                 ``L.Trainer(max_epochs, accelerator="cpu", devices=1, logger=False,
                 enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)``,
                 a shuffling ``DataLoader`` over the tensors, ``torch.optim.AdamW`` (default, non-fused);
  neuroplast  -- ``neuroplast.train.fit`` with a ``TrainSpec`` of the same settings (no checkpoint, no
                 progress, no schedule); it picks PyTorch's fused AdamW kernel by itself.

The model is the ``mnist-fast`` spec's CNN, built once by ``neuroplast.models.build_model`` and
deep-copied for each torch trainer: conv 3x3 16 (no bias) -> BatchNorm -> ReLU -> max-pool 2 ->
conv 3x3 32 -> BatchNorm -> ReLU -> max-pool 2 -> flatten -> 128 -> ReLU -> 10 (no dropout).
Everyone trains in fp32. ``--bf16`` adds one more row, clearly labelled: neuroplast with the
mnist-fast spec's own ``amp = "bf16"`` and ``channels_last = true`` (not counted in the ratios'
``min_ratio``).

The data is MNIST from the IDX files, read by neuroplast's loader with ``val_fraction = 0`` (so no
trainer runs a validation pass) and the first ``--max-samples`` training images; standardized with
the training split's mean and standard deviation (the ``examples`` dataset applies the same mean and
std per sample to the same uint8 images). Only training is timed (the wall clock around each
trainer's train call, which includes its own setup such as building a DataLoader, an optimizer or a
Trainer); data loading, model construction and testing are not. Each repeat runs every trainer once,
interleaved, the order rotated from one repeat to the next, so they share the machine's noise; the
table gives the median samples/s over repeats, neuroplast's ratio to each, and the median test
accuracy on the official 10,000 test images (a sanity check: all should be similar). A short untimed
warm-up of each trainer comes first (lazy imports, allocator, Keras's first trace) unless
``--no-warmup``.

A peer whose library is missing is skipped with a note. Versions used when this was written (Python
3.11.7, torch 2.13.0+cpu): keras 3.15.1, lightning 2.6.6 (``pip install 'neuroplast[bench]'``; both
install beside the CPU torch without replacing it).

Run (from the repository root, with the venv active):

    python benchmarks/throughput.py                              # 1 epoch on 10k images, batch 128,
                                                                 # 3 repeats, torch's default threads
    python benchmarks/throughput.py --quick                      # 2k images, 1 repeat: does it work?
    python benchmarks/throughput.py --max-samples 0 --epochs 2 --repeats 5 --threads 1 --bf16

The last line is ``throughput_samples_per_s neuroplast=N tutorial=... examples=... keras=...
lightning=... min_ratio=R``: medians in samples/s (``skipped`` for a missing peer) and R = neuroplast
/ the fastest peer.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # before any import of keras

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
from torch.utils.data import Dataset as TorchDataset  # noqa: E402

import neuroplast  # noqa: E402
from neuroplast.data import Dataset, load_dataset  # noqa: E402
from neuroplast.data.idx import FILES, read_idx  # noqa: E402
from neuroplast.models import build_model  # noqa: E402
from neuroplast.spec import CNNSpec, DataSpec, TrainSpec  # noqa: E402
from neuroplast.train import fit  # noqa: E402

DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared/data/mnist"
INSTALL_HINT = "skipped (not installed: pip install 'neuroplast[bench]')"
# The mnist-fast spec's architecture (src/neuroplast/configs/mnist-fast.toml, [model]).
MODEL_SPEC = CNNSpec(channels=(16, 32), hidden=(128,), batch_norm=True, dropout=0.0)


@dataclass
class Setup:
    """What every trainer shares."""

    args: argparse.Namespace
    data: Dataset  # standardized float32 NCHW tensors
    raw_train: np.ndarray  # the same training images as uint8 (N, 28, 28), for the per-sample peer
    init: nn.Module  # initial weights, deep-copied for every run


class Trainer:
    """One way to train: ``build`` a fresh model (untimed), ``train`` it (timed), ``accuracy``."""

    name = ""

    def build(self, s: Setup) -> Any:
        return copy.deepcopy(s.init)

    def train(self, model: Any, s: Setup, data: Dataset, raw: np.ndarray, epochs: int) -> None:
        raise NotImplementedError

    def accuracy(self, model: Any, s: Setup) -> float:
        return torch_accuracy(model, s.data.x_test, s.data.y_test)


# --------------------------------------------------------------------------- (1) the tutorial loop
class Tutorial(Trainer):
    name = "tutorial"

    def train(self, model, s, data, raw, epochs):
        torch.manual_seed(s.args.seed)  # DataLoader shuffles with the global generator
        loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=s.args.batch_size,
                            shuffle=True)
        opt = torch.optim.AdamW(model.parameters(), lr=s.args.lr, weight_decay=s.args.weight_decay)
        model.train()
        for _ in range(epochs):
            running_loss = 0.0
            for xb, yb in loader:
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                running_loss += loss.item()


# --------------------------------------------------------------------------- (2) pytorch/examples style
class PerSampleMNIST(TorchDataset):
    """uint8 images made float and normalized one at a time, as ToTensor + Normalize do."""

    def __init__(self, images: np.ndarray, labels: torch.Tensor, mean: float, std: float) -> None:
        self.images, self.labels = torch.from_numpy(images), labels
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].unsqueeze(0).float().div_(255.0)
        return x.sub_(self.mean).div_(self.std), self.labels[i]


class Examples(Trainer):
    name = "examples"

    def train(self, model, s, data, raw, epochs):
        torch.manual_seed(s.args.seed)
        pre = s.data.preprocess
        loader = DataLoader(PerSampleMNIST(raw, data.y_train, pre["mean"], pre["std"]),
                            batch_size=s.args.batch_size, shuffle=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=s.args.lr, weight_decay=s.args.weight_decay)
        model.train()
        for _ in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()


# --------------------------------------------------------------------------- (3) Keras 3, torch backend
class Keras(Trainer):
    name = "keras"

    def __init__(self) -> None:
        import keras  # ImportError: skipped

        if keras.backend.backend() != "torch":
            raise ImportError(f"KERAS_BACKEND is {keras.backend.backend()!r}, not 'torch'")
        self.keras = keras
        self.x_cache: dict[int, np.ndarray] = {}

    def build(self, s):
        layers = self.keras.layers
        bn = {"epsilon": 1e-5, "momentum": 0.9}  # torch's BatchNorm2d defaults
        model = self.keras.Sequential([
            layers.Input((28, 28, 1)),
            layers.Conv2D(16, 3, padding="same", use_bias=False), layers.BatchNormalization(**bn),
            layers.ReLU(), layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, padding="same", use_bias=False), layers.BatchNormalization(**bn),
            layers.ReLU(), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10),
        ])
        model.set_weights(keras_weights(s.init))
        return model

    def nhwc(self, x: torch.Tensor) -> np.ndarray:
        key = id(x)
        if key not in self.x_cache:  # converted once, untimed (x_train, the warm-up slice, x_test)
            self.x_cache[key] = x.permute(0, 2, 3, 1).contiguous().numpy()
        return self.x_cache[key]

    def prepare(self, s: Setup, datasets: list[Dataset]) -> None:
        for d in datasets:
            self.nhwc(d.x_train)
        self.nhwc(s.data.x_test)

    def train(self, model, s, data, raw, epochs):
        keras = self.keras
        keras.utils.set_random_seed(s.args.seed)
        model.compile(optimizer=keras.optimizers.AdamW(learning_rate=s.args.lr,
                                                       weight_decay=s.args.weight_decay, epsilon=1e-8),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=False)
        model.fit(self.nhwc(data.x_train), data.y_train.numpy(), batch_size=s.args.batch_size,
                  epochs=epochs, verbose=0)

    def accuracy(self, model, s):
        logits = model.predict(self.nhwc(s.data.x_test), batch_size=1024, verbose=0)
        return float((np.asarray(logits).argmax(1) == s.data.y_test.numpy()).mean())


def keras_weights(init: nn.Module) -> list[np.ndarray]:
    """The torch CNN's weights in the Keras model's order and layout."""
    out: list[np.ndarray] = []
    for m in init.modules():
        if isinstance(m, nn.Conv2d):
            out.append(m.weight.detach().permute(2, 3, 1, 0).numpy())  # OIHW -> HWIO
        elif isinstance(m, nn.BatchNorm2d):
            out += [t.detach().numpy() for t in (m.weight, m.bias, m.running_mean, m.running_var)]
    convs = [m for m in init.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in init.modules() if isinstance(m, nn.Linear)]
    c = convs[-1].out_channels
    for i, m in enumerate(linears):
        w = m.weight.detach()
        if i == 0:  # torch flattens (C, H, W), Keras (H, W, C)
            side = int(round((w.shape[1] // c) ** 0.5))
            w = w.reshape(w.shape[0], c, side, side).permute(0, 2, 3, 1).reshape(w.shape[0], -1)
        out += [w.T.contiguous().numpy(), m.bias.detach().numpy()]
    return out


# --------------------------------------------------------------------------- (4) PyTorch Lightning
class Lightning(Trainer):
    name = "lightning"

    def __init__(self) -> None:
        import lightning as L  # ImportError: skipped

        self.L = L
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.ERROR)  # "GPU available: False ..." and the like
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")  # lightning 2.6 about its own use of torch

        class Module(L.LightningModule):
            def __init__(self, net: nn.Module, lr: float, weight_decay: float) -> None:
                super().__init__()
                self.net, self.lr, self.weight_decay = net, lr, weight_decay

            def forward(self, x):
                return self.net(x)

            def training_step(self, batch, batch_idx):
                x, y = batch
                return F.cross_entropy(self.net(x), y)

            def configure_optimizers(self):
                return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

        self.Module = Module

    def train(self, model, s, data, raw, epochs):
        torch.manual_seed(s.args.seed)
        loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=s.args.batch_size,
                            shuffle=True)
        trainer = self.L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                                 enable_checkpointing=False, enable_progress_bar=False,
                                 enable_model_summary=False)
        trainer.fit(self.Module(model, s.args.lr, s.args.weight_decay), loader)


# --------------------------------------------------------------------------- (5) neuroplast
class Neuroplast(Trainer):
    name = "neuroplast"

    def __init__(self, label: str = "neuroplast", **precision: Any) -> None:
        self.name, self.precision = label, precision

    def train(self, model, s, data, raw, epochs):
        spec = TrainSpec(epochs=epochs, batch_size=s.args.batch_size, optimizer="adamw", lr=s.args.lr,
                         weight_decay=s.args.weight_decay, schedule="none", checkpoint=False,
                         device="cpu", **self.precision)
        fit(model, data, spec, seed=s.args.seed, progress=False)

    def accuracy(self, model, s):
        if self.precision.get("amp", "none") == "none":
            return super().accuracy(model, s)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return super().accuracy(model, s)


def bf16_trainer() -> Trainer | str:
    """neuroplast with the mnist-fast spec's bf16 autocast and channels-last layout, or why not."""
    try:
        train = neuroplast.load_spec("mnist-fast").train
        precision = {"amp": train.amp, "channels_last": train.channels_last}
        TrainSpec(**precision)
    except Exception as e:  # an older neuroplast without the spec or the field
        return f"skipped (mnist-fast's bf16/channels_last not available here: {type(e).__name__}: {e})"
    return Neuroplast("neuroplast bf16+channels_last", **precision)


# --------------------------------------------------------------------------- measuring
@torch.inference_mode()
def torch_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    model.eval()
    correct = sum(int((model(x[i: i + batch_size]).argmax(1) == y[i: i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def load(args: argparse.Namespace) -> tuple[Dataset, np.ndarray]:
    spec = DataSpec(source="mnist", dir=args.data_dir, val_fraction=0.0,
                    max_train_samples=args.max_samples or None)
    data = load_dataset(spec, seed=args.seed)
    assert len(data.x_val) == 0
    d = Path(data.origin)
    path = next(p for p in (d / f"{FILES[0]}.gz", d / FILES[0]) if p.is_file())
    raw = read_idx(path)[:len(data.x_train)].copy()  # a writable copy, as torch.from_numpy wants
    pre = data.preprocess  # the per-sample peer must see the same numbers
    check = (torch.from_numpy(raw[:256]).float().div(255.0).sub(pre["mean"]).div(pre["std"])).unsqueeze(1)
    assert torch.allclose(check, data.x_train[:256], atol=1e-5), "raw images and loaded tensors differ"
    return data, raw


def peers(args: argparse.Namespace) -> tuple[list[Trainer], dict[str, str]]:
    """The trainers that could be set up, and a note for each that could not."""
    trainers: list[Trainer] = [Tutorial(), Examples()]
    skipped: dict[str, str] = {}
    for cls in (Keras, Lightning):
        try:
            trainers.append(cls())
        except ImportError as e:
            skipped[cls.name] = f"{INSTALL_HINT} [{e}]"
    trainers.append(Neuroplast())
    if args.bf16:
        extra = bf16_trainer()
        if isinstance(extra, str):
            skipped["neuroplast bf16+channels_last"] = extra
        else:
            trainers.append(extra)
    return trainers, skipped


def versions() -> str:
    out = [f"torch={torch.__version__}", f"neuroplast={neuroplast.__version__}"]
    for name in ("keras", "lightning"):
        try:
            out.append(f"{name}={__import__(name).__version__}")
        except ImportError:
            out.append(f"{name}=missing")
    return " ".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_MNIST_DIR,
                   help="folder with the MNIST IDX files (default: %(default)s)")
    p.add_argument("--max-samples", type=int, default=10_000,
                   help="train on the first N training images (0: all 60,000; default: %(default)s)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for every trainer (default: torch's own default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action="store_true",
                   help="add a row: neuroplast with the mnist-fast spec's bf16 autocast + channels_last")
    p.add_argument("--no-warmup", action="store_true", help="skip the short untimed warm-up")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test: 2,000 images, 1 epoch, 1 repeat (overrides those options)")
    args = p.parse_args(argv)
    if args.quick:
        args.max_samples, args.epochs, args.repeats = 2000, 1, 1

    if args.threads:
        torch.set_num_threads(args.threads)
    data, raw = load(args)
    torch.manual_seed(args.seed)
    init = build_model(MODEL_SPEC, data.input_shape, data.num_outputs, data.task)
    s = Setup(args, data, raw, init)
    trainers, skipped = peers(args)
    n_train = len(data.x_train)

    print(f"data={data.name} train={n_train} test={len(data.x_test)} val=0 "
          f"epochs={args.epochs} batch_size={args.batch_size} optimizer=adamw lr={args.lr} "
          f"weight_decay={args.weight_decay} schedule=constant repeats={args.repeats}")
    print(f"model=mnist-fast CNN conv16-bn-relu-pool-conv32-bn-relu-pool-128-10 "
          f"params={sum(q.numel() for q in init.parameters())} dtype=fp32")
    print(f"{versions()} threads={torch.get_num_threads()} device=cpu")
    for name, why in skipped.items():
        print(f"{name}: {why}")

    small = replace(data, x_train=data.x_train[:4 * args.batch_size], y_train=data.y_train[:4 * args.batch_size])
    small_raw = raw[:4 * args.batch_size]
    for t in trainers:
        if isinstance(t, Keras):
            t.prepare(s, [data, small])
    if not args.no_warmup:  # one short untimed pass each: allocator, kernels, lazy imports, tracing
        for t in trainers:
            t.train(t.build(s), s, small, small_raw, 1)

    times: dict[str, list[float]] = {t.name: [] for t in trainers}
    accs: dict[str, list[float]] = {t.name: [] for t in trainers}
    for r in range(args.repeats):
        k = r % len(trainers)
        for t in trainers[k:] + trainers[:k]:  # rotated, so no trainer always goes first
            model = t.build(s)
            t0 = time.perf_counter()
            t.train(model, s, data, raw, args.epochs)
            seconds = time.perf_counter() - t0
            times[t.name].append(seconds)
            accs[t.name].append(t.accuracy(model, s))
            print(f"  repeat {r + 1}/{args.repeats} {t.name:<30} {seconds:8.3f} s "
                  f"test acc {accs[t.name][-1]:.4f}", flush=True)

    samples = n_train * args.epochs
    rate = {name: samples / statistics.median(ts) for name, ts in times.items()}
    np_rate = rate["neuroplast"]
    print()
    print(f"Training throughput, median of {args.repeats} repeat(s): MNIST {n_train} images x "
          f"{args.epochs} epoch(s), batch {args.batch_size}, AdamW lr {args.lr}, fp32 unless labelled, "
          f"threads={torch.get_num_threads()}")
    print()
    print("| trainer | samples/s | median s | neuroplast / trainer | test accuracy |")
    print("|---|---|---|---|---|")
    for t in trainers:
        print(f"| {t.name} | {rate[t.name]:.0f} | {statistics.median(times[t.name]):.3f} | "
              f"{np_rate / rate[t.name]:.2f} | {statistics.median(accs[t.name]):.4f} |")
    for name in skipped:
        print(f"| {name} | skipped | | | |")
    peer_rates = {t.name: rate[t.name] for t in trainers if not isinstance(t, Neuroplast)}
    fastest = max(peer_rates, key=peer_rates.get) if peer_rates else None
    min_ratio = np_rate / peer_rates[fastest] if fastest else float("nan")
    print()
    if fastest:
        print(f"fastest peer: {fastest}")
    fields = [f"neuroplast={np_rate:.0f}"]
    for name in ("tutorial", "examples", "keras", "lightning"):
        fields.append(f"{name}={rate[name]:.0f}" if name in rate else f"{name}=skipped")
    print(f"throughput_samples_per_s {' '.join(fields)} min_ratio={min_ratio:.3f}")


if __name__ == "__main__":
    main()
