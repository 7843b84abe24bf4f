"""MNIST and Fashion-MNIST from the standard IDX files (gzipped or raw), read from a local folder."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from neuroplast.data.base import SOURCES, Dataset, find_data_dir
from neuroplast.data.images import image_dataset
from neuroplast.errors import DataError
from neuroplast.spec import DataSpec

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
_MAGIC = {2049: 1, 2051: 3}  # labels: 1 dimension; images: 3 dimensions


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) into a uint8 array, checking the header against the size."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a valid gzip file ({e}); it is truncated or corrupt. "
                        "Download it again.") from None
    if len(raw) < 8:
        raise DataError(f"{path} is too short ({len(raw)} bytes) to be an IDX file. Download it again.")
    magic, = struct.unpack(">i", raw[:4])
    if magic not in _MAGIC:
        raise DataError(f"{path} does not start with an IDX magic number (got {magic}; expected 2049 "
                        "for labels or 2051 for images). Is it the right file?")
    ndim = _MAGIC[magic]
    shape = struct.unpack(f">{ndim}i", raw[4: 4 + 4 * ndim])
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise DataError(f"{path} is truncated or corrupt: its header says {'x'.join(map(str, shape))} "
                        f"= {expected} bytes of data but it holds {len(raw) - offset}. Download it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _file(d: Path, name: str) -> Path:
    gz = d / f"{name}.gz"
    return gz if gz.is_file() else d / name


def _load(spec: DataSpec, seed: int, name: str, class_names: list[str], style: str) -> Dataset:
    d = find_data_dir(spec, FILES)
    x_tr, y_tr, x_te, y_te = (read_idx(_file(d, f)) for f in FILES)
    for x, y, kind in ((x_tr, y_tr, "train"), (x_te, y_te, "t10k")):
        if len(x) != len(y):
            raise DataError(f"{d}: {kind} images ({len(x)}) and labels ({len(y)}) differ in count. "
                            "One of the files is from another dataset; download both again.")
    x_tr = (x_tr.astype(np.float32) / 255.0)[:, None]
    x_te = (x_te.astype(np.float32) / 255.0)[:, None]
    data = image_dataset(name, x_tr, y_tr.astype(np.int64), spec, seed, class_names, style,
                         test=(x_te, y_te.astype(np.int64)))
    data.origin = str(d.resolve())
    return data


@SOURCES.register("mnist")
def load_mnist(spec: DataSpec, seed: int) -> Dataset:
    return _load(spec, seed, "mnist", [str(i) for i in range(10)], style="mnist")


@SOURCES.register("fashion-mnist")
def load_fashion_mnist(spec: DataSpec, seed: int) -> Dataset:
    return _load(spec, seed, "fashion-mnist", FASHION_CLASSES, style="resize")
