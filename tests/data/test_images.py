"""Image folders and MNIST-style preprocessing of raw pictures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from neuroplast.data import load_dataset
from neuroplast.data.images import mnist_style
from neuroplast.errors import DataError
from neuroplast.spec import DataSpec


def test_image_folder_and_an_undecodable_image(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (12, 10), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    data = load_dataset(DataSpec(source="folder", dir=tmp_path, image_size=(16, 16)), seed=0)
    assert data.class_names == ["cat", "dog"] and data.input_shape == (1, 16, 16)
    (tmp_path / "dog" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"Cannot decode image .*broken\.png"):
        load_dataset(DataSpec(source="folder", dir=tmp_path), seed=0)



def test_mnist_style_crops_scales_and_centres_by_mass() -> None:
    page = np.ones((100, 80), dtype=np.float32)  # white paper
    page[10:60, 50:60] = 0.0  # a dark vertical stroke, off-centre
    out = mnist_style(page)
    assert out.shape == (28, 28)
    rows, cols = np.nonzero(out > 0.5)
    assert rows.max() - rows.min() + 1 == 20  # the longer side fits the 20-pixel box
    ys, xs = np.indices(out.shape)
    assert abs((ys * out).sum() / out.sum() - 13.5) <= 0.5 and abs((xs * out).sum() / out.sum() - 13.5) <= 0.5



def test_an_image_already_in_mnist_format_is_taken_as_it_is(tmp_path) -> None:
    from PIL import Image

    from neuroplast.data.images import image_to_input

    a = np.zeros((28, 28), np.uint8)
    a[5:23, 12:16] = 255  # a bright "1", off-centre, on black: MNIST's own format
    a[5:8, 9:12] = 128
    Image.fromarray(a).save(tmp_path / "one.png")
    pre = {"style": "mnist", "shape": [1, 28, 28], "mean": 0.13, "std": 0.31}
    x = image_to_input(tmp_path / "one.png", pre)
    assert torch.allclose(x[0, 0], (torch.from_numpy(a / 255.0).float() - 0.13) / 0.31, atol=1e-6)
    Image.fromarray(255 - a).save(tmp_path / "paper.png")  # dark ink on white: re-centred as a drawing
    assert not torch.allclose(image_to_input(tmp_path / "paper.png", pre), x, atol=1e-3)
