"""report.html in a real browser with the network cut off: the digits, MNIST, Shakespeare (in English and
繁體中文, with its token space) and pruned runs' reports open with no request leaving the file, no console
error, a page that is not blank, and at most 5 MB each."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MNIST_DIR, SHARED_DATA, artifacts

import neuroplast
from neuroplast import prune as prune_run
from neuroplast.see.report import write_report

MAX_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reports")
    neuroplast.run("digits-cnn", out=root / "digits", progress=False, overrides=["train.epochs=2"])
    neuroplast.run("mnist-fast", out=root / "mnist", data_dir=MNIST_DIR, progress=False,
                   overrides=["data.max_train_samples=4000", "data.val_fraction=0.1", "train.epochs=1"])
    neuroplast.run("shakespeare-lstm", out=root / "shakespeare", data_dir=SHARED_DATA / "tinyshakespeare",
                   progress=False, overrides=["model.hidden_size=32", "model.num_layers=1", "data.block_size=32",
                                              "train.epochs=1", "train.max_steps_per_epoch=5", "train.threads=1"])
    prune_run(root / "digits", method="structured", sparsity=0.5, epochs=1, out=root / "pruned", progress=False,
              final_epochs=1, latency_repeats=5)
    (root / "shakespeare-zh").mkdir()
    write_report(root / "shakespeare", lang="zh-Hant", out=root / "shakespeare-zh" / "report.html")
    return {name: root / name / "report.html" for name in ("digits", "mnist", "shakespeare", "shakespeare-zh", "pruned")}


@pytest.mark.parametrize("name", ["digits", "mnist", "shakespeare", "shakespeare-zh", "pruned"])
def test_report_opens_offline_without_errors(reports: dict[str, Path], name: str, browser, tmp_path: Path) -> None:
    path = reports[name]
    assert path.is_file() and path.stat().st_size <= MAX_BYTES
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    page.route("**/*", lambda route: (requests.append(route.request.url),
                                      route.continue_() if route.request.url.startswith(("file:", "data:"))
                                      else route.abort()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    outside = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert not outside and not errors, (outside, errors)
    broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
    assert broken == 0 and page.evaluate("document.images.length") >= 1
    if name.startswith("shakespeare"):  # the token space: its map drawn, its neighbour table filled
        assert page.evaluate("document.querySelector('#token-map img').naturalWidth") > 100
        assert page.evaluate("document.querySelectorAll('#token-neighbours tbody tr').length") == 12
    assert len(page.evaluate("document.body.innerText")) > 500
    shot = artifacts(tmp_path) / f"report-{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    # not blank: the screenshot has many distinct colours, not a white page
    from PIL import Image

    with Image.open(shot) as im:
        colours = im.convert("RGB").resize((300, 600)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50
    page.close()
