"""The report's Vector space section reads the space stored in the run folder (space.safetensors), says
which examples it shows, and computes the space itself when the file is absent or damaged."""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
from pathlib import Path

import pytest

import neuroplast
from neuroplast.runfiles import SPACE, read_space
from neuroplast.see.locale import table
from neuroplast.see.report import write_report
from neuroplast.trust.space import knn_accuracy, representations


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-space") / "mlp"
    neuroplast.run("digits-mlp", out=out, progress=False,
                   overrides=["train.epochs=2", "train.threads=1", "space.examples=100"])
    return out


def _rows(page: str) -> list[list[str]]:
    found = re.search(r'<table id="space-table">(.*?)</table>', page, re.S)
    assert found, "no vector space table"
    return [[html.unescape(c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)]


def _section(page: str) -> str:
    return html.unescape(re.search(r'id="space".*?(?=<section|</main>)', page, re.S).group(0))


def test_the_section_shows_the_stored_stages_and_says_which_examples(mlp_run, tmp_path) -> None:
    meta, _ = read_space(mlp_run)
    folder = tmp_path / "run"
    shutil.copytree(mlp_run, folder)
    # a marker only the file holds: stage 0's accuracy rewritten in the stored metadata
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / SPACE))
    with safe_open(str(folder / SPACE), framework="pt") as f:
        stored = json.loads(f.metadata()["space"])
    stored["stages"][0]["knn"] = 0.123456
    save_file(tensors, str(folder / SPACE), metadata={"space": json.dumps(stored)})
    page = write_report(folder, out=folder / "r.html").read_text(encoding="utf-8")
    rows = _rows(page)
    assert [r[0] for r in rows[1:]] == ["input", *[s["name"] for s in meta["stages"][1:-1]], "output (logits)"]
    assert rows[1][2] == "0.1235"  # read from the file, not recomputed
    assert [r[2] for r in rows[2:]] == [f"{s['knn']:.4f}" for s in meta["stages"][1:]]
    which = table("en")["report.examples_first"].format(count="100", total=f"{meta['test_examples']:,}")
    assert which in _section(page)


def test_without_the_file_or_with_a_damaged_one_the_section_is_computed(mlp_run, tmp_path, caplog) -> None:
    run = neuroplast.load(mlp_run)
    data = run.dataset()
    x, y = data.x_test[:1000], data.y_test[:1000]
    expected = f"{knn_accuracy(representations(run.model, x)['input'], y):.4f}"
    for damage in ("missing", "truncated"):
        folder = tmp_path / damage
        shutil.copytree(mlp_run, folder)
        if damage == "missing":
            (folder / SPACE).unlink()
        else:
            (folder / SPACE).write_bytes((folder / SPACE).read_bytes()[:100])
        with caplog.at_level(logging.WARNING):
            page = write_report(folder, out=folder / "r.html").read_text(encoding="utf-8")
        assert _rows(page)[1][2] == expected  # every test example (360 < 1000), computed now
        assert table("en")["report.examples_all"].format(count=f"{len(y):,}") in _section(page)
    assert any(SPACE in r.getMessage() and "computed again" in r.getMessage() for r in caplog.records)
