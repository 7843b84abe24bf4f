"""Hebbian learning: Oja's rule, the SoftHebb layer (no gradient reaches it) and the hebbian family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import neuroplast
from neuroplast.models import HebbianNet, build_model
from neuroplast.plasticity.hebbian import (
    OjaNeuron,
    SoftHebbConv2d,
    oja_update,
    plot_receptive_fields,
)
from neuroplast.spec import HebbianSpec, load_spec


def test_oja_update_matches_a_hand_worked_example() -> None:
    w, x = torch.tensor([0.6, 0.8]), torch.tensor([1.0, 2.0])
    # y = w·x = 0.6·1 + 0.8·2 = 2.2
    # x − y·w = (1 − 2.2·0.6, 2 − 2.2·0.8) = (1 − 1.32, 2 − 1.76) = (−0.32, 0.24)
    # Δw = lr·y·(x − y·w) = 0.1·2.2·(−0.32, 0.24) = (−0.0704, 0.0528)
    # w + Δw = (0.5296, 0.8528)
    new = oja_update(w, x, lr=0.1)
    assert torch.allclose(new, torch.tensor([0.5296, 0.8528]), atol=1e-6)
    assert torch.equal(w, torch.tensor([0.6, 0.8]))  # a pure function: w is not changed


def test_oja_update_averages_a_batch() -> None:
    w = torch.tensor([0.6, 0.8])
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    # second sample: y = −0.8, x − y·w = (0.48, −0.36), Δw = 0.1·(−0.8)·(0.48, −0.36) = (−0.0384, 0.0288)
    # batch: mean of (−0.0704, 0.0528) and (−0.0384, 0.0288) = (−0.0544, 0.0408)
    assert torch.allclose(oja_update(w, x, lr=0.1), torch.tensor([0.5456, 0.8408]), atol=1e-6)
    with pytest.raises(neuroplast.UserError, match="expects w of shape"):
        oja_update(w, torch.ones(3), lr=0.1)


def test_oja_neuron_finds_the_first_principal_component() -> None:
    gen = torch.Generator().manual_seed(0)
    cov = torch.tensor([[3.0, 1.2], [1.2, 1.0]])
    samples = torch.randn(6000, 2, generator=gen) @ torch.linalg.cholesky(cov).T  # zero-mean Gaussian
    neuron = OjaNeuron(2, lr=0.02, decay=1e-3, generator=gen).fit(samples)
    _, vectors = torch.linalg.eigh(torch.cov(samples.T))  # the oracle: eigenvalues ascending
    top = vectors[:, -1]
    cosine = (neuron.weight @ top).abs() / neuron.weight.norm()
    assert cosine >= 0.99
    assert abs(neuron.weight.norm().item() - 1.0) < 0.05
    assert int(neuron.steps) == 6000


def test_hebbian_layer_gets_no_gradient_learns_in_training_and_not_in_eval() -> None:
    model = HebbianNet((1, 8, 8), 10, units=16, learning_samples=1000)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    layer = model.hebbian
    start = layer.weight.clone()
    assert not layer.weight.requires_grad

    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert layer.weight.grad is None  # backpropagation never reaches the Hebbian layer
    assert model.readout[-1].weight.grad is not None  # ...but trains the readout
    assert not model.features(x).requires_grad  # its output is detached
    assert not torch.equal(layer.weight, start)  # it learned, locally, in its forward pass
    assert int(layer.samples_seen) == 64  # two training-mode forward passes of 32
    norms = layer.weight.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.ones(16), atol=1e-5)  # filters stay on the unit sphere
    assert torch.allclose(layer.weight.mean((1, 2, 3)), torch.zeros(16), atol=1e-6)  # ...and zero-mean

    model.eval()
    learned = layer.weight.clone()
    model(x)
    assert torch.equal(layer.weight, learned) and int(layer.samples_seen) == 64

    model.train()  # after learning_samples the filters are fixed
    layer.samples_seen.fill_(1000)
    model(x)
    assert torch.equal(layer.weight, learned)


def test_hebbian_layer_learns_in_float32_under_bf16_autocast() -> None:
    layer = SoftHebbConv2d(1, 8, 3, 1)
    start = layer.weight.clone()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(torch.randn(4, 1, 8, 8))
    assert out.shape == (4, 8, 8, 8) and torch.isfinite(out).all()
    assert layer.weight.dtype == torch.float32 and not torch.equal(layer.weight, start)


def test_hebbian_layer_output_is_a_convolution() -> None:
    layer = SoftHebbConv2d(2, 6, 3, 1).eval()
    x = torch.randn(3, 2, 7, 7)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    expected = torch.nn.functional.conv2d(padded, layer.weight)
    assert torch.allclose(layer(x), expected, atol=1e-5)
    centered = expected - expected.mean(1, keepdim=True)  # the triangle activation's centring
    assert torch.allclose(layer(x, center=True), centered, atol=1e-5)


def test_run_hebbian_on_digits_and_reload_with_identical_predictions(tmp_path) -> None:
    run = neuroplast.run("digits-cnn", out=tmp_path / "h", progress=False,
                         model={"family": "hebbian", "units": 32, "learning_samples": 2600},
                         train={"epochs": 12, "lr": 3e-3, "batch_size": 64, "schedule": "onecycle"})
    assert run.metrics["test"]["accuracy"] >= 0.93  # chance is 0.1; seeds 0-2 reach 0.97-0.99
    hebbian = run.model.hebbian
    assert int(hebbian.samples_seen) >= 2600 and hebbian.weight.grad is None
    loaded = neuroplast.load(tmp_path / "h")
    assert torch.equal(loaded.model.hebbian.weight, hebbian.weight)  # saved with safetensors
    assert int(loaded.model.hebbian.samples_seen) == int(hebbian.samples_seen)
    images = load_digits().images[:50] / 16.0
    assert np.array_equal(loaded.predict(images), run.predict(images))
    assert np.allclose(loaded.predict_proba(images), run.predict_proba(images), atol=1e-6)
    assert loaded.model.receptive_fields().shape == (32, 5, 5)


def test_plot_receptive_fields_writes_a_png(tmp_path) -> None:
    model = HebbianNet((1, 8, 8), 10, units=12)
    path = plot_receptive_fields(model.receptive_fields(), tmp_path / "fields.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    with pytest.raises(neuroplast.UserError, match=r"\(units, H, W\)"):
        plot_receptive_fields(torch.zeros(4, 5), tmp_path / "bad.png")


def test_shipped_hebbian_mnist_spec_loads_and_builds() -> None:
    spec = load_spec("hebbian-mnist")
    assert isinstance(spec.model, HebbianSpec) and spec.data.source == "mnist"
    model = build_model(spec.model, (1, 28, 28), 10)
    assert isinstance(model, HebbianNet) and model.receptive_fields().shape == (spec.model.units, 5, 5)
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    trained = [p for p in model.parameters() if p.requires_grad]
    assert [tuple(p.shape) for p in trained] == [(10, spec.model.units * 14 * 14), (10,)]  # readout only


def test_hebbian_family_rejects_data_that_is_not_images() -> None:
    spec = HebbianSpec()
    with pytest.raises(neuroplast.UserError, match=r"needs images .* shape \(13,\)"):
        build_model(spec, (13,), 3)
    with pytest.raises(neuroplast.UserError, match="odd kernel size"):
        build_model(HebbianSpec(kernel_size=4), (1, 28, 28), 10)
    with pytest.raises(neuroplast.UserError, match="too small"):
        build_model(spec, (1, 2, 2), 10)
