"""Explanations: attribution methods against closed forms, completeness, the randomization sanity
check and the deletion curve on a small trained digits CNN, token models, layer views, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

import neuroplast
from neuroplast.data import load_dataset
from neuroplast.errors import UserError
from neuroplast.models.mlp import MLP
from neuroplast.models.rnn import Recurrent
from neuroplast.models.transformer import Transformer
from neuroplast.trust.explain import (
    METHODS,
    Attribution,
    attribute,
    feature_maps,
    first_layer_filters,
    permutation_importance,
    receptive_fields,
    save_heatmap,
)
from neuroplast.trust.sanity import deletion_curve, randomization_test

pytest.importorskip("captum")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, torch.Tensor]:
    """A digits CNN trained 3 epochs (~3 s, 1 thread) and 20 test images."""
    run = neuroplast.run("digits-cnn", train={"epochs": 3, "threads": 1}, progress=False,
                         out=tmp_path_factory.mktemp("explain") / "digits-cnn")
    data = load_dataset(run.spec.data, 0)
    assert run.metrics["test"]["accuracy"] > 0.9
    return run.model, data.x_test[:20]


def _linear() -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """A 5 -> 3 linear layer with constant weights and an arange input (float64)."""
    layer = nn.Linear(5, 3).double()
    with torch.no_grad():
        layer.weight.copy_(torch.arange(15, dtype=torch.float64).reshape(3, 5) / 10 - 0.7)
        layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64))
    x = torch.arange(10, dtype=torch.float64).reshape(2, 5) / 4 - 1
    return layer, x, layer.weight.detach()


def test_registry_names() -> None:
    assert METHODS.names() == ["gradcam", "ig", "occlusion", "saliency"]


def test_ig_of_a_linear_model_is_input_minus_baseline_times_weight() -> None:
    layer, x, w = _linear()
    baseline = torch.full_like(x, 0.5)
    a = attribute(layer, x, target=torch.tensor([2, 0]), method="ig", baseline=baseline)
    expected = (x - baseline) * w[[2, 0]]  # the gradient is constant: IG is exact for any n_steps
    torch.testing.assert_close(a.values, expected, atol=1e-5, rtol=0)
    assert a.delta is not None and a.delta.abs().max() < 1e-5
    assert a.method == "ig" and a.target.tolist() == [2, 0]


def test_saliency_of_a_linear_model_is_abs_weight() -> None:
    layer, x, w = _linear()
    a = attribute(layer, x, target=1, method="saliency")
    torch.testing.assert_close(a.values, w[1].abs().expand_as(x), atol=1e-12, rtol=0)
    assert a.delta is None


def test_target_defaults_to_the_predicted_class() -> None:
    layer, x, _ = _linear()
    a = attribute(layer, x, method="saliency")
    assert a.target.tolist() == layer(x).argmax(dim=1).tolist()


def test_ig_completeness_on_trained_cnn(digits: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits
    a = attribute(model, x, method="ig")  # baseline 0: the mean image after standardization
    with torch.no_grad():
        gap = (model(x) - model(torch.zeros_like(x))).gather(1, a.target[:, None]).squeeze(1)
    assert a.values.shape == x.shape and a.delta is not None
    torch.testing.assert_close(a.values.sum(dim=(1, 2, 3)) - gap, a.delta, atol=1e-4, rtol=0)
    relative = a.delta.abs() / gap.abs()
    assert relative.max() <= 0.01, relative  # measured: max 0.6% at 50 steps


@pytest.mark.parametrize("method", ["saliency", "ig"])
def test_randomization_breaks_the_explanation(digits: tuple[nn.Module, torch.Tensor],
                                              method: str) -> None:
    model, x = digits
    before = [p.clone() for p in model.parameters()]
    correlations = randomization_test(model, x, None, method)
    assert correlations.shape == (len(x),)
    # the maps as the method gives them (|gradient| for saliency, signed IG): 1.0 would fail the check
    assert np.nanmedian(correlations) <= 0.3
    absolute = randomization_test(model, x, None, method, absolute=True)
    assert np.nanmedian(absolute) <= 0.5  # |IG| keeps the digit's outline in both maps (0.36 measured)
    if method == "saliency":  # already absolute: the two comparisons are the same
        np.testing.assert_allclose(correlations, absolute)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))


def test_deletion_curve_of_ig_falls_faster_than_random(digits: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits
    a = attribute(model, x, method="ig")
    found = deletion_curve(model, x, a, steps=20)
    assert found.curve.shape == found.random_curve.shape == (21,)
    assert found.fractions[0] == 0 and found.fractions[-1] == 1
    # measured: area 0.13 for ig against 0.45 for a random order
    assert found.area < 0.6 * found.random_area
    assert found.curve[0] == pytest.approx(found.random_curve[0])  # nothing removed yet


def test_gradcam_has_the_input_spatial_shape(digits: tuple[nn.Module, torch.Tensor]) -> None:
    model, x = digits
    a = attribute(model, x[:4], method="gradcam")
    assert a.values.shape == (4, 1, *x.shape[2:])
    assert (a.values >= 0).all()  # relu'd maps
    assert a.to_heatmap().shape == (4, *x.shape[2:])


def test_occlusion_on_a_linear_model_is_the_drop_in_output() -> None:
    layer, x, w = _linear()
    a = attribute(layer, x, target=0, method="occlusion")  # one feature at a time, replaced by 0
    assert a.values.dtype == x.dtype
    torch.testing.assert_close(a.values, x * w[0], atol=1e-6, rtol=0)  # captum sums in float32


TOKEN_MODELS = {
    "lstm": lambda: Recurrent((7,), 4, cell="lstm", hidden_size=8, vocab_size=20, embedding_dim=5),
    "transformer": lambda: Transformer((7,), 4, d_model=8, num_heads=2, num_layers=1, vocab_size=20),
}


@pytest.mark.parametrize("family", sorted(TOKEN_MODELS))
def test_token_models_get_one_score_per_token(family: str) -> None:
    model = TOKEN_MODELS[family]().eval()  # attribute() explains the eval-mode model (no dropout)
    tokens = torch.randint(1, 20, (3, 7))
    a = attribute(model, tokens, method="ig")
    assert a.values.shape == (3, 7)
    with torch.no_grad():
        gap = (model(tokens) - model(torch.zeros_like(tokens))).gather(1, a.target[:, None]).squeeze(1)
    torch.testing.assert_close(a.values.sum(dim=1), gap, atol=1e-4, rtol=1e-3)
    assert attribute(model, tokens, method="saliency").values.shape == (3, 7)
    with pytest.raises(UserError, match="token ids"):
        attribute(model, tokens, method="occlusion")


def test_permutation_importance_ignores_unused_features() -> None:
    x = torch.randn(200, 4)
    layer = nn.Linear(4, 2)
    with torch.no_grad():  # class 1 when 3 x0 + x1 > 0; x2 and x3 are never read
        layer.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.0], [3.0, 1.0, 0.0, 0.0]]))
        layer.bias.zero_()
    y = (3 * x[:, 0] + x[:, 1] > 0).long()
    found = permutation_importance(layer, x, y, n_repeats=5, seed=0)
    assert found.baseline_score == 1.0
    assert found.values.shape == (4, 5)
    np.testing.assert_array_equal(found.mean[2:], [0.0, 0.0])
    assert found.mean[0] > found.mean[1] > 0


def test_layer_views() -> None:
    torch.manual_seed(0)
    from neuroplast.models.cnn import CNN

    cnn = CNN((1, 8, 8), 10, channels=(4, 6))
    filters = first_layer_filters(cnn)
    assert filters.shape == (4, 1, 3, 3)
    assert torch.allclose(filters.amin(dim=(1, 2, 3)), torch.zeros(4))
    assert torch.allclose(filters.amax(dim=(1, 2, 3)), torch.ones(4))
    maps = feature_maps(cnn, torch.randn(2, 1, 8, 8))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"features.3": (2, 4, 4, 4),
                                                             "features.7": (2, 6, 2, 2)}
    mlp = MLP(64, 10, hidden=(16,))
    fields = receptive_fields(mlp)
    assert fields.shape == (16, 1, 8, 8)
    torch.testing.assert_close(fields[3].flatten(), mlp.layers[1].weight[3].detach())
    with pytest.raises(UserError, match="first_layer_filters"):
        receptive_fields(cnn)
    with pytest.raises(UserError, match="receptive_fields"):
        first_layer_filters(mlp)


def test_save_heatmap_writes_a_png(digits: tuple[nn.Module, torch.Tensor], tmp_path) -> None:
    model, x = digits
    a = attribute(model, x[:1], method="saliency")
    path = save_heatmap(x[0], a, tmp_path / "saliency.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_sums_abs_over_channels() -> None:
    values = torch.tensor([[[[1.0, -2.0]], [[-3.0, 4.0]]]])  # (1, 2, 1, 2)
    a = Attribution(values, "ig", torch.tensor([0]))
    torch.testing.assert_close(a.to_heatmap(), torch.tensor([[[4.0, 6.0]]]))


def test_errors_name_the_choices_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    layer, x, _ = _linear()
    with pytest.raises(UserError, match=r"Known: gradcam, ig, occlusion, saliency\. Did you mean 'ig'\?"):
        attribute(layer, x, method="igg")
    with pytest.raises(UserError, match="gradcam' needs a CNN"):
        attribute(MLP(64, 10, hidden=(8,)), torch.randn(2, 1, 8, 8), method="gradcam")
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # import captum.attr now fails
    with pytest.raises(UserError, match=r'pip install "neuroplast\[explain\]"'):
        attribute(layer, x, method="ig")
