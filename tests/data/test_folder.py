"""The folder source: one sub-folder of images per class, and a second folder as the whole test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuroplast.data import load_dataset
from neuroplast.errors import UserError
from neuroplast.spec import DataSpec


def _folder(root: Path, classes: tuple[str, ...], count: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (6, 6), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_a_test_folder_is_the_whole_test_split_and_the_training_folder_keeps_every_image(tmp_path) -> None:
    train = _folder(tmp_path / "train", ("a", "b"), 10, seed=0)
    test = _folder(tmp_path / "test", ("a", "b"), 3, seed=1)
    data = load_dataset(DataSpec(source="folder", dir=train, test_dir=test, val_fraction=0.0, image_size=(6, 6),
                                 normalize=(0.5, 0.25)), seed=0)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (20, 0, 6)
    assert data.y_test.tolist() == [0, 0, 0, 1, 1, 1]
    by_hand = (np.asarray(Image.open(test / "b" / "2.png"), dtype=np.float32) / 255 - 0.5) / 0.25  # same size
    torch.testing.assert_close(data.x_test[5, 0], torch.from_numpy(by_hand), atol=1e-5, rtol=0)
    assert (data.preprocess["mean"], data.preprocess["std"]) == (0.5, 0.25)


def test_a_test_folder_with_other_classes_is_refused(tmp_path) -> None:
    train = _folder(tmp_path / "train", ("a", "b"), 4, seed=0)
    test = _folder(tmp_path / "test", ("a", "c"), 2, seed=1)
    with pytest.raises(UserError, match=r"data.test_dir .*test has the classes \['a', 'c'\]; data.dir .*train has "
                                        r"\['a', 'b'\]\. Give both folders the same class sub-folders\."):
        load_dataset(DataSpec(source="folder", dir=train, test_dir=test), seed=0)
    with pytest.raises(UserError, match=r"data.test_dir .*nowhere is not a directory"):
        load_dataset(DataSpec(source="folder", dir=train, test_dir=tmp_path / "nowhere"), seed=0)


def test_style_mnist_frames_each_image_as_mnist_digits_are(tmp_path) -> None:
    page = np.full((60, 40), 255, dtype=np.uint8)  # dark ink on white paper, off-centre, 30 px tall
    page[5:35, 3:13] = 0
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for name in ("a", "b"):
        for i in range(3):
            Image.fromarray(page).save(tmp_path / name / f"{i}.png")
    x = load_dataset(DataSpec(source="folder", dir=tmp_path, style="mnist", normalize=(0.0, 1.0)), seed=0).x_train
    ink = x[0, 0].numpy()
    rows, cols = np.nonzero(ink > 0.5)
    assert ink.shape == (28, 28) and rows.max() - rows.min() + 1 == 20  # the longer side scaled into 20 px
    ys, xs = np.indices(ink.shape)
    centre = ((ys * ink).sum() / ink.sum(), (xs * ink).sum() / ink.sum())
    assert centre == pytest.approx((13.5, 13.5), abs=1.0)  # centred by mass, ink bright on black
    with pytest.raises(UserError, match=r"style 'mnist' frames one grayscale digit in a square"):
        load_dataset(DataSpec(source="folder", dir=tmp_path, style="mnist", channels=3), seed=0)


def test_split_rows_of_a_folder_are_its_image_files(tmp_path) -> None:
    """split.json for an image folder: each split's files relative to data.dir, in the order the split holds
    them (the oracle: each file's class folder is its label in the split)."""
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (10, 10), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    data = load_dataset(DataSpec(source="folder", dir=tmp_path, image_size=(8, 8)))
    rows = data.extra["rows"]
    assert sorted(rows["train"] + rows["val"] + rows["test"]) == sorted(
        f"{name}/{i}.png" for name in ("cat", "dog") for i in range(12))
    for split in ("train", "val", "test"):
        labels = getattr(data, f"y_{split}").tolist()
        assert [data.class_names[c] for c in labels] == [path.split("/")[0] for path in rows[split]]
