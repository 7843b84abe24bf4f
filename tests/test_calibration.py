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
from neuroplast.trust.calibrators import MCDropout, TemperatureScaling, Uncalibrated
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
    # a temperature for drifting inputs: fitted on validation plus noisy copies, it is humbler
    assert main(["calibrate", str(run.dir), "--perturb", "--out", str(tmp_path / "drift")]) == 0
    drift = json.loads((tmp_path / "drift/metrics.json").read_text())["calibration"]
    sigmas = drift["perturbed"]["sigmas"]
    assert 1 <= drift["perturbed"]["levels"] == len(sigmas) <= 10 and sigmas == sorted(sigmas)
    assert drift["perturbed"]["val_samples"] == cal["val_samples"]
    assert max(sigmas) < 1e3  # no level searched out to the cap (that one flattened every answer, T ~ 35,000)
    assert cal["temperature"] < drift["temperature"] < 100
    assert drift["fitted_on"] == "val + noise-perturbed copies"
    assert main(["calibrate", str(run.dir), "--method", "mc-dropout", "--perturb"]) == 2
    assert "use it with method 'temperature' or with --then-temperature" in capsys.readouterr().err
    # where the calibrated folder goes: never the run itself, a file, or another trained run
    (tmp_path / "a.txt").write_text("x")
    for out, says in [(run.dir, "is the run being read"), (tmp_path / "a.txt", "is a file"),
                      (run.dir.parent / "run", "is the run being read")]:
        assert main(["calibrate", str(run.dir), "--out", str(out)]) == 2
        assert says in capsys.readouterr().err
    other = neuroplast.run("digits-mlp", out=tmp_path / "other", progress=False, train={"epochs": 1, "threads": 1})
    assert main(["calibrate", str(run.dir), "--out", str(other.dir)]) == 2
    assert "already holds a trained run" in capsys.readouterr().err
    assert main(["calibrate", str(tmp_path / "cal")]) == 2  # calibrating a calibrated folder drops its method
    assert "already calibrated (temperature); calibrate its parent" in capsys.readouterr().err
    for bad, says in [(["--method", "ensemble", "--members", "1"], "an ensemble needs --members (uncertainty.members) at least 2"),
                      (["--then-temperature"], "method 'temperature' already is one")]:
        assert main(["calibrate", str(run.dir), *bad]) == 2 and says in capsys.readouterr().err
    import os

    here = os.getcwd()
    os.chdir(run.dir)
    try:  # "." names the run: the default folder goes inside it, as from the spec's [uncertainty]
        assert main(["calibrate", "."]) == 0
    finally:
        os.chdir(here)
    assert (run.dir / "calibrated-temperature/metrics.json").is_file()


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


def test_ood_metrics_and_mahalanobis_by_construction() -> None:
    from neuroplast.trust import Mahalanobis, ood_metrics  # the public names

    assert ood_metrics(torch.tensor([0.1, 0.2]), torch.tensor([0.8, 0.9])) == {"auroc": 1.0, "fpr_at_95_tpr": 0.0}
    assert ood_metrics(torch.tensor([0.8, 0.9]), torch.tensor([0.1, 0.2]))["auroc"] == 0.0
    # identity features: two tight classes at (+3, 0) and (-3, 0); (0, 8) is far from both
    model = nn.Sequential(nn.Identity(), nn.Linear(2, 2))
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(200, 2, generator=g) * 0.3 + torch.tensor([3.0, 0.0]),
                   torch.randn(200, 2, generator=g) * 0.3 - torch.tensor([3.0, 0.0])])
    y = torch.cat([torch.zeros(200), torch.ones(200)]).long()
    maha = Mahalanobis().fit(model, x, y)
    near, far = maha.score(torch.tensor([[3.0, 0.0], [-3.1, 0.1]])), maha.score(torch.tensor([[0.0, 8.0]]))
    assert near.max() < 1.0 and far.item() > 100


def test_rotate_by_90_degrees_is_rot90() -> None:
    from neuroplast.data.augment import rotate

    x = torch.rand(2, 1, 6, 6)
    out = rotate(x, 90)
    assert any(torch.allclose(out, torch.rot90(x, k, dims=(2, 3)), atol=1e-5) for k in (1, -1))
    assert torch.allclose(rotate(x, 0), x, atol=1e-6)


def test_selective_threshold_by_hand() -> None:
    from neuroplast.trust.metrics import selective_threshold

    conf = torch.tensor([0.99, 0.95, 0.90, 0.80, 0.70, 0.60])
    right = torch.tensor([True, True, False, True, False, True])
    # kept accuracy from the top: 1, 1, 2/3, 3/4, 3/5, 4/6 -> 100% needs threshold 0.95, 75% -> 0.80
    assert selective_threshold(conf, right, 1.0) == pytest.approx(0.95)
    assert selective_threshold(conf, right, 0.75) == pytest.approx(0.80)
    assert selective_threshold(conf, ~right, 0.99) == 1.0  # the most confident answer is wrong


