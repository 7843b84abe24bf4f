"""Calibration: metrics against hand-worked numbers, and methods checked by their defining properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import neuroplast
from neuroplast.cli import main
from neuroplast.errors import UserError
from neuroplast.trust.calibration import MCDropout, TemperatureScaling, Uncalibrated, ece, scores


def test_ece_matches_a_hand_worked_example() -> None:
    # confidences 0.9 (right), 0.9 (wrong), 0.62 (right), 0.55 (right); 15 bins of width 1/15:
    # bin (0.867, 0.933]: accuracy 1/2, confidence 0.9 -> |0.5 - 0.9| * 2/4 = 0.2
    # bin (0.600, 0.667]: 1 vs 0.62 -> 0.38 * 1/4 = 0.095;  bin (0.533, 0.600]: 1 vs 0.55 -> 0.1125
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.38, 0.62], [0.55, 0.45]])
    labels = torch.tensor([0, 1, 1, 0])
    assert ece(probs, labels) == pytest.approx(0.2 + 0.095 + 0.1125, abs=1e-6)
    s = scores(probs, labels)
    assert s["accuracy"] == 0.75
    nll = -sum(torch.tensor(p).log().item() for p in (0.9, 0.1, 0.62, 0.55)) / 4  # p of the true class
    assert s["nll"] == pytest.approx(nll, abs=1e-6)
    assert s["brier"] == pytest.approx((0.02 + 1.62 + 2 * 0.38**2 + 2 * 0.45**2) / 4, abs=1e-6)


def test_temperature_scaling_lowers_nll_of_an_overconfident_model() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 2, generator=g)
    y = ((x[:, 0] + 0.8 * torch.randn(4000, generator=g)) > 0).long()  # noisy labels: 80% separable
    model = nn.Linear(2, 2)
    with torch.no_grad():  # the right direction, ten times too sure
        model.weight.copy_(torch.tensor([[-5.0, 0.0], [5.0, 0.0]]))
        model.bias.zero_()
    ts = TemperatureScaling(model).fit(x[:2000], y[:2000])
    before = scores(Uncalibrated(model).predict(x[2000:]).probs, y[2000:])
    after = scores(ts.predict(x[2000:]).probs, y[2000:])
    assert ts.temperature > 2.0
    assert after["nll"] < 0.8 * before["nll"] and after["ece"] < before["ece"]
    assert after["accuracy"] == before["accuracy"]  # one temperature never changes the argmax


def test_mc_dropout_with_p_zero_is_the_deterministic_prediction() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 3))
    x = torch.randn(32, 5)
    mc = MCDropout(model, samples=10).fit(x, torch.zeros(32, dtype=torch.long)).predict(x)
    with torch.no_grad():
        want = torch.softmax(model.eval()(x), dim=1)
    assert torch.allclose(mc.probs, want, atol=1e-6)
    assert mc.mutual_information.abs().max() < 1e-6
    with pytest.raises(UserError, match="has none"):
        MCDropout(nn.Linear(5, 3))


def test_mc_dropout_samples_disagree_when_dropout_is_on() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 3))
    pred = MCDropout(model, samples=20).predict(torch.randn(16, 5))
    assert pred.mutual_information.min() > 0 and torch.allclose(pred.probs.sum(1), torch.ones(16))


def test_calibrate_command_writes_a_run_folder(tmp_path: Path, capsys) -> None:
    run = neuroplast.run("digits-cnn", out=tmp_path / "run", progress=False,
                         train={"epochs": 3, "threads": 1})
    assert main(["calibrate", str(run.dir), "--out", str(tmp_path / "cal")]) == 0
    assert "ECE" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "cal/metrics.json").read_text())
    cal = metrics["calibration"]
    assert cal["method"] == "temperature" and cal["temperature"] > 0
    assert cal["before"]["accuracy"] == cal["after"]["accuracy"] == metrics["test"]["accuracy"]
    assert cal["after"]["nll"] <= cal["before"]["nll"] + 0.02
    assert (tmp_path / "cal/reliability.png").stat().st_size > 1000
    assert neuroplast.load(tmp_path / "cal").predict_proba(run.inputs(torch.zeros(1, 1, 8, 8))).shape == (1, 10)
