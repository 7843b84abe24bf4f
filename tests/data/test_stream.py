"""Which data streams (the rule), and bad streamed data refused in one line when it is met."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset, WeightedRandomSampler
from torch.utils.data import Dataset as TorchDataset

import neuroplast
from neuroplast.data.stream import streams
from neuroplast.errors import UserError

torch.manual_seed(0)
X, Y = torch.randn(96, 64), torch.randint(0, 3, (96,))


class Samples(TorchDataset):
    """Pairs from X, Y; inputs from sample ``cut`` on are ``width`` wide instead of 64; ``dicts`` returns dicts."""

    def __init__(self, cut: int = 96, width: int = 64, dicts: bool = False) -> None:
        self.cut, self.width, self.dicts, self.calls = cut, width, dicts, 0

    def __len__(self) -> int:
        return 96

    def __getitem__(self, i: int):
        self.calls += 1
        x = X[i, : self.width] if i >= self.cut else X[i]
        return {"image": x, "label": Y[i]} if self.dicts else (x.numpy(), int(Y[i]))


class Steps(TorchDataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        return X[i], Y[i]


class Counter:
    """A callback counting optimizer steps: shows a bad sample is met during training, not before it."""

    def __init__(self) -> None:
        self.steps = 0

    def on_batch_end(self, step: int, logs: dict) -> None:
        self.steps += 1


def test_tensors_in_memory_stay_resident_and_everything_else_streams() -> None:
    tensors = TensorDataset(X, Y)

    class Rows(IterableDataset):
        def __iter__(self):
            return iter(zip(X, Y, strict=True))

    resident = [tensors, (X, Y), DataLoader(tensors, batch_size=8), DataLoader(tensors, batch_size=8, shuffle=True)]
    streamed = [Steps(), Rows(), DataLoader(Steps(), batch_size=2), DataLoader(Rows(), batch_size=2),
                DataLoader(tensors, batch_size=8, collate_fn=lambda b: b),  # its own collation: as given
                DataLoader(tensors, batch_size=8, drop_last=True),
                DataLoader(tensors, batch_size=8, sampler=WeightedRandomSampler(torch.ones(96), 50))]
    assert [streams(d) for d in resident] == [False] * 4
    assert [streams(d) for d in streamed] == [True] * 7
    assert streams(tensors, stream=True) and not streams(Steps(), stream=False) and not streams((X, Y), stream=True)


def test_a_dict_batch_is_refused_naming_the_batch_and_the_fix() -> None:
    loader = DataLoader(Samples(dicts=True), batch_size=16)
    with pytest.raises(UserError, match=r"^data: batch 0 is a dict \(image, label\); neuroplast needs \(inputs, "
                                        r"targets\) pairs: .* or give the DataLoader a collate_fn that returns"):
        neuroplast.fit(nn.Linear(64, 3), loader, epochs=1, progress=False)
    with pytest.raises(UserError, match=r"^data: sample 0 is a dict \(image, label\)"):  # a bare Dataset
        neuroplast.fit(nn.Linear(64, 3), Samples(dicts=True), epochs=1, progress=False)
    triples = DataLoader(Samples(), batch_size=16, collate_fn=lambda b: (X[:16], Y[:16], Y[:16]))
    with pytest.raises(UserError, match=r"^data: batch 0 is a tuple of 3 parts, not an \(inputs, targets\) pair"):
        neuroplast.fit(nn.Linear(64, 3), triples, epochs=1, progress=False)


@pytest.mark.parametrize("workers", [0, 1])
def test_samples_that_change_shape_are_refused_when_met(workers: int) -> None:
    counter = Counter()
    mixed = DataLoader(Samples(cut=40, width=32), batch_size=16, num_workers=workers)  # batch 2 holds both shapes
    where = (r": position 8 in the batch has \(32\) but position 0 has \(64\)" if workers == 0
             else r" \(a DataLoader worker could not stack them\)")  # a worker's stacking error has no positions
    with pytest.raises(UserError, match=rf"^data: batch 2 mixes samples of different shapes{where}; every input "
                                        "must have one shape"):
        neuroplast.fit(nn.Linear(64, 3), mixed, epochs=1, progress=False, callbacks=[counter])
    assert counter.steps == 2  # two good batches trained before the bad one was met
    whole = DataLoader(Samples(cut=48, width=32), batch_size=16, num_workers=workers)  # batch 3 entirely narrower
    with pytest.raises(UserError, match=r"^data: batch 3 has inputs of shape \(32,\) per sample, the first batch "
                                        r"read had \(64,\), and the model cannot take them \(mat1 and mat2"):
        neuroplast.fit(nn.Linear(64, 3), whole, epochs=1, progress=False)


def test_a_bare_dataset_names_the_sample_that_changes_shape() -> None:
    dataset = Samples(cut=90, width=32)
    with pytest.raises(UserError, match=r"^data: sample 9\d has an input of shape \(32,\) but sample 0 has \(64,\)"):
        neuroplast.fit(nn.Linear(64, 3), dataset, epochs=1, batch_size=8, progress=False)
    assert dataset.calls < 96 + 1  # met while streaming: the first epoch had not read every sample


def test_validation_data_as_a_dataset_is_read_into_memory_and_checked() -> None:
    run = neuroplast.fit(nn.Linear(64, 3), DataLoader(Samples(), batch_size=16), validation_data=Samples(),
                         test_data=DataLoader(Steps(), batch_size=2), epochs=1, progress=False)
    assert run.metrics["data"]["val"] == 96 and run.metrics["data"]["test"] == 4
    assert run.metrics["data"]["streamed"] and np.isfinite(run.history[0]["val_loss"])
    with pytest.raises(UserError, match=r"validation_data has inputs of shape \(32,\) per sample but data has \(64,\)"):
        neuroplast.fit(nn.Linear(64, 3), Samples(), validation_data=(X[:8, :32], Y[:8]), epochs=1, progress=False)


def test_a_collate_fn_that_pads_each_batch_of_sequences_trains() -> None:
    """Sequences of 3 to 9 steps, padded per batch by the DataLoader's collate_fn (standard PyTorch for
    text and series): batches differ in length, the recurrent network takes any, so nothing is refused."""
    from torch.nn.utils.rnn import pad_sequence

    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 10, (64,), generator=gen)
    samples = [(torch.randn(int(n), 1, generator=gen), int(n > 6)) for n in lengths]

    class Last(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru, self.head = nn.GRU(1, 8, batch_first=True), nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.gru(x)[0][:, -1])

    def pad(batch):
        return pad_sequence([x for x, _ in batch], batch_first=True), torch.tensor([y for _, y in batch])

    loader = DataLoader(samples, batch_size=8, shuffle=True, collate_fn=pad)
    lengths_seen = {pad(samples[i:i + 8])[0].shape[1] for i in range(0, 64, 8)}
    assert len(lengths_seen) > 1  # the batches really differ in length
    run = neuroplast.fit(Last(), loader, epochs=2, progress=False, threads=1)
    assert len(run.history) == 2 and run.metrics["data"]["streamed"]
