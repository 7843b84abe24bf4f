"""Fine-tuning: ``train.init_from`` starts from a run's weights, ``train.freeze`` keeps named layers
fixed, a new output width starts a fresh head with one note. The oracles are the parent's own
``model.safetensors`` (read here with safetensors directly), a freshly built network with the same
seed, and pixel arithmetic done by hand on the PNG files."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from sklearn.datasets import load_digits

import neuroplast
from neuroplast import experiment, finetune
from neuroplast.cli import main
from neuroplast.errors import UserError
from neuroplast.models import build_model
from neuroplast.spec import CNNSpec, DataSpec, ExperimentSpec, MLPSpec, TrainSpec, load_spec

TINY_MLP = MLPSpec(hidden=(16,))
TINY_CNN = CNNSpec(channels=(4,), hidden=(8,), dropout=0.0, batch_norm=True)


def _spec(name: str, model, data: DataSpec | None = None, **train) -> ExperimentSpec:
    return ExperimentSpec(name=name, model=model, data=data or DataSpec(),
                          train=TrainSpec(epochs=1, threads=1, checkpoint=False, **train))


def _parent_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model.safetensors"))  # the oracle: what the parent wrote


@pytest.fixture(scope="module")
def mlp_parent(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("parents") / "mlp"
    experiment.train(_spec("mlp", TINY_MLP, lr=3e-3), out=out, progress=False)
    return out


@pytest.fixture(scope="module")
def cnn_parent(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("parents") / "cnn"
    experiment.train(_spec("cnn", TINY_CNN, lr=3e-3), out=out, progress=False)
    return out


def _digit_folder(root: Path, classes: range, per_class: int = 12, size: int = 8) -> Path:
    """scikit-learn's digits as PNG files, one sub-folder per class (what a user's folder holds)."""
    d = load_digits()
    for c in classes:
        (root / str(c)).mkdir(parents=True)
        for i, image in enumerate(d.images[d.target == c][:per_class]):
            pixels = (image * 255 / 16).round().astype(np.uint8)
            Image.fromarray(pixels).resize((size, size), Image.Resampling.NEAREST).save(root / str(c) / f"{i}.png")
    return root


# --------------------------------------------------------------------------- loading
def test_init_from_starts_from_exactly_the_parents_tensors(mlp_parent: Path) -> None:
    spec = experiment.resolve_spec(_spec("child", TINY_MLP, init_from=str(mlp_parent)))
    data = experiment.load_data(spec)
    model = experiment.build(spec, data)
    record = finetune.prepare(model, spec.train, data, spec.model.family)
    parent = _parent_tensors(mlp_parent)
    assert set(model.state_dict()) == set(parent)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, parent[name], rtol=0, atol=0)
    assert record == {"init_from": {"run": str(mlp_parent.resolve()), "family": "mlp", "loaded": len(parent),
                                    "fresh": []}}
    fresh = experiment.build(spec, data)  # the same seed without init_from: other weights, so it did load
    assert not torch.equal(fresh.state_dict()["layers.1.weight"], parent["layers.1.weight"])


def test_frozen_layers_and_their_batch_norm_end_as_the_parent_had_them(cnn_parent: Path, tmp_path: Path) -> None:
    run = experiment.train(_spec("child", TINY_CNN, init_from=str(cnn_parent), freeze=("features",), lr=1e-2),
                           out=tmp_path / "child", progress=False)
    parent, child = _parent_tensors(cnn_parent), _parent_tensors(tmp_path / "child")
    features = [k for k in parent if k.startswith("features.")]
    assert {"features.1.running_mean", "features.1.running_var", "features.0.weight"} <= set(features)
    for name in features:  # weights and the batch norm's running statistics alike
        torch.testing.assert_close(child[name], parent[name], rtol=0, atol=0)
    for name in ("classifier.1.weight", "classifier.3.weight", "classifier.3.bias"):
        assert not torch.equal(child[name], parent[name]), name
    assert run.metrics["frozen"] == ["features.0.weight", "features.1.weight", "features.1.bias"]
    assert run.metrics["init_from"]["fresh"] == [] and run.metrics["init_from"]["loaded"] == len(parent)


def test_everything_fine_tuned_changes_the_convolutions_too(cnn_parent: Path, tmp_path: Path) -> None:
    experiment.train(_spec("child", TINY_CNN, init_from=str(cnn_parent), lr=1e-2), out=tmp_path / "c", progress=False)
    parent, child = _parent_tensors(cnn_parent), _parent_tensors(tmp_path / "c")
    assert not torch.equal(child["features.0.weight"], parent["features.0.weight"])
    assert not torch.equal(child["features.1.running_mean"], parent["features.1.running_mean"])


def test_frozen_batch_norm_stays_in_inference_mode_through_train_and_a_deep_copy() -> None:
    model = build_model(TINY_CNN, (1, 8, 8), 10)
    finetune.freeze(model, ["features.1"])  # the batch norm's own weight and bias
    model.train()
    assert model.features[0].training and not model.features[1].training
    clone = copy.deepcopy(model)  # what an EMA average holds
    clone.train()
    assert not clone.features[1].training and clone.classifier.training
    before = clone.features[1].running_mean.clone()
    clone(torch.randn(4, 1, 8, 8) * 3 + 1)
    torch.testing.assert_close(clone.features[1].running_mean, before, rtol=0, atol=0)
    assert [n for n, p in model.named_parameters() if not p.requires_grad] == ["features.1.weight", "features.1.bias"]


def test_a_new_output_width_starts_a_fresh_head_with_one_note(mlp_parent: Path, tmp_path: Path, caplog) -> None:
    folder = _digit_folder(tmp_path / "four", range(4))  # 4 classes, 8x8 like the parent's digits
    spec = _spec("four", TINY_MLP, DataSpec(source="folder", dir=folder, image_size=(8, 8)), init_from=str(mlp_parent))
    spec = experiment.resolve_spec(spec)
    data = experiment.load_data(spec)
    model = experiment.build(spec, data)
    seeded = copy.deepcopy(model.state_dict())  # the fresh head's oracle: the same seed's initialisation
    with caplog.at_level(logging.WARNING, logger="neuroplast.finetune"):
        record = finetune.prepare(model, spec.train, data, "mlp")
    parent = _parent_tensors(mlp_parent)
    assert record["init_from"]["fresh"] == ["layers.3.weight", "layers.3.bias"]
    torch.testing.assert_close(model.state_dict()["layers.1.weight"], parent["layers.1.weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.state_dict()["layers.3.weight"], seeded["layers.3.weight"], rtol=0, atol=0)
    assert model.state_dict()["layers.3.weight"].shape == (4, 16)
    notes = [r.getMessage() for r in caplog.records if "start fresh" in r.getMessage()]
    assert len(notes) == 1 and "layers.3.weight, layers.3.bias" in notes[0]
    assert "output width is 4 here, 10 in" in notes[0] and "\n" not in notes[0]


def test_new_images_take_the_parents_scale_in_training_and_when_reloaded(mlp_parent: Path, tmp_path: Path) -> None:
    folder = _digit_folder(tmp_path / "ten", range(10), per_class=3)
    data = DataSpec(source="folder", dir=folder, image_size=(8, 8), style="resize", val_fraction=0.0, test_fraction=0.3)
    run = neuroplast.run(_spec("ten", TINY_MLP, data, init_from=str(mlp_parent)), out=tmp_path / "run", progress=False)
    mean, std = neuroplast.load(mlp_parent).preprocess["mean"], neuroplast.load(mlp_parent).preprocess["std"]
    assert (run.preprocess["mean"], run.preprocess["std"]) == (mean, std)
    png = folder / "3" / "0.png"
    by_hand = (np.asarray(Image.open(png), dtype=np.float32) / 255 - mean) / std  # 8x8 already: no resampling
    torch.testing.assert_close(run.inputs([png])[0, 0], torch.from_numpy(by_hand))
    assert load_spec(tmp_path / "run" / "spec.toml").data.normalize == pytest.approx((mean, std))
    reloaded = neuroplast.load(tmp_path / "run")  # its data from spec.toml: the same scale, the same score
    assert float(reloaded.dataset().x_train.min()) == pytest.approx(-mean / std)
    assert reloaded.evaluate()["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])


def test_a_folder_is_framed_as_the_parents_images_and_predicting_a_file_repeats_it(mlp_parent: Path,
                                                                                    tmp_path: Path) -> None:
    folder = _digit_folder(tmp_path / "ten", range(10), per_class=2, size=13)  # another size than the parent's 8x8
    test = _digit_folder(tmp_path / "test", range(10), per_class=1, size=13)
    data = DataSpec(source="folder", dir=folder, test_dir=test, image_size=(8, 8), val_fraction=0.0)
    spec = experiment.resolve_spec(_spec("ten", TINY_MLP, data, init_from=str(mlp_parent)))
    assert spec.data.style == "digits" == neuroplast.load(mlp_parent).preprocess["style"]
    run = experiment.train(spec, out=tmp_path / "run", progress=False)
    trained_on = neuroplast.load(tmp_path / "run").dataset().x_train  # files in order: no split was drawn
    files = sorted(folder.glob("*/*.png"))
    torch.testing.assert_close(run.inputs(files), trained_on)  # the run predicts a file as it trained on it


def test_fit_takes_init_from_and_freeze_for_your_own_module(mlp_parent: Path) -> None:
    d = load_digits()
    keep = d.target < 3  # three classes: a head of 3 outputs, fresh
    x = (d.images[keep] / 16.0)[:, None].astype(np.float32)
    module = build_model(TINY_MLP, (1, 8, 8), 3)
    run = neuroplast.fit(module, (x, d.target[keep]), init_from=mlp_parent, freeze="layers.1", epochs=1,
                         threads=1, progress=False)
    parent = _parent_tensors(mlp_parent)
    torch.testing.assert_close(run.model.layers[1].weight.detach(), parent["layers.1.weight"], rtol=0, atol=0)
    assert run.metrics["frozen"] == ["layers.1.weight", "layers.1.bias"]
    assert run.metrics["init_from"]["fresh"] == ["layers.3.weight", "layers.3.bias"]
    assert run.preprocess["mean"] == pytest.approx(neuroplast.load(mlp_parent).preprocess["mean"])


def test_a_resumed_fine_tuning_keeps_its_layers_frozen(mlp_parent: Path, tmp_path: Path) -> None:
    spec = _spec("child", TINY_MLP, init_from=str(mlp_parent), freeze=("layers.1",)).updated(train={"checkpoint": True})
    experiment.train(spec, out=tmp_path / "c", progress=False)
    (tmp_path / "c" / "spec.toml").write_text((tmp_path / "c" / "spec.toml").read_text().replace("epochs = 1",
                                                                                                 "epochs = 2"))
    run = neuroplast.resume(tmp_path / "c", progress=False)
    assert len(run.history) == 2 and run.metrics["frozen"] == ["layers.1.weight", "layers.1.bias"]
    parent, child = _parent_tensors(mlp_parent), _parent_tensors(tmp_path / "c")
    torch.testing.assert_close(child["layers.1.weight"], parent["layers.1.weight"], rtol=0, atol=0)
    assert not torch.equal(child["layers.3.weight"], parent["layers.3.weight"])


# --------------------------------------------------------------------------- the spec
def test_a_spec_file_names_the_parent_relative_to_itself_and_one_prefix_may_be_a_string(tmp_path: Path) -> None:
    (tmp_path / "my.toml").write_text('[train]\ninit_from = "runs/parent"\nfreeze = "features"\n')
    spec = load_spec(tmp_path / "my.toml")
    assert spec.train.init_from == tmp_path / "runs" / "parent" and spec.train.freeze == ("features",)
    assert TrainSpec().init_from is None and TrainSpec().freeze == ()


# --------------------------------------------------------------------------- bad input: one line each
def _refusals(mlp_parent: Path, cnn_parent: Path, tmp_path: Path) -> list[tuple[ExperimentSpec, str]]:
    big = _digit_folder(tmp_path / "big", range(2), per_class=2, size=16)
    return [
        (_spec("c", TINY_MLP, freeze=("layer",)),
         r"^train.freeze: 'layer' names no parameter of this model\. .*top-level modules are layers; its layers "
         r"with parameters layers\.1, layers\.3 \(e\.g\. freeze = \['layers\.1'\]\)"),
        (_spec("c", TINY_MLP, freeze=("layers",)), r"freezes every parameter, so nothing would train"),
        (_spec("c", TINY_CNN, init_from=str(mlp_parent)),
         r"^train.init_from .*mlp holds a 'mlp' network; this spec's model.family is 'cnn'\. Start from a cnn run"),
        (_spec("c", TINY_MLP, DataSpec(source="folder", dir=big, image_size=(16, 16)), init_from=str(mlp_parent)),
         r"was trained on inputs of shape \(1, 8, 8\); this data gives \(1, 16, 16\)\. .*data.image_size = \[8, 8\], "
         r"data.channels = 1"),
        (_spec("c", MLPSpec(hidden=(32,)), init_from=str(mlp_parent)),
         r"tensors differ in shape beyond the output layer \(layers\.1\.weight \(16, 64\) -> \(32, 64\)"),
        (_spec("c", TINY_MLP, init_from=str(tmp_path)), r"is not a finished neuroplast run"),
        (_spec("c", TINY_MLP, DataSpec(normalize=(0.5, 0.5)), init_from=str(mlp_parent)),
         r"data.normalize = \[0.5, 0.5\] differs from the pixel \(mean, std\)"),
        (_spec("c", CNNSpec(channels=(4,), hidden=(8,), dropout=0.0, batch_norm=False), init_from=str(cnn_parent)),
         r"do not match this model's \(only here: features\.0\.bias; only in the run: features\.1\.bias, "
         r"features\.1\.num_batches_tracked"),
    ]


def test_bad_input_is_refused_in_one_line_naming_the_option(mlp_parent: Path, cnn_parent: Path, tmp_path: Path) -> None:
    for spec, message in _refusals(mlp_parent, cnn_parent, tmp_path):
        out = tmp_path / f"never-{spec.model.family}"
        with pytest.raises(UserError, match=message) as caught:
            neuroplast.run(spec, out=out, progress=False)
        assert "\n" not in str(caught.value)
        assert not out.exists()  # refused before any folder is made


def test_the_command_line_exits_2_with_the_same_line(mlp_parent: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "cnn.toml").write_text(f'[model]\nfamily = "cnn"\n[train]\nepochs = 1\ninit_from = "{mlp_parent}"\n')
    assert main(["run", str(tmp_path / "cnn.toml"), "--out", str(tmp_path / "a")]) == 2
    assert "holds a 'mlp' network; this spec's model.family is 'cnn'" in capsys.readouterr().err
    code = main(["run", "digits-mlp", "--set", "train.freeze=['nope']", "--set", "train.threads=1",
                 "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "train.freeze: 'nope' names no parameter" in err


def test_fit_refuses_a_module_that_is_not_the_parents_network(mlp_parent: Path) -> None:
    d = load_digits()
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with pytest.raises(UserError, match=r"holds a mlp network whose tensors do not match this model's \(only here: "
                                         r"1.bias, 1.weight; only in the run: layers.1.bias, layers.1.weight"):
        neuroplast.fit(module, ((d.images / 16.0)[:, None].astype(np.float32), d.target), init_from=mlp_parent,
                       epochs=1, progress=False)
