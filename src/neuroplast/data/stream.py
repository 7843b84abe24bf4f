"""Training data that streams: a torch ``DataLoader`` or ``Dataset`` read batch by batch every epoch and
never held whole, so a data set larger than memory trains (with the loader's workers).

The rule (:func:`streams`): tensors already in memory take the resident fast path: an ``(x, y)`` pair, a
``TensorDataset``, or a ``DataLoader`` over one whose every option the resident path reproduces (default
collation, a sequential or random sampler, the last partial batch kept). Anything else streams: any other
map-style ``Dataset``, any ``IterableDataset``, and a ``DataLoader`` over them (or with its own
``collate_fn``, sampler or ``drop_last``) used as given: its batch size, sampler, workers, collation and
pinned memory.

Samples and batches are checked as they are met: a dict, something not an ``(input, target)`` pair, or an
input whose shape differs from the first one's is one :class:`~neuroplast.errors.UserError` naming the
sample (or batch) and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
    default_collate,
)
from torch.utils.data import Dataset as TorchDataset

from neuroplast.errors import UserError

_UNEQUAL = re.compile(r"stack expects each tensor to be equal size, but got \[([^\]]*)\] at entry (\d+) "
                      r"and \[([^\]]*)\] at entry (\d+)")
_WORKER_UNEQUAL = "Trying to resize storage that is not resizable"


@dataclass(frozen=True)
class TrainStream:
    """Where a streamed training split is read from: your ``DataLoader`` (used as given) or ``Dataset``
    (batched by :meth:`loader`), with what its first sample showed."""

    source: Any  # a torch DataLoader or Dataset
    input_shape: tuple[int, ...]
    task: str
    num_samples: int | None  # None: an IterableDataset without __len__
    note: str = ""  # e.g. where a classifier's class count came from

    @property
    def kind(self) -> str:
        """``"DataLoader"`` or the Dataset's class name, for messages."""
        return "DataLoader" if isinstance(self.source, DataLoader) else type(self.source).__name__

    def loader(self, batch_size: int, shuffle: bool, generator: torch.Generator | None = None) -> DataLoader:
        """Your ``DataLoader`` itself, or one over your ``Dataset``: ``batch_size``, shuffled by ``generator``
        when ``shuffle`` (map-style only), no workers, each sample checked as it is read."""
        if isinstance(self.source, DataLoader):
            return self.source
        if isinstance(self.source, IterableDataset):
            return DataLoader(self.source, batch_size=batch_size)
        return DataLoader(CheckedSamples(self.source, self.input_shape), batch_size=batch_size, shuffle=shuffle,
                          generator=generator if shuffle else None)

    def describe(self) -> dict[str, Any]:
        """What metrics.json records about the stream."""
        loader = self.source if isinstance(self.source, DataLoader) else None
        return {"streamed": True, "through": self.kind,
                "num_workers": loader.num_workers if loader is not None else 0}


class CheckedSamples(TorchDataset):
    """A map-style dataset whose samples are checked as they are read: ``(input, target)`` pairs whose
    inputs all have ``input_shape``."""

    def __init__(self, dataset: TorchDataset, input_shape: tuple[int, ...], name: str = "data") -> None:
        self.dataset, self.input_shape, self.name = dataset, input_shape, name

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = check_sample(self.dataset[i], i, self.name)
        if tuple(x.shape) != self.input_shape:
            raise UserError(f"{self.name}: sample {i} has an input of shape {tuple(x.shape)} but sample 0 has "
                            f"{self.input_shape}; every input must have one shape (resize or pad them).")
        return x, y


def streams(data: Any, stream: bool | None = None) -> bool:
    """Whether ``data`` streams (``stream`` None: the rule in the module's doc; True / False: as asked)."""
    if stream is not None:
        return stream and isinstance(data, (DataLoader, TorchDataset))
    if isinstance(data, DataLoader):
        return not (isinstance(data.dataset, TensorDataset) and _plain(data))
    return isinstance(data, TorchDataset) and not isinstance(data, TensorDataset)


def _plain(loader: DataLoader) -> bool:
    """A loader whose batches the resident path makes itself: default collation, a sequential or random
    permutation of every sample, the last partial batch kept."""
    sampler = loader.sampler
    permutation = isinstance(sampler, SequentialSampler) or (
        isinstance(sampler, RandomSampler) and not sampler.replacement
        and sampler.num_samples == len(loader.dataset))
    return (loader.collate_fn is default_collate and isinstance(loader.batch_sampler, BatchSampler)
            and not loader.drop_last and permutation)


