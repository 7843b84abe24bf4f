"""Tables: scikit-learn's bundled sets and any CSV file (delimiter sniffed, missing-value markers read as
missing, each column's role inferred: see :mod:`.columns`).

Features are one-hot encoded (categorical) and standardized with statistics of the training split
only; regression targets are standardized too and mapped back for metrics and predictions.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from neuroplast.data.base import SOURCES, Dataset, Task, split_indices, split_rows, to_tensors
from neuroplast.data.columns import (
    encode_columns,
    fit_column,
    infer_role,
    is_number,
    order_leak,
    role_table,
)
from neuroplast.errors import DataError, UserError, did_you_mean
from neuroplast.spec import DataSpec

log = logging.getLogger(__name__)
DELIMITERS = ",;\t|"
SNIFF_LINES = 50


def table_dataset(name: str, columns: dict[str, list[str]] | np.ndarray, y: np.ndarray, task: Task,
                  spec: DataSpec, seed: int, feature_names: list[str], target: str,
                  class_names: list[str] | None = None, with_test: bool = True,
                  roles: list[dict[str, Any]] | None = None) -> Dataset:
    """Split a table (no test part when ``with_test`` is False), fit the encoding on the training rows and
    return standardized tensors. Text columns get their ``roles`` (see :mod:`.columns`; inferred from all
    rows when not given)."""
    train, val, test = split_indices(y, spec, seed, stratify=task == "classification", with_test=with_test)
    missing = set(spec.missing)
    if isinstance(columns, np.ndarray):
        schema = [{"name": n, "type": "numeric", "role": "number"} for n in feature_names]
        x = columns.astype(np.float64)
    else:
        roles = roles or [infer_role(n, columns[n], missing) for n in feature_names]
        schema = [fit_column(r, [columns[r["name"]][i] for i in train], missing) for r in roles]
        x = encode_columns(columns, schema, missing, len(y))
    mean = np.nanmean(x[train], axis=0) if len(train) else np.zeros(x.shape[1])
    mean = np.where(np.isnan(mean), 0.0, mean)  # a column missing in every training row
    x = np.where(np.isnan(x), mean, x)  # missing numbers -> training mean
    std = x[train].std(axis=0)
    std[std == 0] = 1.0
    x = (x - mean) / std
    pre: dict[str, Any] = {"kind": "table", "columns": schema, "target": target, "missing": list(spec.missing),
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


def encode_rows(rows: list[dict[str, Any]], preprocess: dict[str, Any]) -> np.ndarray:
    """Encode raw rows (dicts of column -> value) exactly as the training data was, standardized: the same
    missing-value markers (None and NaN too), roles and training statistics; dropped columns are not needed."""
    schema = preprocess["columns"]
    names = [c["name"] for c in schema if c["type"] != "dropped"]
    lacking = [n for n in names if rows and n not in rows[0]]
    if lacking:
        raise UserError(f"Input rows lack the feature columns {lacking}; expected columns {names}.")
    missing = set(preprocess.get("missing", [""]))  # runs before data.missing knew only empty cells
    columns = {n: ["" if _missing(r[n]) else str(r[n]).strip() for r in rows] for n in names}
    x = encode_columns(columns, schema, missing | {""}, len(rows))
    mean, std = np.asarray(preprocess["mean"]), np.asarray(preprocess["std"])
    x = np.where(np.isnan(x), mean, x)
    return ((x - mean) / std).astype(np.float32)


def read_csv(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Read a CSV with a header row into columns of strings (the delimiter sniffed: see :func:`read_table`)."""
    header, columns, _ = read_table(path)
    return header, columns


