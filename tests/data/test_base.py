"""Splits: deterministic, stratified, disjoint, and too few rows said in one line."""

from __future__ import annotations

import pytest
import torch
from conftest import write_csv

from neuroplast.data import load_dataset
from neuroplast.errors import DataError
from neuroplast.spec import DataSpec


def test_digits_splits_are_deterministic_stratified_and_disjoint() -> None:
    a = load_dataset(DataSpec(source="digits"), seed=3)
    b = load_dataset(DataSpec(source="digits"), seed=3)
    c = load_dataset(DataSpec(source="digits"), seed=4)
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_test, c.x_test)
    assert len(a.x_train) + len(a.x_val) + len(a.x_test) == 1797
    assert len(a.x_test) == 360 and a.input_shape == (1, 8, 8) and a.num_classes == 10
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 per class
    # standardized with training statistics only
    assert abs(float(a.x_train.mean())) < 1e-4 and abs(float(a.x_train.std()) - 1) < 1e-3
    rows = {tuple(r.flatten().tolist()) for r in a.x_train[:50]}
    assert not rows & {tuple(r.flatten().tolist()) for r in a.x_test}



@pytest.mark.parametrize(("source", "extra"), [("csv", {"target": "label"}),
                                             ("text-csv", {"target": "label", "text_column": "text"})])
def test_too_few_rows_to_split_is_one_line(tmp_path, source: str, extra: dict) -> None:
    path = write_csv(tmp_path / "tiny.csv", "text,label", ["hi,pos"])
    with pytest.raises(DataError) as info:
        load_dataset(DataSpec(source=source, path=path, **extra), seed=0)
    message = str(info.value)
    assert "\n" not in message
    assert f"{path} has 1 data row, too few to split" in message
    assert "data.val_fraction = 0.1 and data.test_fraction = 0.2 leave 0 for training (0 validation, 1 test)" in message
    assert "Add rows (at least 3 with these fractions) or lower data.val_fraction / data.test_fraction." in message



def test_a_few_rows_split_without_stratification_when_a_class_cannot_be_spread(tmp_path) -> None:
    path = write_csv(tmp_path / "four.csv", "x,label", ["1,a", "2,b", "3,a", "4,b"])
    data = load_dataset(DataSpec(source="csv", path=path, target="label", val_fraction=0.0), seed=0)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (3, 0, 1)


def test_a_data_key_the_source_does_not_read_is_refused_naming_the_sources_that_would(tmp_path) -> None:
    import subprocess
    import sys

    from neuroplast.data import load_dataset
    from neuroplast.errors import UserError
    from neuroplast.spec import DataSpec

    with pytest.raises(UserError, match=r"^data.path = 'mine.csv' is read by the csv, series, text, text-csv sources, "
                                        r"not by data.source = 'wine', which would ignore it; set data.source = 'csv'"):
        load_dataset(DataSpec(source="wine", path="mine.csv", target="y"))
    with pytest.raises(UserError, match=r"^data.image_size = \(32, 32\) is read by the folder source, not by"):
        load_dataset(DataSpec(source="digits", image_size=(32, 32)))
    load_dataset(DataSpec(source="wine", path=None))  # a key at its default is not a choice
    cli = subprocess.run([sys.executable, "-m", "neuroplast", "run", "wine-mlp", "--set", "data.path=mine.csv",
                          "--out", str(tmp_path / "r")], capture_output=True, text=True)
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and "data.path = 'mine.csv'" in cli.stderr
    assert not (tmp_path / "r").exists()  # refused before any folder was made
