"""Calibration metrics against hand-worked numbers: ECE, its floor, the selective threshold."""

from __future__ import annotations

import pytest
import torch

from neuroplast.trust.metrics import ece, ece_floor, ece_if_calibrated, scores


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



def test_ece_floor_is_the_sampling_noise_of_a_perfectly_calibrated_model() -> None:
    # Every confidence 0.8, all in one bin: ECE = |mean of n Bernoulli(0.8) - 0.8|, whose median is
    # 0.6745 * sqrt(0.8 * 0.2 / n) by the normal approximation (0.6745: the median of |N(0, 1)|).
    n = 2500
    probs = torch.tensor([[0.8, 0.2]]).repeat(n, 1)
    assert ece_floor(probs, draws=2000) == pytest.approx(0.6745 * (0.16 / n) ** 0.5, rel=0.1)
    assert ece_floor(torch.tensor([[1.0, 0.0]]).repeat(100, 1)) == 0.0  # sure and right: no noise
    # The draws themselves: |N(0, sigma)|, so 95% of them lie below 1.96 sigma (the sampling noise).
    draws = ece_if_calibrated(probs, draws=2000, seed=1)
    assert len(draws) == 2000 and float(draws.median()) == pytest.approx(ece_floor(probs, draws=2000, seed=1))
    assert float(draws.quantile(0.95)) == pytest.approx(1.96 * (0.16 / n) ** 0.5, rel=0.1)
    # A model calibrated by construction scores near its floor; ten times the data, about 1/sqrt(10).
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(20000, 10, generator=g), dim=1)
    labels = torch.multinomial(probs, 1, generator=g).squeeze(1)  # labels drawn from the probabilities
    floor = ece_floor(probs)
    assert 0.5 * floor < ece(probs, labels) < 2.5 * floor
    assert ece_floor(probs[:2000]) / floor == pytest.approx(10**0.5, rel=0.25)



def test_selective_threshold_by_hand() -> None:
    from neuroplast.trust.metrics import selective_threshold

    conf = torch.tensor([0.99, 0.95, 0.90, 0.80, 0.70, 0.60])
    right = torch.tensor([True, True, False, True, False, True])
    # kept accuracy from the top: 1, 1, 2/3, 3/4, 3/5, 4/6 -> 100% needs threshold 0.95, 75% -> 0.80
    assert selective_threshold(conf, right, 1.0) == pytest.approx(0.95)
    assert selective_threshold(conf, right, 0.75) == pytest.approx(0.80)
    assert selective_threshold(conf, ~right, 0.99) == 1.0  # the most confident answer is wrong
