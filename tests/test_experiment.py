"""Your own code: the classic PyTorch tutorial's objects (DataLoader, Dataset, loss, optimizer) straight
into ``neuroplast.fit``, checked against the tutorial's own hand-written loop."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data import Dataset as TorchDataset

import neuroplast
import neuroplast.data
import neuroplast.spec
from neuroplast.errors import UserError


class Net(nn.Module):
    """The tutorial's network: written with __init__ and forward, nothing of neuroplast in it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def _digits(n: int = 1792) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits as the tutorial would hold them: float inputs, int64 labels (n rows)."""
    d = load_digits()
    return torch.tensor(d.data[:n] / 16.0, dtype=torch.float32), torch.tensor(d.target[:n])


def _tutorial_loop(model: nn.Module, loader: DataLoader, criterion: nn.Module, optimizer: optim.Optimizer,
                   epochs: int) -> list[float]:
    """The classic tutorial's training loop, as it writes it: each epoch's mean batch loss (the oracle)."""
    losses = []
    for _ in range(epochs):
        model.train()
        running = 0.0
        for inputs, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            running += loss.item()
        losses.append(running / len(loader))
    return losses


def test_the_tutorial_loop_replaced_by_one_call_gives_its_losses() -> None:
    x, y = _digits()  # 1792 = 28 batches of 64: the tutorial's mean of batch losses is the epoch's mean
    model = Net()
    hand = copy.deepcopy(model)
    criterion = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=False)

    run = neuroplast.fit(model, loader, loss=criterion, optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                         epochs=4, progress=False)

    losses = _tutorial_loop(hand, loader, criterion, optim.SGD(hand.parameters(), lr=0.1, momentum=0.9), 4)
    assert [h["train_loss"] for h in run.history] == pytest.approx(losses, abs=1e-5)
    for a, b in zip(run.model.parameters(), hand.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert run.metrics["data"]["train"] == 1792 and run.metrics["data"]["val"] == 0  # nothing held out
    assert list(run.predict(x[:5])) == list(hand(x[:5]).argmax(1).numpy())
    d = load_digits()
    x_rest, y_rest = torch.tensor(d.data[1792:] / 16.0, dtype=torch.float32), torch.tensor(d.target[1792:])
    scored = run.evaluate(DataLoader(TensorDataset(x_rest, y_rest), batch_size=2))  # any run, given data
    assert scored["accuracy"] == pytest.approx(float((hand(x_rest).argmax(1) == y_rest).float().mean()))
    with pytest.raises(UserError, match=r"pass the data to score: run.evaluate\(\(x, y\)\)"):
        run.evaluate()


def test_your_adam_runs_fused_with_the_tutorial_loops_losses_and_says_so(capsys) -> None:
    """The tutorial's optim.Adam (torch's per-parameter loop on a CPU) steps with torch's fused kernel inside
    fit: the hand loop with the unfused Adam is the oracle; fused=False asked for explicitly is kept."""
    x, y = _digits()
    model = Net()
    hand = copy.deepcopy(model)
    criterion = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=False)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    run = neuroplast.fit(model, loader, loss=criterion, optimizer=optimizer, epochs=3)

    reference = optim.Adam(hand.parameters(), lr=1e-3)
    losses = _tutorial_loop(hand, loader, criterion, reference, 3)
    assert reference.param_groups[0]["fused"] is None  # the oracle ran torch's default implementation
    assert [h["train_loss"] for h in run.history] == pytest.approx(losses, abs=1e-5)
    assert optimizer.param_groups[0]["fused"] is True
    assert run.metrics["train"]["optimizer"] == {"class": "Adam", "lr": 1e-3, "fused": True, "fused_by_fit": True}
    assert "note: your Adam steps with torch's fused kernel" in capsys.readouterr().err
    own = Net()
    kept = optim.Adam(own.parameters(), lr=1e-3, fused=False)
    run = neuroplast.fit(own, loader, optimizer=kept, epochs=1, progress=False)
    assert kept.param_groups[0]["fused"] is False and run.metrics["train"]["optimizer"]["fused_by_fit"] is False


