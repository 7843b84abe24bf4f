"""The hebbian-fc family: competing hidden units (no gradient), relu(I)^n features, a linear readout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import neuroplast
from neuroplast.models import CompetingNet, build_model
from neuroplast.spec import HebbianFCSpec, load_spec


def test_no_gradient_reaches_the_hebbian_weight_but_the_readout_trains() -> None:
    model = CompetingNet((1, 4, 4), 3, units=6, k=2, learning_samples=100).train()
    x, y = torch.rand(8, 1, 4, 4), torch.randint(0, 3, (8,))
    start = model.hebbian.weight.clone()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert model.hebbian.weight.grad is None and not model.hebbian.weight.requires_grad
    assert model.readout[-1].weight.grad is not None
    assert not torch.equal(model.hebbian.weight, start)  # it learned, locally, in its forward pass
    trained = [tuple(p.shape) for p in model.parameters() if p.requires_grad]
    assert trained == [(3, 6), (3,)]  # the readout only (the batch norm has no parameters)


def test_features_are_the_powered_rectified_currents() -> None:
    model = CompetingNet((1, 2, 2), 2, units=2, k=2, power=2.0).eval()
    with torch.no_grad():
        model.hebbian.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 2.0]]))
    x = torch.tensor([[[[3.0, 0.0], [0.0, 1.0]]]])
    # p = 3: sign(W)|W|^2 = [[1, 0, 0, 0], [-1, 0, 0, 4]] -> I = [3, -3 + 4] = [3, 1] -> relu^2 = [9, 1]
    assert torch.allclose(model.features(x), torch.tensor([[9.0, 1.0]]))
    x = torch.tensor([[[[3.0, 0.0], [0.0, 0.0]]]])  # I = [3, -3] -> [9, 0]
    assert torch.allclose(model.features(x), torch.tensor([[9.0, 0.0]]))


def test_random_control_never_moves_and_backprop_reference_trains_the_hidden_layer() -> None:
    x, y = torch.rand(8, 1, 4, 4), torch.randint(0, 3, (8,))
    control = CompetingNet((1, 4, 4), 3, units=6, k=2, hidden="random").train()
    start = control.hebbian.weight.clone()
    control(x)
    assert torch.equal(control.hebbian.weight, start) and control.hebbian.current_lr() == 0.0
    reference = CompetingNet((1, 4, 4), 3, units=6, k=2, hidden="backprop").train()
    torch.nn.functional.cross_entropy(reference(x), y).backward()
    assert reference.hebbian.weight.grad is not None


def test_receptive_fields_are_images() -> None:
    assert CompetingNet((1, 8, 8), 10, units=5, k=2).receptive_fields().shape == (5, 8, 8)
    assert CompetingNet((64,), 10, units=5, k=2).receptive_fields().shape == (5, 8, 8)


def test_family_refuses_k_above_units_and_regression() -> None:
    with pytest.raises(neuroplast.UserError, match=r"model.k = 7 is larger than model.units = 4"):
        build_model(HebbianFCSpec(units=4), (1, 8, 8), 10)
    with pytest.raises(neuroplast.UserError, match="classifies"):
        build_model(HebbianFCSpec(units=8), (13,), 1, task="regression")


def test_run_on_digits_learns_without_gradient_and_reloads_identically(tmp_path) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "h", progress=False,
                         data={"normalize": [0.0, 1.0]},
                         model={"family": "hebbian-fc", "units": 64, "k": 3, "learning_samples": 1300 * 5,
                                "hebbian_lr": 0.05, "power": 2.0},
                         train={"epochs": 15, "lr": 3e-3, "batch_size": 64, "schedule": "onecycle"})
    assert run.metrics["test"]["accuracy"] >= 0.85  # chance is 0.1
    hebbian = run.model.hebbian
    assert int(hebbian.samples_seen) >= 1300 * 5 and hebbian.weight.grad is None
    loaded = neuroplast.load(tmp_path / "h")
    assert torch.equal(loaded.model.hebbian.weight, hebbian.weight)
    images = load_digits().images[:50] / 16.0
    assert np.array_equal(loaded.predict(images), run.predict(images))
    assert (tmp_path / "h" / "receptive_fields.png").is_file()
    assert (tmp_path / "h" / "receptive_fields_initial.png").is_file()  # the same units before learning
    moved = [row["hebbian_change"] for row in run.history]
    assert moved[0] > 0.05  # the first epoch moves the weights
    assert moved[-1] == 0.0  # after learning_samples (about 5 epochs) the layer is fixed
    report = (tmp_path / "h" / "report.html").read_text(encoding="utf-8")
    assert "random initial weights" in report and "moved in each epoch" in report and "then 0 from epoch" in report


def test_weight_movement_is_the_relative_change_over_an_epoch() -> None:
    from neuroplast.plasticity.hebbian import WeightMovement

    w = torch.tensor([[3.0, 0.0], [0.0, 4.0]])  # norm 5
    trace, logs = WeightMovement(w), {}
    trace.on_epoch_begin(1, {})
    w[0, 0] = 0.0  # the change is [[-3, 0], [0, 0]]: norm 3
    trace.on_epoch_end(1, logs)
    assert logs["hebbian_change"] == pytest.approx(3 / 5)


def test_shipped_hebbian_fc_mnist_spec_loads_and_builds() -> None:
    spec = load_spec("hebbian-fc-mnist")
    assert isinstance(spec.model, HebbianFCSpec) and spec.data.source == "mnist"
    assert spec.data.normalize == (0.0, 1.0)  # the rule expects pixels in [0, 1], background 0
    model = build_model(spec.model, (1, 28, 28), 10)
    assert model.receptive_fields().shape == (spec.model.units, 28, 28)
    trained = [tuple(p.shape) for p in model.parameters() if p.requires_grad]
    assert trained == [(10, spec.model.units), (10,)]


def test_left_out_the_layer_learns_during_the_first_half_of_training(tmp_path) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "h", progress=False, data={"normalize": [0.0, 1.0]},
                         model={"family": "hebbian-fc", "units": 16, "k": 2}, train={"epochs": 4})
    written = load_spec(tmp_path / "h" / "spec.toml").model.learning_samples
    assert written is not None and written % 2 == 0  # two whole epochs of the training split, said in spec.toml
    assert int(run.model.hebbian.samples_seen) == written
    moved = [row["hebbian_change"] for row in run.history]
    assert moved[0] > 0 and moved[1] > 0 and moved[2:] == [0.0, 0.0]


def test_a_layer_still_learning_at_the_last_batch_is_said(tmp_path, capsys) -> None:
    neuroplast.run("digits-mlp", out=tmp_path / "h", progress=False, data={"normalize": [0.0, 1.0]},
                   model={"family": "hebbian-fc", "units": 16, "k": 2, "learning_samples": 600_000},
                   train={"epochs": 1})
    err = capsys.readouterr().err
    assert "model.learning_samples = 600,000" in err and "learns until the end" in err
