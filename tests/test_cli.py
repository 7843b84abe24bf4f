"""The command line: the main commands end to end, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuroplast.cli import main

FAST = ["--set", "train.epochs=3", "--quiet"]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    import re

    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("neuroplast: error: ")
    assert re.search(pattern, lines[0]), lines[0]


def test_run_evaluate_predict_summary_and_configs(capsys, tmp_path) -> None:
    out_dir = tmp_path / "run"
    code, out, _ = cli(capsys, "run", "digits-cnn", "--out", out_dir, *FAST)
    assert code == 0 and f"run folder: {out_dir}" in out
    for name in ("spec.toml", "model.json", "model.safetensors", "preprocess.json", "metrics.json",
                 "history.csv", "checkpoint/last.pt", "learning_curves.png", "confusion_matrix.png"):
        assert (out_dir / name).is_file(), name
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["train"]["epochs"] == 3
    for key in ("seconds", "samples_per_second"):
        assert metrics["train"][key] > 0
    assert {"accuracy", "loss"} <= set(metrics["test"]) and metrics["seed"] == 0
    assert metrics["device"] == "cpu" and "torch" in metrics["versions"] and 1 <= metrics["best_epoch"] <= 3

    code, out, _ = cli(capsys, "evaluate", out_dir)
    assert code == 0 and json.loads(out)["test"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])

    # a drawn "1": a dark vertical bar on white paper, larger than 8x8
    page = np.full((64, 64), 255, dtype=np.uint8)
    page[8:56, 28:36] = 0
    Image.fromarray(page).save(tmp_path / "one.png")
    code, out, _ = cli(capsys, "predict", out_dir, tmp_path / "one.png")
    assert code == 0 and out.startswith(f"{tmp_path / 'one.png'}: ")

    code, out, _ = cli(capsys, "summary", "mnist-lenet5", "--set", "data.source=digits",
                       "--set", "model.padding=same")
    assert code == 0 and "Total params" in out and "Total mult-adds" in out

    code, out, _ = cli(capsys, "configs")
    assert code == 0 and "digits-cnn" in out and "diabetes-mlp" in out


def test_regression_run_and_csv_prediction(capsys, tmp_path) -> None:
    out_dir = tmp_path / "reg"
    code, out, _ = cli(capsys, "run", "diabetes-mlp", "--out", out_dir, "--set", "train.epochs=5", "--quiet")
    assert code == 0 and "r2" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert {"rmse", "mae", "r2", "loss"} <= set(metrics["test"]) and metrics["task"] == "regression"
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    header = ",".join(bunch.feature_names)
    rows = "\n".join(",".join(f"{v:.6f}" for v in r) for r in bunch.data[:3])
    (tmp_path / "rows.csv").write_text(f"{header}\n{rows}\n")
    code, out, _ = cli(capsys, "predict", out_dir, tmp_path / "rows.csv")
    assert code == 0 and len(out.strip().splitlines()) == 3


@pytest.mark.parametrize(("args", "pattern"), [
    (["run", "--set", "train.lrr=0.1"], r"train has no key 'lrr'\. Did you mean 'train\.lr'\?"),
    (["run", "--set", "train.epochs=many"], r"invalid value for 'train\.epochs'.*Received 'many'"),
    (["run", "nosuchspec"], r"No spec file or shipped spec named 'nosuchspec'"),
    (["run", "missing.csv", "--target", "y"], r"No such file: missing\.csv \(looked in .*\)\. Check the path"),
    (["run", "missing.csv", "--column", "y"], r"No such file: missing\.csv \(looked in .*\)\. Check the path"),
    (["run", "missing.toml"], r"No such file: missing\.toml"),
    (["run", "mnist-cnn", "--data-dir", "/nonexistent/mnist"],
     r"mnist: expected the files .* looked in /nonexistent/mnist.*Pass --data-dir"),
    (["evaluate", "/nonexistent/run"], r"is not a neuroplast run folder"),
    (["run", "--set", "seed=-1"], r"invalid value for 'seed'"),
    (["run", "--set", 'name="../../escape"'], r"invalid value for 'name'"),
    (["run", "src"], r"src is a folder; pass a \.toml spec file"),
    (["run", "--set", "model.channels=[32,"], r"--set value '\[32,' is not valid TOML"),
])
def test_bad_input_is_one_line_with_exit_code_2(capsys, args, pattern) -> None:
    code, _, err = cli(capsys, *args)
    assert_one_line_error(code, err, pattern)


def test_output_paths_and_finished_runs_are_checked_before_work(capsys, tmp_path) -> None:
    import socket

    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe name = 1")
    code, _, err = cli(capsys, "run", tmp_path / "binary.toml")
    assert_one_line_error(code, err, r"binary\.toml is not UTF-8 text \(byte 0xff at position 0\)")
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile/sub"):
        code, _, err = cli(capsys, "run", "--out", out, *FAST)
        assert_one_line_error(code, err, r"afile")
    code, _, err = cli(capsys, "run", "mnist-cnn", "--data-dir", tmp_path / "afile")
    assert_one_line_error(code, err, r"afile is a file; pass the folder that holds train-images-idx3-ubyte")
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", "--out", run_dir, "--set", "data.val_fraction=0", *FAST)[0] == 0
    code, _, err = cli(capsys, "run", "--out", run_dir, *FAST)  # a finished run is never overwritten
    assert_one_line_error(code, err, r"already holds a run; choose a new folder \(or continue that one")
    code, _, err = cli(capsys, "resume", run_dir)
    assert_one_line_error(code, err, r"finished all 3 epochs of its spec: nothing to resume")
    code, _, err = cli(capsys, "evaluate", run_dir, "--split", "val")
    assert_one_line_error(code, err, r"has no val split .*use --split test or --split train")
    code, _, err = cli(capsys, "report", run_dir, "--out", tmp_path)
    assert_one_line_error(code, err, r"is a folder; pass a file such as .*report\.html")
    code, _, err = cli(capsys, "export", run_dir, "--opset", "99")
    assert_one_line_error(code, err, r"--opset must be between 7 and \d+ .*received 99")
    code, _, err = cli(capsys, "prune", run_dir, "--lr", "-1")
    assert_one_line_error(code, err, r"--lr \(prune\.lr\): Input should be greater than 0; received -1\.0")
    code, _, err = cli(capsys, "serve", run_dir, "--port", "70000")
    assert_one_line_error(code, err, r"--port must be between 1 and 65535; received 70000")
    with socket.create_server(("127.0.0.1", 0)) as busy:  # a port another program holds
        code, _, err = cli(capsys, "serve", run_dir, "--port", busy.getsockname()[1])
    assert_one_line_error(code, err, r"Cannot serve on 127\.0\.0\.1:\d+ .*pass another --port")
    # a spec edited since the checkpoint: another network, said in one line
    spec = run_dir / "spec.toml"
    spec.write_text(spec.read_text().replace("epochs = 3", "epochs = 4").replace("channels = [", "channels = [3, "))
    code, _, err = cli(capsys, "resume", run_dir)
    assert_one_line_error(code, err, r"does not fit the network .*spec\.toml describes")


def test_bad_spec_file_keys(capsys, tmp_path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[model]\nfamily = "cnn"\nchanels = [8]\n')
    code, _, err = cli(capsys, "run", spec)
    assert_one_line_error(code, err, r"unknown key 'model\.chanels'\. Did you mean 'model\.channels'\?")


def test_csv_without_target_and_undecodable_image(capsys, tmp_path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    code, _, err = cli(capsys, "run", "wine-mlp", "--set", "data.source=csv", "--set",
                       f'data.path="{tmp_path / "t.csv"}"', "--set", "data.target=c")
    assert_one_line_error(code, err, r"has no target column 'c'\. Columns: a, b\. Set data\.target")
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", "digits-mlp", "--out", run_dir, *FAST)[0] == 0
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, _, err = cli(capsys, "predict", run_dir, tmp_path / "bad.png")
    assert_one_line_error(code, err, r"Cannot decode image .*bad\.png.*Pass a valid image file \(.bmp, .gif, .jpeg, .jpg, .png")
    code, _, err = cli(capsys, "predict", run_dir, tmp_path / "bad.png", "--top", "0")
    assert_one_line_error(code, err, r"--top must be at least 1 \(classes listed per input\); received 0")
    weights = run_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    code, _, err = cli(capsys, "predict", run_dir, tmp_path / "bad.png")
    assert_one_line_error(code, err, r"Weights file .*model\.safetensors is corrupt")


def test_real_process_prints_no_traceback(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "neuroplast", "run", "--set", "model.famly=1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Did you mean 'model.family'?" in proc.stderr


def test_too_few_csv_rows_in_a_real_process_is_one_line(tmp_path) -> None:
    (tmp_path / "tiny.csv").write_text("text,label\nhi,pos\n")
    proc = subprocess.run([sys.executable, "-m", "neuroplast", "run", "reviews-lstm", "--out", str(tmp_path / "r"),
                           "--set", f'data.path="{tmp_path / "tiny.csv"}"', "--set", "train.threads=1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "tiny.csv has 1 data row, too few to split" in proc.stderr
    assert "lower data.val_fraction / data.test_fraction" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_a_model_that_cannot_be_built_leaves_no_run_folder(capsys, tmp_path) -> None:
    (tmp_path / "t.txt").write_text("to be or not to be, that is the question. " * 20)
    out_dir = tmp_path / "x"
    code, _, err = cli(capsys, "run", "shakespeare-lstm", "--out", out_dir, "--set", f'data.path="{tmp_path / "t.txt"}"',
                       "--set", "data.block_size=16", "--set", "model.bidirectional=true", "--quiet")
    assert_one_line_error(code, err, r"bidirectional = true cannot predict the next token")
    assert not out_dir.exists()


KILLABLE = """
import sys, time
import neuroplast

