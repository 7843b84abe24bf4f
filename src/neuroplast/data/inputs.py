"""Raw inputs -> model input tensors, using a run's ``preprocess.json``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast.data.images import IMAGE_SUFFIXES
from neuroplast.errors import DataError, UserError, did_you_mean


def to_inputs(x: Any, preprocess: dict[str, Any]) -> torch.Tensor:
    """Accepts file paths (images, CSV), raw arrays (pixels in [0, 1]; table rows in original units),
    lists of dicts (table rows by column name) or a preprocessed tensor (returned as is)."""
    if isinstance(x, torch.Tensor):
        return x.float()
    if isinstance(x, (str, Path)):
        x = [x]
    if preprocess["kind"] == "tensor":  # your own data (neuroplast.fit on a DataLoader): taken as it is
        return _as_given(x, tuple(preprocess["shape"]))
    if preprocess["kind"] == "text":
        return _text_inputs(list(x), preprocess)
    if preprocess["kind"] == "series":
        return _series_inputs(x, preprocess)
    if isinstance(x, Sequence) and x and all(isinstance(v, (str, Path)) for v in x):
        return torch.cat([_file_inputs(Path(p), preprocess) for p in x])
    if preprocess["kind"] == "table":
        from neuroplast.data.tabular import encode_rows

        if isinstance(x, Sequence) and x and isinstance(x[0], dict):
            check_finite(list(x), preprocess)
            return torch.from_numpy(encode_rows(list(x), preprocess))
        arr = np.asarray(x, dtype=np.float64)
        arr = arr[None] if arr.ndim == 1 else arr
        names = [c["name"] for c in preprocess["columns"]]
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise UserError(f"Expected table rows of {len(names)} values ({', '.join(names)}); received "
                            f"shape {arr.shape}.")
        rows = [dict(zip(names, row, strict=True)) for row in arr]
        check_finite(rows, preprocess)
        return torch.from_numpy(encode_rows(rows, preprocess))
    arr = np.asarray(x, dtype=np.float32)
    shape = tuple(preprocess["shape"])
    if arr.shape[-len(shape):] != shape and arr.shape[-2:] == shape[-2:] and shape[0] == 1:
        arr = arr.reshape(-1, *shape)
    if arr.shape == shape:
        arr = arr[None]
    if arr.shape[1:] != shape:
        raise UserError(f"Expected images of shape {shape} (pixels in [0, 1]); received {arr.shape}. "
                        "Pass image files to get MNIST-style preprocessing.")
    return torch.from_numpy((arr - preprocess["mean"]) / preprocess["std"]).float()


def to_targets(y: Any, preprocess: dict[str, Any], class_names: list[str] | None, name: str = "y") -> torch.Tensor:
    """Targets in their original units as the model learned them: class labels as the data had them
    (``"setosa"``, ``7``) -> class indices; values -> standardized with the training targets' mean and std."""
    arr = np.asarray(y)
    if class_names is not None:
        if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)  # 3.0 is the label 3
        index = {c: i for i, c in enumerate(class_names)}
        labels = [str(v) for v in arr.ravel().tolist()]
        unknown = sorted(set(labels) - index.keys())
        if unknown:
            raise UserError(f"{name} has labels {', '.join(unknown[:5])} that the training data did not have "
                            f"({', '.join(class_names[:10])}{', ...' if len(class_names) > 10 else ''}); pass labels "
                            "from the training data's classes.")
        return torch.tensor([index[v] for v in labels], dtype=torch.int64)
    values = arr.astype(np.float64).reshape(len(arr), -1)
    mean = np.asarray(preprocess.get("target_mean", [0.0]))
    std = np.asarray(preprocess.get("target_std", [1.0]))
    return torch.from_numpy((values - mean) / std).float()