def test_predict_uncertainty_after_calibrate(tmp_path: Path, capsys) -> None:
    import numpy as np
    from PIL import Image

    run = neuroplast.run("digits-cnn", out=tmp_path / "run", progress=False, train={"epochs": 3, "threads": 1})
    assert main(["calibrate", str(run.dir), "--out", str(tmp_path / "cal"), "--target-accuracy", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "not sure below confidence" in out
    threshold = json.loads((tmp_path / "cal/metrics.json").read_text())["calibration"]["threshold"]
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)).save(noise)
    assert main(["predict", str(tmp_path / "cal"), str(noise), "--uncertainty"]) == 0
    line = capsys.readouterr().out.strip()
    confidence = float(line.split("confidence ")[1].split(",")[0])
    assert "entropy" in line and line.endswith("not sure" if confidence < threshold else "sure")


def test_calibrate_with_mahalanobis_flags_unfamiliar_inputs(tmp_path: Path, capsys) -> None:
    import numpy as np
    from PIL import Image

    run = neuroplast.run("digits-cnn", out=tmp_path / "run", progress=False, train={"epochs": 3, "threads": 1})
    assert main(["calibrate", str(run.dir), "--out", str(tmp_path / "cal"), "--ood", "mahalanobis"]) == 0
    assert "unfamiliar above Mahalanobis distance" in capsys.readouterr().out
    ood = json.loads((tmp_path / "cal/metrics.json").read_text())["calibration"]["ood"]
    assert ood["layer"] == "features" and ood["test_flagged"] < 0.1 and (tmp_path / "cal/ood.safetensors").is_file()
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)).save(noise)
    assert main(["predict", str(tmp_path / "cal"), str(noise), "--uncertainty"]) == 0
    assert capsys.readouterr().out.strip().endswith("not sure (unlike the training data)")


def test_uncertainty_and_explain_sections_run_after_training(tmp_path: Path) -> None:
    run = neuroplast.run("digits-cnn", out=tmp_path / "run", progress=False,
                         train={"epochs": 2, "threads": 1},
                         uncertainty={"method": "temperature", "ood": "mahalanobis"},
                         explain={"method": "saliency", "count": 2})
    cal = json.loads((run.dir / "calibrated-temperature/metrics.json").read_text())["calibration"]
    assert cal["temperature"] > 0 and "ood" in cal
    assert len(list((run.dir / "explain-saliency").glob("*.png"))) == 2
    spec = neuroplast.load_spec(run.dir / "spec.toml")  # the sections round-trip through spec.toml
    assert spec.uncertainty.ood == "mahalanobis" and spec.explain.count == 2


def test_stages_that_cannot_run_fail_before_training(tmp_path: Path, capsys) -> None:
    for spec, sets, says in [
        ("diabetes-mlp", ["uncertainty.method=\"temperature\""], "[uncertainty] calibrates classifiers"),
        ("wine-mlp", ["explain.method=\"ig\""], "[explain] draws heatmaps for image classifiers"),
        ("digits-mlp", ["explain.method=\"gradcam\""], "'gradcam' needs a CNN"),
        ("digits-cnn", ["model.dropout=0", "uncertainty.method=\"mc-dropout\""], "needs dropout layers"),
    ]:
        overrides = [a for s in sets for a in ("--set", s)]
        assert main(["run", spec, *overrides, "--out", str(tmp_path / spec), "--quiet"]) == 2
        assert says in capsys.readouterr().err
        assert not (tmp_path / spec).exists()  # nothing trained, no folder


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


def test_calibrate_ensemble_trains_members_and_predict_uses_them(tmp_path: Path, capsys) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, overrides=["train.epochs=3"])
    assert main(["calibrate", str(run.dir), "--method", "ensemble", "--members", "3", "--out",
                 str(tmp_path / "ens")]) == 0
    cal = json.loads((tmp_path / "ens/metrics.json").read_text())["calibration"]
    assert cal["method"] == "ensemble" and cal["members"] == 3
    assert sorted(p.name for p in (tmp_path / "ens/members").iterdir()) == ["seed-1", "seed-2"]
    assert cal["after"]["nll"] < cal["before"]["nll"]  # three networks know more than one
    # every member kept the parent's split: none trained on the validation images that calibrate
    # the ensemble, nor on the test images that score it
    from neuroplast.data import load_dataset

    parent = load_dataset(run.spec.data, run.spec.seed)
    for folder in ("seed-1", "seed-2"):
        member = neuroplast.load(tmp_path / "ens/members" / folder)
        assert member.spec.seed != run.spec.seed and member.spec.data.split_seed == run.spec.seed
        data = load_dataset(member.spec.data, member.spec.seed)
        assert torch.equal(data.x_val, parent.x_val) and torch.equal(data.x_test, parent.x_test)
    capsys.readouterr()
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    png = tmp_path / "d.png"
    Image.fromarray((load_digits().images[0] * 255 / 16).astype(np.uint8)).save(png)
    assert main(["predict", str(tmp_path / "ens"), str(png), "--uncertainty"]) == 0
    out = capsys.readouterr().out
    assert "confidence" in out and "mutual information" in out  # the members' disagreement
    assert main(["predict", str(run.dir), str(png), "--uncertainty"]) == 0  # not calibrated: no threshold
    assert "no 'not sure' threshold: run `neuroplast calibrate`" in capsys.readouterr().out


