from __future__ import annotations

import pytest

from neuroplast import ExperimentSpec, UserError, available_specs, load_spec
from neuroplast.spec import CNNSpec, MLPSpec, parse_value

REQUIRED = {"digits-cnn", "digits-mlp", "mnist-cnn", "mnist-mlp", "mnist-lenet5", "mnist-lenet-300-100",
            "fashion-cnn", "breast-cancer-perceptron", "wine-mlp", "breast-cancer-mlp", "diabetes-mlp"}


def test_required_specs_are_shipped() -> None:
    assert REQUIRED <= set(available_specs())


@pytest.mark.parametrize("name", available_specs())
def test_every_shipped_spec_loads_and_round_trips(name: str) -> None:
    spec = load_spec(name)
    assert spec.name == name
    assert spec.description
    again = ExperimentSpec.model_validate(__import__("tomllib").loads(spec.to_toml()))
    assert again == spec


def test_default_is_digits_cnn() -> None:
    spec = load_spec()
    assert spec.name == "digits-cnn" and spec.data.source == "digits" and spec.model.family == "cnn"


def test_overrides_are_parsed_as_toml_values() -> None:
    spec = load_spec("digits-mlp", ["train.lr=3e-4", "model.hidden=[32, 16]", "train.optimizer=sgd",
                                     "data.augment.shift=1", "seed=7"])
    assert spec.train.lr == 3e-4 and spec.model.hidden == (32, 16) and spec.train.optimizer == "sgd"
    assert spec.data.augment.shift == 1 and spec.seed == 7
    assert parse_value("true") is True and parse_value("adam") == "adam"


def test_unknown_key_suggests_the_nearest(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[train]\nlrr = 0.1\n')
    with pytest.raises(UserError, match=r"unknown key 'train.lrr'\. Did you mean 'train.lr'\?"):
        load_spec(path)


def test_unknown_model_key_names_the_family_fields(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[model]\nfamily = "mlp"\nhiden = [3]\n')
    with pytest.raises(UserError, match=r"unknown key 'model.hiden'\. Did you mean 'model.hidden'\?"):
        load_spec(path)


def test_wrong_type_names_the_key_and_the_value(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[train]\nepochs = "many"\n')
    with pytest.raises(UserError, match=r"invalid value for 'train.epochs'.*Received 'many'"):
        load_spec(path)


def test_set_on_a_missing_key_is_refused() -> None:
    with pytest.raises(UserError, match=r"--set 'train.epoch=3': train has no key 'epoch'\. Did you mean "
                                        r"'train.epochs'\?"):
        load_spec("digits-cnn", ["train.epoch=3"])
    with pytest.raises(UserError, match=r"the spec has no key 'trian'\. Did you mean 'train'\?"):
        load_spec("digits-cnn", ["trian.lr=1"])


def test_unknown_spec_name_suggests_a_shipped_one() -> None:
    with pytest.raises(UserError, match=r"Did you mean 'digits-cnn'\?"):
        load_spec("digit-cnn")


def test_presets_fill_the_classic_architectures() -> None:
    lenet = CNNSpec(preset="lenet5")
    assert lenet.channels == (6, 16) and lenet.kernel_size == 5 and lenet.hidden == (120, 84)
    assert MLPSpec(preset="lenet-300-100").hidden == (300, 100)
    assert MLPSpec(preset="lenet-300-100", dropout=0.5).dropout == 0.5  # explicit keys win


def test_updated_switches_model_family() -> None:
    spec = load_spec("digits-cnn").updated(model={"family": "mlp", "hidden": [8]})
    assert spec.model.family == "mlp" and spec.model.hidden == (8,)


def test_set_model_family_replaces_the_model_section() -> None:
    spec = load_spec("digits-cnn", ["model.family=mlp", "model.hidden=[16]"])
    assert spec.model.family == "mlp" and spec.model.hidden == (16,)


def test_relative_paths_in_a_spec_file_are_relative_to_the_file(tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.toml").write_text('[data]\nsource = "csv"\npath = "t.csv"\ntarget = "y"\n')
    assert load_spec(tmp_path / "sub" / "s.toml").data.path == tmp_path / "sub" / "t.csv"


@pytest.mark.parametrize(("sets", "message"), [
    (["uncertainty.method='ensemble'", "uncertainty.members=1"], "an ensemble needs --members \\(uncertainty.members\\) at least 2"),
    (["uncertainty.method='temperature'", "uncertainty.members=3"],
     "members \\(--members, uncertainty.members\\) applies to the ensemble and laplace methods, not 'temperature'"),
    (["uncertainty.method='mc-dropout'", "uncertainty.perturb=true"],
     "--perturb \\(uncertainty.perturb\\) changes how a temperature is fitted"),
])
def test_uncertainty_settings_the_method_cannot_use_fail_before_training(sets: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_spec("digits-mlp", sets)
    assert load_spec("digits-mlp", ["uncertainty.method='laplace'", "uncertainty.members=1",
                                    "uncertainty.then_temperature=true", "uncertainty.perturb=true"])


def test_a_bad_set_value_is_blamed_on_the_set_not_the_shipped_file() -> None:
    import pytest

    from neuroplast.errors import UserError
    from neuroplast.spec import load_spec

    with pytest.raises(UserError, match=r"^--set train.epochs=0: invalid value for 'train.epochs'"):
        load_spec("digits-mlp", ["train.epochs=0"])
    # a check across a section's keys (model.skip_start needs model.linear_skip) blames the --set too
    with pytest.raises(UserError, match=r"^--set model.skip_start=ridge: invalid value for 'model'"):
        load_spec("wine-mlp", ["model.skip_start=ridge"])
