"""Your own images: one sub-folder per class, ``DIR/<class>/*.png`` (or .jpg, .jpeg, .bmp, .gif)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuroplast.data.base import SOURCES, Dataset
from neuroplast.data.images import image_dataset, read_image, resize
from neuroplast.errors import UserError
from neuroplast.spec import DataSpec

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


@SOURCES.register("folder")
def load_folder(spec: DataSpec, seed: int) -> Dataset:
    if spec.dir is None:
        raise UserError("data.source = 'folder' needs data.dir = 'DIR' with one sub-folder of images per class.")
    root = Path(spec.dir)
    if not root.is_dir():
        raise UserError(f"data.dir {root} is not a directory. Point it at a folder with one sub-folder per class.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(f, c) for c, name in enumerate(classes) for f in sorted((root / name).iterdir())
             if f.suffix.lower() in EXTENSIONS]
    if len(classes) < 2 or not files:
        raise UserError(f"{root} needs at least two class sub-folders with images ({', '.join(sorted(EXTENSIONS))}); "
                        f"found classes {classes} and {len(files)} images.")
    images = []
    for f, _ in files:
        a = resize(read_image(f, spec.channels), spec.image_size)
        images.append(a.reshape(*spec.image_size, -1).transpose(2, 0, 1))
    x = np.stack(images).astype(np.float32)
    y = np.array([c for _, c in files], dtype=np.int64)
    data = image_dataset(root.name, x, y, spec, seed, classes, style="resize")
    data.origin = str(root.resolve())
    return data
