"""The in-memory :class:`Dataset`, the source registry and deterministic splits."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from neuroplast.data.stream import TrainStream
from neuroplast.errors import DataError, UserError
from neuroplast.registry import Registry
from neuroplast.spec import DataSpec

log = logging.getLogger(__name__)
Task = Literal["classification", "regression", "forecast", "language-model"]


@dataclass
class Dataset:
    """Train/validation/test tensors plus what a model and a predictor need to know about them.

    ``x_*`` are preprocessed float32 tensors of shape ``(N, *input_shape)``; ``y_*`` are int64 class
    indices (classification) or standardized float32 targets of shape ``(N, num_targets)``.
    ``preprocess`` is a JSON-able description of how raw inputs become ``x`` (saved in the run folder).
    A training split that streams (your own DataLoader or Dataset, see :mod:`neuroplast.data.stream`) is
    read from ``stream`` every epoch; ``x_train``/``y_train`` then hold only its first batch, as an
    example of its inputs.
    """

    name: str
    task: Task
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str] | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)
    origin: str | None = None  # the file or folder it was read from, if any
    vocab_size: int = 0  # > 0: inputs are token ids (text)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. forecast baselines, computed at load
    stream: TrainStream | None = None  # where a streamed training split is read from

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_train(self) -> int | None:
        """Training samples: the resident split's, or what a stream says it holds (None: it does not say)."""
        return len(self.x_train) if self.stream is None else self.stream.num_samples

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names else 0

    @property
    def num_outputs(self) -> int:
        if self.task in ("classification", "language-model"):
            return self.num_classes
        return self.y_train.shape[1] if self.y_train.ndim > 1 else 1

    def to(self, device: torch.device | str, memory_format: torch.memory_format | None = None) -> Dataset:
        """The same data on ``device``; ``memory_format`` (e.g. channels-last) applies to 4-D inputs."""
        moved = {k: getattr(self, k).to(device) for k in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        if memory_format is not None:
            for k in ("x_train", "x_val", "x_test"):
                if moved[k].ndim == 4:
                    moved[k] = moved[k].contiguous(memory_format=memory_format)
        return replace(self, **moved)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, task={self.task!r}, input_shape={self.input_shape}, "
                f"train={self.num_train}{' streamed' if self.stream else ''}, val={len(self.x_val)}, test={len(self.x_test)})")


Loader = Callable[[DataSpec, int], Dataset]
SOURCES: Registry[Loader] = Registry("data source")


IMAGES = ("digits", "mnist", "fashion-mnist", "folder")
READERS: dict[str, tuple[str, ...]] = {  # the data keys only some sources read, and which
    "dir": ("mnist", "fashion-mnist", "folder", "text"), "test_dir": ("folder",),
    "path": ("csv", "series", "text", "text-csv"), "target": ("csv", "text-csv"), "task": ("csv",),
    "image_size": ("folder",), "channels": ("folder",), "style": ("folder",), "normalize": IMAGES,
    "text_column": ("text-csv",), "tokens": ("text-csv",), "block_size": ("text", "text-csv"),
    "column": ("series",), "date_column": ("series",), "window": ("series", "sunspots"), "horizon": ("series", "sunspots"),
    "season": ("series", "sunspots"), "skip_bad_files": ("folder",), "chunks": ("text-csv",),
    "buckets": ("text-csv",), "max_ngrams": ("text-csv",),
}


def check_keys_read(spec: DataSpec) -> None:
    """A data key set away from its default that ``spec.source`` does not read is an error naming the
    sources that would: ``data.path`` with ``source = "wine"`` would silently train on the bundled wine."""
    for key, readers in READERS.items():
        if spec.source in readers or spec.source not in SOURCES:
            continue
        value = getattr(spec, key)
        if value != type(spec).model_fields[key].default:
            value = str(value) if isinstance(value, Path) else value
            raise UserError(f"data.{key} = {value!r} is read by the {', '.join(readers)} source"
                            f"{'s' if len(readers) > 1 else ''}, not by data.source = {spec.source!r}, which "
                            f"would ignore it; set data.source = {readers[0]!r} or remove data.{key}.")


def load_dataset(spec: DataSpec, seed: int = 0) -> Dataset:
    """Load the source named by ``spec.source`` with splits fixed by ``spec.split_seed``, or by ``seed``
    (the run's) when it is not set."""
    check_keys_read(spec)
    data = SOURCES.get(spec.source)(spec, seed if spec.split_seed is None else spec.split_seed)
    if spec.augment is not None and spec.augment.active and data.x_train.dim() != 4:
        raise DataError(f"data.augment shifts, rotates, zooms and mirrors images, but {spec.source!r} gives "
                        f"inputs of shape {tuple(data.x_train.shape[1:])}, not (channels, height, width); "
                        "remove the [data.augment] section for this source.")
    if spec.max_train_samples is not None and spec.max_train_samples < len(data.x_train):
        n = spec.max_train_samples
        data = replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])
        if "rows" in data.extra:  # the rows that trained
            data.extra = {**data.extra, "rows": {**data.extra["rows"], "train": data.extra["rows"]["train"][:n]}}
    return data


