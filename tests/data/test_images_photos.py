"""Digits photographed on paper: MNIST test digits drawn as dark ink on grey, unevenly lit paper with sensor
noise, blur and JPEG compression, then predicted from the JPEG files by an MNIST model; and images with no digit
refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from neuroplast.data.idx import read_idx
from neuroplast.data.inputs import to_inputs
from neuroplast.errors import DataError

PHOTOS = 50


def mnist_cnn(mnist_dir: Path, count: int = 12000, epochs: int = 2) -> tuple[torch.nn.Module, dict]:
    """A small CNN trained on the first ``count`` MNIST training digits (a plain torch loop, 1 thread) and the
    preprocessing a neuroplast MNIST run records (style "mnist", training mean and std)."""
    x = read_idx(mnist_dir / "train-images-idx3-ubyte.gz")[:count].astype(np.float32) / 255.0
    y = torch.from_numpy(read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")[:count].astype(np.int64))
    mean, std = float(x.mean()), float(x.std())
    xt = torch.from_numpy((x - mean) / std)[:, None]
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for idx in torch.randperm(count).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    return model, {"kind": "image", "style": "mnist", "shape": [1, 28, 28], "mean": mean, "std": std}


def photograph(digit: np.ndarray, rng: np.random.Generator, path: Path) -> Path:
    """An MNIST digit (28x28, bright ink on black) as a JPEG photo: scaled to 200x200, dark ink on grey paper
    (150-200 of 255) at a random place on a larger page, lit unevenly (a linear gradient), with Gaussian sensor
    noise, a blur and JPEG compression at quality 60-85."""
    ink = np.asarray(Image.fromarray(digit).resize((200, 200), Image.Resampling.BICUBIC), np.float32) / 255.0
    h, w = rng.integers(220, 300, size=2)
    page = np.zeros((h, w), np.float32)
    top, left = rng.integers(0, h - 200), rng.integers(0, w - 200)
    page[top: top + 200, left: left + 200] = np.clip(ink, 0.0, 1.0)
    paper = rng.uniform(150, 200)
    ys, xs = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + rng.uniform(0.1, 0.25) * ((ys - 0.5) * np.sin(angle) + (xs - 0.5) * np.cos(angle))
    photo = paper * light * (1.0 - rng.uniform(0.6, 0.8) * page) + rng.normal(0.0, 8.0, (h, w))
    im = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.6)))
    im.convert("RGB").save(path, quality=int(rng.integers(60, 86)))
    return path


def test_digits_photographed_on_paper_are_read_as_their_clean_scans(mnist_dir: Path, tmp_path: Path) -> None:
    model, preprocess = mnist_cnn(mnist_dir)
    digits = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")[:PHOTOS]
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")[:PHOTOS]
    rng = np.random.default_rng(19)
    files = [photograph(d, rng, tmp_path / f"{i}.jpg") for i, d in enumerate(digits)]
    with torch.no_grad():
        clean = model(to_inputs(digits.astype(np.float32)[:, None] / 255.0, preprocess)).argmax(1).numpy()
        photos = model(to_inputs(files, preprocess)).argmax(1).numpy()
    right = int(((photos == clean) | (photos == labels)).sum())  # oracle: the clean scan's answer, or the label
    assert right >= 48, f"{right}/{PHOTOS} photos read as their clean scans"


@pytest.mark.parametrize("make", [
    lambda: Image.new("L", (64, 64), 255),  # blank white paper
    lambda: Image.new("L", (64, 64), 0),  # black
    lambda: Image.new("RGB", (80, 60), (128, 128, 128)),  # uniform grey
    lambda: Image.fromarray(np.random.default_rng(0).normal(160, 8, (90, 90)).clip(0, 255).astype(np.uint8)),
    lambda: Image.fromarray((np.linspace(120, 220, 100)[None].repeat(80, 0)).astype(np.uint8)),  # light gradient
    lambda: Image.new("L", (1, 1), 0),
    lambda: Image.new("RGBA", (40, 40), (0, 0, 0, 0)),  # fully transparent: nothing on white paper
    lambda: Image.new("L", (28, 28), 0),  # MNIST-sized and black, but empty
], ids=["white", "black", "grey", "noise", "gradient", "1x1", "transparent", "empty-28"])
def test_an_image_without_a_digit_is_refused(make, tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    make().save(path)
    preprocess = {"kind": "image", "style": "mnist", "shape": [1, 28, 28], "mean": 0.13, "std": 0.31}
    with pytest.raises(DataError, match=rf"^no digit found in {path}"):
        to_inputs([path], preprocess)


def test_the_command_line_answers_a_blank_page_with_one_line_and_exit_2(capsys, tmp_path: Path) -> None:
    from neuroplast.cli import main

    run = tmp_path / "run"
    assert main(["run", "digits-cnn", "--out", str(run), "--set", "train.epochs=1", "--quiet"]) == 0
    Image.new("L", (64, 48), 230).save(tmp_path / "blank.png")
    page = np.full((64, 64), 235, dtype=np.uint8)
    page[8:56, 28:36] = 20  # a drawn "1" beside it is still answered
    Image.fromarray(page).save(tmp_path / "one.png")
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "one.png")]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'one.png'}: ")
    assert main(["predict", str(run), str(tmp_path / "blank.png")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"neuroplast: error: no digit found in {tmp_path / 'blank.png'}")


def _page(h: int = 120, w: int = 100) -> np.ndarray:
    page = np.full((h, w), 0.75, np.float32)  # grey paper, a dark "7": a bar and a slanted stroke
    page[20:28, 25:75] = 0.1
    for r in range(28, 100):
        c = 75 - (r - 28) // 3
        page[r, c - 4: c + 4] = 0.1
    return page


def test_a_smudge_away_from_the_digit_is_dropped_and_chalk_on_a_board_is_read_the_same() -> None:
    from neuroplast.data.images import framed

    clean = framed(_page(), "mnist", (28, 28))
    smudged = _page()
    smudged[105:110, 5:10] = 0.1  # a speck of dirt in the corner: not the largest ink
    np.testing.assert_allclose(framed(smudged, "mnist", (28, 28)), clean, atol=1e-6)
    chalk = 1.0 - _page()  # light ink on dark: the ink is the minority side of the histogram either way
    np.testing.assert_allclose(framed(chalk, "mnist", (28, 28)), clean, atol=0.02)
    assert clean.max() == pytest.approx(1.0, abs=0.05) and clean[:3].max() == 0.0  # ink bright, border black


def test_a_tiny_scan_of_a_digit_is_read_not_refused(tmp_path: Path) -> None:
    """scikit-learn's 8x8 digits saved as PNG files: strokes one pixel wide, too few pixels to measure the
    ink's spread; read and framed into the 8x8 input, not refused as "no digit" (they were, for a while)."""
    from sklearn.datasets import load_digits

    from neuroplast.data.inputs import to_inputs

    preprocess = {"kind": "image", "style": "digits", "shape": [1, 8, 8], "mean": 0.3, "std": 0.4}
    for i, image in enumerate(load_digits().images[:10]):
        path = tmp_path / f"d{i}.png"
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(path)
        from_file = to_inputs([path], preprocess)
        assert from_file.shape == (1, 1, 8, 8) and float(from_file.std()) > 0.1  # a digit, not refused
