"""Your own PyTorch data, as the classic tutorial writes it, turned into a :class:`Dataset`.

``data`` (and ``validation_data`` / ``test_data``) may be a ``torch.utils.data.DataLoader``, a
map-style or iterable ``torch.utils.data.Dataset`` whose samples are ``(input, target)`` pairs (a
``TensorDataset`` is read without a copy), or an ``(x, y)`` pair of tensors or arrays. Whatever is
passed as ``data`` is the training set, whole: nothing is held out of it.

Tensors in memory (and a plain ``DataLoader`` over them) take the fast resident path: a ``DataLoader``'s
``batch_size`` and its shuffling are kept. Any other Dataset (or a DataLoader over one) streams when
``from_torch(..., stream=None)`` asks for the rule of :mod:`neuroplast.data.stream`: the training set is
then never read whole (the :class:`Dataset` holds only its first batch, as an example of its inputs, and
``stream`` says where to read the rest), while validation and test data, scored after every epoch and by
the report, are read into memory. ``stream=False`` (the default, and what ``Run.evaluate`` uses) reads
every part into memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, TensorDataset
from torch.utils.data import Dataset as TorchDataset

from neuroplast.data.base import Dataset
from neuroplast.data.stream import TrainStream, check_sample, first_batch, streams, typed
from neuroplast.errors import UserError


@dataclass(frozen=True)
class LoaderOptions:
    """What a ``DataLoader`` said about training: its batch size and whether it shuffles."""

    batch_size: int | None = None
    shuffle: bool | None = None


def is_torch_data(data: Any) -> bool:
    """A ``DataLoader`` or a torch ``Dataset`` (not a shipped source name or an array pair)."""
    return isinstance(data, (DataLoader, TorchDataset))


def from_torch(data: Any, validation_data: Any = None, test_data: Any = None, *, stream: bool | None = False,
               model: nn.Module | None = None) -> tuple[Dataset, LoaderOptions]:
    """A :class:`Dataset` from your own training (and optional validation / test) data, and the
    training loader's batch size and shuffling.

    Args:
        stream: False reads the training data into memory; None streams it by the rule of
            :func:`neuroplast.data.stream.streams`; True streams any DataLoader or Dataset.
        model: the network a streamed set trains: its output width gives the class count, as a stream's
            labels are not all seen before training.
    """
    streamed = stream is not False and streams(data, stream)
    if streamed:
        x, y = first_batch(data)  # the stream's first batch: its shapes and task, kept as an example
    else:
        x, y = _tensors(data, "data")
    given = {name: _tensors(d, name) for name, d in (("validation_data", validation_data), ("test_data", test_data))
             if d is not None}
    for name, (px, _) in given.items():
        if px.shape[1:] != x.shape[1:]:
            raise UserError(f"{name} has inputs of shape {tuple(px.shape[1:])} per sample but data has "
                            f"{tuple(x.shape[1:])}; pass {name} with the same features as the training data.")
    task = "classification" if not torch.is_floating_point(y) else "regression"
    empty = (x[:0], y[:0])
    (x, y), (x_val, y_val), (x_test, y_test) = (
        typed(*pair, task) for pair in ((x, y), given.get("validation_data", empty), given.get("test_data", empty)))
    class_names, note = None, ""
    if task == "classification":
        top = max(int(t.max()) for t in (y, y_val, y_test) if len(t))
        count, note = _stream_classes(top + 1, model, x) if streamed else (top + 1, "")
        class_names = [str(i) for i in range(count)]
    train_stream = TrainStream(data, tuple(x.shape[1:]), task, _length(data), note) if streamed else None
    dataset = Dataset(name=type(data).__name__, task=task, x_train=x, y_train=y, x_val=x_val, y_val=y_val,
                      x_test=x_test, y_test=y_test, class_names=class_names,
                      preprocess={"kind": "tensor", "shape": list(x.shape[1:])}, stream=train_stream)
    return dataset, _loader_options(data)


def _length(data: Any) -> int | None:
    """The number of training samples a stream holds, where it says (an IterableDataset may not)."""
    dataset = data.dataset if isinstance(data, DataLoader) else data
    try:
        return len(dataset)
    except TypeError:
        return None


@torch.no_grad()
def _stream_classes(seen: int, model: nn.Module | None, x: torch.Tensor) -> tuple[int, str]:
    """The class count of a streamed set: the model's output width (2 for one logit), or the labels seen
    in its first batch and the validation/test data where they go higher; and where it came from."""
    width = 0
    if model is not None:
        was_training = model.training
        try:
            device = next(model.parameters()).device
            width = int(model.eval()(x[:2].to(device)).shape[-1])
        except (StopIteration, RuntimeError, ValueError, TypeError):
            width = 0  # the loop reports a model that cannot take the inputs
        finally:
            model.train(was_training)
    count = max(seen, 2 if width == 1 else width)
    origin = "the model's output width" if count > seen else "the labels seen"
    return count, (f"{count} classes, from {origin} (the highest label read before training, in the first "
                   f"batch and the validation/test data, is {seen - 1})")


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
        return _stacked(iter(data), name)
    if isinstance(data, TorchDataset):
        return _stacked((data[i] for i in range(len(data))), name)  # type: ignore[arg-type]
    if isinstance(data, tuple) and len(data) == 2:
        return torch.as_tensor(np.asarray(data[0])), torch.as_tensor(np.asarray(data[1]))
    raise UserError(f"{name}: expected a DataLoader, a torch Dataset or an (inputs, targets) pair; received "
                    f"{type(data).__name__}.")


def _stacked(samples: Iterator[Any], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A dataset's samples, read one by one and stacked; each sample an (input, target) pair."""
    xs, ys = [], []
    for i, sample in enumerate(samples):
        x, y = check_sample(sample, i, name)
        if xs and x.shape != xs[0].shape:
            raise UserError(f"{name}: sample {i} has an input of shape {tuple(x.shape)} but sample 0 has "
                            f"{tuple(xs[0].shape)}; every input must have one shape (resize or pad them).")
        xs.append(x)
        ys.append(y)
    if not xs:
        raise UserError(f"{name} is empty; pass at least one sample.")
    return torch.stack(xs), torch.stack(ys)
