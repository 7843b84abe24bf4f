"""Streamed training: your own Dataset read batch by batch through its DataLoader every epoch, checked
against the loader's own batches (recorded __getitem__ calls) and against a hand-written loop."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn, optim
from torch.utils.data import DataLoader, IterableDataset, TensorDataset
from torch.utils.data import Dataset as TorchDataset

import neuroplast
from neuroplast.errors import UserError
from neuroplast.spec import TrainSpec
from neuroplast.train.batches import ResidentBatches


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_digits()
    return torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target)


X, Y = _digits()


class Counting(TorchDataset):
    """Digits read one sample at a time (as from files), recording every index asked for."""

    def __init__(self, n: int = 1792) -> None:
        self.n, self.calls = n, []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        self.calls.append(int(i))
        return X[i].numpy(), int(Y[i])


class Stream(IterableDataset):
    """Digits as an iterable stream with no length."""

    def __iter__(self):
        for i in range(1792):
            yield X[i], Y[i]


class Recorder:
    """A callback recording, after every optimizer step, how many samples the dataset had been asked for."""

    def __init__(self, dataset: Counting) -> None:
        self.dataset, self.seen = dataset, []

    def on_batch_end(self, step: int, logs: dict) -> None:
        self.seen.append(len(self.dataset.calls))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def test_samples_are_fetched_per_batch_never_the_whole_set_first() -> None:
    dataset = Counting(1000)
    loader = DataLoader(dataset, batch_size=8, shuffle=False)
    recorder = Recorder(dataset)
    run = neuroplast.fit(_net(), loader, validation_data=(X[1000:1100], Y[1000:1100]), epochs=2, progress=False,
                         callbacks=[recorder])
    batches = [list(b) for b in loader.batch_sampler]  # the loader's own batches, in order
    probe = batches[0]  # the first batch, read once before training to learn the shapes
    assert dataset.calls[:8] == probe
    # after optimizer step k of an epoch, exactly batch k more has been read: nothing ahead, nothing whole
    read = list(itertools.accumulate(len(b) for b in batches))
    assert recorder.seen == [len(probe) + 1000 * epoch + n for epoch in range(2) for n in read]
    assert recorder.seen[0] == 16  # before the first optimizer step: the probe and batch 1, of 1000
    assert dataset.calls[8:] == [i for _ in range(2) for b in batches for i in b]
    assert run.metrics["data"]["streamed"] is True and run.metrics["data"]["train"] == 1000


def test_a_bare_dataset_streams_shuffled_each_sample_once_per_epoch() -> None:
    dataset = Counting(640)
    recorder = Recorder(dataset)
    neuroplast.fit(_net(), dataset, epochs=3, batch_size=64, progress=False, callbacks=[recorder])
    probe, epochs = dataset.calls[:1], dataset.calls[1:]
    assert probe == [0] and recorder.seen[0] == 1 + 64  # one sample to learn the shapes, then one batch
    orders = [epochs[i * 640:(i + 1) * 640] for i in range(3)]
    assert all(sorted(o) == list(range(640)) for o in orders)  # every sample once per epoch
    assert orders[0] != orders[1] != orders[2] and orders[0] != list(range(640))  # reshuffled each epoch


def _hand_losses(model: nn.Module, loader: DataLoader, epochs: int, seed: int | None) -> list[float]:
    """The tutorial's loop over the same loader: the mean of its batch losses per epoch."""
    if seed is not None:
        torch.manual_seed(seed)  # as fit seeds torch before training: the loader's shuffles match
    criterion, optimizer = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(epochs):
        total, count = 0.0, 0
        for inputs, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs.float()), labels)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item(), count + 1
        losses.append(total / count)
    return losses


