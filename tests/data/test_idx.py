"""MNIST-style IDX files: the real files, the data folder, and damaged files named clearly."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch

from neuroplast.data import load_dataset
from neuroplast.data.idx import read_idx
from neuroplast.errors import DataError, UserError
from neuroplast.spec import DataSpec


def test_mnist_from_the_real_idx_files(mnist_dir: Path) -> None:
    data = load_dataset(DataSpec(source="mnist", dir=mnist_dir, val_fraction=0.1), seed=0)
    assert data.x_test.shape == (10000, 1, 28, 28) and len(data.x_train) == 54000
    assert data.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the official test set, in order
    assert torch.bincount(data.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(data.preprocess["mean"] - 0.1307) < 2e-3



def test_data_dir_from_environment_parent_folder(mnist_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("NEUROPLAST_DATA", str(mnist_dir.parent))
    origin = load_dataset(DataSpec(source="mnist", max_train_samples=10), seed=0).origin
    assert Path(origin) == mnist_dir.resolve()



def test_missing_data_dir_names_the_files_and_the_places(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NEUROPLAST_DATA", raising=False)
    with pytest.raises(UserError, match=r"mnist: expected the files train-images-idx3-ubyte\[\.gz\].*"
                                        r"looked in .*empty.*--data-dir"):
        load_dataset(DataSpec(source="mnist", dir=tmp_path / "empty"), seed=0)



def _copy_mnist(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.glob("*.gz"):
        shutil.copy(f, dst / f.name)
    return dst



def test_truncated_idx_file(mnist_dir: Path, tmp_path) -> None:
    d = _copy_mnist(mnist_dir, tmp_path / "m")
    raw = gzip.decompress((d / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    (d / "t10k-labels-idx1-ubyte").write_bytes(raw[:5000])  # raw IDX, cut short
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte is truncated or corrupt: its header says "
                                        r"10000 = 10000 bytes of data but it holds 4992\. Download it again"):
        load_dataset(DataSpec(source="mnist", dir=d), seed=0)



def test_corrupt_gzip_file(mnist_dir: Path, tmp_path) -> None:
    d = _copy_mnist(mnist_dir, tmp_path / "m")
    blob = (d / "t10k-images-idx3-ubyte.gz").read_bytes()
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is not a valid gzip file.*Download it again"):
        load_dataset(DataSpec(source="mnist", dir=d), seed=0)



def test_read_idx_rejects_a_wrong_magic_number(tmp_path) -> None:
    (tmp_path / "x").write_bytes(b"\x00\x00\x00\x07" + bytes(20))
    with pytest.raises(DataError, match="IDX magic number"):
        read_idx(tmp_path / "x")
