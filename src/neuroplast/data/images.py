"""Image datasets from arrays, and the MNIST-style preprocessing of image files for prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

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
                   extra=split_rows(train, val, test_idx if test is None else
                                    "the official test set, every row" if len(test[1]) else []))  # or none


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
"""The image files that folders and ``predict`` read (any other suffix in a class folder is ignored)."""

MAX_IMAGE_SIDE = 4096
MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE
"""The most pixels an image may have to be decoded (4096 x 4096, about 16.8 million): checked on the header,
before any pixel is decoded, so that a small file claiming a huge size (an "image bomb") costs nothing."""


class ImageTooLarge(DataError):
    """An image whose header claims more than :data:`MAX_IMAGE_PIXELS` pixels: refused before decoding."""


def _pillow() -> Any:
    """Pillow, with its own bomb guard at our limit: ``Image.open`` raises ``DecompressionBombError`` for
    more than twice :data:`MAX_IMAGE_PIXELS` (and our header check refuses anything over it, so Pillow's
    warning between the two is silenced)."""
    import warnings

    from PIL import Image

    if Image.MAX_IMAGE_PIXELS != MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def read_image(source: str | Path | BinaryIO, channels: int = 1, name: str | None = None) -> np.ndarray:
    """Decode an image file (a path or an open binary file) into a float array in [0, 1], (H, W) for grayscale
    or (H, W, 3): every image file is read through here and :func:`decode_image`.

    The header's size is checked first: an image of more than :data:`MAX_IMAGE_PIXELS` pixels is an
    :class:`ImageTooLarge` error before anything is decoded; an unreadable one a
    :class:`~neuroplast.errors.DataError` naming ``name`` (default: the path)."""
    from PIL import UnidentifiedImageError

    Image = _pillow()
    name = name or f"image {source}"
    try:
        with Image.open(source) as im:  # reads the header only: the size is known, no pixel decoded yet
            check_size(im.size, name)
            im.load()
            return decode_image(im, channels)
    except FileNotFoundError:
        raise DataError(f"Image file {source} does not exist. Check the path.") from None
    except Image.DecompressionBombError as e:  # Pillow's own guard (twice our limit), raised by open
        raise ImageTooLarge(f"Refusing to decode {name}: {str(e).partition(',')[0]}; the limit is "
                            f"{MAX_IMAGE_PIXELS:,} ({MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}): downscale it first.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"Cannot decode {name} ({type(e).__name__}: {e}). "
                        f"Pass a valid image file ({', '.join(sorted(IMAGE_SUFFIXES))}).") from None


def check_size(size: tuple[int, int], name: str = "the image") -> None:
    """Refuse an image of ``size`` = (width, height) with more than :data:`MAX_IMAGE_PIXELS` pixels
    (:class:`ImageTooLarge`, naming the size and the limit)."""
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageTooLarge(f"Refusing to decode {name}: it is {width}x{height} pixels ({width * height:,}); "
                            f"the limit is {MAX_IMAGE_PIXELS:,} ({MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}): downscale it "
                            "first.")


def decode_image(im: Any, channels: int = 1) -> np.ndarray:
    """A Pillow image in any mode -> float array in [0, 1], (H, W) or (H, W, 3): turned upright as its EXIF
    orientation says; 16- and 32-bit grayscale scaled by their full range (65535), float images taken in
    [0, 1]; transparency (LA, RGBA, PA, a palette's transparent colour) composited over white paper;
    palette, CMYK, YCbCr, LAB, HSV and 1-bit converted by Pillow."""
    from PIL import Image, ImageOps

    im = ImageOps.exif_transpose(im) or im
    if im.mode.startswith("I") or im.mode == "F":  # I;16, I;16B, I;16L, I, F: wider than 8 bits
        a = np.asarray(im, dtype=np.float64)
        a = np.clip(a if im.mode == "F" else a / 65535.0, 0.0, 1.0).astype(np.float32)
        return a if channels == 1 else np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0


def resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an array in [0, 1] ((H, W) or (H, W, C)) to ``size`` = (H, W) with antialiasing."""
    from PIL import Image

    im = Image.fromarray(np.clip(a * 255.0, 0, 255).astype(np.uint8))
    im = im.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.float32) / 255.0


