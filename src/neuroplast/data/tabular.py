"""Tables: scikit-learn's bundled sets and any CSV file, numeric and categorical columns.

Features are one-hot encoded (categorical) and standardized with statistics of the training split
only; regression targets are standardized too and mapped back for metrics and predictions.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from neuroplast.data.base import SOURCES, Dataset, Task, split_indices, split_rows, to_tensors
from neuroplast.errors import DataError, UserError, did_you_mean
from neuroplast.spec import DataSpec


def table_dataset(name: str, columns: dict[str, list[str]] | np.ndarray, y: np.ndarray, task: Task,
                  spec: DataSpec, seed: int, feature_names: list[str], target: str,
                  class_names: list[str] | None = None, with_test: bool = True) -> Dataset:
    """Split a table (no test part when ``with_test`` is False), fit the encoding on the training rows and
    return standardized tensors."""
    train, val, test = split_indices(y, spec, seed, stratify=task == "classification", with_test=with_test)
    if isinstance(columns, np.ndarray):
        schema = [{"name": n, "type": "numeric"} for n in feature_names]
        x = columns.astype(np.float64)
    else:
        schema = [_column_schema(n, [columns[n][i] for i in train]) for n in feature_names]
        x = _encode_columns(columns, schema)
    mean = np.nanmean(x[train], axis=0)
    x = np.where(np.isnan(x), mean, x)  # missing numbers -> training mean
    std = x[train].std(axis=0)
    std[std == 0] = 1.0
    x = (x - mean) / std
    pre: dict[str, Any] = {"kind": "table", "columns": schema, "target": target,
                           "mean": mean.tolist(), "std": std.tolist()}
    if task == "regression":
        y = y.astype(np.float64).reshape(len(y), -1)
        y_mean, y_std = y[train].mean(axis=0), y[train].std(axis=0)
        y_std[y_std == 0] = 1.0
        pre.update(target_mean=y_mean.tolist(), target_std=y_std.tolist())
        y = (y - y_mean) / y_std
    parts = [to_tensors(x[i], y[i], task) for i in (train, val, test)]
    return Dataset(name, task, parts[0][0], parts[0][1], parts[1][0], parts[1][1], parts[2][0],
                   parts[2][1], class_names=class_names, preprocess=pre, extra=split_rows(train, val, test))


def _column_schema(name: str, values: list[str]) -> dict[str, Any]:
    if all(_is_number(v) for v in values):
        return {"name": name, "type": "numeric"}
    return {"name": name, "type": "categorical", "categories": sorted(set(values))}


def _is_number(v: str) -> bool:
    if v.strip() == "":
        return True  # missing
    try:
        return not math.isinf(float(v))
    except ValueError:
        return False


def _encode_columns(columns: dict[str, list[str]], schema: list[dict[str, Any]]) -> np.ndarray:
    blocks = []
    for col in schema:
        values = columns[col["name"]]
        if col["type"] == "numeric":
            blocks.append(np.array([_to_float(v, col["name"]) for v in values])[:, None])
        else:
            cats = {c: i for i, c in enumerate(col["categories"])}
            onehot = np.zeros((len(values), len(cats)))
            for r, v in enumerate(values):
                if v in cats:  # unseen categories stay all-zero
                    onehot[r, cats[v]] = 1.0
            blocks.append(onehot)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(next(iter(columns.values()))), 0))


def _to_float(v: str, column: str) -> float:
    if isinstance(v, str) and v.strip() == "":
        return math.nan
    try:
        return float(v)
    except ValueError:
        raise DataError(f"Column {column!r} is numeric in the training data but has the value {v!r}. "
                        "Fix the value or make the column text in every row.") from None


def encode_rows(rows: list[dict[str, Any]], preprocess: dict[str, Any]) -> np.ndarray:
    """Encode raw rows (dicts of column -> value) exactly as the training data was, standardized."""
    names = [c["name"] for c in preprocess["columns"]]
    missing = [n for n in names if rows and n not in rows[0]]
    if missing:
        raise UserError(f"Input rows lack the feature columns {missing}; expected columns {names}.")
    columns = {n: [str(r[n]) for r in rows] for n in names}
    x = _encode_columns(columns, preprocess["columns"])
    mean, std = np.asarray(preprocess["mean"]), np.asarray(preprocess["std"])
    x = np.where(np.isnan(x), mean, x)
    return ((x - mean) / std).astype(np.float32)


def read_csv(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Read a CSV with a header row into columns of strings."""
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = [r for r in reader if r]
    except FileNotFoundError:
        raise DataError(f"CSV file {path} does not exist. Set data.path to an existing file.") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"CSV file {path} cannot be read as text CSV ({e}). Save it as UTF-8 CSV.") from None
    if not header or not rows:
        raise DataError(f"CSV file {path} has no header row or no data rows.")
    header = [h.strip() for h in header]
    for i, r in enumerate(rows):
        if len(r) != len(header):
            raise DataError(f"CSV file {path}, data row {i + 1}: {len(r)} fields, but the header has "
                            f"{len(header)}. Fix that row.")
    return header, {h: [r[j].strip() for r in rows] for j, h in enumerate(header)}


