"""Pruning: masks that hold, scores checked against finite differences, structured pruning that equals the masked dense network, compact storage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuroplast.data import load_dataset
from neuroplast.errors import UserError
from neuroplast.io import decode_sparse, encode_sparse, load_weights, save_weights
from neuroplast.models import CNN, MLP
from neuroplast.plasticity import prune as P
from neuroplast.plasticity import structured as S
from neuroplast.plasticity.measure import count_macs
from neuroplast.spec import DataSpec, TrainSpec
from neuroplast.train import fit


def test_schedule_targets_by_hand() -> None:
    assert P.schedule_targets(0.9, "one-shot", None) == [0.9]
    # iterative: 1 - (1 - 0.75) ** (k / 2) = 0.5, 0.75 (half of the remaining each round)
    assert np.allclose(P.schedule_targets(0.75, "iterative", 2), [0.5, 0.75])
    # gradual: 0.8 * (1 - (1 - k/4) ** 3) = 0.8 * (37/64, 56/64, 63/64, 1)
    assert np.allclose(P.schedule_targets(0.8, "gradual", 4), [0.8 * 37 / 64, 0.8 * 56 / 64, 0.8 * 63 / 64, 0.8])
    # default rounds: ~20% of the remaining per round -> ceil(log(0.04) / log(0.8)) = 15
    assert len(P.schedule_targets(0.96, "iterative", None)) == 15
    with pytest.raises(UserError, match=r"sparsity \(--sparsity\) must be between 0 and 1"):
        P.schedule_targets(1.5, "one-shot", None)
    with pytest.raises(UserError, match="schedule must be one of"):
        P.schedule_targets(0.5, "sometimes", None)



def test_global_and_layer_scopes_hit_the_target() -> None:
    net = MLP(20, 3, hidden=(16, 8))
    P.prune_to(net, 0.5, scope="layer")
    assert all(abs(s - 0.5) < 0.02 for s in P.layer_sparsity(net).values())
    P.prune_to(net, 0.8)  # global, on top: already pruned weights stay pruned
    total = sum(w.numel() for _, m, n in P.prunable_weights(net) for w in [P.weight(m, n)])
    assert abs(P.sparsity(net) - round(0.8 * total) / total) < 1e-9
    lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True)
    P.prune_to(lstm, 0.7)  # recurrent matrices are pruned, not skipped
    assert set(P.layer_sparsity(lstm)) == {"weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"}
    assert abs(P.sparsity(lstm) - 0.7) < 0.01



def test_erk_shares_by_hand_and_on_a_network() -> None:
    # Shapes 10x10 (raw density (10+10)/100 = 0.2) and 2x10 (12/20 = 0.6); keep 40% of 120 = 48 weights:
    # eps * (0.2 * 100 + 0.6 * 20) = 48 -> eps = 1.5 -> densities 0.3 and 0.9 -> sparsities 0.7 and 0.1.
    assert P.erk_sparsity([torch.Size([10, 10]), torch.Size([2, 10])], 0.6) == pytest.approx([0.7, 0.1])
    # At 30% removed the small layer would pass density 1: it stays dense, the big one takes it all.
    assert P.erk_sparsity([torch.Size([10, 10]), torch.Size([2, 10])], 0.3) == pytest.approx([0.36, 0.0])
    net = MLP(20, 3, hidden=(16, 8))
    P.prune_to(net, 0.5, scope="erk")
    shares = P.layer_sparsity(net)
    assert abs(P.sparsity(net) - 0.5) < 0.01
    assert shares["layers.1.weight"] > shares["layers.3.weight"] > shares["layers.5.weight"]  # big layers lose more



def test_pruned_weights_stay_zero_through_fine_tuning() -> None:
    data = load_dataset(DataSpec(source="digits"), 0)
    net = MLP(64, 10, hidden=(32,))
    fit(net, data, TrainSpec(epochs=2, optimizer="sgd", lr=0.1, momentum=0.9), progress=False)
    P.prune_to(net, 0.8)
    masks = P.current_masks(net)
    # SGD with momentum and weight decay, then AdamW: neither may revive a pruned weight
    fit(net, data, TrainSpec(epochs=2, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-3), progress=False)
    fit(net, data, TrainSpec(epochs=2, optimizer="adamw", lr=1e-2), progress=False)
    P.finalize(net)
    for name, module, pname in P.prunable_weights(net):
        w = getattr(module, pname)
        assert isinstance(w, nn.Parameter) and not hasattr(module, pname + "_mask")
        assert torch.all(w[masks[name] == 0] == 0), name
        assert (w[masks[name] == 1] != 0).float().mean() > 0.99  # the survivors trained
    assert abs(P.sparsity(net) - 0.8) < 0.01



def test_saliency_score_matches_a_finite_difference() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x, y = torch.randn(12, 5, dtype=torch.double), torch.randint(0, 3, (12,))
    loss = nn.functional.cross_entropy
    scores = P.saliency_scores(net, x, y, lambda o, t: loss(o, t, reduction="sum"), batch_size=4)
    w = net[0].weight
    for i, j in [(0, 0), (2, 3), (3, 1)]:
        h = 1e-6
        with torch.no_grad():
            w[i, j] += h
            up = loss(net(x), y, reduction="sum").item()
            w[i, j] -= 2 * h
            down = loss(net(x), y, reduction="sum").item()
            w[i, j] += h
        expected = abs(w[i, j].item() * (up - down) / (2 * h))  # |w * dL/dw|, the gradient summed
        assert scores[(net[0], "weight")][i, j].item() == pytest.approx(expected, rel=1e-5)



def test_sparse_storage_round_trip_is_exact_and_compact(tmp_path: Path) -> None:
    net = MLP(100, 10, hidden=(200,))
    P.prune_to(net, 0.95)
    P.finalize(net)
    state = {k: v.detach() for k, v in net.state_dict().items()}
    back = decode_sparse(encode_sparse(state))
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    save_weights(tmp_path / "dense.safetensors", net)
    save_weights(tmp_path / "sparse.safetensors", net, sparse=True)
    loaded = load_weights(tmp_path / "sparse.safetensors")
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    dense, sparse = (tmp_path / "dense.safetensors").stat().st_size, (tmp_path / "sparse.safetensors").stat().st_size
    # 5% of 22,000 weights as float32 + a 1-bit mask: < 0.2 + 0.125 bytes per entry instead of 4
    assert dense / sparse > 8



def test_macs_by_hand() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 5))
    # conv: 2 * 6 * 6 outputs x (1 * 3 * 3) products = 648; linear: 72 * 5 = 360
    assert count_macs(net, torch.zeros(3, 1, 8, 8))["dense"] == 648 + 360
    with torch.no_grad():
        net[2].weight[:, :36] = 0  # half the linear weights
    assert count_macs(net, torch.zeros(1, 1, 8, 8)) == {"dense": 1008, "nonzero": 648 + 180}



def test_structured_pruning_equals_the_masked_dense_mlp() -> None:
    torch.manual_seed(0)
    net = MLP(12, 4, hidden=(10, 6)).eval()
    dense = MLP(12, 4, hidden=(10, 6)).eval()
    dense.load_state_dict(net.state_dict())
    x = torch.randn(7, 12)
    step = S.prune_units(net, x[:2], 0.5)
    assert S.layer_widths(net) == {"layers.1": 5, "layers.3": 3}
    with torch.no_grad():  # the oracle: the dense network with the removed units' outputs unread
        dense.layers[3].weight[:, step.removed["layers.1"]] = 0
        dense.layers[5].weight[:, step.removed["layers.3"]] = 0
    assert torch.allclose(net(x), dense(x), atol=1e-6)
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in dense.parameters())



def test_structured_pruning_equals_the_masked_dense_cnn() -> None:
    torch.manual_seed(0)
    net = CNN((1, 8, 8), 3, channels=(4, 6), hidden=(8,), dropout=0.0)
    with torch.no_grad():  # batch-norm statistics that are not the identity
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    net.eval()
    dense = CNN((1, 8, 8), 3, channels=(4, 6), hidden=(8,), dropout=0.0).eval()
    dense.load_state_dict(net.state_dict())
    x = torch.rand(5, 1, 8, 8)
    step = S.prune_units(net, x[:2], 0.5)
    assert {k: v[1] for k, v in step.widths.items()} == {"features.0": 2, "features.4": 3, "classifier.1": 4}
    with torch.no_grad():
        dense.features[4].weight[:, step.removed["features.0"]] = 0
        # the second block's channels reach the head through Flatten: 2 x 2 = 4 columns each
        cols = [c * 4 + k for c in step.removed["features.4"] for k in range(4)]
        dense.classifier[1].weight[:, cols] = 0
        dense.classifier[3].weight[:, step.removed["classifier.1"]] = 0
    assert torch.allclose(net(x), dense(x), atol=1e-6)
    assert S.spec_widths("cnn", net, {"convs_per_block": 1}) == {"hidden": [4], "channels": [2, 3]}



def test_structured_pruning_equals_the_masked_dense_lstm() -> None:
    from neuroplast.models import Recurrent

    torch.manual_seed(0)
    net = Recurrent((5, 3), 4, "lstm", hidden_size=6, num_layers=2).eval()
    dense = Recurrent((5, 3), 4, "lstm", hidden_size=6, num_layers=2).eval()
    dense.load_state_dict(net.state_dict())
    x = torch.randn(7, 5, 3)
    step = S.prune_hidden_units(net, 4)
    assert net.rnn.hidden_size == 4 and net.head.in_features == 4
    with torch.no_grad():  # a removed unit's state is read by nothing: its recurrent column, the next reader's
        for layer, reader in ((0, dense.rnn.weight_ih_l1), (1, dense.head.weight)):
            gone = step.removed[f"rnn.l{layer}"]
            getattr(dense.rnn, f"weight_hh_l{layer}")[:, gone] = 0
            reader[:, gone] = 0
    assert torch.allclose(net(x), dense(x), atol=1e-6)
    assert S.spec_widths("lstm", net, {}) == {"hidden_size": 4}



def test_distillation_from_an_identical_teacher_changes_nothing_and_pulls_towards_a_teacher() -> None:
    import copy

    data = load_dataset(DataSpec(source="digits"), 0)
    student = MLP(64, 10, hidden=(16,))
    before = copy.deepcopy(student.state_dict())
    # distill = 1 from itself: KL = 0 everywhere, so every gradient is zero (to rounding) and SGD stays
    fit(student, data, TrainSpec(epochs=1, optimizer="sgd", lr=0.1, momentum=0.0), teacher=copy.deepcopy(student),
        distill=1.0, progress=False)
    assert all(torch.allclose(before[k], v, atol=1e-6) for k, v in student.state_dict().items())
    teacher = MLP(64, 10, hidden=(32,))
    fit(teacher, data, TrainSpec(epochs=5, lr=1e-2), progress=False)

    def kl() -> float:
        with torch.no_grad():
            t, s = teacher(data.x_test).log_softmax(-1), student(data.x_test).log_softmax(-1)
            return nn.functional.kl_div(s, t, reduction="batchmean", log_target=True).item()

    start = kl()
    fit(student, data, TrainSpec(epochs=5, lr=1e-2), teacher=teacher, distill=1.0, temperature=1.0, progress=False)
    assert kl() < 0.5 * start
    with pytest.raises(UserError, match="distill"):
        fit(student, data, TrainSpec(epochs=1), teacher=teacher, distill=1.5, progress=False)
