"""The calibrate stage: calibrated run folders from the CLI and the [uncertainty] section, and predict --uncertainty reading them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import neuroplast
from neuroplast.cli import main
from neuroplast.trust.calibrators import Uncalibrated
from neuroplast.trust.metrics import scores


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
    # humbler than the clean temperature, and far from the cap's T ~ 35,000; the bisection is sensitive: the
    # same test has given T = 3.5 and T = 715 (a 3-epoch model in a full suite run), so no tighter bound
    assert cal["temperature"] < drift["temperature"] < 5000
    assert drift["fitted_on"] == "val + noise-perturbed copies"
    # humbler on clean test inputs: ECE worse there, and said so in the terminal and the report
    assert drift["after"]["ece"] > drift["before"]["ece"]
    assert "WARNING: temperature made the test ECE worse on clean data" in capsys.readouterr().err
    assert "This calibration made the test ECE worse on clean data" in (tmp_path / "drift/report.html").read_text()
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
    for bad, says in [(["--method", "ensemble", "--members", "0"], "an ensemble needs --members (uncertainty.members) at least 2 (the run's own network and at least one more); received 0"),
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



def test_predict_uncertainty_after_calibrate(tmp_path: Path, capsys) -> None:
    import numpy as np
    from PIL import Image

    run = neuroplast.run("digits-cnn", out=tmp_path / "run", progress=False, train={"epochs": 3, "threads": 1})
    assert main(["calibrate", str(run.dir), "--out", str(tmp_path / "cal"), "--target-accuracy", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "not sure below confidence" in out
    threshold = json.loads((tmp_path / "cal/metrics.json").read_text())["calibration"]["threshold"]
    noise = tmp_path / "noise.png"  # ink, but no digit: a checkerboard of dark squares (pure noise has no ink)
    Image.fromarray(np.kron((np.indices((4, 4)).sum(0) % 2) * 255, np.ones((8, 8))).astype(np.uint8)).save(noise)
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
    noise = tmp_path / "noise.png"  # ink, but no digit: a checkerboard of dark squares (pure noise has no ink)
    Image.fromarray(np.kron((np.indices((4, 4)).sum(0) % 2) * 255, np.ones((8, 8))).astype(np.uint8)).save(noise)
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
    assert "--members (uncertainty.members) must be at least 1; received 0" in capsys.readouterr().err



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
    assert "applies to the ensemble and laplace methods, not 'temperature'" in capsys.readouterr().err