@SOURCES.register("csv")
def load_csv(spec: DataSpec, seed: int) -> Dataset:
    if spec.path is None:
        raise UserError("data.source = 'csv' needs data.path = 'FILE.csv' and data.target = 'COLUMN'.")
    header, columns = read_csv(Path(spec.path))
    data = columns_dataset(Path(spec.path).stem, header, columns, spec, seed, f"CSV file {spec.path}")
    data.origin = str(Path(spec.path).resolve())
    return data


def frame_dataset(frame: Any, target: str | None, seed: int = 0, task: str = "auto", val_fraction: float = 0.1,
                  test_fraction: float = 0.0) -> Dataset:
    """A pandas DataFrame as a table: the CSV source's column handling (numbers standardized, text one-hot,
    missing cells filled from the training rows), ``val_fraction`` of the rows held out for validation and
    ``test_fraction`` for testing (0: no test part), stratified for classes."""
    if target is None:
        raise UserError(f"A DataFrame needs target='COLUMN' naming what to predict; columns: "
                        f"{', '.join(map(str, frame.columns))}.")
    header = [str(c) for c in frame.columns]
    columns = {str(c): ["" if _missing(v) else str(v) for v in frame[c].tolist()] for c in frame.columns}
    spec = DataSpec(source="csv", target=target, task=task, val_fraction=val_fraction,
                    **({"test_fraction": test_fraction} if test_fraction > 0 else {}))
    return columns_dataset("dataframe", header, columns, spec, seed, "the DataFrame", with_test=test_fraction > 0)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def columns_dataset(name: str, header: list[str], columns: dict[str, list[str]], spec: DataSpec, seed: int,
                    where: str, with_test: bool = True) -> Dataset:
    """A table given as text columns (as a CSV file holds them): the target taken out, the task guessed
    (or ``spec.task``), the rest encoded and split."""
    if spec.target is None or spec.target not in columns:
        hint = did_you_mean(spec.target or "", header)
        raise DataError(f"{where} has no target column {spec.target!r}.{hint} "
                        f"Columns: {', '.join(header)}. Set data.target to one of them.")
    columns = dict(columns)
    raw_y = columns.pop(spec.target)
    task = spec.task if spec.task != "auto" else _guess_task(raw_y)
    if task == "classification":
        class_names = sorted(set(raw_y), key=lambda v: (not _is_number(v), float(v) if _is_number(v) else 0, v))
        index = {c: i for i, c in enumerate(class_names)}
        y = np.array([index[v] for v in raw_y], dtype=np.int64)
    else:
        class_names = None
        y = np.array([_to_float(v, spec.target) for v in raw_y])
        if np.isnan(y).any():
            raise DataError(f"{where}: the target column {spec.target!r} has empty values. Drop those rows.")
    return table_dataset(name, columns, y, task, spec, seed, list(columns), spec.target, class_names, with_test)


def _guess_task(values: list[str]) -> Task:
    if not all(_is_number(v) and v != "" for v in values):
        return "classification"
    nums = np.array([float(v) for v in values])
    if np.all(nums == np.round(nums)) and len(np.unique(nums)) <= 20:
        return "classification"
    return "regression"


def _sklearn(name: str, task: Task):
    def load(spec: DataSpec, seed: int) -> Dataset:
        import sklearn.datasets as skd

        bunch = getattr(skd, f"load_{name}")()
        names = [str(n) for n in bunch.feature_names]
        classes = [str(c) for c in bunch.target_names] if task == "classification" else None
        return table_dataset(name, bunch.data, bunch.target, task, spec, seed, names, "target", classes)

    return load


for _name, _task in (("iris", "classification"), ("wine", "classification"),
                     ("breast_cancer", "classification"), ("diabetes", "regression")):
    SOURCES.register(_name)(_sklearn(_name, _task))
