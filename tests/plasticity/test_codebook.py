"""Codebook weight sharing: k-means worked by hand, and the centroid gradient as the sum of its weights'."""

from __future__ import annotations

import torch
from torch import nn

from neuroplast.plasticity import codebook


def _tiny_layer() -> nn.Linear:
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[-1.0, 0.0, -0.8], [0.1, 0.9, 0.2]]))  # one pruned weight (0.0)
        layer.bias.copy_(torch.tensor([0.5, -0.5]))
    return layer


def test_a_two_value_codebook_worked_by_hand() -> None:
    # Non-zero weights: -1, -0.8, 0.1, 0.9, 0.2 (the 0 is pruned and not clustered).
    # Linear init for 2^1 = 2 values: [-1, 0.9]; midpoint -0.05 -> {-1, -0.8} | {0.1, 0.9, 0.2}.
    # Means: -0.9 and 0.4; midpoint -0.25: nobody moves, so the codebook is [-0.9, 0.4].
    layer = _tiny_layer()
    sizes = codebook.share_weights(layer, bits=1)
    assert sizes == {"weight": 2}
    shared = layer.parametrizations.weight[0]
    torch.testing.assert_close(shared.codebook.detach(), torch.tensor([-0.9, 0.4]))
    torch.testing.assert_close(layer.weight.detach(), torch.tensor([[-0.9, 0.0, -0.9], [0.4, 0.4, 0.4]]))


def test_three_values_need_two_iterations() -> None:
    # Values 0, 1, 2, 10 (as a layer's non-zero weights 1..4 shifted: all kept); k = 3.
    # Init: [0, 5, 10]; midpoints 2.5, 7.5 -> {0, 1, 2} | {} | {10}; means 1, (5 kept: empty), 10.
    # Midpoints 3, 7.5 -> same clusters: stop. Centroids [1, 5, 10], index [0, 0, 0, 2].
    centroids, index = codebook.kmeans(torch.tensor([0.0, 1.0, 2.0, 10.0]), 3)
    assert centroids.tolist() == [1.0, 5.0, 10.0]
    assert index.tolist() == [0, 0, 0, 2]


def test_the_centroid_gradient_is_the_sum_of_its_weights_gradients() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(6, 4)
    with torch.no_grad():
        layer.weight[layer.weight.abs() < 0.1] = 0.0  # some pruned weights
    mask = layer.weight.detach() != 0
    codebook.share_weights(layer, bits=2)
    shared = layer.parametrizations.weight[0]
    x, target = torch.randn(5, 6), torch.randn(5, 4)
    (layer(x) - target).pow(2).sum().backward()
    # Oracle: the same forward pass through a plain layer holding the dequantized weights.
    plain = nn.Linear(6, 4)
    with torch.no_grad():
        plain.weight.copy_(layer.weight.detach())
        plain.bias.copy_(layer.bias.detach())
    (plain(x) - target).pow(2).sum().backward()
    expected = torch.zeros(4)
    for (i, j), g in zip(mask.nonzero().tolist(), plain.weight.grad[mask].tolist(), strict=True):
        expected[shared.index[i, j]] += g  # summed by hand, weight by weight
    torch.testing.assert_close(shared.codebook.grad, expected)


def test_fine_tuning_keeps_pruned_weights_at_zero_and_weights_on_the_codebook() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    with torch.no_grad():
        for p in (model[0].weight, model[2].weight):
            p[p.abs() < p.abs().median()] = 0.0
    zeros = [model[0].weight == 0, model[2].weight == 0]
    sizes = codebook.share_weights(model, bits=3, conv_bits=2)
    assert sizes == {"0.weight": 4, "2.weight": 8}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    for _ in range(5):
        optimizer.zero_grad()
        model(torch.randn(4, 1, 6, 6)).pow(2).mean().backward()
        optimizer.step()
    books = codebook.finalize(model, bits=3, conv_bits=2)
    for name, layer, zero in (("0.weight", model[0], zeros[0]), ("2.weight", model[2], zeros[1])):
        assert bool((layer.weight[zero] == 0).all())
        assert torch.equal(layer.weight.detach(), books[name].weight())  # the float16 codebook, bit for bit
        assert set(layer.weight[~zero].tolist()) <= set(books[name].centroids.float().tolist())
    assert books["0.weight"].bits == 2 and books["2.weight"].bits == 3


def test_a_layer_with_fewer_weights_than_values_gets_fewer_bits() -> None:
    layer = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.25, 1.0]]))
    codebook.share_weights(layer, bits=8)  # 3 weights: 3 values, which 2 bits index
    book = codebook.finalize(layer, bits=8)["weight"]
    assert book.bits == 2 and book.centroids.tolist() == [-0.25, 0.5, 1.0] and book.index.tolist() == [1, 0, 2]
