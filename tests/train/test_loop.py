from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from neuroplast.data import Dataset, load_dataset
from neuroplast.errors import TrainingDiverged
from neuroplast.models import MLP
from neuroplast.spec import DataSpec, EarlyStoppingSpec, TrainSpec
from neuroplast.train import fit, make_objective


def _dataset(x: torch.Tensor, y: torch.Tensor, task: str, classes: list[str] | None = None) -> Dataset:
    n = len(x)
    tr, va = slice(0, int(n * 0.8)), slice(int(n * 0.8), n)
    return Dataset("toy", task, x[tr], y[tr], x[va], y[va], x[va], y[va], class_names=classes)


def test_losses_by_hand() -> None:
    ce = make_objective("classification", 2, num_classes=2)
    # logits (0, ln 3): p = (1/4, 3/4); CE for class 1 = -ln(3/4)
    assert ce.loss(torch.tensor([[0.0, math.log(3)]]), torch.tensor([1])).item() == pytest.approx(-math.log(0.75))
    bce = make_objective("classification", 1, num_classes=2)
    assert bce.loss(torch.tensor([[0.0]]), torch.tensor([1])).item() == pytest.approx(math.log(2))
    per = make_objective("classification", 1, loss="perceptron", num_classes=2)
    # t = +1, z = -2 -> max(0, 2) = 2; t = -1, z = -3 -> 0 ; mean = 1
    assert per.loss(torch.tensor([[-2.0], [-3.0]]), torch.tensor([1, 0])).item() == pytest.approx(1.0)
    huber = make_objective("regression", 1, loss="huber")
    # |e| = 3 > 1: 3 - 0.5 = 2.5 ; |e| = 0.5: 0.5 * 0.25 = 0.125 ; mean = 1.3125
    assert huber.loss(torch.tensor([[3.0], [0.5]]), torch.zeros(2, 1)).item() == pytest.approx(1.3125)


def test_gradient_descent_finds_least_squares() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 3, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3 + 0.01 * torch.randn(400, 1, generator=g)
    data = _dataset(x, y, "regression")
    model = nn.Linear(3, 1)
    fit(model, data, TrainSpec(epochs=60, batch_size=32, optimizer="sgd", lr=0.05, momentum=0.9,
                               checkpoint=False), progress=False)
    a = torch.cat([data.x_train, torch.ones(len(data.x_train), 1)], 1).double().numpy()
    coef = np.linalg.lstsq(a, data.y_train.double().numpy(), rcond=None)[0].ravel()
    assert np.allclose(model.weight.detach().numpy().ravel(), coef[:3], atol=2e-2)
    assert model.bias.item() == pytest.approx(coef[3], abs=2e-2)


def test_perceptron_rule_separates_linearly_separable_points() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 2, generator=g)
    y = (x[:, 0] + 2 * x[:, 1] > 0).long()
    model = nn.Linear(2, 1)
    result = fit(model, _dataset(x, y, "classification", ["neg", "pos"]),
                 TrainSpec(epochs=30, batch_size=1, optimizer="sgd", lr=1.0, momentum=0.0, loss="perceptron",
                           checkpoint=False), progress=False)
    assert result.history[-1]["val_accuracy"] >= 0.98


def test_same_seed_same_history() -> None:
    data = load_dataset(DataSpec(source="digits"), seed=0)

    def history() -> list[float]:
        torch.manual_seed(0)
        model = MLP(64, 10, hidden=(32,), dropout=0.2)
        res = fit(model, data, TrainSpec(epochs=3, checkpoint=False), seed=0, progress=False)
        return [h["train_loss"] for h in res.history] + [h["val_loss"] for h in res.history]

    assert history() == history()


