from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MNIST_DIR = SHARED_DATA / "mnist"


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    """A small CSV file: the header line, then one line per row."""
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def iris_csv(path: Path) -> Path:
    """scikit-learn's iris as a CSV file: its four measurements and a text ``species`` column."""
    import csv

    from sklearn.datasets import load_iris

    iris = load_iris()
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*iris.feature_names, "species"])
        for row, t in zip(iris.data, iris.target, strict=True):
            writer.writerow([*row, iris.target_names[t]])
    return path


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"The shared MNIST files are expected at {MNIST_DIR} (../shared/data/mnist).")
    return MNIST_DIR


# --------------------------------------------------------------------------- a real browser
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (its executable, never `playwright install`)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium "
                    "chromium-driver (.ci/run does this).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def artifacts(tmp_path: Path) -> Path:
    """Where browser tests save screenshots: $NEUROPLAST_ARTIFACTS, else the test's tmp folder."""
    folder = Path(os.environ.get("NEUROPLAST_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
