"""Real-world CSV files, one hand-made file per kind of mess: missing-value markers, missing targets, identifiers,
row numbers in a sorted file, dates, constants, other delimiters; each column's role said in one table and
applied the same way at predict time."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import write_csv

import neuroplast
from neuroplast.data import load_dataset
from neuroplast.data.tabular import encode_rows, frame_dataset, read_csv
from neuroplast.errors import DataError
from neuroplast.spec import DataSpec

N = 40


def _load(path, target: str = "label", **spec):
    return load_dataset(DataSpec(source="csv", path=path, target=target, **spec), seed=0)


def _said(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


def _roles(data) -> dict[str, str]:
    return {c["name"]: c["role"] for c in data.preprocess["columns"]}


def _rows(path) -> list[dict[str, str]]:
    header, columns = read_csv(path)
    return [{h: columns[h][i] for h in header} for i in range(len(columns[header[0]]))]


def test_na_markers_in_a_numeric_column_keep_it_a_number_with_a_was_missing_feature(tmp_path, caplog) -> None:
    rng = np.random.default_rng(0)
    markers = ["NA", "N/A", "?", "-", "null", "nan"]  # 6 of 40 rows: 15%, over the 5% that adds the indicator
    rows = [f"{markers[i // 7] if i % 7 == 0 and i < 42 else round(rng.normal(), 3)},{rng.normal():.3f},"
            f"{'ab'[i % 2]}" for i in range(N)]
    path = write_csv(tmp_path / "na.csv", "bill,depth,label", rows)
    with caplog.at_level(logging.WARNING):
        data = _load(path)
    assert _roles(data) == {"bill": "number", "depth": "number"}
    assert data.input_shape == (3,)  # bill, bill missing, depth: not one category per value
    assert data.preprocess["missing"][:3] == ["", "NA", "N/A"]
    said = _said(caplog)
    assert "2 feature columns -> 3 features" in said and "+ a 0/1 was-missing feature" in said
    x = encode_rows(_rows(path), data.preprocess)  # row 0 holds 'NA': the training mean (0), flagged missing
    mean, std = data.preprocess["mean"], data.preprocess["std"]
    assert x[0, 0] == 0.0 and x[0, 1] == pytest.approx((1 - mean[1]) / std[1])
    assert x[1, 1] == pytest.approx((0 - mean[1]) / std[1])
    # configurable: with only empty cells missing, 'NA' is text again and the column one-hot
    with caplog.at_level(logging.WARNING):
        assert _load(path, missing=("",)).preprocess["columns"][0]["role"] == "category"
    assert "34 of 40 cells are numbers, but '-', '?', 'N/A' make it a category: add them to data.missing" in _said(caplog)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_rows_with_a_missing_target_are_dropped_with_a_count_and_the_task_guessed_from_the_rest(
        tmp_path, caplog, kind) -> None:
    rng = np.random.default_rng(1)
    values = [f"{v:.2f}" for v in rng.normal(50, 10, N)] if kind == "regression" else ["yes", "no"] * (N // 2)
    values[3], values[9], values[20] = "", "NA", ""
    rows = [f"{rng.normal():.3f},{v}" for v in values]
    path = write_csv(tmp_path / "t.csv", "x,y", rows)
    with caplog.at_level(logging.WARNING):
        data = _load(path, target="y")
    assert data.task == kind
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == N - 3
    assert data.class_names == (["no", "yes"] if kind == "classification" else None)  # no '' or 'NA' class
    assert f"dropped 3 of {N} rows whose target 'y' is missing ('', 'NA')" in _said(caplog)


def test_data_task_still_forces_the_task_and_a_bad_regression_target_is_one_line(tmp_path) -> None:
    path = write_csv(tmp_path / "t.csv", "x,y", [f"{i * 0.3:.1f},{i % 3}" for i in range(N)])
    assert _load(path, target="y").task == "classification"  # three integer values: classes
    assert _load(path, target="y", task="regression").task == "regression"
    path = write_csv(tmp_path / "u.csv", "x,y", [f"{i * 0.3:.1f},{'low' if i == 5 else i}" for i in range(N)])
    with pytest.raises(DataError, match=r"data.task = 'regression' but the target column 'y' has the value 'low'"):
        _load(path, target="y", task="regression")
    # mostly numbers and a marker data.missing lacks: a one-line error, not 39 classes (unless asked for)
    path = write_csv(tmp_path / "v.csv", "x,y", [f"{i * 0.3:.1f},{'n.a.' if i == 5 else i * 1.5}" for i in range(N)])
    with pytest.raises(DataError, match=r"'y' holds numbers in 39 of 40 rows but also 'n.a.'. Add those to data.missing"):
        _load(path, target="y")
    assert _load(path, target="y", missing=("n.a.",)).task == "regression"
    assert _load(path, target="y", task="classification").num_classes == 40


def test_identifiers_and_constants_are_dropped_with_a_note(tmp_path, caplog) -> None:
    rng = np.random.default_rng(2)
    order = rng.permutation(N)
    rows = [f"id-{k:04d},{k + 1},{k * 7 + 3},x,{rng.normal():.3f},{'ab'[k % 2]}" for k in order]
    path = write_csv(tmp_path / "ids.csv", "code,row,count,unit,v,label", rows)
    with caplog.at_level(logging.WARNING):
        data = _load(path)
    assert _roles(data) == {"code": "identifier", "row": "identifier", "count": "number", "unit": "constant",
                            "v": "number"}
    assert data.input_shape == (2,)  # count (unique integers with gaps: a number) and v
    said = _said(caplog)
    assert "text unique per row: dropped" in said and "integers 1..40, one per row (a row number): dropped" in said
    assert "the same value ('x') in every row: dropped" in said
    x = encode_rows([{"count": "10", "v": "0.5"}], data.preprocess)  # dropped columns are not asked for
    assert x.shape == (1, 2)


def test_a_row_number_in_a_file_sorted_by_class_is_warned_about(tmp_path, caplog) -> None:
    rng = np.random.default_rng(3)
    labels = ["a"] * 20 + ["b"] * 20  # sorted by class
    rows = [f"{100 + 3 * i},{i + 1},{rng.normal():.3f},{label}" for i, label in enumerate(labels)]
    path = write_csv(tmp_path / "sorted.csv", "record,n,v,label", rows)
    with caplog.at_level(logging.WARNING):
        data = _load(path)
    cols = {c["name"]: c for c in data.preprocess["columns"]}
    assert cols["n"]["role"] == "identifier"  # exactly 1..n: dropped as a row number
    assert cols["record"]["role"] == "number" and cols["record"]["note"].startswith("WARNING: rises or falls row by")
    assert "the target is sorted along the rows" in _said(caplog) and "WARNING" not in cols["v"].get("note", "")
    shuffled = [rows[i] for i in rng.permutation(N)]  # the same cells in a shuffled file: nothing to say
    data = _load(write_csv(tmp_path / "shuffled.csv", "record,n,v,label", shuffled))
    assert "note" not in {c["name"]: c for c in data.preprocess["columns"]}["record"]


def test_a_date_column_becomes_calendar_features(tmp_path, caplog) -> None:
    rng = np.random.default_rng(4)
    days = np.datetime64("2023-01-01") + rng.permutation(300)[:N]
    rows = [f"{d},{rng.normal():.3f},{'ab'[i % 2]}" for i, d in enumerate(days)]
    rows[5] = "NA," + rows[5].split(",", 1)[1]
    path = write_csv(tmp_path / "dates.csv", "when,v,label", rows)
    with caplog.at_level(logging.WARNING):
        data = _load(path)
    assert _roles(data) == {"when": "date", "v": "number"}
    assert data.input_shape == (5,)  # year, month, weekday, yearday; v (1 missing in 40: no indicator)
    assert "expanded to year, month, weekday, yearday" in _said(caplog)
    x = encode_rows([{"when": "2024-03-31", "v": "0"}, {"when": "2024-03-31T12:30:00", "v": "0"}], data.preprocess)
    raw = x[:, :4] * np.asarray(data.preprocess["std"][:4]) + np.asarray(data.preprocess["mean"][:4])
    np.testing.assert_allclose(raw, [[2024, 3, 6, 91]] * 2, rtol=1e-5)  # 31 March 2024: a Sunday, day 91
    with pytest.raises(DataError, match=r"Column 'when' holds dates .* has the value '31/03/2024'"):
        encode_rows([{"when": "31/03/2024", "v": "0"}], data.preprocess)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_sniffed_and_recorded(tmp_path, caplog, delimiter) -> None:
    rows = [delimiter.join([f"{i * 0.5}", f"{i % 4}", "ab"[i % 2]]) for i in range(N)]
    path = write_csv(tmp_path / "semi.csv", delimiter.join(["a", "b", "label"]), rows)
    with caplog.at_level(logging.WARNING):
        data = _load(path)
    assert data.input_shape == (2,) and data.preprocess["delimiter"] == delimiter
    assert f"fields separated by {delimiter!r}" in _said(caplog)


def test_a_comma_file_with_semicolons_in_quoted_text_stays_comma(tmp_path) -> None:
    rows = [f'"note; {i}; more",{i * 0.5},{"ab"[i % 2]}' for i in range(N)]
    data = _load(write_csv(tmp_path / "q.csv", "text,v,label", rows))
    assert data.preprocess["delimiter"] == "," and _roles(data) == {"text": "text", "v": "number"}  # two words a cell


def _messy(tmp_path):
    rng = np.random.default_rng(5)
    rows = []
    for i in range(60):
        v = "NA" if i % 6 == 0 else f"{rng.normal(10, 2):.2f}"
        day = np.datetime64("2022-06-01") + int(rng.integers(0, 365))
        rows.append(f"p{i:03d},{v},{day},{'red green blue'.split()[i % 3]},same,{'yes' if i % 3 else 'no'}")
    rows[7] = rows[7].rsplit(",", 1)[0] + ",NA"  # a missing target
    return write_csv(tmp_path / "messy.csv", "id,size,when,colour,unit,label", rows)


def test_a_messy_file_trains_and_predicts_rows_with_na_cells_and_dates_encoded_by_hand(tmp_path) -> None:
    run = neuroplast.run("wine-mlp", data={"source": "csv", "path": str(_messy(tmp_path)), "target": "label"},
                         train={"epochs": 2, "threads": 1}, out=tmp_path / "run", progress=False)
    pre = neuroplast.load(run.dir).preprocess  # as preprocess.json holds it
    assert [c["role"] for c in pre["columns"]] == ["identifier", "number", "date", "category", "constant"]
    page = (run.dir / "report.html").read_text()  # the role table, kept in the report too
    assert 'id="column-roles"' in page and "<th scope=\"row\">when</th><td>date</td><td>4</td>" in page
    new = write_csv(tmp_path / "new.csv", "id,size,when,colour,unit",
                    ["q1,NA,2024-03-31,green,same", "q2,12.5,,blue,same", "q3,?,2023-01-02,purple,other"])
    assert len(run.predict(str(new))) == 3
    # by hand: size, size missing, when (year, month, weekday, yearday), colour=blue/green/red; missing -> mean
    mean, std = np.asarray(pre["mean"]), np.asarray(pre["std"])
    raw = np.array([[mean[0], 1, 2024, 3, 6, 91, 0, 1, 0],
                    [12.5, 0, *mean[2:6], 1, 0, 0],
                    [mean[0], 1, 2023, 1, 0, 2, 0, 0, 0]])
    np.testing.assert_allclose(run.inputs(str(new)).numpy(), (raw - mean) / std, rtol=1e-5, atol=1e-6)
    rows = [{"size": None, "when": "2024-03-31", "colour": "green"}]  # dicts: None is missing too
    np.testing.assert_allclose(run.inputs(rows).numpy()[0], ((raw - mean) / std)[0], rtol=1e-5, atol=1e-6)


def test_a_dataframe_goes_through_the_same_roles_as_its_csv(tmp_path) -> None:
    path = _messy(tmp_path)
    frame = pd.read_csv(path)  # NA -> NaN
    from_frame = frame_dataset(frame, "label", test_fraction=0.2)
    from_csv = _load(path)
    assert from_frame.preprocess["columns"] == from_csv.preprocess["columns"]
    np.testing.assert_allclose(from_frame.preprocess["mean"], from_csv.preprocess["mean"])
    frame["when"] = pd.to_datetime(frame["when"])  # Timestamps, one NaT and one pandas.NA: dates and missing cells
    frame.loc[2, "when"] = pd.NaT
    frame["colour"] = frame["colour"].astype("string")
    frame.loc[4, "colour"] = pd.NA
    data = frame_dataset(frame, "label", test_fraction=0.2)
    assert [c["role"] for c in data.preprocess["columns"]] == ["identifier", "number", "date", "category", "constant"]
    x = encode_rows(frame.drop(columns="label").iloc[[2, 4]].to_dict("records"), data.preprocess)
    np.testing.assert_array_equal(x[0, 2:6], 0.0)  # NaT: the training mean of each calendar feature
    assert np.isfinite(x).all()


def test_split_rows_are_the_files_rows_with_dropped_targets_in_none(tmp_path) -> None:
    from neuroplast.data import load_dataset
    from neuroplast.spec import DataSpec

    lines = ["x,label"] + [f"{i % 7},{'NA' if i % 5 == 0 else 'ab'[i % 2]}" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    data = load_dataset(DataSpec(source="csv", path=tmp_path / "t.csv", target="label"))
    rows = data.extra["rows"]
    every = sorted(rows["train"] + rows["val"] + rows["test"])
    assert every == [i for i in range(60) if i % 5]  # the 12 rows with NA targets are in no split
    labels = [lines[1 + i].split(",")[1] for i in rows["test"]]
    assert labels == [data.class_names[int(c)] for c in data.y_test]  # the same rows, in the same order