def test_early_stopping_stops_and_restores_the_best_weights() -> None:
    data = load_dataset(DataSpec(source="digits"), seed=0)
    torch.manual_seed(0)
    model = MLP(64, 10, hidden=(64,))
    snapshots = {}

    class Keep:
        def on_epoch_end(self, epoch, logs):
            snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    spec = TrainSpec(epochs=200, lr=0.05, early_stopping=EarlyStoppingSpec(patience=3), checkpoint=False)
    res = fit(model, data, spec, progress=False, callbacks=[Keep()])
    assert res.stopped_early and res.epochs == res.best_epoch + 3
    best = min(res.history, key=lambda h: h["val_loss"])
    assert best["epoch"] == res.best_epoch
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[res.best_epoch][k])
    assert res.extra["stopped"] == (f"early stopping after epoch {res.epochs}: val_loss has not improved for 3 epochs "
                                    f"(best {best['val_loss']:.4g} at epoch {res.best_epoch}); the model keeps "
                                    f"epoch {res.best_epoch}'s weights")


def test_nan_loss_stops_with_a_clear_message(tmp_path) -> None:
    x = torch.randn(64, 2)
    x[5, 0] = float("nan")
    y = torch.randn(64, 1)
    with pytest.raises(TrainingDiverged, match=r"training loss became nan in epoch 1.*Lower train\.lr"):
        fit(nn.Linear(2, 1), _dataset(x, y, "regression"), TrainSpec(epochs=2),
            checkpoint_path=tmp_path / "ck.pt", progress=False)
    assert not (tmp_path / "ck.pt").exists()  # nothing bad was written


@pytest.mark.parametrize("schedule", ["step", "cosine", "onecycle"])
def test_schedules_step_per_batch(schedule: str) -> None:
    data = load_dataset(DataSpec(source="iris"), seed=0)
    res = fit(MLP(4, 3, hidden=(8,)), data, TrainSpec(epochs=4, lr=0.1, schedule=schedule, step_size=2,
                                                      gamma=0.5, checkpoint=False), progress=False)
    lrs = [h["lr"] for h in res.history]
    if schedule == "step":
        assert lrs == pytest.approx([0.1, 0.05, 0.05, 0.025])
    else:
        assert lrs[-1] < 0.01 * 0.1 + 1e-6 or lrs[-1] < lrs[0]


def test_bf16_autocast_trains_on_cpu() -> None:
    data = load_dataset(DataSpec(source="digits"), seed=0)
    torch.manual_seed(0)
    res = fit(MLP(64, 10, hidden=(64,)), data, TrainSpec(epochs=3, amp="bf16", checkpoint=False),
              progress=False)
    assert res.history[-1]["val_accuracy"] > 0.85 and res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_plain_progress_prints_one_line_per_epoch() -> None:
    import io

    from neuroplast.train.progress import PlainProgress, make_progress

    stream = io.StringIO()
    assert type(make_progress(True, stream)) is PlainProgress  # not a terminal: no bar
    data = load_dataset(DataSpec(source="iris"), seed=0)
    fit(MLP(4, 3, hidden=(8,)), data, TrainSpec(epochs=3, checkpoint=False), progress=PlainProgress(stream))
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all("train_loss=" in line and "val_accuracy=" in line for line in lines)


def test_rng_states_round_trip_through_a_checkpoint() -> None:
    import random

    from neuroplast.train.seed import rng_state, set_rng_state

    np.random.seed(3)
    np.random.rand(5)  # move the position inside the MT19937 block
    random.seed(3)
    gen = torch.Generator().manual_seed(3)
    state = rng_state(gen)
    expected = (np.random.rand(3), random.random(), torch.rand(2), torch.randperm(5, generator=gen))
    np.random.rand(7), random.random(), torch.rand(4), torch.randperm(5, generator=gen)  # wander off
    set_rng_state(state, gen)
    again = (np.random.rand(3), random.random(), torch.rand(2), torch.randperm(5, generator=gen))
    assert np.array_equal(expected[0], again[0]) and expected[1] == again[1]
    assert torch.equal(expected[2], again[2]) and torch.equal(expected[3], again[3])