def _as_given(x: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """Arrays for a model trained on your own tensors: one sample or a batch, no preprocessing."""
    arr = np.asarray(x, dtype=np.float32)
    arr = arr[None] if arr.shape == shape else arr
    if arr.shape[1:] != shape:
        raise UserError(f"Expected inputs of shape {shape} per sample (as the model was trained on); received "
                        f"{arr.shape}.")
    return torch.from_numpy(arr)


def _file_inputs(path: Path, preprocess: dict[str, Any]) -> torch.Tensor:
    if path.is_dir():
        raise UserError(f"Input {path} is a folder; pass the files in it (e.g. {path}/*.png).")
    if not path.is_file():
        raise UserError(f"Input file {path} does not exist.")
    if preprocess["kind"] == "image":
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"{path}: this model reads images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
        from neuroplast.data.images import image_to_input

        return image_to_input(path, preprocess)
    if path.suffix.lower() != ".csv":
        raise UserError(f"{path}: this model reads table rows; pass a .csv file with a header row.")
    from neuroplast.data.tabular import encode_rows, read_csv

    header, columns = read_csv(path)
    rows = [{h: columns[h][i] for h in header} for i in range(len(columns[header[0]]))]
    check_finite(rows, preprocess, str(path))
    return torch.from_numpy(encode_rows(rows, preprocess))


def check_finite(rows: Sequence[dict[str, Any]], preprocess: dict[str, Any], where: str = "input") -> None:
    """Refuse a number column's cell that overflows or is infinite (``1e400``, ``inf``), naming its row and
    column: the model would answer NaN for it."""
    import math

    missing = set(preprocess.get("missing", [""])) | {""}
    numeric = [c["name"] for c in preprocess.get("columns", []) if c.get("type") == "numeric"]
    for i, row in enumerate(rows, start=1):
        for name in numeric:
            value = row.get(name)
            if value is None or (isinstance(value, str) and value.strip() in missing):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # not a number at all: encode_rows says so
            if not math.isfinite(number) and not math.isnan(number):
                raise UserError(f"{where}, row {i}, column {name!r}: {value!r} is not a finite number (it overflows "
                                "float64); give a finite value, or leave the cell empty to mark it missing.")


def _text_inputs(texts: list[str], preprocess: dict[str, Any]) -> torch.Tensor:
    """Strings -> token ids: characters of a language model's vocabulary, or a classifier's tokens."""
    from neuroplast.data.text import encode_texts

    if preprocess["mode"] == "classify":
        return encode_texts([row for t in texts for row in _texts_of(t, preprocess.get("column"))], preprocess)
    return encode_chars("".join(str(t) for t in texts), preprocess["vocab"])[None]


def _texts_of(item: str | Path, column: str | None) -> list[str]:
    """A text to classify, or, when ``item`` names a ``.csv`` file, the texts in its ``column`` (the run's
    data.text_column; a one-column file may name it otherwise), one per row."""
    name = str(item)
    if not name.lower().endswith(".csv"):
        return [name]
    path = Path(name)
    if not path.is_file():
        raise UserError(f"Input file {path} does not exist. Pass an existing CSV file with a {column!r} column "
                        "(one text per row), or the text to classify itself.")
    from neuroplast.data.tabular import read_csv

    header, columns = read_csv(path)
    if column in columns:
        return columns[column]
    if len(header) == 1:
        return columns[header[0]]
    raise DataError(f"CSV file {path} has no column {column!r}, the text column this run was trained on "
                    f"(data.text_column).{did_you_mean(str(column), header)} Columns: {', '.join(header)}. "
                    f"Rename the text column to {column!r}.")


def encode_chars(text: str, vocab: list[str]) -> torch.Tensor:
    """Character ids of ``text``; characters the model never saw are a one-line error naming them."""
    index = {c: i for i, c in enumerate(vocab)}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise UserError(f"The text has characters outside the model's vocabulary: {''.join(unknown)!r}. "
                        f"Use only these: {''.join(vocab)!r}.")
    return torch.tensor([index[c] for c in text], dtype=torch.int64)


def _series_inputs(x: Any, preprocess: dict[str, Any]) -> torch.Tensor:
    """Past values -> standardized windows (N, window, 1). A CSV file gives one window: the last
    ``window`` values of the column the run was trained on (or of a file's only column), checked as
    ``neuroplast run`` checks a series (numbers in every row, dates in order without gaps)."""
    window = preprocess["window"]
    if isinstance(x, Sequence) and x and all(isinstance(v, (str, Path)) for v in x):
        x = [_csv_series(Path(path), preprocess)[-window:] for path in x]
    arr = np.asarray(x, dtype=np.float64)
    arr = arr[None] if arr.ndim == 1 else arr.reshape(len(arr), -1)
    if arr.shape[1] != window:
        raise UserError(f"This forecaster reads the last {window} values of the series; received "
                        f"{arr.shape[1]} per input. Pass at least {window} past values.")
    return torch.from_numpy((arr - preprocess["mean"]) / preprocess["std"]).float()[..., None]


def _csv_series(path: Path, preprocess: dict[str, Any]) -> np.ndarray:
    """The series of a CSV file for a forecasting run: its trained column (``data.column``), or, in a file
    without it, the only column beside the date column."""
    from neuroplast.data.dates import date_column
    from neuroplast.data.series import series_column
    from neuroplast.data.tabular import read_csv

    if not path.is_file():
        raise UserError(f"Input file {path} does not exist. Pass a CSV file whose rows are the series' past "
                        "values, one per time step.")
    header, columns = read_csv(path)
    column, given_dates = preprocess.get("column"), preprocess.get("date_column")
    given_dates = given_dates if given_dates in header else None  # a file of values alone is fine
    others = [h for h in header if h != date_column(header, given_dates, path)]
    if column not in header and len(others) == 1:
        column = others[0]
    if column is None:  # a run on a bundled series (sunspots) names no column
        raise DataError(f"CSV file {path} has {len(others)} columns besides the dates ({', '.join(others)}); "
                        "this run forecasts one series: pass a file with one column of values.")
    values, _ = series_column(path, header, columns, column, given_dates,
                              fix=f"Name the series column {column!r}, as in the file the run was trained on.")
    return values
