"""The page never overstates: a run with no fitted confidence threshold shows no "Sure" badge and says why;
the caption under the network's input describes this model's preprocessing (a real server process, Debian's
Chromium)."""

from __future__ import annotations

from pathlib import Path

import httpx
from drawn_digits import PLAIN, placed, render
from serving import Server

import neuroplast
from neuroplast.see.locale import table


def test_a_run_without_a_threshold_shows_no_verdict_and_says_why(tmp_path: Path, browser) -> None:
    run_dir = tmp_path / "no-val"
    neuroplast.run("digits-cnn", out=run_dir, progress=False,
                   overrides=["data.val_fraction=0", "train.epochs=1", "train.threads=1"])
    picture = tmp_path / "four.png"
    render(placed(PLAIN[4], 150, 100, 20)).convert("RGB").save(picture)
    for lang in ("en", "zh-Hant"):
        server = Server(run_dir, lang=lang)
        url = server.url
        try:
            assert httpx.get(f"{url}/api/model").json()["threshold"] is None
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#draw:not([hidden])")
            page.set_input_files("#upload", str(picture))
            page.wait_for_function("document.querySelectorAll('#probs .prob').length === 10")
            assert not page.locator("#verdict").is_visible()  # no green "Sure" for a threshold that does not exist
            assert page.locator("#sure-help").inner_text() == table(lang)["answer.no_threshold"]
            # the 8x8 digits model's caption, not MNIST's "scaled to 20 pixels"
            assert page.locator("#seen-help").inner_text() == table(lang)["draw.seen_help_digits"]
            page.close()
        finally:
            server.stop()
