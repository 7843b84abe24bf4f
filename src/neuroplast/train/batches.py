"""Where the training loop's batches come from: one epoch at a time, each batch an ``(inputs, targets,
share)`` triple on the training device (``share``: this process's part of the global batch, times the
number of processes, which DDP's gradient averaging needs for an uneven last batch).

:class:`ResidentBatches` indexes tensors held on the device (a seeded shuffle every epoch, no per-sample
work); :class:`StreamedBatches` iterates a ``DataLoader`` every epoch and moves each batch to the device,
so a data set larger than memory trains.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import torch

from neuroplast.data.base import Dataset
from neuroplast.data.stream import TrainStream, check_batch, loader_error
from neuroplast.errors import UserError
from neuroplast.spec import TrainSpec

Batch = tuple[torch.Tensor, torch.Tensor, float]
GATHER_BYTES = 32 * 2**20  # the resident path copies up to this many bytes of shuffled samples at once


class ResidentBatches:
    """Batches indexed from resident tensors: a seeded shuffle (or the given order) every epoch, cut to
    ``samples_per_epoch``; with several processes each rank takes its slice of every global batch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, samples_per_epoch: int, shuffle: bool,
                 gen: torch.Generator, device: torch.device, world: tuple[int, int] = (0, 1)) -> None:
        self.x, self.y, self.batch_size, self.shuffle, self.gen, self.device = x, y, batch_size, shuffle, gen, device
        self.samples_per_epoch = samples_per_epoch
        self.rank, self.world_size = world
        self.samples = 0  # global samples of the epoch under way: the training loss's divisor

    @property
    def steps(self) -> int:
        """Batches per epoch."""
        return -(-self.samples_per_epoch // self.batch_size)

    def epoch(self) -> Iterator[Batch]:
        """One epoch's batches."""
        n = len(self.x)
        order = (torch.randperm(n, generator=self.gen, device=self.device) if self.shuffle
                 else torch.arange(n, device=self.device))
        perm = order[:self.samples_per_epoch]
        self.samples = len(perm)
        if self.world_size == 1:
            yield from self._gathered(perm)
            return
        for i in range(0, len(perm), self.batch_size):
            idx = perm[i: i + self.batch_size]
            share = 1.0
            if self.world_size > 1:
                if len(idx) < self.world_size:  # a last batch too small to give every rank a sample
                    break
                global_size, idx = len(idx), idx[self.rank::self.world_size]
                share = len(idx) * self.world_size / global_size  # DDP averages: uneven last batch
            yield self.x[idx], self.y[idx], share


    def _gathered(self, perm: torch.Tensor) -> Iterator[Batch]:
        """The batches of ``perm``, gathered many at a time (up to :data:`GATHER_BYTES`) and cut into views:
        the same samples in the same order as one gather per batch, with a fraction of the calls."""
        row = self.x[:1].numel() * self.x.element_size() + self.y[:1].numel() * self.y.element_size()
        span = max(1, GATHER_BYTES // max(row * self.batch_size, 1)) * self.batch_size
        for start in range(0, len(perm), span):
            idx = perm[start: start + span]
            xs, ys = self.x[idx], self.y[idx]
            for i in range(0, len(idx), self.batch_size):
                yield xs[i: i + self.batch_size], ys[i: i + self.batch_size], 1.0


class StreamedBatches:
    """Batches read from a ``DataLoader`` every epoch (your own, as given, or one over your Dataset),
    checked and moved to the device; at most ``max_steps`` of them per epoch."""

    def __init__(self, stream: TrainStream, loader: torch.utils.data.DataLoader, device: torch.device,
                 max_steps: int | None = None) -> None:
        self.stream, self.loader, self.device, self.max_steps = stream, loader, device, max_steps
        self.non_blocking = bool(getattr(loader, "pin_memory", False)) and device.type == "cuda"
        self.samples = 0  # samples of the epoch under way: the training loss's divisor
        self.samples_per_epoch = stream.num_samples or 0  # until an epoch has counted them

    @property
    def steps(self) -> int:
        """Batches per epoch: the loader's length (capped by ``max_steps``), 0 where it has none."""
        try:
            steps = len(self.loader)
        except TypeError:  # an IterableDataset without __len__
            return self.max_steps or 0
        return min(steps, self.max_steps) if self.max_steps else steps

    def epoch(self) -> Iterator[Batch]:
        """One epoch's batches; a loader that yields none is a UserError."""
        self.samples = 0
        batches = iter(self.loader)
        try:
            for step in itertools.count():
                if self.max_steps and step >= self.max_steps:
                    break
                batch = self._next(batches, step)
                if batch is None:
                    break
                x, y = check_batch(batch, step, self.stream.input_shape, self.stream.task)
                self.samples += len(x)
                yield (x.to(self.device, non_blocking=self.non_blocking),
                       y.to(self.device, non_blocking=self.non_blocking), 1.0)
        finally:
            del batches  # stops the loader's workers when the epoch ends early
        if self.samples == 0:
            raise UserError(f"data: the {self.stream.kind} yielded no training batch this epoch; an iterable "
                            "dataset must yield its samples again every time it is iterated.")

    @staticmethod
    def _next(batches: Iterator, step: int) -> object | None:
        """The loader's next batch (None at the end), with its shape errors as one line."""
        try:
            return next(batches)
        except StopIteration:
            return None
        except RuntimeError as e:
            known = loader_error(e, step)
            if known is None:
                raise
            raise known from None


def batch_source(data: Dataset, spec: TrainSpec, device: torch.device, gen: torch.Generator, shuffle: bool,
                  world: tuple[int, int]) -> ResidentBatches | StreamedBatches:
    """The resident tensors' batches, or the stream's: your DataLoader as given, or one over your
    Dataset with ``train.batch_size``, shuffled by ``gen`` (a CPU generator)."""
    if data.stream is None:
        if spec.stream:
            raise UserError("train.stream = true streams a DataLoader or torch Dataset passed to neuroplast.fit; "
                            "this data is held in memory already. Remove train.stream.")
        steps = math.ceil(len(data.x_train) / spec.batch_size)
        steps = min(steps, spec.max_steps_per_epoch) if spec.max_steps_per_epoch else steps
        return ResidentBatches(data.x_train, data.y_train, spec.batch_size,
                               min(len(data.x_train), steps * spec.batch_size), shuffle, gen, device, world)
    if world[1] > 1:
        raise UserError(f"streamed data (a {data.stream.kind} of your own) trains in one process; over "
                        f"{world[1]} processes pass tensors (x, y) or a TensorDataset, which each rank slices.")
    cpu_gen = gen if gen.device.type == "cpu" else torch.Generator().manual_seed(gen.initial_seed())
    batches = StreamedBatches(data.stream, data.stream.loader(spec.batch_size, shuffle, cpu_gen), device,
                              spec.max_steps_per_epoch)
    if not batches.steps and spec.schedule in ("cosine", "onecycle", "step"):
        raise UserError(f"train.schedule = {spec.schedule!r} needs the number of batches per epoch, and this "
                        f"{data.stream.kind} has no length; give the dataset a __len__, set "
                        "train.max_steps_per_epoch, or use schedule = 'none'.")
    return batches


def streaming_line(batches: StreamedBatches) -> str:
    """The one line that says the training set streams (and where a classifier's class count came from)."""
    stream = batches.stream
    count = f"{stream.num_samples} samples" if stream.num_samples is not None else "its samples"
    through = "your DataLoader" if stream.kind == "DataLoader" else f"a DataLoader over your {stream.kind}"
    workers = getattr(batches.loader, "num_workers", 0)
    note = f"; {stream.note}" if stream.note else ""
    workers = f"{workers} worker{'' if workers == 1 else 's'}"
    return f"data: streaming {count} through {through} ({workers}; not held in memory){note}"
