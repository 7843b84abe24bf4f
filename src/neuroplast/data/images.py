"""Image datasets from arrays, and the MNIST-style preprocessing of image files for prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast.data.base import Dataset, split_indices, split_rows, to_tensors
from neuroplast.errors import DataError
from neuroplast.spec import DataSpec


def image_dataset(name: str, x: np.ndarray, y: np.ndarray, spec: DataSpec, seed: int,
                  class_names: list[str], style: str,
                  test: tuple[np.ndarray, np.ndarray] | None = None) -> Dataset:
    """Split images ``x`` (N, C, H, W) in [0, 1] and standardize them with training-split statistics
    (or with ``spec.normalize``, a fine-tuned run's parent's).

    ``style`` says how a raw image file becomes such an array at prediction time: ``"mnist"`` (28x28
    digit centred by mass), ``"digits"`` (8x8, ink fills the frame) or ``"resize"``.
    """
    train, val, test_idx = split_indices(y, spec, seed, stratify=True, with_test=test is None)
    x_test, y_test = (x[test_idx], y[test_idx]) if test is None else test
    if spec.normalize is not None:
        mean, std = map(float, spec.normalize)
    else:
        mean = float(x[train].mean())
        std = float(x[train].std()) or 1.0

    def norm(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) - mean) / std

    xs = [to_tensors(norm(x[i]), y[i], "classification") for i in (train, val)]
    xt = to_tensors(norm(x_test), y_test, "classification")
    preprocess: dict[str, Any] = {"kind": "image", "style": style, "shape": list(x.shape[1:]),
                                  "mean": mean, "std": std}
    return Dataset(name, "classification", xs[0][0], xs[0][1], xs[1][0], xs[1][1], xt[0], xt[1],
                   class_names=class_names, preprocess=preprocess,
                   extra=split_rows(train, val, test_idx if test is None else "the official test set, every row"))


def read_image(path: str | Path, channels: int = 1) -> np.ndarray:
    """Decode an image file into a float array in [0, 1], (H, W) for grayscale or (H, W, 3)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            return np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise DataError(f"Image file {path} does not exist. Check the path.") from None
    except Image.DecompressionBombError as e:  # Pillow's guard against images that would fill memory
        raise DataError(f"Image {path} is too large to decode ({e}); downscale it first.") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"Cannot decode image {path} ({type(e).__name__}: {e}). "
                        "Pass a valid PNG or JPEG file.") from None


def resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an array in [0, 1] ((H, W) or (H, W, C)) to ``size`` = (H, W) with antialiasing."""
    from PIL import Image

    im = Image.fromarray(np.clip(a * 255.0, 0, 255).astype(np.uint8))
    im = im.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.float32) / 255.0


def mnist_style(gray: np.ndarray, canvas: int = 28, box: int = 20, by_mass: bool = True) -> np.ndarray:
    """Turn a grayscale photo or drawing of a digit into MNIST's format.

    Light background is inverted (ink becomes bright), the image is cropped to the ink's bounding
    box, scaled so its longer side fits ``box`` pixels, and placed in a ``canvas``-sized square,
    centred by centre of mass (MNIST) or by bounding box (8x8 digits, ``by_mass=False``).
    """
    a = gray if gray.dtype == np.float32 else gray.astype(np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    dark_ink = border.mean() > 0.5  # light paper: ink is what is darker than the paper
    paper = float(np.median(border))
    peak = paper - float(a.min()) if dark_ink else float(a.max()) - paper
    if peak <= 0:
        return np.zeros((canvas, canvas), dtype=np.float32)
    # the ink's bounding box (ink: more than 10% of the peak away from the paper), found before any
    # full-size arithmetic so that the float work below runs on the crop only
    ink = a < paper - 0.1 * peak if dark_ink else a > paper + 0.1 * peak
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    a = a[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    a = np.clip((paper - a) if dark_ink else (a - paper), 0.0, None) / peak  # ink bright, in [0, 1]
    h, w = a.shape
    scale = box / max(h, w)
    a = resize(a, (max(1, round(h * scale)), max(1, round(w * scale))))
    out = np.zeros((canvas, canvas), dtype=np.float32)
    h, w = a.shape
    top, left = (canvas - h) // 2, (canvas - w) // 2
    out[top: top + h, left: left + w] = a
    if by_mass and out.sum() > 0:
        ys, xs = np.indices(out.shape)
        dy = int(round(canvas / 2 - 0.5 - (ys * out).sum() / out.sum()))
        dx = int(round(canvas / 2 - 0.5 - (xs * out).sum() / out.sum()))
        out = np.roll(out, (dy, dx), axis=(0, 1))
    return out


def _already_mnist_format(gray: np.ndarray, height: int, width: int) -> bool:
    """A grayscale image of exactly the model's size on a black background (its four 3x3 corners
    black), as MNIST's own images are: taken as it is rather than re-centred and resampled. Photos
    and drawings of any other size, or dark ink on light paper, are not."""
    if gray.ndim != 2 or gray.shape != (height, width) or min(height, width) < 6:
        return False
    corners = np.concatenate([gray[:3, :3], gray[:3, -3:], gray[-3:, :3], gray[-3:, -3:]]).ravel()
    return float(corners.max()) < 0.05


def framed(raw: np.ndarray, style: str, size: tuple[int, int]) -> np.ndarray:
    """A decoded image in [0, 1] (any size) framed as a model of ``style`` saw its training images, at
    ``size`` = (H, W): MNIST-style centring (``"mnist"``), the ink filling the frame (``"digits"``; both
    grayscale and square), or a plain resize."""
    height, width = size
    if style in ("mnist", "digits") and (raw.ndim != 2 or height != width):
        raise DataError(f"style {style!r} frames one grayscale digit in a square; received an image of shape "
                        f"{raw.shape} for size {size}. Use channels = 1 and a square image_size, or style 'resize'.")
    if style == "mnist" and _already_mnist_format(raw, height, width):
        return raw  # e.g. an MNIST test image saved as PNG: resampling it again would only blur it
    if style == "mnist":
        return mnist_style(raw, canvas=height, box=round(height * 20 / 28))
    if style == "digits":
        return mnist_style(raw, canvas=height, box=height, by_mass=False)
    return resize(raw, (height, width))


def image_to_input(path: str | Path, preprocess: dict[str, Any]) -> torch.Tensor:
    """Read an image file and apply the run's preprocessing: returns a (1, C, H, W) tensor."""
    return array_to_input(read_image(path, preprocess["shape"][0]), preprocess)


def array_to_input(raw: np.ndarray, preprocess: dict[str, Any]) -> torch.Tensor:
    """A decoded image in [0, 1] ((H, W) or (H, W, 3), any size) -> the run's (1, C, H, W) input:
    MNIST-style centring for digit models, a plain resize otherwise, then the training standardization."""
    channels, height, width = preprocess["shape"]
    a = framed(raw, preprocess["style"], (height, width)).reshape(height, width, -1).transpose(2, 0, 1)
    return torch.from_numpy((a - preprocess["mean"]) / preprocess["std"]).float().unsqueeze(0)
