"""Your own PyTorch data, as the classic tutorial writes it, turned into a :class:`Dataset`.

``data`` (and ``validation_data`` / ``test_data``) may be a ``torch.utils.data.DataLoader``, a
map-style ``torch.utils.data.Dataset`` whose samples are ``(input, target)`` pairs (a
``TensorDataset`` is read without a copy), or an ``(x, y)`` pair of tensors or arrays. Whatever is
passed as ``data`` is the training set, whole: nothing is held out of it. The samples are stacked
into resident tensors once, so training takes the fast in-memory path; a ``DataLoader``'s
``batch_size`` and its shuffling (a ``RandomSampler`` or not) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, TensorDataset
from torch.utils.data import Dataset as TorchDataset

from neuroplast.data.base import Dataset
from neuroplast.errors import UserError


@dataclass(frozen=True)
class LoaderOptions:
    """What a ``DataLoader`` said about training: its batch size and whether it shuffles."""

    batch_size: int | None = None
    shuffle: bool | None = None


def is_torch_data(data: Any) -> bool:
    """A ``DataLoader`` or a torch ``Dataset`` (not a shipped source name or an array pair)."""
    return isinstance(data, (DataLoader, TorchDataset))


def from_torch(data: Any, validation_data: Any = None, test_data: Any = None) -> tuple[Dataset, LoaderOptions]:
    """A :class:`Dataset` from your own training (and optional validation / test) data, and the
    training loader's batch size and shuffling."""
    x, y = _tensors(data, "data")
    given = {name: _tensors(d, name) for name, d in (("validation_data", validation_data), ("test_data", test_data))
             if d is not None}
    for name, (px, _) in given.items():
        if px.shape[1:] != x.shape[1:]:
            raise UserError(f"{name} has inputs of shape {tuple(px.shape[1:])} per sample but data has "
                            f"{tuple(x.shape[1:])}; pass {name} with the same features as the training data.")
    task = "classification" if not torch.is_floating_point(y) else "regression"
    class_names = None
    if task == "classification":
        top = max(int(t.max()) for t in (y, *(py for _, py in given.values())) if len(t))
        class_names = [str(i) for i in range(top + 1)]
    empty = (x[:0], y[:0])
    (x, y), (x_val, y_val), (x_test, y_test) = (
        _typed(pair, task) for pair in ((x, y), given.get("validation_data", empty), given.get("test_data", empty)))
    dataset = Dataset(name=type(data).__name__, task=task, x_train=x, y_train=y, x_val=x_val, y_val=y_val,
                      x_test=x_test, y_test=y_test, class_names=class_names,
                      preprocess={"kind": "tensor", "shape": list(x.shape[1:])})
    return dataset, _loader_options(data)


def _typed(pair: tuple[torch.Tensor, torch.Tensor], task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 inputs (integer token ids stay integers); int64 class indices or (N, targets) float targets."""
    x, y = pair
    x = x.float() if torch.is_floating_point(x) else x
    if task == "classification":
        return x, y.long()
    return x, y.float().reshape(-1, 1) if y.ndim == 1 else y.float().flatten(1)


def _loader_options(data: Any) -> LoaderOptions:
    if not isinstance(data, DataLoader):
        return LoaderOptions()
    return LoaderOptions(batch_size=data.batch_size, shuffle=isinstance(data.sampler, RandomSampler))


def _tensors(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All of ``data``'s samples as an ``(inputs, targets)`` pair of tensors."""
    if isinstance(data, DataLoader):
        data = data.dataset
    if isinstance(data, TensorDataset):
        if len(data.tensors) != 2:
            raise UserError(f"{name}: a TensorDataset of {len(data.tensors)} tensors; pass one of two, "
                            "TensorDataset(inputs, targets).")
        return data.tensors[0], data.tensors[1]
    if isinstance(data, IterableDataset):
        raise UserError(f"{name}: an IterableDataset has no length to index; pass a map-style Dataset "
                        "(__len__ and __getitem__) or the (inputs, targets) tensors.")
    if isinstance(data, TorchDataset):
        return _stacked(data, name)
    if isinstance(data, tuple) and len(data) == 2:
        return torch.as_tensor(np.asarray(data[0])), torch.as_tensor(np.asarray(data[1]))
    raise UserError(f"{name}: expected a DataLoader, a torch Dataset or an (inputs, targets) pair; received "
                    f"{type(data).__name__}.")


def _stacked(data: TorchDataset, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A map-style dataset read sample by sample and stacked; each sample an (input, target) pair."""
    xs, ys = [], []
    for i in range(len(data)):  # type: ignore[arg-type]  (map-style: has __len__)
        sample = data[i]
        if isinstance(sample, dict):
            raise UserError(f"{name}: sample {i} is a dict ({', '.join(map(str, sample))}); neuroplast needs "
                            "(input, target) pairs: return (x, y) from __getitem__.")
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            raise UserError(f"{name}: sample {i} is a {type(sample).__name__}, not an (input, target) pair; "
                            "return (x, y) from __getitem__.")
        x, y = torch.as_tensor(np.asarray(sample[0])), torch.as_tensor(np.asarray(sample[1]))
        if xs and x.shape != xs[0].shape:
            raise UserError(f"{name}: sample {i} has an input of shape {tuple(x.shape)} but sample 0 has "
                            f"{tuple(xs[0].shape)}; every input must have one shape (resize or pad them).")
        xs.append(x)
        ys.append(y)
    if not xs:
        raise UserError(f"{name} is empty; pass at least one sample.")
    return torch.stack(xs), torch.stack(ys)
