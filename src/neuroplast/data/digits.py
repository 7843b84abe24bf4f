"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download): the default data."""

from __future__ import annotations

import numpy as np

from neuroplast.data.base import SOURCES, Dataset
from neuroplast.data.images import image_dataset
from neuroplast.spec import DataSpec


@SOURCES.register("digits")
def load_digits(spec: DataSpec, seed: int) -> Dataset:
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8), ink in [0, 1]
    return image_dataset("digits", x, bunch.target.astype(np.int64), spec, seed,
                         [str(i) for i in range(10)], style="digits")
