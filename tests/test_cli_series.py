from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
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
    (["1", "2", "", *["5"] * 60], r"column 'sales' has 1 empty value\(s\) \(data rows 3\).*Fill or drop"),
    (["1", "2", "n/a", *["5"] * 60], r"data row 3 has 'n/a'\. Fix that value"),
    ([str(i) for i in range(30)], r"window 24 \+ horizon 1 needs at least 25 values in the training part; "
                                  r"the series has 30 values.*Lower data\.window"),
])
def test_bad_series_is_one_line_and_exit_2(tmp_path: Path, capsys, values: list[str], pattern: str) -> None:
    code, err = _run(tmp_path, capsys, values)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("neuroplast: error: ") and re.search(pattern, lines[0]), lines[0]


# --------------------------------------------------------------------------- neuroplast run FILE.csv --column C
def _monthly(path: Path, values, dates: list[str] | None = None) -> Path:
    dates = dates or [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(len(values))]
    path.write_text("\n".join(["month,sales", *(f"{d},{v}" for d, v in zip(dates, values, strict=True))]) + "\n")
    return path


def _forecast(path: Path, out: Path, *flags: str) -> int:
    return main(["run", str(path), "--column", "sales", "--quiet", "--out", str(out), "--set", "train.epochs=30",
                 *flags])


