"""Recurrent families: a hand-computed Elman step, shapes, and learning a task that needs memory."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from neuroplast.errors import UserError
from neuroplast.models import Recurrent, build_model
from neuroplast.spec import RecurrentSpec


def test_elman_step_by_hand_with_constant_weights() -> None:
    model = Recurrent((2, 1), 1, cell="rnn", task="regression", hidden_size=1)
    with torch.no_grad():
        for name, p in model.rnn.named_parameters():
            p.fill_({"weight_ih_l0": 0.5, "weight_hh_l0": -1.0, "bias_ih_l0": 0.1, "bias_hh_l0": 0.2}[name])
        model.head.weight.fill_(2.0)
        model.head.bias.fill_(0.0)
    # h1 = tanh(0.5*1 + 0.1 - 1*0 + 0.2) = tanh(0.8); h2 = tanh(0.5*2 + 0.3 - tanh(0.8)); y = 2 h2
    h1 = math.tanh(0.8)
    h2 = math.tanh(1.0 + 0.3 - h1)
    out = model(torch.tensor([[[1.0], [2.0]]]))
    assert out.item() == pytest.approx(2 * h2, abs=1e-6)


def test_language_model_outputs_every_step_and_is_causal() -> None:
    model = build_model(RecurrentSpec(family="lstm", hidden_size=8), (6,), 5, task="language-model",
                        vocab_size=5).double().eval()
    x = torch.tensor([[1, 2, 3, 4, 0, 1]])
    out = model(x)
    assert out.shape == (1, 6, 5)
    changed = x.clone()
    changed[0, 4:] = torch.tensor([3, 3])
    assert torch.equal(model(changed)[0, :4], out[0, :4])  # the future does not leak back


def test_sequential_image_rows_and_bidirectional_summary() -> None:
    model = build_model(RecurrentSpec(family="gru", hidden_size=8, bidirectional=True), (1, 8, 8), 10)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(UserError, match="bidirectional = true cannot predict the next token"):
        build_model(RecurrentSpec(bidirectional=True), (6,), 5, task="language-model", vocab_size=5)
    with pytest.raises(UserError, match="reads sequences"):
        build_model(RecurrentSpec(), (13,), 3)


def test_lstm_learns_to_remember_the_first_token() -> None:
    # the label is the first of 12 tokens: the network must carry it through 11 distracting steps
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (256, 12), generator=g)
    y = x[:, 0]
    model = Recurrent((12,), 4, cell="lstm", hidden_size=32, vocab_size=4, embedding_dim=8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(x).argmax(1) == y).float().mean() == 1.0
