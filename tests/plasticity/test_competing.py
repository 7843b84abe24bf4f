"""The Krotov-Hopfield rule of competing hidden units: hand-worked updates, annealing, no gradient."""

from __future__ import annotations

import pytest
import torch

import neuroplast
from neuroplast.plasticity.competing import (
    CompetingHiddenUnits,
    competing_update,
    lebesgue_currents,
)


def two_units() -> torch.Tensor:
    return torch.tensor([[1.0, 0.0], [0.0, 2.0]])


def test_lebesgue_currents_by_hand() -> None:
    w = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    v = torch.tensor([[1.0, 1.0]])
    # p = 3: sign(W)·|W|^2 = [[1, -4], [0.25, 9]]  ->  I = [1 - 4, 0.25 + 9] = [-3, 9.25]
    assert torch.allclose(lebesgue_currents(w, v, 3.0), torch.tensor([[-3.0, 9.25]]))
    # p = 2: the plain dot product, [1 - 2, 0.5 + 3]
    assert torch.allclose(lebesgue_currents(w, v, 2.0), torch.tensor([[-1.0, 3.5]]))


def test_update_of_two_units_worked_by_hand() -> None:
    w, v = two_units(), torch.tensor([[1.0, 1.0]])
    # p = 3: sign(W)·|W|^2 = [[1, 0], [0, 4]], so I = [1, 4]: unit 1 is strongest (g = +1) and
    # unit 0 is 2nd (k = 2, g = -Δ = -0.4).
    # unit 1: g·(v − I·W) = 1·([1, 1] − 4·[0, 2]) = [1, −7]
    # unit 0: −0.4·([1, 1] − 1·[1, 0]) = −0.4·[0, 1] = [0, −0.4]
    expected = torch.tensor([[0.0, -0.4], [1.0, -7.0]])
    assert torch.allclose(competing_update(w, v, p=3.0, k=2, delta=0.4), expected)


def test_update_sums_over_the_batch_by_hand() -> None:
    w, v = two_units(), torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    # second input: I = [1·2 + 0, 0] = [2, 0]: unit 0 wins, unit 1 is 2nd.
    # unit 0: 1·([2, 0] − 2·[1, 0]) = [0, 0];  unit 1: −0.4·([2, 0] − 0·[0, 2]) = [−0.8, 0]
    # sum with the first input's [[0, −0.4], [1, −7]]:
    expected = torch.tensor([[0.0, -0.4], [0.2, -7.0]])
    assert torch.allclose(competing_update(w, v, p=3.0, k=2, delta=0.4), expected)


def test_k1_is_pure_winner_take_all() -> None:
    w, v = two_units(), torch.tensor([[1.0, 1.0]])
    # only the strongest (unit 1) moves: [1, −7]
    assert torch.allclose(competing_update(w, v, p=3.0, k=1), torch.tensor([[0.0, 0.0], [1.0, -7.0]]))
    with pytest.raises(neuroplast.UserError, match="k = 3"):
        competing_update(w, v, k=3)


def test_layer_step_is_normalised_by_the_largest_change() -> None:
    layer = CompetingHiddenUnits(2, 2, p=3.0, k=2, delta=0.4, lr=0.7, learning_samples=10).train()
    with torch.no_grad():
        layer.weight.copy_(two_units())
    currents = layer(torch.tensor([[1.0, 1.0]]))
    assert torch.allclose(currents, torch.tensor([[1.0, 4.0]]))  # computed before the step
    # ΔW = [[0, −0.4], [1, −7]], largest |entry| 7, lr 0.7: W + 0.1·ΔW
    assert torch.allclose(layer.weight, torch.tensor([[1.0, -0.04], [0.1, 1.3]]))
    assert int(layer.samples_seen) == 1
    assert layer.current_lr() == pytest.approx(0.7 * (1 - 1 / 10))  # linear annealing to 0


def test_layer_learns_only_in_training_and_only_for_learning_samples() -> None:
    layer = CompetingHiddenUnits(6, 4, k=2, learning_samples=8, generator=torch.Generator().manual_seed(0))
    x = torch.rand(4, 6)
    start = layer.weight.clone()
    layer.eval()(x)
    assert torch.equal(layer.weight, start)  # eval: no learning
    layer.train()(x)
    layer(x)
    learned = layer.weight.clone()
    assert not torch.equal(learned, start) and int(layer.samples_seen) == 8
    assert layer.current_lr() == 0.0 and not layer.learning
    layer(x)
    assert torch.equal(layer.weight, learned)  # after learning_samples it is fixed


def test_no_gradient_reaches_the_layer_but_backprop_mode_trains_it() -> None:
    x = torch.rand(5, 6, requires_grad=True)
    hebbian = CompetingHiddenUnits(6, 4, k=2).train()
    out = hebbian(x)
    assert not hebbian.weight.requires_grad and not out.requires_grad
    backprop = CompetingHiddenUnits(6, 4, k=2, trainable=True).train()
    start = backprop.weight.clone()
    backprop(x).pow(2).sum().backward()
    assert backprop.weight.grad is not None and torch.equal(backprop.weight, start)  # no local rule
    assert backprop.learning_samples == 0


def test_units_learn_the_prototypes_of_clustered_data() -> None:
    """A tiny fit: 4 binary prototypes plus noise. After learning, every prototype has a unit whose
    weights point at it (cosine > 0.95), which no random unit does, and the units that learned sit on
    the unit sphere (the rule's fixed point ‖W‖_p = 1; here p = 2)."""
    gen = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(4, 32, generator=gen) > 0.5).float()
    samples = prototypes[torch.randint(0, 4, (4000,), generator=gen)]
    samples = (samples + 0.1 * torch.rand(samples.shape, generator=gen)).clamp(0, 1)
    layer = CompetingHiddenUnits(32, 8, p=2.0, k=2, delta=0.1, lr=0.05, learning_samples=4000 * 3,
                                 generator=gen).train()
    start = layer.weight.clone()

    def best_cosines() -> torch.Tensor:
        w = torch.nn.functional.normalize(layer.weight, dim=1)
        return (torch.nn.functional.normalize(prototypes, dim=1) @ w.T).amax(1)

    assert best_cosines().max() < 0.6
    for _ in range(3):
        for batch in samples.split(50):
            layer(batch)
    assert best_cosines().min() > 0.95
    moved = (layer.weight - start).norm(dim=1) > 0.5
    assert moved.sum() >= 4
    assert torch.allclose(layer.weight[moved].norm(dim=1), torch.ones(int(moved.sum())), atol=0.01)
