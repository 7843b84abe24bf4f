"""Split conformal intervals: the quantile rule by hand, coverage on a problem with a known model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import neuroplast
from neuroplast.errors import UserError
from neuroplast.stages.conformal import conformal_scores
from neuroplast.trust.intervals import (
    Interval,
    SplitConformal,
    conformal_rank,
    coverage,
    min_calibration_points,
)


def _zero_model(d: int = 1, targets: int = 1) -> nn.Module:
    """Predicts 0 for every input, so the residuals are |y|."""
    model = nn.Linear(d, targets)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    return model


def test_quantile_is_the_hand_worked_order_statistic() -> None:
    # 9 residuals, alpha = 0.2: k = ceil((9 + 1) * 0.8) = 8, the 8th smallest.
    # sorted |y|: 0.5, 1, 2, 3, 4, 6, 7, 8, 9  ->  q = 8
    y = torch.tensor([0.5, -3.0, 1.0, 7.0, -2.0, 9.0, 4.0, -6.0, 8.0])[:, None]
    x = torch.zeros(9, 1)
    assert conformal_rank(9, 0.2) == 8
    cp = SplitConformal(_zero_model(), alpha=0.2).fit(x, y)
    assert cp.q.tolist() == [8.0]
    # alpha = 0.1: k = ceil(10 * 0.9) = 9 (not 10, despite floating point): the largest, 9
    assert conformal_rank(9, 0.1) == 9
    assert SplitConformal(_zero_model(), alpha=0.1).fit(x, y).q.tolist() == [9.0]
    interval = cp.predict(torch.zeros(2, 1))
    assert interval.lower.tolist() == [[-8.0], [-8.0]] and interval.upper.tolist() == [[8.0], [8.0]]
    # each target column has its own q: column 2 is column 1 times 10
    cp2 = SplitConformal(_zero_model(1, 2), alpha=0.2).fit(x, torch.cat([y, 10 * y], dim=1))
    assert cp2.q.tolist() == [8.0, 80.0]


def test_too_few_calibration_points_says_how_many_are_needed() -> None:
    assert min_calibration_points(0.1) == 9  # (n + 1) * 0.9 <= n  <=>  n >= 9
    assert min_calibration_points(0.2) == 4
    assert min_calibration_points(0.05) == 19
    with pytest.raises(UserError, match=r"needs at least 9 calibration points; received 8.* a lower coverage "
                       r"\(--coverage; a larger alpha\): with 8 points at most 0\.889"):
        SplitConformal(_zero_model(), alpha=0.1).fit(torch.zeros(8, 1), torch.ones(8, 1))
    with pytest.raises(UserError, match="alpha"):
        SplitConformal(_zero_model(), alpha=1.5)


def test_coverage_on_a_linear_gaussian_problem_with_the_exact_model() -> None:
    # y = x·w + b + N(0, 1); the model is exactly x·w + b, so residuals are |N(0, 1)|, q -> 1.645 and
    # the coverage given q is exactly P(|Z| <= q) = erf(q / sqrt 2). With 2000 calibration points that
    # coverage is Beta(1801, 200): mean 0.90005, sd 0.0067 (plus 0.002 from 20000 test points), so one
    # draw lands outside 0.9 ± 0.01 about one time in five (seed 0's first draw: 0.9105). The guarantee
    # is about the average over calibration sets: check the mean of 10 independent draws to ± 0.01
    # (its sd is ~0.0025), each draw to ± 0.03, and each draw against its exact coverage to ± 0.01.
    g = torch.Generator().manual_seed(0)
    w, b = torch.tensor([[1.5], [-2.0], [0.5]]), 0.3
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(w.T)
        model.bias.fill_(b)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, 3, generator=g)
        return x, x @ w + b + torch.randn(n, 1, generator=g)

    found = []
    for _ in range(10):
        cp = SplitConformal(model, alpha=0.1).fit(*draw(2000))
        x_test, y_test = draw(20000)
        interval = cp.predict(x_test)
        found.append(coverage(interval, y_test))
        q = cp.q.item()
        assert found[-1] == pytest.approx(0.9, abs=0.03)
        assert found[-1] == pytest.approx(math.erf(q / math.sqrt(2)), abs=0.01)
        assert q == pytest.approx(1.645, abs=0.12)
        assert interval.width.mean().item() == pytest.approx(2 * q, rel=1e-5)
    assert sum(found) / len(found) == pytest.approx(0.9, abs=0.01)


def test_to_units_and_coverage_per_target() -> None:
    interval = Interval(torch.tensor([[0.0, 1.0]]), torch.tensor([[-1.0, 0.0]]), torch.tensor([[1.0, 2.0]]))
    units = interval.to_units({"target_mean": [10.0, 0.0], "target_std": [2.0, 3.0]})
    assert units.mean.tolist() == [[10.0, 3.0]]
    assert units.lower.tolist() == [[8.0, 0.0]] and units.upper.tolist() == [[12.0, 6.0]]
    y = torch.tensor([[12.0, 7.0]])  # on the upper end (inside), above the upper end (outside)
    assert coverage(units, y) == 0.5
    assert coverage(units, y, per_target=True) == [1.0, 0.0]


def test_conformal_stage_reports_in_target_units(tmp_path: Path) -> None:
    run = neuroplast.run("diabetes-mlp", progress=False, out=tmp_path / "run", train={"epochs": 3})
    result = conformal_scores(neuroplast.load(tmp_path / "run"), alpha=0.1)
    assert result["val_samples"] == run.metrics["data"]["val"] == 36
    assert result["rank"] == 34  # ceil(37 * 0.9) = ceil(33.3)
    assert 0 <= result["test_coverage"] <= 1
    std = run.preprocess["target_std"][0]
    assert result["test_mean_width"] == pytest.approx(2 * result["q"][0], rel=1e-4)
    assert result["q"][0] > std * 0.1  # in target units (disease progression, std ~77), not standardized
    with pytest.raises(UserError, match="needs at least 99 calibration points"):
        conformal_scores(neuroplast.load(tmp_path / "run"), alpha=0.01)


def test_predict_uncertainty_prints_the_conformal_interval_of_a_regression(tmp_path: Path, capsys) -> None:
    import re

    from sklearn.datasets import load_diabetes

    from neuroplast.cli import main

    run = neuroplast.run("diabetes-mlp", progress=False, out=tmp_path / "run", train={"epochs": 3})
    rows = load_diabetes(as_frame=True).frame.drop(columns="target").head(3)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(run.dir), str(tmp_path / "rows.csv"), "--uncertainty"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("(90% interval, split conformal on 36 validation examples)" in line
                                   for line in lines)
    q = conformal_scores(neuroplast.load(run.dir), alpha=0.1)["q"][0]  # the half-width in target units, computed apart
    for line, value in zip(lines, run.predict([tmp_path / "rows.csv"]), strict=True):
        point, low, high = map(float, re.search(r": (\S+) \[(\S+), (\S+)\] \(90%", line).groups())
        assert point == pytest.approx(value, rel=1e-5)
        assert low == pytest.approx(value - q, rel=1e-4) and high == pytest.approx(value + q, rel=1e-4)
    assert main(["predict", str(run.dir), str(tmp_path / "rows.csv"), "--uncertainty", "--coverage", "0.99"]) == 2
    assert "(coverage 99%) needs at least 99 calibration points; received 36" in capsys.readouterr().err
    assert main(["predict", str(run.dir), str(tmp_path / "rows.csv"), "--coverage", "0.8"]) == 2
    assert "--uncertainty is not set" in capsys.readouterr().err


def test_forecast_intervals_are_one_range_per_step(tmp_path: Path, capsys) -> None:
    from neuroplast.cli import main

    run = neuroplast.run("sunspots-lstm", progress=False, out=tmp_path / "sun",
                         overrides=["data.horizon=3", "train.epochs=2"])
    (tmp_path / "years.csv").write_text("sunspots\n" + "\n".join(str(10.0 + i) for i in range(24)) + "\n")
    capsys.readouterr()
    assert main(["predict", str(run.dir), str(tmp_path / "years.csv"), "--uncertainty"]) == 0
    line = capsys.readouterr().out.strip()
    steps = line.split(": ", 1)[1].split(" (90% intervals")[0].split("; ")
    assert len(steps) == 3  # "value [low, high]" for each of the three years ahead
    for step in steps:
        value, low, high = map(float, step.replace("[", "").replace("]", "").replace(",", "").split())
        assert low < value < high


# --------------------------------------------------------------------------- the Gaussian head
def test_gaussian_nll_loss_matches_the_formula() -> None:
    from neuroplast.train.objective import gaussian, make_objective

    obj = make_objective("regression", 2, "gaussian_nll")
    out = torch.tensor([[1.0, 0.0], [-0.5, 2.0]])  # (mean, raw variance) per row, one target
    y = torch.tensor([[1.5], [0.5]])
    mean, var = gaussian(out)
    assert torch.allclose(var, torch.nn.functional.softplus(out[:, 1:]) + 1e-6)
    by_hand = 0.5 * (var.log() + (y - mean) ** 2 / var).mean()  # the Gaussian NLL without log(2 pi) / 2
    assert obj.loss(out, y).item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert torch.equal(obj.predict(out), out[:, :1]) and obj.heads == 2


def _heteroscedastic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 4 - 2
    noise = torch.where(x > 0, 1.0, 0.1)  # ten times noisier on the right
    return x, 0.5 * x + noise * torch.randn(n, 1, generator=g)


def test_a_gaussian_head_learns_where_the_noise_is_and_conformal_keeps_coverage() -> None:
    from neuroplast.train.objective import make_objective
    from neuroplast.trust.intervals import GaussianIntervals

    torch.manual_seed(0)
    x, y = _heteroscedastic(4000, 0)
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 2))
    obj = make_objective("regression", 2, "gaussian_nll")
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(600):
        opt.zero_grad()
        obj.loss(model(x), y).backward()
        opt.step()
    x_cal, y_cal = _heteroscedastic(2000, 1)
    x_test, y_test = _heteroscedastic(4000, 2)
    plain = SplitConformal(model, 0.1, heads=2).fit(x_cal, y_cal)
    interval = plain.predict(x_test)
    width = interval.width.squeeze(1)
    assert width[x_test[:, 0] > 0.2].median() > 5 * width[x_test[:, 0] < -0.2].median()
    assert 0.88 <= coverage(interval, y_test) <= 0.92
    # the head's own 90% intervals, right here because the noise really is Gaussian
    assert 0.87 <= coverage(GaussianIntervals(model, 0.1).predict(x_test), y_test) <= 0.93
    # plain residuals give one width everywhere: too wide on the left, too narrow on the right
    constant = SplitConformal(_MeanOnly(model), 0.1).fit(x_cal, y_cal).predict(x_test)
    right = x_test[:, 0] > 0
    assert coverage(constant, y_test) >= 0.88
    inside = ((y_test >= constant.lower) & (y_test <= constant.upper)).squeeze(1)
    assert inside[right].float().mean() < 0.85 < inside[~right].float().mean()


class _MeanOnly(nn.Module):
    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)[:, :1]


def test_gaussian_head_run_reloads_and_predicts_in_units(tmp_path: Path) -> None:
    run = neuroplast.run("diabetes-mlp", out=tmp_path / "g", progress=False,
                         overrides=["train.loss=gaussian_nll", "train.epochs=20"])
    again = neuroplast.load(run.dir)
    last = [m for m in again.model.modules() if isinstance(m, nn.Linear)][-1]
    assert last.out_features == 2  # mean and variance
    data = neuroplast.data.load_dataset(run.spec.data, run.spec.seed)
    pred = again.predict(data.x_test)
    assert pred.shape == (len(data.x_test),)
    rmse = float(((torch.as_tensor(pred) - (data.y_test[:, 0] * run.preprocess["target_std"][0]
                                               + run.preprocess["target_mean"][0])) ** 2).mean().sqrt())
    assert rmse == pytest.approx(run.metrics["test"]["rmse"], rel=1e-4)
    c = conformal_scores(neuroplast.load(run.dir), 0.1)
    assert c["normalized"] and 0 < c["gaussian_test_coverage"] <= 1 and c["test_mean_width"] > 0


def test_adaptive_conformal_recovers_coverage_when_the_errors_grow() -> None:
    from neuroplast.trust.intervals import AdaptiveConformal

    # a "forecaster" that predicts 0 while the noise of the series doubles, then doubles again:
    # split conformal calibrated on the quiet start under-covers; ACI follows the errors
    g = torch.Generator().manual_seed(0)
    x_cal = torch.zeros(50, 1)
    y_cal = torch.randn(50, 1, generator=g)
    scale = torch.cat([torch.full((100,), 2.0), torch.full((100,), 4.0)])[:, None]
    x_test, y_test = torch.zeros(200, 1), torch.randn(200, 1, generator=g) * scale
    model = _zero_model()
    split = SplitConformal(model, 0.1).fit(x_cal, y_cal).predict(x_test)
    assert coverage(split, y_test) < 0.7
    aci = AdaptiveConformal(model, 0.1, gamma=0.05).fit(x_cal, y_cal)
    adaptive = aci.predict_online(x_test, y_test)
    assert 0.85 <= coverage(adaptive, y_test) <= 0.95
    assert len(aci.alphas) == 200 and min(a[0] for a in aci.alphas) < 0.1  # it lowered alpha to widen
    # Gibbs & Candès, Prop. 4.1: |miss rate - alpha| <= (max(alpha, 1 - alpha) + gamma) / (gamma T)
    miss = 1 - coverage(adaptive, y_test)
    assert abs(miss - 0.1) <= (0.9 + 0.05) / (0.05 * 200)


def test_ensemble_intervals_by_the_law_of_total_variance() -> None:
    from neuroplast.trust.intervals import SampledIntervals

    def constant(mean: float, raw: float) -> nn.Module:  # a Gaussian head that ignores its input
        m = nn.Linear(1, 2)
        with torch.no_grad():
            m.weight.zero_()
            m.bias.copy_(torch.tensor([mean, raw]))
        return m

    softplus_inv = math.log(math.e - 1)  # softplus(raw) = 1
    members = [constant(1.0, softplus_inv), constant(3.0, softplus_inv)]
    interval = SampledIntervals(members, alpha=0.1, heads=2).predict(torch.zeros(4, 1))
    # means 1 and 3: mean 2, variance of the means 1; each variance 1 (+1e-6): total 2
    z = 1.6448536
    assert torch.allclose(interval.mean, torch.full((4, 1), 2.0))
    assert torch.allclose(interval.upper - interval.mean, torch.full((4, 1), z * math.sqrt(2 + 1e-6)), atol=1e-5)
    plain = SampledIntervals([nn.Linear(1, 1), nn.Linear(1, 1)], alpha=0.1)
    assert plain.predict(torch.zeros(3, 1)).width.shape == (3, 1)
    with pytest.raises(UserError, match="at least 2 networks"):
        SampledIntervals([nn.Linear(1, 1)])
    dropout_net = nn.Sequential(nn.Linear(1, 64), nn.Dropout(0.5), nn.Linear(64, 1))
    mc = SampledIntervals(dropout_net, mc_samples=20).predict(torch.ones(5, 1))
    assert (mc.width > 0).all()  # the passes disagree