def otsu(values: np.ndarray) -> tuple[float, float, float]:
    """Otsu's threshold of ``values`` in [0, 1] (256 bins): the level that best splits them into two classes
    (maximal between-class variance). Returns (threshold, the two class means' distance, that distance over
    the within-class standard deviation); the last is 0 for a single level and about 2.7 for pure noise."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    p = hist / max(hist.sum(), 1)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)[:-1]
    mu = np.cumsum(p * centres)[:-1]
    total = float((p * centres).sum())
    w1 = 1.0 - w0
    ok = (w0 > 1e-12) & (w1 > 1e-12)
    if not ok.any():
        return float(values.mean()), 0.0, 0.0
    between = np.where(ok, (total * w0 - mu) ** 2 / np.where(ok, w0 * w1, 1.0), -1.0)
    k = int(np.argmax(between))
    m0, m1 = mu[k] / w0[k], (total - mu[k]) / w1[k]
    within = max(float((p * (centres - total) ** 2).sum()) - float(between[k]), 0.0)
    gap = float(m1 - m0)
    return float(edges[k + 1]), gap, (gap / np.sqrt(within) if within > 1e-12 else np.inf)


MIN_GAP = 0.08  # ink and paper differ by at least 8% of the full range
MIN_SEPARATION = 4.5  # ... and by 4.5 within-class standard deviations (noise or a lighting gradient: < 3.5)
TINY = 16  # images under 16 px a side are not median-filtered, and too few pixels measure the separation


def ink_of(gray: np.ndarray, name: str = "the image") -> np.ndarray:
    """The digit's ink in a photo, scan or drawing, bright on black in [0, 1], same size as ``gray`` (at
    most 512 px on its longer side): lightly denoised (3x3 median), thresholded at Otsu's level of the
    image's own histogram, ink taken to be the minority side (dark on light paper or light on dark), and
    only the largest connected ink stroke kept (with any other at least a fifth its size, for digits that
    the threshold breaks in two). An image with no such ink (blank, uniform, noise only, a lighting
    gradient, too small) is a :class:`~neuroplast.errors.DataError` "no digit found in NAME"."""
    from scipy import ndimage

    if min(gray.shape) < 4:
        raise DataError(f"no digit found in {name}: it is {gray.shape[1]}x{gray.shape[0]} pixels. "
                        "Pass a photo or scan of one digit.")
    if max(gray.shape) > 512:
        scale = 512 / max(gray.shape)
        gray = resize(gray, (max(4, round(gray.shape[0] * scale)), max(4, round(gray.shape[1] * scale))))
    tiny = min(gray.shape) < TINY  # a scan such as scikit-learn's 8x8 digits: strokes one pixel wide
    a = gray.astype(np.float32) if tiny else ndimage.median_filter(gray.astype(np.float32), size=3, mode="nearest")
    threshold, gap, separation = otsu(a)
    dark = a < threshold
    dark_ink = dark.mean() <= 0.5  # the ink is the minority side of the threshold, the paper the rest
    ink = dark if dark_ink else ~dark
    if gap < MIN_GAP or (separation < MIN_SEPARATION and not tiny) or not ink.any():
        raise DataError(f"no digit found in {name}: its pixels do not split into ink and paper (contrast "
                        f"{gap:.2f}, separation {separation:.1f} < {MIN_SEPARATION}). Pass a photo or scan of "
                        "one dark digit on light paper (or a light one on dark).")
    labels, count = ndimage.label(ndimage.binary_dilation(ink, iterations=1), structure=np.ones((3, 3)))
    sizes = np.bincount(labels[ink], minlength=count + 1)
    keep = np.isin(labels, np.flatnonzero(sizes >= max(sizes.max() / 5, 1)))
    depth = (paper_plane(a, ink) - a) * (1 if dark_ink else -1)  # how far from the (unevenly lit) paper
    full = float(np.percentile(depth[ink], 90)) or 1.0  # the ink's own darkness: full intensity
    out = np.clip(depth / full, 0.0, 1.0)
    keep = ndimage.binary_dilation(keep, iterations=2)  # the strokes' soft edges, as MNIST's have
    return np.where(keep, out, 0.0).astype(np.float32)


def paper_plane(a: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The paper's brightness under uneven light: a plane fitted (least squares) to the pixels that are not
    ink, evaluated everywhere."""
    ys, xs = np.indices(a.shape, dtype=np.float64)
    design = np.stack([np.ones(a.size), ys.ravel() / a.shape[0], xs.ravel() / a.shape[1]], axis=1)
    paper = ~ink.ravel()
    step = max(1, int(paper.sum()) // 20000)  # a subsample is plenty for three numbers
    coef = np.linalg.lstsq(design[paper][::step], a.ravel()[paper][::step].astype(np.float64), rcond=None)[0]
    return (design @ coef).reshape(a.shape).astype(np.float32)


def mnist_style(gray: np.ndarray, canvas: int = 28, box: int = 20, by_mass: bool = True,
                name: str = "the image") -> np.ndarray:
    """Turn a grayscale photo or drawing of a digit into MNIST's format.

    The ink is found (:func:`ink_of`: bright on black whichever way round the image is), cropped to its
    bounding box, scaled so its longer side fits ``box`` pixels, and placed in a ``canvas``-sized square,
    centred by centre of mass (MNIST) or by bounding box (8x8 digits, ``by_mass=False``).
    """
    a = ink_of(gray, name)
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    a = a[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
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


def framed(raw: np.ndarray, style: str, size: tuple[int, int], name: str = "the image") -> np.ndarray:
    """A decoded image in [0, 1] (any size) framed as a model of ``style`` saw its training images, at
    ``size`` = (H, W): MNIST-style centring (``"mnist"``), the ink filling the frame (``"digits"``; both
    grayscale and square), or a plain resize. A digit style refuses an image with no ink in it ("no digit
    found in NAME", a :class:`~neuroplast.errors.DataError`) rather than calling it a class."""
    height, width = size
    if style in ("mnist", "digits") and (raw.ndim != 2 or height != width):
        raise DataError(f"style {style!r} frames one grayscale digit in a square; received an image of shape "
                        f"{raw.shape} for size {size}. Use channels = 1 and a square image_size, or style 'resize'.")
    if style == "mnist" and _already_mnist_format(raw, height, width) and float(raw.max()) >= 0.25:
        return raw  # e.g. an MNIST test image saved as PNG: resampling it again would only blur it
    if style == "mnist":
        return mnist_style(raw, canvas=height, box=round(height * 20 / 28), name=name)
    if style == "digits":
        return mnist_style(raw, canvas=height, box=height, by_mass=False, name=name)
    return resize(raw, (height, width))


def image_to_input(path: str | Path, preprocess: dict[str, Any]) -> torch.Tensor:
    """Read an image file and apply the run's preprocessing: returns a (1, C, H, W) tensor."""
    return array_to_input(read_image(path, preprocess["shape"][0]), preprocess, name=str(path))


def array_to_input(raw: np.ndarray, preprocess: dict[str, Any], name: str = "the image") -> torch.Tensor:
    """A decoded image in [0, 1] ((H, W) or (H, W, 3), any size) -> the run's (1, C, H, W) input:
    MNIST-style centring for digit models, a plain resize otherwise, then the training standardization."""
    channels, height, width = preprocess["shape"]
    a = framed(raw, preprocess["style"], (height, width), name).reshape(height, width, -1).transpose(2, 0, 1)
    return torch.from_numpy((a - preprocess["mean"]) / preprocess["std"]).float().unsqueeze(0)