def test_optimizer_and_loss_by_name_as_keras_takes_them() -> None:
    x, y = _digits(256)
    run = neuroplast.fit(Net(), (x, y), optimizer="sgd", loss="cross_entropy", lr=0.05, epochs=1, progress=False)
    assert run.metrics["train"]["optimizer"]["class"] == "SGD" and run.metrics["train"]["optimizer"]["lr"] == 0.05
    with pytest.raises(UserError, match="invalid train option optimizer='adagrad'"):
        neuroplast.fit(Net(), (x, y), optimizer="adagrad", epochs=1, progress=False)


def test_a_map_style_dataset_and_separate_validation_data(tmp_path) -> None:
    x, y = _digits()

    class Digits(TorchDataset):  # one sample at a time, as a user's own Dataset reads files
        def __len__(self) -> int:
            return 1400

        def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
            return x[i].numpy(), int(y[i])

    run = neuroplast.fit(Net(), DataLoader(Digits(), batch_size=32, shuffle=True),
                         validation_data=(x[1400:1600], y[1400:1600]), test_data=(x[1600:], y[1600:]),
                         epochs=5, lr=3e-3, progress=False, out=tmp_path / "run")
    assert run.metrics["data"] == {**run.metrics["data"], "train": 1400, "val": 200, "test": 192}
    assert run.metrics["test"]["accuracy"] > 0.85 and run.history[-1]["val_accuracy"] > 0.85
    assert (tmp_path / "run" / "report.html").is_file()
    again = neuroplast.load(tmp_path / "run", model=Net())
    np.testing.assert_array_equal(again.predict(x[1600:]), run.predict(x[1600:]))


