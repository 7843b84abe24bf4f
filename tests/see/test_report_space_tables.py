"""The vector space section for a table: csv-table's default MLP is an ensemble of 32 members with a
linear skip (training outputs (B, 32, C), averaged at prediction); its report still shows the space of
the test rows after each hidden layer and the last one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from sklearn.datasets import load_wine

import neuroplast


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("table")
    wine = load_wine()
    lines = [",".join([n.replace("/", "_") for n in wine.feature_names] + ["kind"])]
    lines += [",".join(f"{v:g}" for v in row) + f",k{t}" for row, t in zip(wine.data, wine.target, strict=True)]
    (root / "wine.csv").write_text("\n".join(lines) + "\n")
    neuroplast.run("csv-table", out=root / "run", progress=False,
                   overrides=[f"data.path={root / 'wine.csv'}", "data.target=kind", "train.epochs=2", "train.threads=1"])
    return root / "run"


def _space_rows(page: str) -> list[list[str]]:
    body = page[page.index('id="space-table"'):page.index("</table>", page.index('id="space-table"'))]
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r) for r in re.findall(r"<tr>(.*?)</tr>", body)][1:]


def test_the_ensemble_table_report_has_the_space_of_its_last_hidden_layer(table_run: Path) -> None:
    run = neuroplast.load(table_run)
    assert run.model.k == 32 and run.model.skip is not None  # the shape under test: members and a skip
    page = (table_run / "report.html").read_text(encoding="utf-8")
    assert '<section id="space">' in page and "report section" not in page
    rows = _space_rows(page)
    hidden = [n for n, m in run.model.named_modules() if type(m).__name__ == "ReLU"]
    assert [r[0] for r in rows] == ["input", *hidden, "output (logits)"]
    assert rows[0][1] == "13" and rows[-1][1] == "3"
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows)


def test_the_last_hidden_stage_of_an_ensemble_has_the_layers_width(table_run: Path) -> None:
    """Before: the 32 members' vectors side by side, "2,048 dimensions" for a 64-wide layer. Now one vector
    per row, the members' mean, checked against the members' activations recorded by hand."""
    page = (table_run / "report.html").read_text(encoding="utf-8")
    assert _space_rows(page)[-2][1] == "64"
    run = neuroplast.load(table_run)
    x = run.dataset().x_test[:20]
    last = [m for m in run.model.modules() if type(m).__name__ == "ReLU"][-1]
    seen = []
    handle = last.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    with torch.no_grad():
        run.model.eval()(x)
    handle.remove()
    assert seen[0].shape == (20, 32, 64)
    name = [n for n, m in run.model.named_modules() if m is last][0]
    torch.testing.assert_close(run.embed(x, layer=name),  # x_test is already the model's input tensor
                               seen[0].mean(dim=1))
