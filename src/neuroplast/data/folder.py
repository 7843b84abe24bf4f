"""Your own images: one sub-folder per class, ``DIR/<class>/*.png`` (or .jpg, .jpeg, .bmp, .gif); optionally
a second such folder (``data.test_dir``) that is the test split whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuroplast.data.base import SOURCES, Dataset
from neuroplast.data.images import framed, image_dataset, read_image
from neuroplast.errors import UserError
from neuroplast.spec import DataSpec

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


@SOURCES.register("folder")
def load_folder(spec: DataSpec, seed: int) -> Dataset:
    if spec.dir is None:
        raise UserError("data.source = 'folder' needs data.dir = 'DIR' with one sub-folder of images per class.")
    root = Path(spec.dir)
    x, y, classes = read_folder(root, spec, "data.dir")
    test = None
    if spec.test_dir is not None:
        x_test, y_test, test_classes = read_folder(Path(spec.test_dir), spec, "data.test_dir")
        if test_classes != classes:
            raise UserError(f"data.test_dir {spec.test_dir} has the classes {test_classes}; data.dir {root} has "
                            f"{classes}. Give both folders the same class sub-folders.")
        test = (x_test, y_test)
    data = image_dataset(root.name, x, y, spec, seed, classes, style=spec.style or "resize", test=test)
    data.origin = str(root.resolve())
    return data


def read_folder(root: Path, spec: DataSpec, key: str = "data.dir") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The images of ``root/<class>/*`` framed as ``spec.style`` says at ``spec.image_size``, as (N, C, H, W)
    in [0, 1], their class indices, and the class names (the sub-folders, sorted)."""
    if not root.is_dir():
        raise UserError(f"{key} {root} is not a directory. Point it at a folder with one sub-folder per class.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(f, c) for c, name in enumerate(classes) for f in sorted((root / name).iterdir())
             if f.suffix.lower() in EXTENSIONS]
    if len(classes) < 2 or not files:
        raise UserError(f"{root} needs at least two class sub-folders with images ({', '.join(sorted(EXTENSIONS))}); "
                        f"found classes {classes} and {len(files)} images.")
    images = []
    for f, _ in files:
        a = framed(read_image(f, spec.channels), spec.style or "resize", spec.image_size)
        images.append(a.reshape(*spec.image_size, -1).transpose(2, 0, 1))
    return np.stack(images).astype(np.float32), np.array([c for _, c in files], dtype=np.int64), classes
