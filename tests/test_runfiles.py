"""Every file read from a run folder goes through one validated schema (neuroplast.runfiles): the cases of
issue 21 item 5, each one line naming the file and the key, with nothing allocated over the budget.
Oracles: the issue's own crafted files, the bytes of /etc/passwd (never echoed), and peak-RSS bounds."""

from __future__ import annotations

import json
import os
import resource
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from neuroplast import rundir, runfiles
from neuroplast.cli import main
from neuroplast.errors import UserError
from neuroplast.spec import LimitsSpec, limits_from_env


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("tiny") / "run"
    assert main(["run", "digits-mlp", "--out", str(run), "--quiet", "--set", "train.epochs=1",
                 "--set", "model.hidden=[8]", "--set", "train.threads=1"]) == 0
    return run


@pytest.fixture
def run(tiny: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(tiny, copy)
    return copy


def edit(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text, text
    return text


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_model_json_without_family_unknown_family_extra_key_and_negative_outputs(run: Path) -> None:
    info = json.loads((run / "model.json").read_text())
    del info["family"]
    (run / "model.json").write_text(json.dumps(info))
    with pytest.raises(UserError) as e:
        rundir.load(run)
    assert "model.json: key 'family': Field required" in one_line(e)
    edit(run / "model.json", family="mlp", config={**info["config"], "family": "zzz"})
    with pytest.raises(UserError, match=r"model\.json: key 'config\.family': unknown model family 'zzz'") as e:
        rundir.load(run)
    edit(run / "model.json", config={**info["config"], "bogus": 1})
    with pytest.raises(UserError, match=r"model\.json: key 'config\.bogus': Extra inputs are not permitted"):
        rundir.load(run)
    edit(run / "model.json", config=info["config"], num_outputs=-1)
    with pytest.raises(UserError, match=r"model\.json: key 'num_outputs': Input should be greater than or equal to 1 "
                                        r"\(received -1\)"):
        rundir.load(run)


def test_a_huge_network_in_model_json_is_refused_before_allocating(run: Path) -> None:
    info = json.loads((run / "model.json").read_text())
    edit(run / "model.json", config={**info["config"], "hidden": [100000, 100000]})  # 10^10 weights: 40 GB
    before = peak_mb()
    with pytest.raises(UserError) as e:
        rundir.load(run)
    assert peak_mb() - before < 200
    assert "10,007,600,010 parameters, over the limit of 100,000,000" in one_line(e)
    assert "NEUROPLAST_LIMIT_PARAMETERS=N" in str(e.value)


def test_preprocess_shape_and_mc_samples_over_the_budget_are_refused_with_the_limit(run: Path) -> None:
    edit(run / "preprocess.json", shape=[1, 100000, 100000])  # predict grew to 20.9 GB on this before
    before = peak_mb()
    with pytest.raises(UserError, match=r"preprocess\.json: input shape \[1, 100000, 100000\] needs 1e\+10 input "
                                        r"values, over the limit of 16,777,216 \(limits\.input_values\)"):
        rundir.load(run)
    assert peak_mb() - before < 200
    edit(run / "preprocess.json", shape=[1, 8, 8])
    edit(run / "metrics.json", calibration={"method": "mc-dropout", "samples": 10**9})
    with pytest.raises(UserError, match=r"needs 1e\+09 samples, over the limit of 1,000 \(limits\.samples\)"):
        rundir.load(run)
    assert rundir.load(run, limits=LimitsSpec(samples=10**9)).metrics["calibration"]["samples"] == 10**9


def test_metrics_that_are_a_list_and_a_temperature_given_as_a_string(run: Path) -> None:
    (run / "metrics.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"metrics\.json holds a JSON list, not an object of keys"):
        rundir.load(run)
    (run / "metrics.json").write_text(json.dumps({"calibration": {"temperature": "1.5"}}))
    with pytest.raises(UserError, match=r"metrics\.json: key 'calibration\.temperature': Input should be a valid "
                                        r"number"):
        rundir.load(run)


def test_non_utf8_history_and_letters_in_it(run: Path) -> None:
    (run / "history.csv").write_bytes(b"\xff\xfeepoch,train_loss\n1,0.5\n")
    with pytest.raises(UserError, match=r"history\.csv is not UTF-8 text \(byte 0xff at 0\)"):
        rundir.load(run)
    (run / "history.csv").write_text("epoch,train_loss\n1,abc\n")
    with pytest.raises(UserError, match=r"history\.csv, row 1: could not convert string to float"):
        rundir.load(run)


def test_sparse_weights_with_bad_shapes_are_refused_before_a_dense_tensor_is_made(run: Path) -> None:
    cases = {
        "over the limit of 100,000,000 \\(limits.parameters\\)": {
            "w::shape": torch.tensor([10**6, 10**6]), "w::bitmask": torch.zeros(1, dtype=torch.uint8),
            "w::values": torch.zeros(1)},
        "bad shape/bitmask/values triple": {
            "w::shape": torch.tensor([-5, 3]), "w::bitmask": torch.zeros(1, dtype=torch.uint8),
            "w::values": torch.zeros(0)},
        "its bitmask holds 8 bits for 4096 entries": {
            "w::shape": torch.tensor([64, 64]), "w::bitmask": torch.zeros(1, dtype=torch.uint8),
            "w::values": torch.zeros(0)},
        "8 entries marked non-zero but 3 values stored": {
            "w::shape": torch.tensor([8]), "w::bitmask": torch.tensor([255], dtype=torch.uint8),
            "w::values": torch.zeros(3)},
    }
    for message, tensors in cases.items():
        save_file(tensors, str(run / "model.safetensors"))
        before = peak_mb()
        with pytest.raises(UserError, match=r"model\.safetensors: sparse tensor 'w'.*" + message):
            rundir.load(run)
        assert peak_mb() - before < 200


def test_spec_data_path_outside_the_folder_is_never_read_as_a_file_of_the_run(run: Path, capsys) -> None:
    spec = run / "spec.toml"
    spec.write_text(spec.read_text().replace('source = "digits"', 'source = "csv"\npath = "/etc/passwd"\n'
                                             'target = "x"'))
    with pytest.raises(UserError, match=r"spec\.toml: key 'data\.path' names /etc/passwd, which is not a data file"):
        rundir.load(run)
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    first = Path("/etc/passwd").read_text().splitlines()[0]
    assert first not in err and len(err.strip().splitlines()) == 1


def test_a_file_linked_out_of_the_folder_is_refused(run: Path) -> None:
    (run / "model.json").unlink()
    os.symlink("/etc/passwd", run / "model.json")
    with pytest.raises(UserError, match=r"model\.json points outside its run folder \(to /etc/passwd\)"):
        rundir.load(run)
    (run / "model.safetensors").unlink()
    os.symlink("/dev/zero", run / "model.safetensors")  # would be read forever
    with pytest.raises(UserError, match="points outside its run folder"):
        runfiles.read_weights(run / "model.safetensors")


def test_file_size_budget_and_limits_from_the_environment(run: Path) -> None:
    with pytest.raises(UserError, match=r"needs .* file bytes, over the limit of 10 \(limits\.file_bytes\)"):
        rundir.load(run, limits=LimitsSpec(file_bytes=10))
    assert limits_from_env({"NEUROPLAST_LIMIT_PARAMETERS": "7"}).parameters == 7
    with pytest.raises(UserError, match=r"NEUROPLAST_LIMIT_SAMPLES='-3': Input should be greater than 0"):
        limits_from_env({"NEUROPLAST_LIMIT_SAMPLES": "-3"})


def test_an_undamaged_folder_loads_as_before(run: Path) -> None:
    loaded = rundir.load(run)
    assert loaded.info == json.loads((run / "model.json").read_text())
    assert loaded.preprocess == json.loads((run / "preprocess.json").read_text())
    assert loaded.metrics == json.loads((run / "metrics.json").read_text())
    assert [h["epoch"] for h in loaded.history] == [1]