def _trend(n: int, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (300 + 0.5 * t + 2 * np.sin(2 * np.pi * t / 12) + 0.2 * rng.standard_normal(n)).tolist()


@pytest.mark.parametrize(("dates", "pattern"), [
    (lambda d: d[:30] + d[31:], r"column 'month' has 1 gap\(s\) in its steps of 1 month\(s\): between data rows 30 "
                                r"\(2002-06\) and 31 \(2002-08\) 1 step\(s\) are missing.*fill the missing dates"),
    (lambda d: d[:10] + [d[11], d[10]] + d[12:], r"column 'month' is out of order: data row 12 \(2000-11\) does not "
                                                  r"come after row 11 \(2000-12\)\. Sort the rows by date"),
])
def test_bad_dates_are_one_line_and_exit_2(tmp_path: Path, capsys, dates, pattern: str) -> None:
    months = [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(81)]
    chosen = dates(months)
    path = _monthly(tmp_path / "shop.csv", _trend(len(chosen)), chosen)
    code = _forecast(path, tmp_path / "run", "--season", "12")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and re.search(pattern, err[0]), err
    assert not (tmp_path / "run").exists()


def test_a_non_numeric_cell_names_its_row_and_column(tmp_path: Path, capsys) -> None:
    values = [str(v) for v in _trend(72)]
    values[40] = "12,5"
    path = tmp_path / "shop.csv"
    path.write_text("\n".join(["month;sales", *(f"{2000 + i // 12}-{i % 12 + 1:02d};{v}"
                                                 for i, v in enumerate(values))]) + "\n")
    code = _forecast(path, tmp_path / "run")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert re.search(r"column 'sales' must hold finite numbers; data row 41 has '12,5'", err[0]), err


def test_a_series_too_short_for_the_choice_says_the_minimum(tmp_path: Path, capsys) -> None:
    from neuroplast.data.series import split_bounds
    from neuroplast.spec import load_spec
    from neuroplast.train.select import minimum_length

    minimum = minimum_length(load_spec("csv-series", ["data.horizon=12", "data.path=x.csv", "data.column=y"]))
    path = _monthly(tmp_path / "shop.csv", _trend(minimum - 1))
    code = _forecast(path, tmp_path / "run", "--horizon", "12")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    _, val_end = split_bounds(minimum - 1, 0.1, 0.2)
    assert f"{val_end} values before the test period are too few to choose a forecaster" in err[0], err
    assert f"needs at least {minimum} values" in err[0], err


def test_a_72_point_monthly_series_adapts_and_says_so(tmp_path: Path, capsys) -> None:
    path = _monthly(tmp_path / "shop.csv", _trend(72))
    assert _forecast(path, tmp_path / "run", "--season", "12", "--horizon", "2") == 0
    err = capsys.readouterr().err
    assert re.search(r"short series \(58 values before the test period\): data\.window 24 -> \d+", err), err
    assert len(re.findall(r"forecaster chosen by rolling-origin validation .* -> \w+", err)) == 1, err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    sel = m["selection"]
    cands = sel["candidates"]
    assert sel["window"] < 24 and set(cands) == {"dlinear", "nlinear", "lstm", "nbeats", "committee"}
    assert sel["chosen"] == min(cands, key=lambda k: cands[k]["val_mase"])
    singles = sorted((k for k in cands if k != "committee"), key=lambda k: cands[k]["val_mase"])
    assert cands["committee"]["members"] == singles[:3]  # the best three on the same folds
    spec = json.loads(json.dumps(tomllib.loads((tmp_path / "run" / "spec.toml").read_text())))
    assert spec["data"]["window"] == sel["window"]
    # metrics layout, against a hand computation of the naive baseline on the same 13 test origins
    values = np.array(_trend(72))
    origins = np.arange(58, 71)
    scale = np.mean(np.abs(values[12:58] - values[:46]))  # seasonal (lag 12) naive MAE before the test period
    err_naive = values[origins[:, None] + np.arange(2)] - values[origins - 1][:, None]
    naive = m["baselines"]["naive"]
    assert naive["mae"] == pytest.approx(np.abs(err_naive).mean())
    assert naive["mase"] == pytest.approx(np.abs(err_naive).mean() / scale)
    assert naive["steps"]["mae"] == pytest.approx(np.abs(err_naive).mean(axis=0).tolist())
    assert set(m["baselines"]) == {"naive", "seasonal_naive", "arima", "ets", "theta"}
    assert m["test"]["mase"] == pytest.approx(m["test"]["mae"] / scale)
    assert len(m["test"]["steps"]["rmse"]) == 2


def test_a_trend_leaving_the_training_range_the_default_beats_naive(tmp_path: Path, capsys) -> None:
    # CO2-like (issue 20): every test value lies above every training value. The default (the choice
    # among DLinear, NLinear, LSTM and N-BEATS) must beat the naive forecast, which lags one step of trend.
    values = _trend(160)
    assert min(values[128:]) > max(values[:112])
    assert _forecast(_monthly(tmp_path / "co2.csv", values), tmp_path / "run", "--season", "12") == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["test"]["mase"] < 0.8 * m["baselines"]["naive"]["mase"], (m["test"], m["baselines"]["naive"])


def test_column_without_a_csv_file_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["run", "digits-mlp", "--column", "sales", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--column forecasts a column of a CSV file" in err[0], err


# --------------------------------------------------------------------------- neuroplast predict RUN past.csv
@pytest.fixture(scope="module")
def series_run(tmp_path_factory) -> tuple[Path, list[float]]:
    tmp = tmp_path_factory.mktemp("predict")
    values = _trend(72)
    path = _monthly(tmp / "shop.csv", values)
    assert main(["run", "sunspots-lstm", "--set", "data.source=series", "--set", f"data.path={path}",
                 "--set", "data.column=sales", "--set", "data.window=12", "--set", "train.epochs=1", "--quiet",
                 "--out", str(tmp / "run")]) == 0
    return tmp / "run", values


def _predict(run: Path, path: Path, capsys) -> tuple[int, str, str]:
    code = main(["predict", str(run), str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predict_reads_the_trained_column_or_a_files_only_one(series_run, tmp_path: Path, capsys) -> None:
    run, values = series_run
    code, same, _ = _predict(run, _monthly(tmp_path / "past.csv", values), capsys)
    assert code == 0
    (tmp_path / "only.csv").write_text("units\n" + "\n".join(map(str, values)) + "\n")  # named otherwise
    code, only, _ = _predict(run, tmp_path / "only.csv", capsys)
    assert code == 0 and only.split(":")[-1] == same.split(":")[-1], (only, same)


@pytest.mark.parametrize(("text", "pattern"), [
    # two number columns, neither the trained one: which one is meant is not guessed
    (lambda v: "month,x,y\n" + "".join(f"2000-{i + 1:02d},{a},{a * 1000}\n" for i, a in enumerate(v[:12])),
     r"has no column 'sales'\. Columns: month, x, y\. Name the series column 'sales'"),
    # a bad cell before the last window is still the file's error, as `run` makes it
    (lambda v: "sales\n" + "\n".join(["NA", *map(str, v)]) + "\n", r"data row 1 has 'NA'"),
    # an empty cell inside the window is not skipped (that would shift the window by one step)
    (lambda v: "".join(f"{i},{'' if i == 69 else a}\n" for i, a in enumerate(v)).join(["t,sales\n", ""]),
     r"1 empty value\(s\) \(data rows 70\)"),
])
def test_predict_refuses_a_bad_series_file_in_one_line(series_run, tmp_path: Path, capsys, text, pattern) -> None:
    run, values = series_run
    (tmp_path / "past.csv").write_text(text(values))
    code, _, err = _predict(run, tmp_path / "past.csv", capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and re.search(pattern, lines[0]), err


def test_predict_checks_the_dates_of_the_past_values(series_run, tmp_path: Path, capsys) -> None:
    run, values = series_run
    dates = [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(len(values))]
    code, _, err = _predict(run, _monthly(tmp_path / "past.csv", values[:-1], dates[:-2] + dates[-1:]), capsys)
    assert code == 2 and "1 step(s) are missing" in err and err.count("\n") == 1, err


def test_a_horizon_the_split_cannot_hold_is_refused_before_the_choice(tmp_path: Path, capsys) -> None:
    # 72 monthly values: a fold fits, but the run's validation part (10%: 7 values) holds no 12-step window
    path = _monthly(tmp_path / "shop.csv", _trend(72))
    assert _forecast(path, tmp_path / "run", "--season", "12", "--horizon", "12") == 2
    err = capsys.readouterr().err
    assert "forecaster chosen" not in err and err.count("\n") == 1, err
    assert re.search(r"^neuroplast: error: shop: 58 values before the test period are too few to choose a "
                     r"forecaster .* needs at least 115 values", err), err


def test_monthly_dates_imply_season_12_said_once(tmp_path: Path, caplog) -> None:
    # No --season: the month column says 12 (as AutoGluon and Darts infer it), in one line, once, although the
    # choice and the run both read the file; the seasonal-naive baseline is then scored.
    path = _monthly(tmp_path / "shop.csv", _trend(96))
    assert _forecast(path, tmp_path / "run", "--set", "select.candidates=[\"nlinear\"]") == 0
    said = [r.getMessage() for r in caplog.records if "the season is" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("shop.csv: the dates step by 1 month(s), so the season is 12"), said
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "seasonal_naive" in m["baselines"] and "seasonal_naive" in m["selection"]["references"]
    # a season given wins, and nothing is said
    caplog.clear()
    assert _forecast(path, tmp_path / "run4", "--season", "4", "--set", "select.candidates=[\"nlinear\"]") == 0
    assert not [r for r in caplog.records if "the season is" in r.getMessage()]


@pytest.mark.parametrize(("flags", "message"), [
    (["--column", "sales", "--horizon", "0"], "--horizon must be a whole number of rows, at least 1; received 0."),
    (["--column", "sales", "--season", "-3"], "--season must be a whole number of rows, at least 1; received -3."),
    (["--season", "12"], "--season 12 shapes a forecast and needs --column: neuroplast run FILE.csv --column COLUMN"),
])
def test_series_flags_are_checked_as_typed(tmp_path: Path, capsys, flags: list[str], message: str) -> None:
    path = _monthly(tmp_path / "shop.csv", _trend(96))
    assert main(["run", str(path), *flags, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