def split_rows(train: np.ndarray, val: np.ndarray, test: np.ndarray | str) -> dict[str, Any]:
    """``split.json``: the 0-based row (sample) numbers of each split, so anyone can score a baseline on the
    same rows; ``test`` may instead say where an official test set comes from."""
    return {"rows": {"train": [int(i) for i in train], "val": [int(i) for i in val],
                     "test": test if isinstance(test, str) else [int(i) for i in test]}}


def split_indices(y: np.ndarray, spec: DataSpec, seed: int, stratify: bool,
                  with_test: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic (stratified for classes, where each part can hold every class) train/val/test
    index arrays from ``seed``; too few rows for a non-empty training part is a :class:`DataError`."""
    sizes = split_sizes(len(y), spec.val_fraction, spec.test_fraction if with_test else 0.0)
    if sizes[0] < 1:
        _too_few_rows(len(y), spec, with_test)
    idx = np.arange(len(y))
    test = np.array([], dtype=np.int64)
    if with_test:
        idx, test = _split(idx, y, spec.test_fraction, seed, stratify)
    val = np.array([], dtype=np.int64)
    if spec.val_fraction > 0:
        idx, val = _split(idx, y, spec.val_fraction, seed, stratify)
    return idx, val, test


def split_sizes(num_rows: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """``(train, val, test)`` row counts as :func:`split_indices` (scikit-learn) makes them: each
    held-out part is the fraction of what is left, rounded up."""
    num_test = math.ceil(test_fraction * num_rows)
    num_val = math.ceil(val_fraction * (num_rows - num_test))
    return num_rows - num_test - num_val, num_val, num_test


def _too_few_rows(num_rows: int, spec: DataSpec, with_test: bool) -> None:
    test_fraction = spec.test_fraction if with_test else 0.0
    train, val, test = split_sizes(num_rows, spec.val_fraction, test_fraction)
    need = next(n for n in range(num_rows + 1, num_rows + 10_000)
                if split_sizes(n, spec.val_fraction, test_fraction)[0] >= 1)
    fractions = f"data.val_fraction = {spec.val_fraction}" + (
        f" and data.test_fraction = {spec.test_fraction}" if with_test else "")
    rows = f"{num_rows} data row" + ("" if num_rows == 1 else "s")
    raise DataError(f"{spec.path or spec.source} has {rows}, too few to split: {fractions} leave "
                    f"{train} for training ({val} validation, {test} test). Add rows (at least {need} with "
                    "these fractions) or lower data.val_fraction / data.test_fraction.")


def _split(idx: np.ndarray, y: np.ndarray, fraction: float, seed: int,
           stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """``idx`` split into (rest, held out); stratified unless a part is too small to hold every class."""
    if stratify:
        try:
            return tuple(train_test_split(idx, test_size=fraction, random_state=seed, stratify=y[idx]))
        except ValueError as e:  # e.g. a class with one row, or fewer held-out rows than classes
            log.warning("Splitting %d rows without stratification: %s", len(idx), e)
    return tuple(train_test_split(idx, test_size=fraction, random_state=seed))


def find_data_dir(spec: DataSpec, files: list[str], subdir: str | None = None) -> Path:
    """The directory holding ``files``: ``data.dir`` (``--data-dir``), else ``$NEUROPLAST_DATA``.

    Either may be the directory itself or a parent with a sub-folder named ``subdir`` (default: the
    source's name).
    """
    candidates: list[Path] = []
    roots = [spec.dir] if spec.dir is not None else []
    if not roots and os.environ.get("NEUROPLAST_DATA"):
        roots = [Path(os.environ["NEUROPLAST_DATA"])]
    for root in roots:
        if Path(root).is_file():
            raise UserError(f"{spec.source}: --data-dir (data.dir, NEUROPLAST_DATA) {root} is a file; pass the folder "
                            f"that holds {', '.join(files)} (e.g. {Path(root).parent}).")
    for root in roots:
        candidates += [Path(root), Path(root) / (subdir or spec.source)]
    for c in candidates:
        if all(_present(c, f) for f in files):
            return c
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no data.dir, --data-dir or NEUROPLAST_DATA given)"
    raise UserError(
        f"{spec.source}: expected the files {', '.join(f + '[.gz]' for f in files)}; looked in {looked}. "
        f"Pass --data-dir DIR (or set data.dir, or NEUROPLAST_DATA) to the folder that holds them."
    )


def _present(d: Path, name: str) -> bool:
    return (d / name).is_file() or (d / f"{name}.gz").is_file()


def to_tensors(x: np.ndarray, y: np.ndarray, task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    xt = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)
    if task == "classification":
        return xt, torch.as_tensor(y, dtype=torch.int64)
    yt = torch.as_tensor(y, dtype=torch.float32)
    return xt, yt.reshape(len(yt), -1) if len(yt) else yt.reshape(0, *(yt.shape[1:] or (1,)))  # an empty part too
