"""The learning-rate finder: the model comes back untouched, the suggestion trains, lr = "auto" is
recorded, the command writes its plot, and a bad lr is one line."""

from __future__ import annotations

import json
import random
import tomllib

import numpy as np
import pytest
import torch
from PIL import Image

import neuroplast
from neuroplast.cli import main
from neuroplast.data import load_dataset
from neuroplast.models import build_model
from neuroplast.spec import load_spec
from neuroplast.train.lr_find import find_lr, suggest


def test_suggestion_is_a_tenth_of_the_lowest_smoothed_loss_by_hand() -> None:
    # 20 steps: the first 20 // 10 = 2 are skipped (index 1 has the lowest value of all, 0.1, but
    # the average is still warming up there); the lowest after them is 0.5 at lr 1e-1 -> 1e-2.
    lrs = [10.0 ** (k / 4 - 4) for k in range(20)]
    smoothed = [2.0, 0.1] + [1.5] * 10 + [0.5] + [3.0] * 7
    assert lrs[12] == pytest.approx(1e-1)
    lr, reason = suggest(lrs, smoothed)
    assert lr == pytest.approx(1e-2)
    assert reason.startswith("one tenth of 0.1, the learning rate where the smoothed training loss was lowest "
                             "(0.5)") and "min_loss/10" in reason


def test_a_curve_that_never_falls_has_no_suggestion() -> None:
    # a trained model: after the skipped warm-up (index 0) the loss only rises
    with pytest.raises(neuroplast.UserError, match=r"never fell .* lr 0\.01\), so there is no rate to suggest"):
        suggest([1e-3, 1e-2, 1e-1, 1.0, 10.0] * 2, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])


def test_sweep_leaves_the_model_exactly_as_it_was() -> None:
    spec = load_spec("digits-cnn")  # batch norm (buffers, num_batches_tracked) and dropout
    data = load_dataset(spec.data, spec.seed)
    model = build_model(spec.model, data.input_shape, data.num_outputs, data.task)
    model(data.x_train[:32]).logsumexp(1).mean().backward()  # some gradients and BN statistics to keep
    model.eval()
    model.classifier.train()  # mixed train/eval flags, to see each one restored
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    params = list(model.parameters())
    rng = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())

    found = find_lr(model, data, spec.train, seed=0)

    # the sweep did train: the smoothed loss fell (whether it also diverged before lr 10 depends on the
    # dropout masks the forward pass above drew; this test is about what the sweep leaves behind)
    assert min(found.smoothed) < found.smoothed[0] - 0.1
    assert 10 < len(found.lrs) <= 100 and found.lrs[0] == 1e-7
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():  # bitwise, buffers included
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))  # same Parameter objects
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads, strict=True))
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(torch.get_rng_state(), rng[0])
    assert np.array_equal(np.random.get_state()[1], rng[1]) and random.getstate() == rng[2]
    assert find_lr(model, data, spec.train, seed=0).losses == found.losses  # repeatable


def test_auto_lr_is_resolved_recorded_and_trains_digits_cnn_to_98_percent(tmp_path) -> None:
    # The spec's 40 epochs with train.lr = "auto": the suggestion replaces the spec's 3e-3.
    run = neuroplast.run("digits-cnn", out=tmp_path / "auto", train={"lr": "auto"}, progress=False)
    lr = run.metrics["lr_find"]["suggestion"]
    assert isinstance(lr, float) and 1e-4 < lr < 1e-1
    assert run.spec.train.lr == lr
    assert tomllib.loads((tmp_path / "auto" / "spec.toml").read_text())["train"]["lr"] == lr
    assert neuroplast.load(tmp_path / "auto").spec.train.lr == lr
    saved = json.loads((tmp_path / "auto" / "metrics.json").read_text())["lr_find"]
    assert saved["rule"] == "min_loss/10" and saved["reason"].startswith("one tenth of ")
    assert Image.open(tmp_path / "auto" / "lr_find.png").size[0] > 100
    assert run.metrics["test"]["accuracy"] >= 0.98


def test_auto_run_equals_a_run_with_the_suggested_number(tmp_path) -> None:
    # The sweep restores weights and generators, so it leaves no trace in the training that follows.
    auto = neuroplast.run("digits-cnn", out=tmp_path / "a", train={"lr": "auto", "epochs": 2}, progress=False)
    lr = auto.spec.train.lr
    plain = neuroplast.run("digits-cnn", out=tmp_path / "b", train={"lr": lr, "epochs": 2}, progress=False)
    drop = ("seconds",)
    assert ([{k: v for k, v in h.items() if k not in drop} for h in auto.history]
            == [{k: v for k, v in h.items() if k not in drop} for h in plain.history])
    assert "lr_find" not in plain.metrics and not (tmp_path / "b" / "lr_find.json").exists()


def test_lr_find_command_writes_the_plot_and_prints_the_suggestion(capsys, tmp_path) -> None:
    code = main(["lr-find", "digits-mlp", "--out", str(tmp_path), "--set", "train.threads=1"])
    out = capsys.readouterr().out
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("suggested lr ") and "one tenth of " in first and "min_loss/10" in first
    assert f"plot: {tmp_path / 'lr_find.png'}" in out
    assert Image.open(tmp_path / "lr_find.png").format == "PNG"
    saved = json.loads((tmp_path / "lr_find.json").read_text())
    assert f"suggested lr {saved['suggestion']:.2g}:" in first
    assert len(saved["lrs"]) == len(saved["losses"]) == len(saved["smoothed"])
    assert saved["lrs"] == sorted(saved["lrs"])  # an increasing, exponential sweep


@pytest.mark.parametrize("value", ['"fast"', "fast", "-0.1", "0"])
def test_a_bad_lr_is_one_line_naming_the_key_and_the_choices(capsys, value) -> None:
    code = main(["run", "digits-cnn", "--set", f"train.lr={value}", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("neuroplast: error: ") and "invalid value for 'train.lr'" in err
    assert 'expected a positive number such as 3e-4, or "auto"' in err and "Traceback" not in err


def test_a_bad_lr_in_a_spec_file_and_in_fit(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[train]\nlr = "fast"\n')
    with pytest.raises(neuroplast.UserError, match=r"invalid value for 'train\.lr': expected a positive "
                       r"number such as 3e-4, or \"auto\".*Received 'fast'\.$"):
        load_spec(path)
    with pytest.raises(neuroplast.UserError, match=r"invalid train option lr=.*: expected a positive number"):
        neuroplast.fit(torch.nn.Linear(64, 10), "digits", lr="fast")


def test_plot_returns_the_figure_without_a_path_and_writes_a_png_with_one(tmp_path) -> None:
    from neuroplast.train.lr_find import LRFinderResult

    lrs = [10.0 ** (k / 4 - 4) for k in range(20)]
    losses = [2.0 - 0.05 * k for k in range(20)]
    result = LRFinderResult(lrs, losses, losses, 1e-2, "by hand")
    fig = result.plot()  # a notebook shows it: no file
    raw, smoothed, marker = fig.axes[0].lines
    assert list(raw.get_xdata()) == lrs and list(raw.get_ydata()) == losses
    assert list(marker.get_xdata()) == [1e-2, 1e-2] and fig.axes[0].get_xscale() == "log"
    assert fig._repr_png_().startswith(b"\x89PNG")  # what Jupyter displays inline
    assert not list(tmp_path.iterdir())
    path = result.plot(tmp_path / "sweep.png")  # existing callers: a file, its path returned
    assert path == tmp_path / "sweep.png" and Image.open(path).format == "PNG"
