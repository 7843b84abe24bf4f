"""Your own images: one sub-folder per class, ``DIR/<class>/*.png`` (or .jpg, .jpeg, .bmp, .gif, .webp, .tif,
.tiff); optionally a second such folder (``data.test_dir``) that is the test split whole."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from neuroplast.data.base import SOURCES, Dataset
from neuroplast.data.images import IMAGE_SUFFIXES, framed, image_dataset, read_image
from neuroplast.errors import DataError, UserError
from neuroplast.spec import DataSpec

log = logging.getLogger(__name__)

EXTENSIONS = IMAGE_SUFFIXES
SHOWN = 5  # undecodable files named in the error; the rest are counted


@SOURCES.register("folder")
def load_folder(spec: DataSpec, seed: int) -> Dataset:
    if spec.dir is None:
        raise UserError("data.source = 'folder' needs data.dir = 'DIR' with one sub-folder of images per class.")
    root = Path(spec.dir)
    x, y, classes, paths = read_folder(root, spec, "data.dir")
    test, test_paths = None, None
    if spec.test_dir is not None:
        x_test, y_test, test_classes, test_paths = read_folder(Path(spec.test_dir), spec, "data.test_dir")
        if test_classes != classes:
            raise UserError(f"data.test_dir {spec.test_dir} has the classes {test_classes}; data.dir {root} has "
                            f"{classes}. Give both folders the same class sub-folders.")
        test = (x_test, y_test)
    data = image_dataset(root.name, x, y, spec, seed, classes, style=spec.style or "resize", test=test)
    data.origin = str(root.resolve())
    rows = data.extra["rows"]  # split.json: the image files, relative to data.dir (the test's to data.test_dir)
    data.extra["rows"] = {split: test_paths if test_paths is not None and split == "test"
                          else [paths[i] for i in rows[split]] for split in rows}
    return data


def read_folder(root: Path, spec: DataSpec,
                key: str = "data.dir") -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """The images of ``root/<class>/*`` framed as ``spec.style`` says at ``spec.image_size``, as (N, C, H, W)
    in [0, 1], their class indices, the class names (the sub-folders, sorted) and each image's path relative
    to ``root`` (``class/file.png``, POSIX separators).

    A class folder without images is an error naming it. Files that cannot be decoded are all named in one
    error, or, with ``spec.skip_bad_files``, skipped with their count logged."""
    if not root.is_dir():
        raise UserError(f"{key} {root} is not a directory. Point it at a folder with one sub-folder per class.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(f, c) for c, name in enumerate(classes) for f in sorted((root / name).iterdir())
             if f.suffix.lower() in EXTENSIONS and f.is_file()]
    if len(classes) < 2 or not files:
        raise UserError(f"{root} needs at least two class sub-folders with images ({', '.join(sorted(EXTENSIONS))}); "
                        f"found classes {classes} and {len(files)} images.")
    _check_classes(root, classes, {c for _, c in files}, "has no images")
    images, labels, kept, bad = [], [], [], []
    for f, c in files:
        try:
            a = framed(read_image(f, spec.channels), spec.style or "resize", spec.image_size, name=str(f))
        except DataError as e:
            bad.append((f, str(e)))
            continue
        images.append(a.reshape(*spec.image_size, -1).transpose(2, 0, 1))
        labels.append(c)
        kept.append(f.relative_to(root).as_posix())
    if bad and not spec.skip_bad_files:
        shown = "; ".join(reason for _, reason in bad[:SHOWN])
        more = f" (and {len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
        raise DataError(f"{len(bad)} of the {len(files)} images under {root} cannot be used: {shown}{more}. "
                        "Fix or remove these files, or set data.skip_bad_files = true to skip them.")
    if bad:
        log.warning("Skipped %d of the %d images under %s that cannot be used (data.skip_bad_files), e.g. %s",
                    len(bad), len(files), root, bad[0][0])
        _check_classes(root, classes, set(labels), "has no usable images once the bad files are skipped")
    return np.stack(images).astype(np.float32), np.array(labels, dtype=np.int64), classes, kept


def _check_classes(root: Path, classes: list[str], present: set[int], what: str) -> None:
    """A class sub-folder without images would train a class that never occurs: an error naming each."""
    empty = [name for c, name in enumerate(classes) if c not in present]
    if empty:
        raise UserError(f"Class folder{'s' if len(empty) > 1 else ''} {', '.join(str(root / n) for n in empty)} "
                        f"{what} ({', '.join(sorted(EXTENSIONS))}). Add images to "
                        f"{'them' if len(empty) > 1 else 'it'} or remove {'them' if len(empty) > 1 else 'it'}.")
