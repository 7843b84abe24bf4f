"""What ``neuroplast.fit`` is given as data, as a :class:`Dataset`: a pandas DataFrame (the CSV source's
column handling), an ``(X, y)`` pair of arrays (columns or pixels standardized with the training rows'
statistics, labels as classes), tensors and torch data (:mod:`.adapters`), and what is held out of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast.data.adapters import LoaderOptions, from_torch, is_torch_data
from neuroplast.data.base import Dataset
from neuroplast.data.images import image_dataset
from neuroplast.data.inputs import to_inputs, to_targets
from neuroplast.data.tabular import frame_dataset, table_dataset
from neuroplast.errors import UserError
from neuroplast.spec import DataSpec


@dataclass(frozen=True)
class HeldOut:
    """What fit holds out of arrays or a DataFrame given without validation data: ``validation`` of the
    rows for validation and ``test`` for testing (0: none), stratified for classes."""

    validation: float = 0.1
    test: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("validation_split", self.validation), ("test_split", self.test)):
            if not 0.0 <= value < 1.0:
                raise UserError(f"fit(): {name}={value} must be a fraction of the rows in [0, 1); e.g. 0.1.")
        if self.validation + self.test >= 1.0:
            raise UserError(f"fit(): validation_split={self.validation} and test_split={self.test} leave no rows "
                            "for training; their sum must be below 1 (e.g. 0.1 and 0.2).")

    def describe(self, seed: int, task: str = "classification") -> str:
        test = f" and {self.test:.0%} for testing" if self.test else ", none for testing"
        how = "stratified, " if task == "classification" else ""
        return f"fit held out {self.validation:.0%} of the rows for validation{test} ({how}seed {seed})"


def own_data(data: Any, validation_data: Any, test_data: Any, target: str | None, seed: int, held_out: HeldOut,
              stream: bool | None = None, module: nn.Module | None = None) -> tuple[Any, LoaderOptions]:
    """A DataFrame, a DataLoader, a torch Dataset, or tensors with their own validation/test parts, as a
    :class:`Dataset` (and the loader's options); a name or a plain ``(X, y)`` pair is passed on as it is."""
    if is_frame(data):
        if validation_data is not None or test_data is not None:
            raise UserError("fit(): with a DataFrame, neuroplast holds out the validation (and test) rows itself; "
                            "pass one DataFrame with validation_split= (and test_split=), or tensors for all "
                            "three parts.")
        frame = frame_dataset(data, target, seed, val_fraction=held_out.validation, test_fraction=held_out.test)
        frame.extra["split"] = held_out.describe(seed, frame.task)
        return frame, LoaderOptions()
    if target is not None:
        raise UserError(f"fit(): target={target!r} names a column of a pandas DataFrame; data is a "
                        f"{type(data).__name__}. Leave target out, or pass the DataFrame.")
    if is_arrays(data) and (validation_data is not None or test_data is not None):
        return arrays_with_parts(data, validation_data, test_data, seed), LoaderOptions()
    if is_torch_data(data) or validation_data is not None or test_data is not None:
        return from_torch(data, validation_data, test_data, stream=stream, model=module)  # the whole of data trains
    if isinstance(data, tuple) and len(data) != 2:
        raise UserError(f"fit(): data is a tuple of {len(data)}; pass the pair (X, y): inputs and targets.")
    if not isinstance(data, (str, tuple, Dataset)):
        raise UserError(f"fit(): data is a {type(data).__name__}; pass a DataLoader, a torch Dataset, an (X, y) pair, "
                        "a pandas DataFrame with target='COLUMN', or a data set's name such as 'digits'.")
    return data, LoaderOptions()


def is_arrays(data: Any) -> bool:
    """An ``(X, y)`` pair of arrays (NumPy, lists): raw data that fit encodes, unlike tensors (taken as given)."""
    return isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], torch.Tensor)


def arrays_with_parts(data: tuple[Any, Any], validation_data: Any, test_data: Any, seed: int) -> Dataset:
    """Arrays with their own validation (and test) arrays: the training arrays encoded as without them
    (columns standardized, labels as classes), the other parts with the training rows' encoding."""
    train = dataset_from_arrays(*data, seed=seed, held_out=HeldOut(0.0, 0.0))
    for split, name, part in (("val", "validation_data", validation_data), ("test", "test_data", test_data)):
        if part is None:
            continue
        if not (isinstance(part, tuple) and len(part) == 2):
            raise UserError(f"fit(): with arrays as data, {name} is an (X, y) pair of arrays too; received "
                            f"{type(part).__name__}.")
        x = to_inputs(np.asarray(part[0]), train.preprocess)
        setattr(train, f"x_{split}", x)
        setattr(train, f"y_{split}", to_targets(part[1], train.preprocess, train.class_names, f"{name}'s y"))
        train.extra["rows"][split] = f"{name}, every row"
    train.extra["split"] = (f"validation_data{' and test_data' if test_data is not None else ''} as given, "
                            "encoded with the training rows' statistics")
    return train


def is_frame(data: Any) -> bool:
    """A pandas DataFrame (checked without importing pandas)."""
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


def dataset_from_arrays(x: Any, y: Any, seed: int, held_out: HeldOut) -> Dataset:
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise UserError(f"fit(): X has {len(x)} rows but y has {len(y)}. Pass one target per row.")
    classify = np.issubdtype(y.dtype, np.integer) or not np.issubdtype(y.dtype, np.number)
    if classify:
        names, y = np.unique(y, return_inverse=True)
        class_names = [str(n) for n in names]
    spec = DataSpec(val_fraction=held_out.validation, **({"test_fraction": held_out.test} if held_out.test else {}))
    if x.ndim == 2:
        data = table_dataset("arrays", x, y, "classification" if classify else "regression", spec, seed,
                             [f"x{i}" for i in range(x.shape[1])], "y", class_names if classify else None,
                             with_test=held_out.test > 0)
    elif x.ndim == 4 and classify:
        data = image_dataset("arrays", x.astype(np.float32), y, spec, seed, class_names, style="resize",
                             test=None if held_out.test else (x[:0].astype(np.float32), y[:0]))
    else:
        raise UserError(f"fit(): X of shape {x.shape} is neither a table (N, features) nor images "
                    "(N, channels, height, width) with class labels.")
    data.extra["split"] = held_out.describe(seed, data.task)
    data.extra["encoding"] = (
        f"X's {x.shape[1]} columns are standardized with the training rows' mean and std" if x.ndim == 2 else
        "X's pixels are standardized with the training images' mean and std") + (
        ", and y too" if data.task == "regression" else "") + (
        ": run.predict and run.evaluate take raw data and do the same; the module alone expects standardized inputs")
    return data
