"""Callbacks at every hook, in order, checked by their recorded calls; the built-ins by what they write."""

from __future__ import annotations

import csv

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

import neuroplast
from neuroplast.errors import UserError
from neuroplast.io import load_weights
from neuroplast.train import Callback, CSVLogger, EarlyStopping, ModelCheckpoint


def _loader(n: int = 1792, batch_size: int = 64) -> DataLoader:
    d = load_digits()
    x, y = torch.tensor(d.data[:n] / 16.0, dtype=torch.float32), torch.tensor(d.target[:n])
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


class Recorder(Callback):
    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[tuple] = []
        self.stop_after = stop_after

    def set_model(self, model: nn.Module) -> None:
        super().set_model(model)
        self.calls.append(("set_model",))

    def on_train_begin(self, logs: dict) -> None:
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, batch: int, logs: dict) -> None:
        self.calls.append(("batch_end", batch, logs["loss"], logs["size"]))

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.calls.append(("epoch_end", epoch, logs["train_loss"]))
        self.stop_training = self.stop_after is not None and epoch >= self.stop_after

    def on_train_end(self, logs: dict) -> None:
        self.calls.append(("train_end", logs["epoch"]))


def test_every_hook_is_called_in_order_and_the_flag_stops_training() -> None:
    rec = Recorder(stop_after=2)
    run = neuroplast.fit(nn.Linear(64, 10), _loader(), epochs=5, progress=False, callbacks=[rec])
    assert len(run.history) == 2  # stop_training after epoch 2
    names = [c[0] for c in rec.calls]
    per_epoch = ["epoch_begin"] + ["batch_end"] * 28 + ["epoch_end"]  # 1792 / 64 = 28 batches
    assert names == ["set_model", "train_begin", *per_epoch, *per_epoch, "train_end"]
    for epoch in (1, 2):  # the epoch's loss is the mean of its batches' (all of one size here)
        batches = [c[2] for c in rec.calls if c[0] == "batch_end"][(epoch - 1) * 28: epoch * 28]
        assert run.history[epoch - 1]["train_loss"] == pytest.approx(sum(batches) / 28, rel=1e-5)
    assert rec.calls[-1] == ("train_end", 2)


def test_early_stopping_checkpoint_and_csv_logger(tmp_path) -> None:
    # monitoring the training loss for a *rise* ("max"): after epoch 1 it only falls, so patience 2 stops
    # training after epoch 3 and the weights of epoch 1 come back
    stop = EarlyStopping(monitor="train_loss", mode="max", patience=2)
    ckpt = ModelCheckpoint(tmp_path / "ckpt", monitor="train_loss", mode="max")
    logger = CSVLogger(tmp_path / "log.csv")
    model = nn.Linear(64, 10)
    run = neuroplast.fit(model, _loader(), epochs=10, lr=0.05, progress=False, callbacks=[ckpt, stop, logger])
    assert len(run.history) == 3 and stop.best_epoch == 1
    said = (f"EarlyStopping after epoch 3: train_loss has not improved for 2 epochs (best "
            f"{run.history[0]['train_loss']:.4g} at epoch 1); epoch 1's weights are restored at the end")
    assert run.metrics["train"]["stopped"] == said  # when, why and whose weights, in one line
    best = load_weights(tmp_path / "ckpt" / "best.safetensors")  # written at epoch 1, never replaced
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, best[name])  # restored to epoch 1's weights
    last = load_weights(tmp_path / "ckpt" / "last.safetensors")
    assert not torch.equal(last["weight"], best["weight"])  # epoch 3's
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["train_loss"]) for r in rows] == pytest.approx([h["train_loss"] for h in run.history])
    with pytest.raises(UserError, match="EarlyStopping monitors 'val_loss', which the epoch logs do not have"):
        EarlyStopping().on_epoch_end(1, {"train_loss": 1.0})  # no validation data: no val_loss


def test_your_own_scheduler_steps_once_per_epoch() -> None:
    model = nn.Linear(64, 10)
    opt = optim.SGD(model.parameters(), lr=0.1)
    run = neuroplast.fit(model, _loader(), optimizer=opt, scheduler=optim.lr_scheduler.StepLR(opt, 1, gamma=0.5),
                         epochs=3, progress=False)
    assert [h["lr"] for h in run.history] == pytest.approx([0.1, 0.05, 0.025])  # halved after each epoch
    run = neuroplast.fit(nn.Linear(64, 10), _loader(), optimizer=lambda p: optim.SGD(p, lr=0.2),
                         scheduler=lambda o: optim.lr_scheduler.StepLR(o, 2, gamma=0.1), epochs=3, progress=False)
    assert [h["lr"] for h in run.history] == pytest.approx([0.2, 0.2, 0.02])
    with pytest.raises(UserError, match="pass either your own scheduler or train.schedule = 'cosine', not both"):
        neuroplast.fit(nn.Linear(64, 10), _loader(), scheduler=lambda o: optim.lr_scheduler.StepLR(o, 1),
                       schedule="cosine", epochs=1, progress=False)
