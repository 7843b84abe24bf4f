"""train.threads = "auto": the fastest count measured on the model at hand, nothing of the run changed."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import neuroplast
from neuroplast.train.threads import candidates, choose, fastest, training_step


class FakeClock:
    """A clock that a step advances by the seconds its thread count is given in ``cost``."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.now, self.cost = 0.0, cost

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.cost[torch.get_num_threads()]


@pytest.mark.parametrize(("cost", "expected"), [
    ({1: 1.0, 2: 3.0}, 1),     # a busy second core: two threads wait for it
    ({1: 1.0, 2: 0.5}, 2),     # a large step that two cores share
    ({1: 1.0, 2: 0.97}, 1),    # within 5%: the smaller count, a core left free
])
def test_the_fastest_count_is_kept_and_torch_put_back(cost: dict[int, float], expected: int) -> None:
    before = torch.get_num_threads()
    clock = FakeClock(cost)
    best, medians = fastest(clock.step, [1, 2], clock=clock)
    assert best == expected
    assert medians == pytest.approx({1: cost[1], 2: cost[2]})
    assert torch.get_num_threads() == before


def test_candidates_are_one_half_and_all_the_cores() -> None:
    assert candidates(1) == [1]
    assert candidates(2) == [1, 2]
    assert candidates(16) == [1, 8, 16]


def test_timing_a_step_changes_neither_the_model_nor_the_random_numbers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.5), nn.BatchNorm1d(16), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    weights = copy.deepcopy(model.state_dict())
    step = training_step(model, optimizer, nn.functional.cross_entropy, torch.randn(32, 8),
                         torch.randint(0, 3, (32,)))
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    for _ in range(3):
        step()
    assert torch.equal(torch.rand(3), expected)  # dropout's draws were undone
    for k, v in model.state_dict().items():  # weights and batch-norm statistics untouched
        assert torch.equal(v, weights[k]), k
    assert not optimizer.state and all(p.grad is None for p in model.parameters())


def test_fixed_and_default_counts_are_set_and_said() -> None:
    before = torch.get_num_threads()
    try:
        assert choose(1, None, torch.device("cpu")) == {"threads": 1, "chosen": "fixed"}
        assert torch.get_num_threads() == 1
        assert choose(None, None, torch.device("cpu"))["chosen"] == "torch default"
        assert choose("auto", None, torch.device("cuda"))["chosen"] == "auto: not measured (cuda device)"
    finally:
        torch.set_num_threads(before)


def test_fit_measures_by_default_and_records_the_choice(tmp_path) -> None:
    x, y = torch.randn(200, 10), torch.randint(0, 2, (200,))
    run = neuroplast.fit(nn.Linear(10, 2), (x, y), validation_data=(x[:50], y[:50]), epochs=1, progress=False,
                         out=tmp_path / "run")
    chosen = run.metrics["train"]["threads"]
    if len(candidates()) > 1:
        assert chosen["chosen"] == "auto"
        assert set(chosen["seconds_per_step"]) == {str(n) for n in candidates()}
        assert chosen["threads"] in candidates() and run.metrics["threads"] == chosen["threads"]
    else:
        assert chosen["chosen"] == "auto: not measured (one core)"
    checkpoint = torch.load(tmp_path / "run" / "checkpoint" / "last.pt", weights_only=True)
    assert checkpoint["threads"] == chosen["threads"]  # resume trains with the same count