@pytest.mark.parametrize("kind", ["map-style", "map-style shuffled", "iterable", "two workers"])
def test_streaming_gives_the_hand_written_loops_losses(kind: str) -> None:
    """1792 = 28 batches of 64: the mean of the batch losses is the epoch's mean loss."""
    dataset = Stream() if kind == "iterable" else Counting()
    loader = DataLoader(dataset, batch_size=64, shuffle=kind == "map-style shuffled",
                        num_workers=2 if kind == "two workers" else 0)
    model = _net()
    hand = copy.deepcopy(model)
    run = neuroplast.fit(model, loader, loss=nn.CrossEntropyLoss(),
                         optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9), epochs=3, progress=False)
    losses = _hand_losses(hand, loader, 3, seed=0)
    assert [h["train_loss"] for h in run.history] == pytest.approx(losses, abs=1e-5)
    for a, b in zip(run.model.parameters(), hand.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert run.metrics["data"]["train"] == 1792 and run.metrics["data"]["streamed"]


def test_streamed_and_resident_paths_train_alike() -> None:
    """The same TensorDataset, in order, through the resident fast path and forced through the stream."""
    loader = DataLoader(TensorDataset(X[:1024], Y[:1024]), batch_size=32, shuffle=False)
    resident = neuroplast.fit(_net(), loader, epochs=3, progress=False)
    streamed = neuroplast.fit(_net(), loader, epochs=3, progress=False, stream=True)
    assert "streamed" not in resident.metrics["data"] and streamed.metrics["data"]["streamed"]
    assert [h["train_loss"] for h in streamed.history] == pytest.approx(
        [h["train_loss"] for h in resident.history], abs=1e-6)
    # stream=False reads a Dataset of your own into memory once: the resident path, same losses
    stacked = neuroplast.fit(_net(), DataLoader(Counting(1024), batch_size=32), epochs=3, progress=False,
                             stream=False)
    assert [h["train_loss"] for h in stacked.history] == pytest.approx(
        [h["train_loss"] for h in resident.history], abs=1e-6)


def test_an_iterable_dataset_without_length_trains_and_counts_its_samples(capsys) -> None:
    run = neuroplast.fit(_net(), Stream(), validation_data=(X[1500:], Y[1500:]), epochs=4, lr=3e-3,
                         batch_size=32)
    assert run.metrics["data"]["train"] == 1792 and run.history[-1]["val_accuracy"] > 0.85
    said = capsys.readouterr().err
    assert "data: streaming its samples through a DataLoader over your Stream (0 workers; not held in memory)" in said


def test_the_class_count_of_a_stream_is_the_models_output_width(capsys) -> None:
    few = Counting(200)  # digits 0-9 appear; a model with 12 outputs says 12 classes
    run = neuroplast.fit(nn.Linear(64, 12), DataLoader(few, batch_size=50), epochs=1)
    assert run.class_names == [str(i) for i in range(12)]
    assert "12 classes, from the model's output width (the highest label read before training" in capsys.readouterr().err


def test_what_a_stream_cannot_do_is_refused_in_one_line() -> None:
    loader = DataLoader(Counting(64), batch_size=16)
    with pytest.raises(UserError, match=r"lr='auto' sweeps the learning rate over training data held in memory"):
        neuroplast.fit(_net(), loader, lr="auto", progress=False)
    with pytest.raises(UserError, match=r"batch_size=32, but the DataLoader streams batches of 16 as given"):
        neuroplast.fit(_net(), loader, batch_size=32, progress=False)
    with pytest.raises(UserError, match=r"train.schedule = 'onecycle' needs the number of batches per epoch, and "
                                        r"this Stream has no length; give the dataset a __len__"):
        neuroplast.fit(_net(), Stream(), schedule="onecycle", progress=False)
    data = neuroplast.data.load_dataset(neuroplast.spec.DataSpec(source="wine"))  # a spec's source: in memory
    with pytest.raises(UserError, match=r"train.stream = true streams a DataLoader or torch Dataset"):
        neuroplast.train.fit(nn.Linear(13, 3), data, TrainSpec(stream=True, epochs=1), progress=False)


def test_resident_batches_cover_a_seeded_permutation() -> None:
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    gen = torch.Generator().manual_seed(3)
    source = ResidentBatches(x, y, 4, 10, True, gen, torch.device("cpu"))
    batches = list(source.epoch())
    assert [len(b[0]) for b in batches] == [4, 4, 2] and source.steps == 3 and source.samples == 10
    assert torch.equal(torch.cat([b[1] for b in batches]), torch.randperm(10, generator=torch.Generator().manual_seed(3)))
    assert all(torch.equal(b[0][:, 0].long(), b[1]) for b in batches)


def test_resident_batches_gathered_many_at_a_time_are_the_per_batch_ones(monkeypatch) -> None:
    """Gathering several batches per copy (a chunk of 3 batches here: 7 rows of 16 + 8 bytes each) cuts the
    same batches, in the same order, as indexing the tensors once per batch does."""
    x, y = torch.arange(70 * 4, dtype=torch.float32).reshape(70, 4), torch.arange(70)
    monkeypatch.setattr("neuroplast.train.batches.GATHER_BYTES", 3 * 7 * (16 + 8))
    source = ResidentBatches(x, y, 7, 65, True, torch.Generator().manual_seed(5), torch.device("cpu"))
    batches = list(source.epoch())
    perm = torch.randperm(70, generator=torch.Generator().manual_seed(5))[:65]
    expected = [(x[perm[i:i + 7]], y[perm[i:i + 7]]) for i in range(0, 65, 7)]
    assert len(batches) == len(expected) == 10
    for (xb, yb, share), (xe, ye) in zip(batches, expected, strict=True):
        assert torch.equal(xb, xe) and torch.equal(yb, ye) and share == 1.0
