"""Image files in every mode Pillow reads decode to the pixels that were written; folders read .webp and .tif,
refuse an empty class folder and list every undecodable file together (or skip them, counted)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuroplast.data import load_dataset
from neuroplast.data.images import read_image
from neuroplast.data.inputs import to_inputs
from neuroplast.errors import DataError, UserError
from neuroplast.spec import DataSpec

RESIZE = {"kind": "image", "style": "resize", "shape": [1, 2, 3], "mean": 0.0, "std": 1.0}


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grayscale_is_scaled_by_its_full_range(tmp_path: Path, suffix: str) -> None:
    a = np.array([[0, 1000, 30000], [40000, 65000, 65535]], dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / f"deep{suffix}")
    assert Image.open(tmp_path / f"deep{suffix}").mode.startswith("I")
    np.testing.assert_allclose(read_image(tmp_path / f"deep{suffix}"), a / 65535.0, atol=1e-6)
    np.testing.assert_allclose(read_image(tmp_path / f"deep{suffix}", 3), np.repeat(a[..., None] / 65535.0, 3, 2),
                               atol=1e-6)


def test_palette_and_cmyk_decode_to_their_colours(tmp_path: Path) -> None:
    colours = np.array([[255, 0, 0], [0, 0, 255], [10, 200, 30]], dtype=np.uint8)
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    im = Image.fromarray(index, "P")
    im.putpalette(colours.ravel().tolist())
    im.save(tmp_path / "palette.png")
    np.testing.assert_allclose(read_image(tmp_path / "palette.png", 3), colours[index] / 255.0, atol=1e-6)
    # CMYK inks where every convention agrees: none -> white, cyan -> (0, 1, 1), magenta, black
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0]], [[0, 255, 0, 0], [0, 0, 0, 255]]], dtype=np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "print.tif")
    rgb = np.array([[[1, 1, 1], [0, 1, 1]], [[1, 0, 1], [0, 0, 0]]], dtype=np.float32)
    np.testing.assert_allclose(read_image(tmp_path / "print.tif", 3), rgb, atol=1e-6)


def test_transparency_is_composited_over_white_paper(tmp_path: Path) -> None:
    gray, alpha = np.array([[0, 0, 100]], np.uint8), np.array([[255, 0, 128]], np.uint8)
    Image.fromarray(np.stack([gray, alpha], -1), "LA").save(tmp_path / "la.png")
    by_hand = (gray * (alpha / 255.0) + 255 * (1 - alpha / 255.0)) / 255.0  # ink over white, by its opacity
    np.testing.assert_allclose(read_image(tmp_path / "la.png"), by_hand, atol=1.5 / 255)
    rgba = np.array([[[200, 10, 10, 255], [0, 0, 0, 0], [0, 0, 255, 64]]], np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    opacity = rgba[..., 3:] / 255.0
    np.testing.assert_allclose(read_image(tmp_path / "rgba.png", 3), (rgba[..., :3] * opacity + 255 * (1 - opacity))
                               / 255.0, atol=1.5 / 255)
    index = np.array([[0, 1]], np.uint8)  # a palette image whose colour 0 is transparent
    im = Image.fromarray(index, "P")
    im.putpalette([0, 0, 0, 0, 0, 0])
    im.save(tmp_path / "p.png", transparency=0)
    np.testing.assert_allclose(read_image(tmp_path / "p.png"), [[1.0, 0.0]], atol=1e-6)


def test_exif_orientation_turns_the_photo_upright(tmp_path: Path) -> None:
    a = np.array([[0, 50, 100], [150, 200, 250]], np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(a).save(tmp_path / "phone.png", exif=exif)
    np.testing.assert_allclose(read_image(tmp_path / "phone.png"), np.rot90(a, k=-1) / 255.0, atol=1e-6)


def test_webp_and_tif_are_read_in_folders_and_at_predict_time(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = {}
    for cls, suffix in (("a", ".webp"), ("b", ".tif"), ("b", ".tiff")):
        (tmp_path / cls).mkdir(exist_ok=True)
        for i in range(3):
            pixels[cls, suffix, i] = rng.integers(0, 255, (2, 3), dtype=np.uint8)
            Image.fromarray(pixels[cls, suffix, i]).save(tmp_path / cls / f"{i}{suffix}", lossless=True)
    data = load_dataset(DataSpec(source="folder", dir=tmp_path, image_size=(2, 3), val_fraction=0.0,
                                 test_fraction=0.5, normalize=(0.0, 1.0)), seed=0)
    assert len(data.x_train) + len(data.x_test) == 9 and data.class_names == ["a", "b"]
    x = to_inputs([tmp_path / "a" / "1.webp", tmp_path / "b" / "2.tiff"], RESIZE)
    np.testing.assert_allclose(x[:, 0].numpy(), np.stack([pixels["a", ".webp", 1], pixels["b", ".tiff", 2]]) / 255.0,
                               atol=1e-6)


def _folder(root: Path, counts: dict[str, int]) -> Path:
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_an_empty_class_folder_is_named(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d", {"cat": 3, "dog": 0, "emu": 2})
    (root / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(UserError, match=r"^Class folder .*dog has no images \(.*\)\. Add images to it or remove it"):
        load_dataset(DataSpec(source="folder", dir=root), seed=0)


def test_every_undecodable_file_is_listed_together_or_skipped_with_a_count(tmp_path: Path, caplog) -> None:
    root = _folder(tmp_path / "d", {"a": 4, "b": 4})
    for i in range(7):
        (root / "ab"[i % 2] / f"bad{i}.jpg").write_bytes(b"\xff\xd8 not really a jpeg " * i)
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec(source="folder", dir=root), seed=0)
    message = str(e.value)
    assert message.startswith("7 of the 15 images under ") and "\n" not in message
    assert sum(f"bad{i}.jpg" in message for i in range(7)) == 5 and "(and 2 more)" in message
    assert message.endswith("Fix or remove these files, or set data.skip_bad_files = true to skip them.")
    with caplog.at_level(logging.WARNING, logger="neuroplast.data.folder"):
        data = load_dataset(DataSpec(source="folder", dir=root, skip_bad_files=True, val_fraction=0.0,
                                     test_fraction=0.25), seed=0)
    assert len(data.x_train) + len(data.x_test) == 8
    assert any("Skipped 7 of the 15 images" in r.getMessage() for r in caplog.records)
    for f in (root / "b").glob("[0-9].png"):
        f.unlink()  # class b now holds only bad files: skipping them leaves it empty
    with pytest.raises(UserError, match=r"b has no usable images once the bad files are skipped"):
        load_dataset(DataSpec(source="folder", dir=root, skip_bad_files=True), seed=0)