class Slow:
    def on_epoch_end(self, epoch, logs):
        time.sleep(0.4)

neuroplast.run("digits-mlp", out=sys.argv[1], overrides=sys.argv[2:], callbacks=[Slow()], progress=False)
"""


def test_kill_9_then_resume_matches_an_uninterrupted_run(capsys, tmp_path) -> None:
    overrides = ["train.epochs=8", "model.hidden=[64]", "data.augment.shift=1"]
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(killed), *overrides])
    deadline = time.time() + 120
    while not (killed / "checkpoint" / "last.pt").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists()  # it really was interrupted

    code, _, _ = cli(capsys, "resume", killed, "--quiet")
    assert code == 0
    whole = tmp_path / "whole"
    assert cli(capsys, "run", "digits-mlp", "--out", whole, "--quiet",
               *[a for o in overrides for a in ("--set", o)])[0] == 0
    a = json.loads((killed / "metrics.json").read_text())
    b = json.loads((whole / "metrics.json").read_text())
    assert a["train"]["epochs"] == b["train"]["epochs"] == 8
    assert a["test"]["loss"] == b["test"]["loss"] and a["test"]["accuracy"] == b["test"]["accuracy"]
    assert (killed / "history.csv").read_text().splitlines()[0] == (whole / "history.csv").read_text().splitlines()[0]
    import csv

    def losses(d: Path) -> list[str]:
        with open(d / "history.csv") as f:
            return [(r["train_loss"], r["val_loss"]) for r in csv.DictReader(f)]

    assert losses(killed) == losses(whole)


def test_output_into_a_closed_pipe_is_not_an_error() -> None:
    proc = subprocess.run(f"{sys.executable} -m neuroplast configs | head -1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and proc.stdout.count("\n") == 1


# --------------------------------------------------------------------------- flags come from the spec
def _flags(command: str) -> dict[str, object]:
    from neuroplast.cli import parser

    p, _ = parser()
    sub = next(a for a in p._actions if a.dest == "command").choices[command]
    return {a.dest: a for a in sub._actions}


@pytest.mark.parametrize(("command", "section"), [("calibrate", "UncertaintySpec"), ("explain", "ExplainSpec"),
                                                  ("prune", "PruneSpec"), ("quantize", "QuantizeSpec"),
                                                  ("export", "ExportSpec"),
                                                  ("report", "ReportSpec"), ("predict", "ConformalSpec")])
def test_cli_choices_and_defaults_are_the_spec_sections(command: str, section: str) -> None:
    from typing import get_args

    import neuroplast.spec as spec_module

    cls = getattr(spec_module, section)
    flags = _flags(command)
    for name, field in cls.model_fields.items():
        if name not in flags:  # export --no-check is the negation of ExportSpec.check
            assert (command, name) == ("export", "check") and flags["no_check"].default is False
            continue
        flag = flags[name]
        options = [v for a in get_args(field.annotation) for v in (get_args(a) or (a,)) if isinstance(v, str)]
        if options:
            assert list(flag.choices) == options, name
        if flag.default is not None:  # None: "the section's default", filled in by the spec
            assert flag.default == field.default, name


def test_registries_name_exactly_the_spec_choices() -> None:
    from neuroplast.plasticity.prune import SCHEDULES, SCOPES
    from neuroplast.see.locale import LANGUAGES
    from neuroplast.spec.stages import (
        CalibrationMethod,
        ExplainMethod,
        Language,
        PruneSchedule,
        PruneScope,
        choices,
    )
    from neuroplast.trust import CALIBRATORS, METHODS

    assert set(CALIBRATORS.names()) - {"none"} == set(choices(CalibrationMethod))
    assert set(METHODS.names()) == set(choices(ExplainMethod))
    assert SCHEDULES == choices(PruneSchedule) and SCOPES == choices(PruneScope)
    assert tuple(LANGUAGES) == choices(Language)


def test_python_and_cli_refuse_the_same_prune_options_with_the_same_line(tmp_path, capsys) -> None:
    import neuroplast

    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, train={"epochs": 1, "threads": 1})
    with pytest.raises(neuroplast.UserError) as python:
        neuroplast.prune(run.dir, schedule="one-shot", rounds=3)
    code, _, err = cli(capsys, "prune", run.dir, "--schedule", "one-shot", "--rounds", "3")
    assert_one_line_error(code, err, "needs a schedule that prunes in rounds")
    assert err.strip() == f"neuroplast: error: {python.value}"


def test_help_and_configs_answer_without_importing_torch() -> None:
    import subprocess
    import sys

    for args in (["--help"], ["configs"], ["run", "--help"]):
        code = (f"import sys\nfrom neuroplast.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
                "assert 'torch' not in sys.modules, 'torch was imported'\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "usage: neuroplast" in done.stdout or "digits-cnn" in done.stdout


def test_a_path_the_command_cannot_write_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    import neuroplast.cli as cli

    p, commands = cli.parser()

    def denied(args):
        raise PermissionError(13, "Permission denied", "/runs/locked/metrics.json")

    monkeypatch.setattr(cli, "parser", lambda: (p, {**commands, "configs": denied}))
    assert cli.main(["configs"]) == 2
    err = capsys.readouterr().err
    assert err == ("neuroplast: error: cannot write or read /runs/locked/metrics.json: Permission denied; choose "
                   "another path (--out DIR) or fix its permissions.\n")


def test_a_csv_file_trains_with_no_spec_named_after_the_file(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from conftest import iris_csv

    iris_csv(tmp_path / "flowers.csv")
    cmd = [sys.executable, "-m", "neuroplast", "run", str(tmp_path / "flowers.csv")]
    done = subprocess.run([*cmd, "--target", "species", "--out", str(tmp_path / "r"), "--quiet",
                           "--set", "train.epochs=5"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["name"] == "flowers" and metrics["data"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert "csv-table" in (tmp_path / "r" / "spec.toml").read_text()  # the table default, said in the spec
    refused = subprocess.run([*cmd, "--out", str(tmp_path / "r2")], capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "name the column to predict: --target COLUMN" in refused.stderr and "species" in refused.stderr
