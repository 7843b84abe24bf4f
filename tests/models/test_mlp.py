"""The MLP's table options checked against hand computations: the linear skip (Wide & Deep) and the
TabM-mini ensemble (members with their own input scaling and output layer over shared hidden layers)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuroplast.models.mlp import MLP, MemberLinear
from neuroplast.train.objective import make_objective


def _members_by_hand(net: MLP, x: torch.Tensor) -> torch.Tensor:
    """Each member as its own plain network: scale, the shared hidden layers, its own output layer."""
    hidden = net.layers[1:]
    outs = []
    for j in range(net.k):
        h = hidden(x * net.member_scale[j])
        outs.append(h @ net.heads.weight[j] + net.heads.bias[j] + (net.skip(x) if net.skip is not None else 0))
    return torch.stack(outs, dim=1)


def test_an_ensemble_trains_its_members_and_predicts_their_mean() -> None:
    torch.manual_seed(0)
    net = MLP(6, 3, hidden=(8, 5), activation="tanh", ensemble=4, linear_skip=True)
    with torch.no_grad():
        net.skip.weight.normal_()  # not zero, so the skip takes part in the check
    x = torch.randn(7, 6)
    by_hand = _members_by_hand(net, x)
    torch.testing.assert_close(net.train()(x), by_hand)  # (batch, k, outputs) in training
    torch.testing.assert_close(net.eval()(x), by_hand.mean(dim=1))  # the members' mean when predicting
    assert set(net.member_scale.detach().abs().flatten().tolist()) == {1.0}  # random signs at the start


def test_the_loss_of_an_ensemble_is_its_members_losses_averaged() -> None:
    torch.manual_seed(1)
    out, y = torch.randn(5, 4, 3), torch.randint(0, 3, (5,))
    expected = sum(F.cross_entropy(out[:, j], y) for j in range(4)) / 4
    torch.testing.assert_close(make_objective("classification", 3, num_classes=3).loss(out, y), expected)
    values, target = torch.randn(5, 4, 2), torch.randn(5, 2)
    expected = sum(F.mse_loss(values[:, j], target) for j in range(4)) / 4
    torch.testing.assert_close(make_objective("regression", 2).loss(values, target), expected)


def test_member_linear_is_k_independent_linear_layers() -> None:
    torch.manual_seed(2)
    layer, h = MemberLinear(3, 4, 2), torch.randn(6, 3, 4)
    for j in range(3):
        torch.testing.assert_close(layer(h)[:, j], F.linear(h[:, j], layer.weight[j].T, layer.bias[j]))


def test_the_linear_skip_starts_at_zero_and_fits_a_linear_target_the_hidden_layers_cannot() -> None:
    """A network of one 2-unit sigmoid layer cannot follow y = 3x - 2 far out; with the skip it can."""
    torch.manual_seed(3)
    x = torch.linspace(-3, 3, 64).unsqueeze(1)
    y = 3 * x - 2
    plain, wide = MLP(1, 1, hidden=(2,), activation="sigmoid"), MLP(1, 1, hidden=(2,), activation="sigmoid",
                                                                 linear_skip=True)
    wide.layers.load_state_dict(plain.layers.state_dict())
    torch.testing.assert_close(wide(x), plain(x))  # the skip starts at zero: the plain network
    errors = []
    for net in (plain, wide):
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(400):
            opt.zero_grad()
            F.mse_loss(net(x), y).backward()
            opt.step()
        errors.append(F.mse_loss(net(x), y).item())
    assert errors[1] < 0.01 and errors[0] > 0.1  # measured: 0.0014 and 0.34


def test_the_skip_can_start_at_scikit_learns_ridge_and_logistic_regression() -> None:
    from sklearn.linear_model import LogisticRegression, Ridge

    from neuroplast.models.mlp import start_at_linear

    rng = torch.Generator().manual_seed(4)
    x = torch.randn(60, 5, generator=rng) * 3 + 1
    y = x @ torch.tensor([[1.0, -2.0], [0.5, 0.0], [0.0, 1.0], [2.0, 1.0], [-1.0, 0.3]]) + torch.randn(60, 2, generator=rng)
    net = MLP(5, 2, hidden=(4,), linear_skip=True, ensemble=3)
    assert start_at_linear(net, x, y, "regression")
    ridge = Ridge(alpha=1.0).fit(x.numpy(), y.numpy())
    close = {"atol": 1e-5, "rtol": 1e-5}
    torch.testing.assert_close(net.skip.weight.detach(), torch.from_numpy(ridge.coef_).float(), **close)
    torch.testing.assert_close(net.skip.bias.detach(), torch.from_numpy(ridge.intercept_).float(), **close)
    assert not start_at_linear(MLP(5, 4, linear_skip=True), x, y, "regression")  # a Gaussian head: as it was

    classes = (y[:, 0] > 0).long() + (y[:, 1] > 2).long()  # three classes
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(x.double().numpy(), classes.numpy())
    net = MLP(5, 3, hidden=(4,), linear_skip=True)
    assert start_at_linear(net, x, classes, "classification")
    expected = torch.from_numpy(lr.decision_function(x.numpy())).float()
    torch.testing.assert_close(net.skip(x), expected, **close)  # the same logits
    two = (classes > 0).long()
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(x.double().numpy(), two.numpy())
    log_odds = torch.from_numpy(lr.decision_function(x.numpy())).float()
    net = MLP(5, 2, hidden=(4,), linear_skip=True)
    assert start_at_linear(net, x, two, "classification")
    logits = net.skip(x)
    torch.testing.assert_close(logits[:, 1] - logits[:, 0], log_odds, **close)  # softmax gives LR's probabilities
    one = MLP(5, 1, hidden=(4,), linear_skip=True)  # a single logit (binary cross-entropy)
    assert start_at_linear(one, x, two, "classification")
    torch.testing.assert_close(one.skip(x)[:, 0], log_odds, **close)
    assert not start_at_linear(MLP(5, 2, linear_skip=True), x, classes, "classification")  # 3 classes, 2 outputs
