from __future__ import annotations

import pytest
import torch

from neuroplast.errors import UserError
from neuroplast.models import build_model
from neuroplast.models.committee import Committee, combine
from neuroplast.models.linear import LinearForecaster
from neuroplast.spec import CommitteeSpec
from neuroplast.train.objective import make_objective


def test_combine_by_hand() -> None:
    f = torch.tensor([[[1.0, 0.0], [4.0, 9.0], [2.0, 3.0]]])  # (1 window, 3 members, 2 steps)
    torch.testing.assert_close(combine(f), torch.tensor([[2.0, 3.0]]))  # the middle member per step
    torch.testing.assert_close(combine(f, "mean"), torch.tensor([[7.0 / 3, 4.0]]))
    even = torch.tensor([[[1.0], [4.0], [2.0], [10.0]]])
    torch.testing.assert_close(combine(even), torch.tensor([[3.0]]))  # (2 + 4) / 2, as numpy's median


def _committee() -> Committee:
    torch.manual_seed(0)
    return Committee([LinearForecaster((6, 1), 2, 3), LinearForecaster((6, 1), 2, 1),
                      LinearForecaster((6, 1), 2, 1)])


def test_eval_forecasts_the_median_and_training_returns_every_member() -> None:
    model, x = _committee(), torch.randn(5, 6, 1)
    each = torch.stack([m(x) for m in model.members], dim=1)
    assert model.train()(x).shape == (5, 3, 2)
    torch.testing.assert_close(model.train()(x), each)
    torch.testing.assert_close(model.eval()(x), each.median(dim=1).values)


def test_each_member_learns_from_its_own_loss() -> None:
    # Oracle: the committee's training loss is the mean of the members' own MSEs, so each member's
    # gradient is its own loss's gradient divided by the number of members (no member corrects another).
    model, x, y = _committee().train(), torch.randn(8, 6, 1), torch.randn(8, 2)
    make_objective("forecast", 2).loss(model(x), y).backward()
    for member in model.members:
        alone = LinearForecaster((6, 1), 2, member.kernel_size)
        alone.load_state_dict(member.state_dict())
        (torch.nn.functional.mse_loss(alone(x), y) / 3).backward()
        for p, q in zip(member.parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad)


def test_the_spec_builds_its_members_and_refuses_other_tasks() -> None:
    spec = CommitteeSpec(members=[{"family": "linear", "kernel_size": 1}, {"family": "lstm", "hidden_size": 4},
                                  {"family": "nbeats", "hidden_size": 8}])
    model = build_model(spec, (10, 1), 3, "forecast")
    assert [type(m).__name__ for m in model.members] == ["LinearForecaster", "Recurrent", "NBeats"]
    assert model.eval()(torch.zeros(2, 10, 1)).shape == (2, 3)
    with pytest.raises(UserError, match="committee.*task 'classification'"):
        build_model(spec, (10, 1), 3, "classification")
    with pytest.raises(ValueError, match="at least 2"):
        CommitteeSpec(members=[{"family": "linear"}])