def test_calibrate_laplace_alone_and_as_a_mixture_and_predict_uses_it(tmp_path: Path, capsys) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, overrides=["train.epochs=3"])
    assert main(["calibrate", str(run.dir), "--method", "laplace", "--out", str(tmp_path / "la")]) == 0
    one = json.loads((tmp_path / "la/metrics.json").read_text())["calibration"]
    assert one["method"] == "laplace" and one["subset"] in ("all", "last_layer") and "members" not in one
    assert not (tmp_path / "la/members").exists()
    assert main(["calibrate", str(run.dir), "--method", "laplace", "--members", "2", "--out",
                 str(tmp_path / "mix")]) == 0
    mix = json.loads((tmp_path / "mix/metrics.json").read_text())["calibration"]
    assert mix["members"] == 2 and mix["subset"] == one["subset"] and mix["prior_precision"]
    assert [p.name for p in (tmp_path / "mix/members").iterdir()] == ["seed-1"]
    assert mix["after"]["accuracy"] >= one["after"]["accuracy"] - 0.01  # two networks, one vote each
    capsys.readouterr()
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    png = tmp_path / "d.png"
    Image.fromarray((load_digits().images[0] * 255 / 16).astype(np.uint8)).save(png)
    assert main(["predict", str(tmp_path / "mix"), str(png), "--uncertainty"]) == 0
    assert "confidence" in capsys.readouterr().out
    assert main(["calibrate", str(run.dir), "--method", "laplace", "--members", "0"]) == 2
    assert "--members (uncertainty.members): Input should be greater than or equal to 1; received 0" in capsys.readouterr().err


def test_laplace_prior_is_checked_on_validation_so_calibration_does_not_collapse(tmp_path: Path, capsys) -> None:
    """The 8x8 digits CNN fits its 1,293 training images almost perfectly: the curvature there is tiny
    and the marginal likelihood picks a prior so weak (2.5) that every answer drifts towards uniform.
    With the validation split the prior is checked and calibration holds."""
    from neuroplast.data import load_dataset
    from neuroplast.trust.calibrators import LaplaceApproximation

    run = neuroplast.run("digits-cnn", out=tmp_path / "run", progress=False, train={"threads": 1})
    data = load_dataset(run.spec.data, run.spec.seed)
    network_nll = scores(Uncalibrated(run.model).predict(data.x_val).probs, data.y_val)["nll"]
    marglik = LaplaceApproximation(run.model).fit(data.x_train, data.y_train)
    checked = LaplaceApproximation(run.model).fit(data.x_train, data.y_train, val=(data.x_val, data.y_val))
    assert marglik.describe()["prior_from"] == "marginal likelihood"
    assert checked.describe()["marglik_prior_precision"] == marglik.describe()["prior_precision"]
    marglik_nll = scores(marglik.predict(data.x_val).probs, data.y_val)["nll"]
    checked_nll = scores(checked.predict(data.x_val).probs, data.y_val)["nll"]
    assert checked_nll <= min(marglik_nll, network_nll * 1.05)  # the grid reaches the network's own answers
    assert main(["calibrate", str(run.dir), "--method", "laplace", "--out", str(tmp_path / "la")]) == 0
    cal = json.loads((tmp_path / "la/metrics.json").read_text())["calibration"]
    assert cal["fitted_on"] == "train (curvature), val (prior check)"
    assert cal["prior_precision_per_network"] == [checked.describe()["prior_precision"]]
    assert cal["prior_from_per_network"] == [checked.describe()["prior_from"]]
    from neuroplast.stages.calibrate import calibrated_method as _calibrator

    # predict --uncertainty rebuilds the posterior calibrate scored
    rebuilt = _calibrator(neuroplast.load(tmp_path / "la")).predict(data.x_test)
    assert scores(rebuilt.probs, data.y_test)["nll"] == pytest.approx(cal["after"]["nll"], rel=1e-5)
    assert cal["after"]["ece"] < cal["before"]["ece"] + 0.01 and cal["after"]["nll"] < cal["before"]["nll"] * 1.2
    capsys.readouterr()
    assert main(["calibrate", str(run.dir), "--target-accuracy", "1.5"]) == 2
    assert "--target-accuracy (uncertainty.target_accuracy): Input should be less than or equal to 1; received 1.5" in capsys.readouterr().err
    assert main(["calibrate", str(run.dir), "--method", "temperature", "--members", "3"]) == 2
    assert "applies to the ensemble and laplace methods, not temperature" in capsys.readouterr().err


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
