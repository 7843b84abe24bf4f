"""Calibration methods checked by their defining properties."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.trust.calibrators import MCDropout, TemperatureScaling, Uncalibrated
from neuroplast.trust.metrics import scores


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
    # one logit (a binary classifier read through the sigmoid): the same, with the logistic loss
    single = nn.Linear(2, 1)
    with torch.no_grad():
        single.weight.copy_(torch.tensor([[10.0, 0.0]]))
        single.bias.zero_()
    ts1 = TemperatureScaling(single).fit(x[:2000], y[:2000])
    assert ts1.temperature == pytest.approx(ts.temperature, rel=1e-3)  # sigmoid(10 x / T) = softmax of ±5 x / T
    assert scores(ts1.predict(x[2000:]).probs, y[2000:])["nll"] == pytest.approx(after["nll"], rel=1e-4)
    with pytest.raises(UserError, match="without a single error"):  # separable: the best T is 0
        TemperatureScaling(model).fit(x[:2000], (x[:2000, 0] > 0).long())



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



def test_ensemble_of_identical_members_is_the_member_and_disagreement_shows() -> None:
    from neuroplast.trust.calibrators import DeepEnsemble

    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    x = torch.randn(8, 4)
    same = DeepEnsemble([a, a]).predict(x)
    assert torch.allclose(same.probs, torch.softmax(a(x), 1).detach(), atol=1e-6)
    assert same.mutual_information.max() < 1e-6
    assert DeepEnsemble([a, b]).predict(x).mutual_information.min() > 0
    with pytest.raises(UserError, match="at least 2"):
        DeepEnsemble([a])



def test_rotate_by_90_degrees_is_rot90() -> None:
    from neuroplast.data.augment import rotate

    x = torch.rand(2, 1, 6, 6)
    out = rotate(x, 90)
    assert any(torch.allclose(out, torch.rot90(x, k, dims=(2, 3)), atol=1e-5) for k in (1, -1))
    assert torch.allclose(rotate(x, 0), x, atol=1e-6)



def test_laplace_is_humbler_far_from_the_data_than_the_map_network() -> None:
    from neuroplast.trust.calibrators import LaplaceApproximation

    torch.manual_seed(0)
    x = torch.randn(400, 2)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()  # three classes
    model = _trained_mlp(x, y, hidden=32, steps=400)
    for subset in ("last_layer", "all"):
        la = LaplaceApproximation(model, subset=subset).fit(x, y)
        described = la.describe()
        assert described["subset"] == subset and described["prior_precision"][0] > 0
        near = la.predict(x)
        assert (near.label == model(x).argmax(1)).float().mean() > 0.97  # the same answers where the data is
        far = torch.randn(200, 2) * 50  # where no training point was, ReLU logits grow without bound
        map_conf = torch.softmax(model(far), 1).max(1).values.detach()
        la_conf = la.predict(far).confidence
        assert map_conf.median() > 0.999 and la_conf.mean() < 0.97 and (la_conf < map_conf).float().mean() > 0.9
    assert LaplaceApproximation(model).subset == "all"  # a small plain MLP: every weight
    # a channels-last CNN (as mnist-fast trains) is fitted on a contiguous copy; the model is untouched
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    cnn = cnn.to(memory_format=torch.channels_last)
    images = torch.randn(64, 1, 8, 8).to(memory_format=torch.channels_last)
    la = LaplaceApproximation(cnn).fit(images, torch.randint(0, 3, (64,)))
    assert la.subset == "last_layer" and la.predict(images).probs.shape == (64, 3)
    assert cnn[0].weight.is_contiguous(memory_format=torch.channels_last)



def test_an_ensemble_of_laplace_approximations_averages_their_predictives() -> None:
    from neuroplast.trust.calibrators import DeepEnsemble, LaplaceApproximation

    torch.manual_seed(0)
    x = torch.randn(300, 2)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(LaplaceApproximation(_trained_mlp(x, y, hidden=16, steps=200)).fit(x, y))
    probe = torch.randn(50, 2) * 3
    mixture = DeepEnsemble(members).predict(probe)
    expected = (members[0].predict(probe).probs + members[1].predict(probe).probs) / 2
    assert torch.allclose(mixture.probs, expected, atol=1e-6)
    assert mixture.probs.sum(1).sub(1).abs().max() < 1e-5



def test_noise_perturbed_levels_walk_the_accuracy_from_clean_to_chance() -> None:
    from neuroplast.trust import noise_perturbed

    torch.manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [-2.0, 3.5], [-2.0, -3.5]])
    y = torch.randint(0, 3, (3000,))
    x = centres[y] + 0.5 * torch.randn(3000, 2)
    model = nn.Linear(2, 3)  # the Bayes classifier of three equal Gaussians: logits c·x - |c|²/2
    with torch.no_grad():
        model.weight.copy_(centres)
        model.bias.copy_(-centres.pow(2).sum(1) / 2)
    base = Uncalibrated(model)
    x_all, y_all, sigmas = noise_perturbed(base, x, y, levels=4)
    assert x_all.shape == (5 * 3000, 2) and torch.equal(y_all[3000:6000], y) and torch.equal(x_all[:3000], x)
    assert sigmas == sorted(sigmas) and sigmas[0] > 0
    clean = (base.predict(x).label == y).float().mean().item()
    for k in range(1, 5):  # each copy (a fresh noise draw) sits near its target accuracy
        copy = x_all[k * 3000:(k + 1) * 3000]
        accuracy = (base.predict(copy).label == y).float().mean().item()
        assert accuracy == pytest.approx(clean - (clean - 1 / 3) * k / 4, abs=0.04)
    # the clean points are separable (a temperature fitted on them alone is refused: it would be 0);
    # the more noise in the fitting data, the higher the temperature
    with pytest.raises(UserError, match="without a single error"):
        TemperatureScaling(model).fit(x, y)
    mild = TemperatureScaling(model).fit(x_all[:6000], y_all[:6000]).temperature
    assert TemperatureScaling(model).fit(x_all, y_all).temperature > mild
    # a network that keeps answering its favourite class on pure noise never falls to chance: the
    # levels it cannot reach are left out instead of searched out to MAX_NOISE
    stubborn = nn.Sequential(nn.Tanh(), nn.Linear(2, 3))
    with torch.no_grad():
        stubborn[1].weight.copy_(centres / 4)
        stubborn[1].bias.copy_(torch.tensor([1.5, 0.0, 0.0]))
    y_skew = torch.where(torch.rand(3000) < 0.6, 0, y)  # 60%+ of the labels are class 0
    x_skew = centres[y_skew] + 0.5 * torch.randn(3000, 2)
    base = Uncalibrated(stubborn)
    _, y_some, sigmas = noise_perturbed(base, x_skew, y_skew, levels=10)
    assert 0 < len(sigmas) < 10 and max(sigmas) < 1e3 and len(y_some) == (len(sigmas) + 1) * 3000
    with pytest.raises(UserError, match="token ids"):
        noise_perturbed(base, torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(UserError, match="validation split is empty"):
        noise_perturbed(base, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))



def test_temperature_composes_with_another_method() -> None:
    from neuroplast.trust.calibrators import DeepEnsemble

    torch.manual_seed(0)
    x = torch.randn(3000, 5)
    y = (x[:, 0] + 0.3 * torch.randn(3000) > 0).long()
    members = []
    for k in range(2):
        torch.manual_seed(k)
        m = nn.Linear(5, 2)
        with torch.no_grad():  # deliberately over-confident members: logits scaled up 8x
            m.weight.copy_(torch.tensor([[-4.0, 0, 0, 0, 0], [4.0, 0, 0, 0, 0]]) + 0.5 * torch.randn(2, 5))
            m.bias.zero_()
        members.append(m)
    ensemble = DeepEnsemble(members)
    both = TemperatureScaling(ensemble).fit(x[:1500], y[:1500])
    assert both.temperature > 1.2  # it softens the over-confident average
    before, after = scores(ensemble.predict(x[1500:]).probs, y[1500:]), scores(both.predict(x[1500:]).probs, y[1500:])
    assert after["nll"] < before["nll"] and after["accuracy"] == before["accuracy"]



def _trained_mlp(x: torch.Tensor, y: torch.Tensor, hidden: int, steps: int) -> nn.Module:
    """A 2-input, 3-class ReLU MLP fitted full-batch by Adam (the seed is the caller's)."""
    model = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model
