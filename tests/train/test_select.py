from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuroplast.data.series import split_bounds
from neuroplast.spec import series_spec
from neuroplast.train import select
from neuroplast.train.select import (
    candidate_spec,
    choose,
    fold_forecasts,
    minimum_length,
    plan,
    pretest_values,
    select_forecaster,
)

pytest.importorskip("statsmodels")


def _series(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.3 * t + 4 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(n)


def _csv(path: Path, values: np.ndarray) -> Path:
    rows = [f"{2000 + i // 12}-{i % 12 + 1:02d},{float(v)!r}" for i, v in enumerate(values)]
    path.write_text("\n".join(["month,y", *rows]) + "\n")
    return path


def _spec(path: Path, *extra: str):
    return series_spec(path, ["data.column=y", "data.season=12", "train.epochs=4",
                              "select.candidates=['dlinear', 'nlinear']", *extra])


def test_the_choice_never_reads_the_test_values(tmp_path: Path) -> None:
    # Oracle: poisoning every test value (huge numbers) changes neither the choice nor any fold score.
    values = _series(120)
    _, val_end = split_bounds(len(values), 0.1, 0.2)
    poisoned = values.copy()
    poisoned[val_end:] = 1e12
    clean_spec, clean = select_forecaster(_spec(_csv(tmp_path / "clean.csv", values)))
    poisoned_spec, dirty = select_forecaster(_spec(_csv(tmp_path / "poisoned.csv", poisoned)))
    assert clean == dirty  # chosen, every candidate's fold scores, window, folds: bit for bit
    assert clean_spec.model == poisoned_spec.model
    assert set(clean["candidates"]) == {"dlinear", "nlinear", "committee"} and clean["folds"] == 3
    assert clean["chosen"] == min(clean["candidates"], key=lambda k: clean["candidates"][k]["val_mase"])


@pytest.mark.parametrize("num_values", [60, 72, 80, 120, 309, 500])
@pytest.mark.parametrize("horizon", [1, 4, 12])
def test_folds_never_reach_the_test_period(num_values: int, horizon: int, tmp_path: Path) -> None:
    spec = _spec(_csv(tmp_path / "s.csv", _series(num_values)), f"data.horizon={horizon}")
    pretest = pretest_values(_series(num_values), spec)
    _, val_end = split_bounds(num_values, 0.1, 0.2)
    assert len(pretest) == val_end
    p = plan(len(pretest), spec.data.window, horizon, 3, adapt=True)
    if p is None:  # too short for one fold: the minimum is above this length
        assert minimum_length(spec) > num_values
        return
    for train, stop, score in p.folds:
        for origins in (train, stop, score):
            assert origins.min() >= p.window  # every window has its full history
            assert origins.max() + horizon <= val_end  # every target lies before the test period
        assert train.max() + horizon <= stop.min() and stop.max() + horizon <= score.min()  # no overlap


def test_the_minimum_length_is_the_shortest_that_works() -> None:
    # Property: at the minimum a fold fits; one value fewer and none does (or the run's split fails).
    from neuroplast.spec import load_spec

    for horizon in (1, 3, 12):
        spec = load_spec("csv-series", [f"data.horizon={horizon}", "data.path=x.csv", "data.column=y"])
        n = minimum_length(spec)
        for length, fits in ((n, True), (n - 1, False)):
            train_end, val_end = split_bounds(length, 0.1, 0.2)
            p = plan(val_end, 24, horizon, 3, adapt=True)
            ok = (p is not None and train_end >= p.window + horizon and length - val_end >= horizon
                  and val_end - train_end >= horizon)  # the run's validation part holds a window too
            assert ok is fits, (horizon, length)


def test_naming_a_family_turns_the_choice_off(tmp_path: Path) -> None:
    path = _csv(tmp_path / "s.csv", _series(100))
    assert series_spec(path, ["data.column=y"]).select is not None
    named = series_spec(path, ["data.column=y", "model.family=lstm"])
    assert named.select is None and named.model.family == "lstm"
    assert select_forecaster(named) == (named, None)


def test_the_committee_is_scored_on_the_median_of_the_best_members_fold_forecasts(tmp_path: Path) -> None:
    # Oracle: the committee's fold scores recomputed here from its members' fold forecasts, with numpy's
    # median and the MASE written out (mean absolute error / in-sample seasonal naive error).
    spec = _spec(_csv(tmp_path / "s.csv", _series(120)), "select.candidates=['dlinear', 'nlinear', 'nbeats']",
                 "select.committee=2")
    pretest = pretest_values(_series(120), spec)
    _, record = select_forecaster(spec)
    cands = record["candidates"]
    singles = sorted(["dlinear", "nlinear", "nbeats"], key=lambda k: cands[k]["val_mase"])
    assert cands["committee"]["members"] == singles[:2]
    p = plan(len(pretest), spec.data.window, 1, 3, adapt=True)
    members = [fold_forecasts(candidate_spec(spec, m, p.window, len(pretest)), pretest, p) for m in singles[:2]]
    scale = np.mean(np.abs(pretest[12:] - pretest[:-12]))
    for i, (_, _, score) in enumerate(p.folds):
        median = (members[0][i] + members[1][i]) / 2  # the median of two is their mean
        expected = np.mean(np.abs(median[:, 0] - pretest[score])) / scale
        assert cands["committee"]["folds"][i] == pytest.approx(expected, rel=1e-9)
    _, off = select_forecaster(spec.updated(select={"committee": 0}))
    assert "committee" not in off["candidates"]


def test_a_winning_committee_becomes_the_runs_model(tmp_path: Path, monkeypatch) -> None:
    spec = _spec(_csv(tmp_path / "s.csv", _series(120)), "select.candidates=['nlinear', 'lstm']")
    scored = {"nlinear": {"val_mase": 0.5}, "lstm": {"val_mase": 0.4},
              "committee": {"val_mase": 0.3, "members": ["lstm", "nlinear"]}}
    monkeypatch.setattr(select, "score_candidates", lambda *a: scored)
    chosen, record = choose(spec, pretest_values(_series(120), spec), 12)
    assert record["chosen"] == "committee" and chosen.model.family == "committee"
    lstm, nlinear = chosen.model.members
    assert (lstm.family, lstm.hidden_size, nlinear.family, nlinear.kernel_size) == ("lstm", 16, "linear", 1)


def test_a_network_that_loses_to_the_naive_forecast_on_validation_says_so(tmp_path: Path, capsys) -> None:
    # A random walk, and a DLinear barely trained (its random start): the naive forecast (the last value) is the
    # better one on validation, and the choice says it. Oracle for the references: the naive and
    # seasonal naive MASE per fold written out with numpy slicing.
    walk = 100 + np.cumsum(np.random.default_rng(3).standard_normal(120))
    spec = _spec(_csv(tmp_path / "walk.csv", walk), "train.epochs=1", "train.lr=1e-5", "select.candidates=['dlinear']")
    _, record = select_forecaster(spec)
    pretest = pretest_values(walk, spec)
    p = plan(len(pretest), spec.data.window, 1, 3, adapt=True)
    scale = np.mean(np.abs(pretest[12:] - pretest[:-12]))
    naive = np.mean([np.mean(np.abs(pretest[s] - pretest[s - 1])) / scale for _, _, s in p.folds])
    snaive = np.mean([np.mean(np.abs(pretest[s] - pretest[s - 12])) / scale for _, _, s in p.folds])
    assert record["references"] == pytest.approx({"naive": naive, "seasonal_naive": snaive})
    assert record["candidates"]["dlinear"]["val_mase"] > naive
    err = capsys.readouterr().err
    assert f"no network beat the naive forecast (mean MASE {naive:.3f} against" in err, err