def check_sample(sample: Any, i: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample as an ``(input, target)`` pair of tensors, or a UserError naming sample ``i`` and the fix."""
    if isinstance(sample, dict):
        raise UserError(f"{name}: sample {i} is a dict ({', '.join(map(str, sample))}); neuroplast needs "
                        "(input, target) pairs: return (x, y) from __getitem__.")
    if not isinstance(sample, (tuple, list)) or len(sample) != 2:
        raise UserError(f"{name}: sample {i} is a {type(sample).__name__}, not an (input, target) pair; "
                        "return (x, y) from __getitem__.")
    return torch.as_tensor(np.asarray(sample[0])), torch.as_tensor(np.asarray(sample[1]))


def check_batch(batch: Any, step: int, input_shape: tuple[int, ...] | None, task: str | None,
                name: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """Batch ``step`` of a loader as typed ``(inputs, targets)`` tensors (see :func:`typed`), or a
    UserError naming the batch and the fix; ``input_shape`` None accepts the first batch's. Batches may differ
    in size along any dimension (a ``collate_fn`` that pads each batch of sequences; images of several sizes
    for a network that pools them), not in their number of dimensions."""
    if isinstance(batch, dict):
        raise UserError(f"{name}: batch {step} is a dict ({', '.join(map(str, batch))}); neuroplast needs "
                        "(inputs, targets) pairs: return (x, y) from __getitem__, or give the DataLoader a "
                        "collate_fn that returns (inputs, targets).")
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        size = f" of {len(batch)} parts" if isinstance(batch, (tuple, list)) else ""
        raise UserError(f"{name}: batch {step} is a {type(batch).__name__}{size}, not an (inputs, targets) pair; "
                        "return (x, y) from __getitem__ (or from the DataLoader's collate_fn).")
    x, y = (b if isinstance(b, torch.Tensor) else torch.as_tensor(np.asarray(b)) for b in batch)
    if input_shape is not None and x.ndim - 1 != len(input_shape):  # sizes may vary: a collate_fn that pads
        raise UserError(f"{name}: batch {step} has inputs of shape {tuple(x.shape[1:])} per sample but the first "
                        f"batch read had {tuple(input_shape)}; every batch's inputs must have as many dimensions.")
    if len(x) != len(y):
        raise UserError(f"{name}: batch {step} has {len(x)} inputs but {len(y)} targets; return one target "
                        "per input.")
    task = task or ("regression" if torch.is_floating_point(y) else "classification")
    return typed(x, y, task)


def typed(x: torch.Tensor, y: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 inputs (integer token ids stay integers); int64 class indices or (N, targets) float targets."""
    x = x.float() if torch.is_floating_point(x) else x
    if task == "classification":
        return x, y.long()
    return x, y.float().reshape(-1, 1) if y.ndim == 1 else y.float().flatten(1)


def loader_error(error: RuntimeError, step: int, name: str = "data") -> UserError | None:
    """The one-line UserError for a loader that could not make batch ``step`` because its samples differ
    in shape (torch's collation refuses to stack them); None for any other error."""
    fix = "every input must have one shape (resize or pad them in __getitem__, or give the DataLoader a " \
          "collate_fn that pads)."
    found = _UNEQUAL.search(str(error))
    if found is not None:
        first, i, other, j = found.groups()
        return UserError(f"{name}: batch {step} mixes samples of different shapes: position {j} in the batch has "
                         f"({other}) but position {i} has ({first}); {fix}")
    if _WORKER_UNEQUAL in str(error):  # a worker stacks into shared memory sized by the first sample
        return UserError(f"{name}: batch {step} mixes samples of different shapes (a DataLoader worker could not "
                         f"stack them); {fix}")
    return None


def first_batch(source: Any, name: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """What a stream starts with, to learn its shapes and task: the loader's first batch, or a bare
    dataset's first sample as a batch of one. Nothing else is read."""
    if isinstance(source, DataLoader):
        batches = iter(source)
        try:
            batch = next(batches)
        except StopIteration:
            raise UserError(f"{name}: the DataLoader yields no batches; pass at least one sample.") from None
        except RuntimeError as e:
            known = loader_error(e, 0, name)
            if known is None:
                raise
            raise known from None
        finally:
            del batches  # stops its workers
        return check_batch(batch, 0, None, None, name)
    if isinstance(source, IterableDataset):
        sample = next(iter(source), None)
    else:
        sample = source[0] if len(source) else None  # type: ignore[arg-type]
    if sample is None:
        raise UserError(f"{name} is empty; pass at least one sample.")
    x, y = check_sample(sample, 0, name)
    return check_batch((x[None], y[None]), 0, None, None, name)
