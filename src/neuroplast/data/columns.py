"""What each column of a table is (its role), read from its cells, and how it becomes features.

Roles, decided on all data rows of the file (the cells' kinds, never the target's values):

- ``constant``: one value in every row (missing cells count as a value) -> dropped.
- ``identifier``: in a file of at least :data:`ID_MIN_ROWS` rows, a text column with a different value in
  every row, or an integer column holding exactly 0..n-1 or 1..n (a row number) -> dropped.
- ``number``: every non-missing cell is a finite number -> standardized; missing cells take the training
  mean, and where at least :data:`INDICATOR_SHARE` of the training rows miss it, a 0/1 "was missing"
  feature is added (``indicator``).
- ``date``: every non-missing cell is an ISO-like date (``2024-03-31``, ``2024/03/31``, an optional time
  after it, which is ignored), or all are ``dd-mm-yyyy`` or all ``mm/dd/yyyy`` (the order a number above 12
  shows; day first where none does, said in the note) -> four numbers: year, month, day of the week (Monday 0), day of the year;
  missing cells as for numbers.
- ``text``: free text (at least :data:`ID_MIN_ROWS` rows, at least half the cells distinct, on average at
  least :data:`TEXT_MIN_WORDS` words a cell) -> a bag of words: one 0/1 feature for each of the
  :data:`TEXT_WORDS` words found in most training rows (seen in at least :data:`MIN_CATEGORY_COUNT` of them).
- ``category``: anything else -> one-hot over the training rows' values; missing cells are one category
  (``""``), a value the training rows never had is all zeros. Mostly numbers with a few other values is a
  category with a warning naming them (markers of missing cells that ``data.missing`` lacks?).

A text column unique per row counts as an identifier only when most of its cells are not numbers.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from typing import Any

import numpy as np

from neuroplast.errors import DataError

ID_MIN_ROWS = 10
INDICATOR_SHARE = 0.05
MIN_CATEGORY_COUNT = 3  # a category seen fewer times in the training rows encodes as none (one-hot all zero)
TEXT_MIN_WORDS = 2
TEXT_WORDS = 256
DATE_PARTS = ("year", "month", "weekday", "yearday")
DROPPED = ("identifier", "constant")
_WORD = re.compile(r"[^\W\d_]{2,}")  # two or more letters: "N1A1" or "PAL0708-A1" hold no word
_DAY_MONTH = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
                   r"(?:Z|[+-]\d{2}:?\d{2})?$")


def is_number(v: str) -> bool:
    """Whether ``v`` reads as a finite number."""
    try:
        return math.isfinite(float(v))
    except ValueError:
        return False


def parse_date(v: str, order: str = "ymd") -> dt.date | None:
    """The calendar date of an ISO-like date (time of day ignored), or None. With ``order`` ``"dmy"`` or
    ``"mdy"``, also day-month-year or month-day-year dates (``31-12-1984``, ``12/31/1984``)."""
    m = _DATE.match(v)
    if m is not None:
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif order != "ymd" and (m := _DAY_MONTH.match(v)) is not None:
        year, first, second = int(m[3]), int(m[1]), int(m[2])
        day, month = (first, second) if order == "dmy" else (second, first)
    else:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def date_order(present: list[str]) -> tuple[str, str] | None:
    """How a column writes its dates, from all its cells: ``("ymd", "")`` for year-first dates; for
    ``dd-mm-yyyy`` or ``mm/dd/yyyy`` the order a number above 12 shows (day-first where none does, said in
    the second value); None when the cells are not all dates."""
    if not present:
        return None
    if all(parse_date(v) is not None for v in present):
        return "ymd", ""
    pairs = [(int(m[1]), int(m[2])) for m in map(_DAY_MONTH.match, present) if m is not None]
    if len(pairs) != len(present):
        return None
    day_first, month_first = any(a > 12 for a, _ in pairs), any(b > 12 for _, b in pairs)
    if day_first and month_first:
        return None
    order = "mdy" if month_first else "dmy"
    if not all(parse_date(v, order) is not None for v in present):
        return None
    return order, "" if day_first or month_first else "; day-month-year assumed (no number above 12 tells)"


def infer_role(name: str, values: list[str], missing: set[str]) -> dict[str, Any]:
    """The role of one column from all its cells (see the module's docstring)."""
    present = [v for v in values if v not in missing]
    if len({v if v not in missing else "" for v in values}) <= 1:
        return {"name": name, "type": "dropped", "role": "constant",
                "note": f"the same value ({values[0]!r}) in every row: dropped" if values else "no rows: dropped"}
    many = len(values) >= ID_MIN_ROWS and len(present) == len(values)
    if all(is_number(v) for v in present):
        if many and _row_number(present):
            return {"name": name, "type": "dropped", "role": "identifier",
                    "note": f"integers {_span(present)}, one per row (a row number): dropped"}
        return {"name": name, "type": "numeric", "role": "number"}
    order = date_order(present)
    if order is not None:
        written = {"ymd": "", "dmy": "; read as day-month-year", "mdy": "; read as month-day-year"}[order[0]]
        return {"name": name, "type": "date", "role": "date", "order": order[0],
                "note": "expanded to " + ", ".join(DATE_PARTS) + " (time of day ignored)" + written + order[1]}
    text = [v for v in present if not is_number(v)]
    if len(text) > len(present) / 2:
        if is_free_text(present):
            return {"name": name, "type": "text", "role": "text"}
        if many and len(set(present)) == len(present):
            return {"name": name, "type": "dropped", "role": "identifier", "note": "text unique per row: dropped"}
        return {"name": name, "type": "categorical", "role": "category"}
    odd = ", ".join(repr(v) for v in sorted(set(text))[:3])
    return {"name": name, "type": "categorical", "role": "category",
            "note": f"WARNING: {len(present) - len(text)} of {len(values)} cells are numbers, but {odd} "
                    "make it a category: add them to data.missing if they mark missing cells"}


def words(v: str) -> list[str]:
    """The lower-cased words (two or more letters) of a cell, as a ``text`` column's bag of words reads them."""
    return _WORD.findall(v.lower())


def is_free_text(present: list[str]) -> bool:
    """Whether non-missing cells hold free text: many rows, mostly distinct, several words a cell."""
    if len(present) < ID_MIN_ROWS or len(set(present)) < len(present) / 2:
        return False
    return sum(len(words(v)) for v in present) / len(present) >= TEXT_MIN_WORDS


def _row_number(values: list[str]) -> bool:
    nums = np.array([float(v) for v in values])
    if not np.all(nums == np.round(nums)):
        return False
    ordered = np.sort(nums)
    n = len(nums)
    return bool(np.array_equal(ordered, np.arange(n)) or np.array_equal(ordered, np.arange(1, n + 1)))


def _span(values: list[str]) -> str:
    nums = [int(float(v)) for v in values]
    return f"{min(nums)}..{max(nums)}"


def fit_column(role: dict[str, Any], train_values: list[str], missing: set[str]) -> dict[str, Any]:
    """A column's encoding fitted on the training rows: categories, or whether a was-missing feature is added."""
    col = dict(role)
    if col["type"] == "categorical":
        counts = Counter("" if v in missing else v for v in train_values)
        col["categories"] = sorted(c for c, n in counts.items() if n >= MIN_CATEGORY_COUNT)
        rare = len(counts) - len(col["categories"])
        if rare:  # as scikit-learn's min_frequency: too rare to learn from, encoded as an unseen category
            col["note"] = (col.get("note", "") + "; " if col.get("note") else "") + (
                f"{rare} of {len(counts)} values seen under {MIN_CATEGORY_COUNT} times in training: encoded as none")
    elif col["type"] == "text":
        counts = Counter(w for v in train_values if v not in missing for w in set(words(v)))
        kept = sorted((w for w, n in counts.items() if n >= MIN_CATEGORY_COUNT), key=lambda w: (-counts[w], w))
        col["words"] = kept[:TEXT_WORDS]
        col["note"] = (f"free text: a bag of its {len(col['words'])} most common words "
                       f"(of {len(counts)}; each in {MIN_CATEGORY_COUNT}+ training rows)")
    elif col["type"] in ("numeric", "date"):
        share = sum(v in missing for v in train_values) / max(len(train_values), 1)
        if share >= INDICATOR_SHARE:
            col["indicator"] = True
            col["note"] = (col.get("note", "") + "; " if col.get("note") else "") + (
                f"{share:.0%} missing in training rows: + a 0/1 was-missing feature")
    return col


def feature_names(columns: list[dict[str, Any]]) -> list[str]:
    """The name of each encoded feature, in order: ``col``, ``col.year``..., ``col=category``, ``col missing``."""
    names: list[str] = []
    for col in columns:
        kind, name = col["type"], col["name"]
        if kind == "numeric":
            names.append(name)
        elif kind == "date":
            names += [f"{name}.{p}" for p in DATE_PARTS]
        elif kind == "categorical":
            names += [f"{name}={c}" for c in col["categories"]]
        elif kind == "text":
            names += [f"{name}~{w}" for w in col["words"]]
        if col.get("indicator"):
            names.append(f"{name} missing")
    return names


def encode_columns(columns: dict[str, list[str]], schema: list[dict[str, Any]], missing: set[str],
                   num_rows: int) -> np.ndarray:
    """Cells -> features (NaN where a number or date is missing), as :func:`feature_names` names them."""
    blocks = [np.zeros((num_rows, 0))]
    for col in schema:
        if col["type"] == "dropped":
            continue
        values = columns[col["name"]]
        gone = np.array([v in missing for v in values], dtype=np.float64)[:, None]
        if col["type"] == "numeric":
            blocks.append(np.array([math.nan if v in missing else _to_float(v, col["name"])
                                    for v in values])[:, None])
        elif col["type"] == "date":
            blocks.append(np.array([[math.nan] * 4 if v in missing else _date_parts(v, col)
                                    for v in values]).reshape(num_rows, 4))
        elif col["type"] == "text":
            blocks.append(_bag_of_words(values, col["words"], missing))
        else:
            cats = {c: i for i, c in enumerate(col["categories"])}
            onehot = np.zeros((num_rows, len(cats)))
            for r, v in enumerate(values):
                j = cats.get("" if v in missing else v)
                if j is not None:  # unseen categories stay all-zero
                    onehot[r, j] = 1.0
            blocks.append(onehot)
        if col.get("indicator"):
            blocks.append(gone)
    return np.concatenate(blocks, axis=1)


def _bag_of_words(values: list[str], vocabulary: list[str], missing: set[str]) -> np.ndarray:
    index = {w: i for i, w in enumerate(vocabulary)}
    bag = np.zeros((len(values), len(vocabulary)))
    for r, v in enumerate(values):
        if v not in missing:
            bag[r, [index[w] for w in set(words(v)) if w in index]] = 1.0
    return bag


def _to_float(v: str, column: str) -> float:
    try:
        return float(v)
    except ValueError:
        raise DataError(f"Column {column!r} is numeric in the training data but has the value {v!r}. "
                        "Fix the value, or add it to data.missing if it marks a missing cell.") from None


def _date_parts(v: str, col: dict[str, Any]) -> list[float]:
    order = col.get("order", "ymd")
    day = parse_date(v, order)
    if day is None:
        form = {"ymd": "YYYY-MM-DD", "dmy": "DD-MM-YYYY", "mdy": "MM-DD-YYYY"}[order]
        raise DataError(f"Column {col['name']!r} holds dates ({form}) in the training data but has the value "
                        f"{v!r}. Write it as {form}, or add it to data.missing if it marks a missing cell.")
    return [day.year, day.month, day.weekday(), day.timetuple().tm_yday]


def order_leak(values: list[str], y: np.ndarray, missing: set[str]) -> str | None:
    """Why a number column's order alone predicts the target, or None. The rule: its cells rise (or fall)
    strictly from row to row, and the target is sorted along the rows (each class in one block; values
    monotone) or its Spearman correlation with the column is at least 0.9 in size (classes ranked by first
    appearance)."""
    if len(values) < ID_MIN_ROWS or any(v in missing for v in values):
        return None
    nums = np.array([float(v) for v in values])
    step = np.diff(nums)
    if not (np.all(step > 0) or np.all(step < 0)):
        return None
    if y.dtype.kind in "iu":
        _, first = np.unique(y, return_index=True)
        y = np.argsort(np.argsort(first))[np.searchsorted(np.unique(y), y)]  # class rank by first appearance
        sorted_ = bool(np.all(np.diff(y) >= 0))
    else:
        sorted_ = bool(np.all(np.diff(y) >= 0) or np.all(np.diff(y) <= 0))
    from scipy.stats import spearmanr

    rho = float(spearmanr(nums, y).statistic) if np.ptp(y) > 0 else 0.0
    if sorted_ or abs(rho) >= 0.9:
        why = "the target is sorted along the rows" if sorted_ else f"Spearman {rho:+.2f} with the target"
        return (f"rises or falls row by row and {why}: its order alone may predict the target "
                "(a row number in a sorted file?); drop it if so")
    return None


def role_table(where: str, schema: list[dict[str, Any]], target: str, task: str) -> str:
    """The one table said at the start: each column, its role, how many features it gives, and why."""
    width = max([len(c["name"]) for c in schema] + [6])
    lines = [f"{where}: {len(schema)} feature columns -> {len(feature_names(schema))} features; target "
             f"{target!r} ({task}). Column roles:", f"  {'column':<{width}}  {'role':<10}  features  note"]
    for col in schema:
        count = len(feature_names([col]))
        lines.append(f"  {col['name']:<{width}}  {col['role']:<10}  {count:>8}  {col.get('note', '')}".rstrip())
    return "\n".join(lines)