def read_table(path: Path) -> tuple[list[str], dict[str, list[str]], str]:
    """Read a CSV with a header row into columns of stripped strings, and the delimiter it uses: one of
    ``, ; tab |``, sniffed from the first lines (comma unless another splits them into more fields, as
    consistently)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            head = [line for _, line in zip(range(SNIFF_LINES), f, strict=False)]
            f.seek(0)
            delimiter = sniff_delimiter(head)
            reader = csv.reader(f, delimiter=delimiter)
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
                            f"{len(header)} (delimiter {delimiter!r}). Fix that row.")
    return header, {h: [r[j].strip() for r in rows] for j, h in enumerate(header)}, delimiter


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter of these first lines of a CSV: csv.Sniffer's pick among ``, ; tab |``, kept only when it
    splits every line into the same number of fields, more than a comma does; else a comma."""
    try:
        found = csv.Sniffer().sniff("".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","
    return found if found == "," or _fields(lines, found) > _fields(lines, ",") else ","


def _fields(lines: list[str], delimiter: str) -> int:
    """Fields per line when every whole line has the same number, else 0."""
    rows = [r for r in csv.reader(lines[:-1] if len(lines) > 1 else lines, delimiter=delimiter) if r]
    counts = {len(r) for r in rows}
    return counts.pop() if len(counts) == 1 else 0


@SOURCES.register("csv")
def load_csv(spec: DataSpec, seed: int) -> Dataset:
    if spec.path is None:
        raise UserError("data.source = 'csv' needs data.path = 'FILE.csv' and data.target = 'COLUMN'.")
    header, columns, delimiter = read_table(Path(spec.path))
    if delimiter != ",":
        log.warning("CSV file %s: fields separated by %r (sniffed from its first lines)", spec.path, delimiter)
    data = columns_dataset(Path(spec.path).stem, header, columns, spec, seed, f"CSV file {spec.path}")
    data.preprocess["delimiter"] = delimiter
    data.origin = str(Path(spec.path).resolve())
    return data


def frame_dataset(frame: Any, target: str | None, seed: int = 0, task: str = "auto", val_fraction: float = 0.1,
                  test_fraction: float = 0.0) -> Dataset:
    """A pandas DataFrame as a table: the CSV source's column handling (cells read as text with the same
    missing-value markers, NaN and None as empty cells; the same roles), ``val_fraction`` of the rows held
    out for validation and ``test_fraction`` for testing (0: no test part), stratified for classes."""
    if target is None:
        raise UserError(f"A DataFrame needs target='COLUMN' naming what to predict; columns: "
                        f"{', '.join(map(str, frame.columns))}.")
    header = [str(c) for c in frame.columns]
    columns = {str(c): ["" if _missing(v) else str(v).strip() for v in frame[c].tolist()] for c in frame.columns}
    spec = DataSpec(source="csv", target=target, task=task, val_fraction=val_fraction,
                    **({"test_fraction": test_fraction} if test_fraction > 0 else {}))
    return columns_dataset("dataframe", header, columns, spec, seed, "the DataFrame", with_test=test_fraction > 0)


def _missing(value: Any) -> bool:
    """None, NaN, pandas' NaT and NA: the values that are not equal to themselves (or cannot say)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas.NA
        return True


def columns_dataset(name: str, header: list[str], columns: dict[str, list[str]], spec: DataSpec, seed: int,
                    where: str, with_test: bool = True) -> Dataset:
    """A table given as text columns (as a CSV file holds them): each column's role inferred from all rows,
    rows with a missing target dropped (said with their count), the task guessed from the present target
    values (or ``spec.task``), the rest encoded and split; the roles said in one table."""
    if spec.target is None or spec.target not in columns:
        hint = did_you_mean(spec.target or "", header)
        raise DataError(f"{where} has no target column {spec.target!r}.{hint} "
                        f"Columns: {', '.join(header)}. Set data.target to one of them.")
    missing = set(spec.missing)
    columns = dict(columns)
    raw_y = columns.pop(spec.target)
    roles = [infer_role(n, columns[n], missing) for n in columns]
    keep = [i for i, v in enumerate(raw_y) if v not in missing]
    if len(keep) < len(raw_y):
        log.warning("%s: dropped %d of %d rows whose target %r is missing (%s)", where, len(raw_y) - len(keep),
                    len(raw_y), spec.target, ", ".join(sorted({repr(v) for v in raw_y if v in missing})))
        columns = {n: [c[i] for i in keep] for n, c in columns.items()}
        raw_y = [raw_y[i] for i in keep]
    if not raw_y:
        raise DataError(f"{where}: the target column {spec.target!r} has no values (all missing). Fill it in.")
    task = spec.task if spec.task != "auto" else _guess_task(raw_y, spec.target, where)
    y, class_names = _targets(raw_y, task, spec.target, where)
    for role in roles:
        leak = order_leak(columns[role["name"]], y, missing) if role["role"] == "number" else None
        if leak:
            role["note"] = "WARNING: " + leak
    data = table_dataset(name, columns, y, task, spec, seed, list(columns), spec.target, class_names, with_test,
                         roles)
    data.extra["rows"] = {split: [keep[i] for i in rows] if isinstance(rows, list) else rows  # the file's rows
                          for split, rows in data.extra["rows"].items()}
    log.warning("%s", role_table(where, data.preprocess["columns"], spec.target, task))
    return data


def _targets(raw_y: list[str], task: Task, target: str, where: str) -> tuple[np.ndarray, list[str] | None]:
    if task == "classification":
        class_names = sorted(set(raw_y), key=lambda v: (not is_number(v), float(v) if is_number(v) else 0, v))
        index = {c: i for i, c in enumerate(class_names)}
        return np.array([index[v] for v in raw_y], dtype=np.int64), class_names
    bad = next((v for v in raw_y if not is_number(v)), None)
    if bad is not None:
        raise DataError(f"{where}: data.task = 'regression' but the target column {target!r} has the value "
                        f"{bad!r}. Fix it, add it to data.missing, or set data.task = 'classification'.")
    return np.array([float(v) for v in raw_y]), None


def _guess_task(values: list[str], target: str = "y", where: str = "the table") -> Task:
    """Classes for text or few-valued integers, else regression; a target of mostly numbers with a few other
    values (missing-value markers that data.missing lacks?) is a one-line error, not hundreds of classes."""
    nums = np.array([float(v) for v in values if is_number(v)])
    if len(nums) < len(values):
        few = np.all(nums == np.round(nums)) and len(np.unique(nums)) <= 20
        if len(nums) > len(values) / 2 and not few:
            odd = ", ".join(repr(v) for v in sorted({v for v in values if not is_number(v)})[:3])
            raise DataError(f"{where}: the target column {target!r} holds numbers in {len(nums)} of {len(values)} "
                            f"rows but also {odd}. Add those to data.missing if they mark missing values (their "
                            "rows are dropped), or set data.task = 'classification'.")
        return "classification"
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