def test_your_own_data_refused_in_one_line_naming_the_fix() -> None:
    x, y = _digits(256)

    class Dicts(TorchDataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"image": x[i], "label": y[i]}

    class Ragged(TorchDataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            return x[i, : 64 - i], y[i]

    cases = [
        (Dicts(), {}, r"sample 0 is a dict \(image, label\); neuroplast needs \(input, target\) pairs"),
        (Ragged(), {}, r"sample ([1-3]) has an input of shape \(6[1-3],\) but sample 0 has \(64,\)"),  # as streamed
        (TensorDataset(x, y), {"validation_data": (x[:8, :32], y[:8])},
         r"validation_data has inputs of shape \(32,\) per sample but data has \(64,\)"),
        (TensorDataset(x, y), {"loss": lambda out, t: nn.functional.cross_entropy(out, t, reduction="none")},
         r"loss must return one number \(a 0-dim tensor\) per batch; it returned \(64,\)"),
        (TensorDataset(x, y), {"optimizer": optim.SGD(Net().parameters(), lr=0.1)},
         "the optimizer holds none of this model's parameters"),
    ]
    for data, options, message in cases:
        with pytest.raises(UserError, match=message):
            neuroplast.fit(Net(), data, epochs=1, progress=False, **options)


@pytest.mark.parametrize(("module", "data", "options", "message"), [
    (None, "digits", {}, r"module must be a torch nn.Module \(your network\); received NoneType"),
    (Net(), None, {}, r"data is a NoneType; pass a DataLoader, a torch Dataset, an \(X, y\) pair"),
    (Net(), "X", {}, r"Unknown data source 'X'|data source"),
    (Net(), (np.zeros((4, 64)),), {}, r"data is a tuple of 1; pass the pair \(X, y\)"),
    (Net(), "digits", {"callbacks": "early"}, r"callbacks is a list of objects \(e.g. \[EarlyStopping\(\)\]\); received 'early'"),
    (Net(), (load_digits().data, load_digits().target), {"optimizer": lambda params: None},
     "the optimizer factory returned NoneType"),
    (Net(), "digits", {"validation_split": 0.1, "test_split": 0.95}, "leave no rows for training"),
    (nn.Linear(60, 10), (load_digits().data, load_digits().target), {},
     r"the model cannot take the data's inputs of shape \(64,\) per sample \(mat1 and mat2 shapes"),
    (Net(), (torch.randn(64, 64), torch.randint(0, 10, (64,)).float()), {"validation_data": (torch.randn(8, 64),
                                                                                             torch.ones(8))},
     r"the model gives 10 outputs per sample but the regression targets have 1; class labels as floats\?"),
])
def test_wrong_arguments_are_refused_in_one_line(module, data, options, message) -> None:
    with pytest.raises(UserError, match=message):
        neuroplast.fit(module, data, epochs=1, progress=False, threads=1, **options)


def test_an_optimizer_factory_and_a_loss_module_on_a_regression() -> None:
    torch.manual_seed(0)
    x = torch.randn(512, 3)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3
    run = neuroplast.fit(nn.Linear(3, 1), (x, y), validation_data=(x[:64], y[:64]), loss=nn.MSELoss(),
                         optimizer=lambda params: optim.SGD(params, lr=0.1), epochs=30, batch_size=64, progress=False)
    assert run.metrics["task"] == "regression" and run.history[-1]["val_loss"] < 1e-4
    torch.testing.assert_close(run.model.weight.detach(), torch.tensor([[1.5, -2.0, 0.5]]), atol=1e-2, rtol=0)


def test_arrays_hold_out_a_validation_part_only_and_say_so(capsys) -> None:
    x, y = _digits(500)
    run = neuroplast.fit(Net(), (x.numpy(), y.numpy()), epochs=1, seed=3)
    said = capsys.readouterr().err
    assert ("note: fit held out 10% of the rows for validation, none for testing (stratified, seed 3): "
            "450 training, 50 validation, 0 test samples (pass test_data= or test_split= to score a test part)") in said
    assert run.metrics["data"]["split"].startswith("fit held out 10% of the rows for validation, none for testing")
    assert (run.metrics["data"]["train"], run.metrics["data"]["val"], run.metrics["data"]["test"]) == (450, 50, 0)
    run = neuroplast.fit(Net(), (x.numpy(), y.numpy()), validation_split=0.2, test_split=0.1, epochs=1,
                         progress=False)
    assert (run.metrics["data"]["train"], run.metrics["data"]["val"], run.metrics["data"]["test"]) == (360, 90, 50)
    with pytest.raises(UserError, match=r"validation_split=1.5 must be a fraction of the rows in \[0, 1\)"):
        neuroplast.fit(Net(), (x.numpy(), y.numpy()), validation_split=1.5, epochs=1, progress=False)


def test_a_dataframe_with_a_target_column_as_the_csv_source_reads_it(tmp_path) -> None:
    import pandas as pd
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.data.assign(species=[iris.target_names[t] for t in iris.target])
    frame.loc[3, "petal width (cm)"] = float("nan")  # a missing cell: filled from the training rows
    frame.to_csv(tmp_path / "iris.csv", index=False)
    run = neuroplast.fit(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)), frame, target="species",
                         test_split=0.2, epochs=30, lr=1e-2, progress=False)  # the CSV source's 70/10/20
    from_csv = neuroplast.data.load_dataset(neuroplast.spec.DataSpec(source="csv", path=tmp_path / "iris.csv",
                                                                     target="species"), 0)
    assert run.class_names == from_csv.class_names == ["setosa", "versicolor", "virginica"]
    assert run.preprocess["columns"] == from_csv.preprocess["columns"]
    np.testing.assert_allclose(run.preprocess["mean"], from_csv.preprocess["mean"])
    assert run.metrics["test"]["accuracy"] > 0.8
    rows = frame.drop(columns="species").iloc[[0, 1, 100]].to_dict("records")
    assert list(run.predict(rows)) == ["setosa", "setosa", "virginica"]  # labels, as scikit-learn's predict
    assert list(run.predict_proba(rows).argmax(1)) == [0, 0, 2]
    with pytest.raises(UserError, match="has no target column 'specis'. Did you mean 'species'"):
        neuroplast.fit(nn.Linear(4, 3), frame, target="specis", epochs=1, progress=False)
    with pytest.raises(UserError, match="A DataFrame needs target='COLUMN'"):
        neuroplast.fit(nn.Linear(4, 3), frame, epochs=1, progress=False)
    assert isinstance(frame, pd.DataFrame)


def test_a_rate_your_optimizer_overrides_is_said_unless_a_schedule_uses_it(capsys) -> None:
    x, y = _digits(128)
    model = Net()
    neuroplast.fit(model, (x, y), optimizer=optim.SGD(model.parameters(), lr=0.5), lr=1e-5, epochs=1)
    assert "note: lr=1e-05 is not used: your optimizer has its own rate" in capsys.readouterr().err
    model = Net()
    neuroplast.fit(model, (x, y), optimizer=optim.SGD(model.parameters(), lr=0.5), lr=0.1, schedule="onecycle",
                   epochs=1)
    assert "is not used" not in capsys.readouterr().err  # one-cycle's peak is lr
