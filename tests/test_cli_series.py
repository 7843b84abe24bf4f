from __future__ import annotations

import re
from pathlib import Path

import pytest

from neuroplast.cli import main

pytest.importorskip("statsmodels")


def _run(tmp_path: Path, capsys, values: list[str]) -> tuple[int, str]:
    path = tmp_path / "shop.csv"
    path.write_text("\n".join(["date,sales", *(f"2020-{i:03d},{v}" for i, v in enumerate(values))]) + "\n")
    code = main(["run", "sunspots-lstm", "--set", "data.source=series", "--set", f"data.path={path}",
                 "--set", "data.column=sales", "--set", "train.epochs=1", "--quiet",
                 "--out", str(tmp_path / "run")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("values", "pattern"), [
    (["1", "2", "", *["5"] * 60], r"column 'sales' has 1 empty values \(data rows 3\).*Fill or drop"),
    (["1", "2", "n/a", *["5"] * 60], r"data row 3 has 'n/a'\. Fix that value"),
    ([str(i) for i in range(30)], r"window 24 \+ horizon 1 needs at least 25 values in the training part; "
                                  r"the series has 30 values.*Lower data\.window"),
])
def test_bad_series_is_one_line_and_exit_2(tmp_path: Path, capsys, values: list[str], pattern: str) -> None:
    code, err = _run(tmp_path, capsys, values)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("neuroplast: error: ") and re.search(pattern, lines[0]), lines[0]
