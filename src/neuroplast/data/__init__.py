"""Data sources: each turns a :class:`~neuroplast.spec.DataSpec` into in-memory tensors.

Batches are later taken from these tensors by indexing (no per-sample DataLoader), on the
training device.
"""

from __future__ import annotations

from neuroplast.data import digits, folder, idx, series, tabular, text  # noqa: F401  (fill SOURCES)
from neuroplast.data.base import SOURCES, Dataset, load_dataset

__all__ = ["SOURCES", "Dataset", "load_dataset"]
