"""CSV tables: numeric and categorical columns, targets, and what a table cannot do."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_csv

from neuroplast.data import load_dataset
from neuroplast.errors import DataError
from neuroplast.spec import DataSpec


def test_csv_numeric_and_categorical_columns(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = [f"{x:.3f},{c},{'yes' if x + (c == 'b') > 0.5 else 'no'}"
            for x, c in zip(rng.normal(size=120), rng.choice(["a", "b", "c"], 120), strict=True)]
    path = write_csv(tmp_path / "t.csv", "x,colour,label", rows)
    data = load_dataset(DataSpec(source="csv", path=path, target="label"), seed=0)
    assert data.task == "classification" and data.class_names == ["no", "yes"]
    assert data.input_shape == (4,)  # x + one-hot(a, b, c)
    cols = data.preprocess["columns"]
    assert cols[1] == {"name": "colour", "type": "categorical", "role": "category",
                       "categories": ["a", "b", "c"]}
    # scaling fitted on the training split only
    assert torch.allclose(data.x_train.mean(0), torch.zeros(4), atol=1e-5)



def test_csv_regression_target_is_standardized(tmp_path) -> None:
    rows = [f"{i / 2},{2.5 * i + 0.1}" for i in range(50)]  # 0..49 itself would be a row number
    data = load_dataset(DataSpec(source="csv", path=write_csv(tmp_path / "r.csv", "x,y", rows), target="y"),
                        seed=0)
    assert data.task == "regression" and data.y_train.shape[1] == 1
    assert abs(float(data.y_train.mean())) < 1e-5



def test_csv_without_the_target_column(tmp_path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,b,lable", ["1,2,x", "3,4,y"])
    with pytest.raises(DataError, match=r"has no target column 'label'\. Did you mean 'lable'\? Columns: a, b, lable"):
        load_dataset(DataSpec(source="csv", path=path, target="label"), seed=0)



def test_augmenting_a_table_is_a_one_line_error_naming_the_section(capsys) -> None:
    from neuroplast.cli import main

    assert main(["run", "wine-mlp", "--set", "data.augment.flip=true", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "data.augment" in err and "'wine'" in err and "(13,)" in err and "Traceback" not in err
    from neuroplast.data import load_dataset
    from neuroplast.spec import AugmentSpec, DataSpec

    # an empty [data.augment] asks for nothing: tables load as before
    assert load_dataset(DataSpec(source="wine", augment=AugmentSpec())).x_train.shape[1:] == (13,)
