from __future__ import annotations

import pytest
import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.models import CNN, MLP, MODELS, Perceptron, build_model, count_parameters
from neuroplast.spec import (
    BagSpec,
    CNNSpec,
    CommitteeSpec,
    HebbianFCSpec,
    HebbianSpec,
    LinearSpec,
    MLPSpec,
    NBeatsSpec,
    PerceptronSpec,
    RecurrentSpec,
    TransformerSpec,
)

TINY = {"perceptron": (PerceptronSpec(), (1, 4, 4), 2),
        "mlp": (MLPSpec(hidden=(8,)), (1, 4, 4), 3),
        "cnn": (CNNSpec(channels=(4,), hidden=(8,)), (1, 4, 4), 3),
        "rnn": (RecurrentSpec(family="rnn", hidden_size=8), (5, 3), 3),
        "lstm": (RecurrentSpec(family="lstm", hidden_size=8, num_layers=2), (5, 3), 3),
        "gru": (RecurrentSpec(family="gru", hidden_size=8, bidirectional=True), (5, 3), 3),
        "transformer": (TransformerSpec(d_model=8, num_heads=2, num_layers=1), (5, 3), 3),
        "hebbian": (HebbianSpec(units=4), (1, 12, 12), 3),
        "hebbian-fc": (HebbianFCSpec(units=6, k=2), (1, 4, 4), 3),
        "bag": (BagSpec(embedding_dim=4, hidden=(8,)), (6,), 3),  # 6 n-gram ids of 20
        "linear": (LinearSpec(kernel_size=3), (6, 1), 2),
        "nbeats": (NBeatsSpec(hidden_size=8, num_blocks=2), (6, 1), 2),  # forecasts 2 steps from 6
        "committee": (CommitteeSpec(members=[LinearSpec(kernel_size=3), NBeatsSpec(hidden_size=8, num_blocks=2)]),
                      (6, 1), 2)}
FORECASTERS = ("linear", "nbeats", "committee")


@pytest.mark.parametrize("family", MODELS.names())
def test_every_family_builds_trains_and_has_a_gradient(family: str) -> None:
    spec, shape, classes = TINY[family]
    local_rule = family in ("hebbian", "hebbian-fc")
    dtype = torch.float32 if family == "hebbian" else torch.float64  # its local rule runs in float32
    task = "forecast" if family in FORECASTERS else "classification"
    model = build_model(spec, shape, classes, task, vocab_size=20 if family == "bag" else 0).to(dtype)
    x = torch.randint(1, 20, (5, *shape)) if family == "bag" else torch.randn(5, *shape, dtype=dtype)
    model.train()
    out = model(x)
    members = (2,) if family == "committee" else ()  # in training a committee forecasts once per member
    assert out.shape == (5, *members, 1 if family == "perceptron" else classes)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    local = [p for p in model.parameters() if not p.requires_grad]  # learned by a local rule only
    assert local_rule == bool(local) and all(p.grad is None for p in local)


def test_perceptron_is_a_weighted_sum_plus_bias_by_hand() -> None:
    p = Perceptron(3)
    with torch.no_grad():
        p.linear.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
        p.linear.bias.fill_(0.25)
    # 0.5*1 - 1*2 + 2*3 + 0.25 = 4.75
    assert p(torch.tensor([[1.0, 2.0, 3.0]])).item() == pytest.approx(4.75)


def test_classic_parameter_counts() -> None:
    # LeNet-300-100: 784*300+300 + 300*100+100 + 100*10+10 = 266,610
    assert count_parameters(build_model(MLPSpec(preset="lenet-300-100"), (1, 28, 28), 10)) == 266_610
    # LeNet-5 (valid 5x5 convs on 28x28): 156 + 2,416 + (16*4*4*120+120) + (120*84+84) + (84*10+10) = 44,426
    assert count_parameters(build_model(CNNSpec(preset="lenet5"), (1, 28, 28), 10)) == 44_426


def test_mlp_layers_in_order() -> None:
    m = MLP(4, 2, hidden=(3,), activation="tanh", dropout=0.5, norm="batch")
    kinds = [type(layer) for layer in m.layers]
    assert kinds == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout, nn.Linear]


def test_cnn_output_shape_and_too_small_input() -> None:
    assert CNN((3, 16, 16), 5, channels=(4, 8))(torch.zeros(2, 3, 16, 16)).shape == (2, 5)
    with pytest.raises(UserError, match=r"input \(1, 8, 8\) is too small for 2 blocks of kernel 5"):
        build_model(CNNSpec(preset="lenet5"), (1, 8, 8), 10)


def test_perceptron_refuses_more_than_two_classes() -> None:
    with pytest.raises(UserError, match="separates two classes; the data has 10"):
        build_model(PerceptronSpec(), (64,), 10)


def test_cnn_refuses_tables() -> None:
    with pytest.raises(UserError, match="needs images"):
        build_model(CNNSpec(), (13,), 3)