def test_cuda_only_settings_leave_cpu_training_unchanged() -> None:
    """cuda_graphs is ignored on the CPU; channels_last changes only the memory layout."""
    from neuroplast.models import build_model
    from neuroplast.spec import ExperimentSpec

    data = load_dataset(ExperimentSpec().data, 0)
    weights = []
    for train in ({}, {"cuda_graphs": True}, {"channels_last": True}):
        spec = ExperimentSpec.model_validate({"train": {"epochs": 1, "threads": 1, "device": "cpu",
                                                        **train}})
        torch.manual_seed(0)
        model = build_model(spec.model, data.input_shape, data.num_outputs)
        fit(model, data, spec.train, seed=0, progress=False)
        weights.append(model.state_dict())
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k
        assert torch.allclose(weights[0][k], weights[2][k], atol=1e-5), k


def test_ema_weights_by_their_two_limits() -> None:
    """decay -> 0: the average is the last weights; decay -> 1: it stays at the weights after the
    first step (the first update copies them)."""
    from neuroplast.models import build_model
    from neuroplast.spec import ExperimentSpec

    data = load_dataset(DataSpec(source="digits"), 0)

    def train(**changes) -> dict[str, torch.Tensor]:
        spec = ExperimentSpec.model_validate({
            "model": {"family": "mlp", "hidden": [16]},
            "train": {"epochs": 2, "threads": 1, "device": "cpu", "optimizer": "sgd", "lr": 0.1, **changes}})
        torch.manual_seed(0)
        model = build_model(spec.model, data.input_shape, data.num_outputs)
        fit(model, data, spec.train, seed=0, progress=False)
        return model.state_dict()

    plain, last = train(), train(ema=1e-12)
    first_step = train(epochs=1, max_steps_per_epoch=1)
    frozen = train(ema=1 - 1e-12)
    for k in plain:
        assert torch.allclose(plain[k], last[k], atol=1e-6), k
        assert torch.allclose(first_step[k], frozen[k], atol=1e-6), k
        assert not torch.allclose(plain[k], frozen[k], atol=1e-3), k


def test_atomic_writes_get_the_mode_a_plain_open_would(tmp_path) -> None:
    import os
    import stat

    from neuroplast.io import save_json

    save_json(tmp_path / "m.json", {"a": 1})
    (tmp_path / "plain.txt").write_text("x")
    mode = stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode)  # not mkstemp's 0600
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_gradient_accumulation_steps_as_the_larger_batch_would() -> None:
    """Batches of 32 accumulated 2 at a time train as a hand-written loop over batches of 64 does; the
    epoch's last window (one batch of 32: 224 = 3 x 64 + 32) steps with its own mean."""
    torch.manual_seed(0)
    x, y = torch.randn(224, 6), torch.randint(0, 3, (224,))
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    hand = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    hand.load_state_dict(model.state_dict())
    data = Dataset("toy", "classification", x, y, x[:8], y[:8], x[:8], y[:8], class_names=["a", "b", "c"])
    spec = TrainSpec(epochs=2, batch_size=32, gradient_accumulation=2, lr=0.5, checkpoint=False, threads=1)
    fit(model, data, spec, progress=False, shuffle=False,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.5))
    optimizer = torch.optim.SGD(hand.parameters(), lr=0.5)
    for _ in range(2):
        for i in range(0, 224, 64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(hand(x[i:i + 64]), y[i:i + 64]).backward()
            optimizer.step()
    for a, b in zip(model.parameters(), hand.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_a_per_step_schedule_counts_optimizer_steps_not_batches() -> None:
    data = load_dataset(DataSpec(source="digits"), seed=0)
    spec = TrainSpec(epochs=3, batch_size=32, gradient_accumulation=3, schedule="onecycle", lr=0.01,
                     checkpoint=False, threads=1)
    res = fit(MLP(64, 10, hidden=(16,)), data, spec, progress=False)  # onecycle refuses a step past its total
    assert res.epochs == 3 and res.history[-1]["lr"] < 1e-4  # annealed to the end, not stopped halfway
