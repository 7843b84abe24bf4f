"""Issue 21 item 6 from the command line: a careless or hostile argument is one line and exit 2, before any
allocation or output; and two runs into one folder (item 2): one trains, the other names the lock.
Oracles: peak-RSS bounds, the file system after the command, and two real processes racing."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

from neuroplast.cli import main

TINY = ["--quiet", "--set", "train.epochs=1", "--set", "train.threads=1"]


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, err: str, *pieces: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("neuroplast: error: "), (code, err)
    for piece in pieces:
        assert piece in lines[0], lines[0]
    return lines[0]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_huge_channels_in_run_and_summary_are_refused_before_allocating(capsys, tmp_path) -> None:
    before = peak_mb()
    for command in (["run", "digits-cnn", "--out", tmp_path / "r"], ["summary", "digits-cnn"]):
        code, _, err = cli(capsys, *command, "--set", "model.channels=[100000,100000]")
        one_line(code, err, "the cnn network would have 90,052,501,418 parameters, over the limit of 100,000,000",
                 "--set limits.parameters=N")
    assert peak_mb() - before < 300  # 90 billion float32 weights would be 360 GB
    assert not (tmp_path / "r").exists()  # nothing was made
    code, _, err = cli(capsys, "summary", "digits-mlp", "--set", "limits.parameters=10")
    one_line(code, err, "over the limit of 10;")


def test_absurd_epochs_are_bounded(capsys, tmp_path) -> None:
    code, _, err = cli(capsys, "run", "digits-mlp", "--out", tmp_path / "r", "--set",
                       "train.epochs=99999999999999999999999")
    one_line(code, err, "'train.epochs': Input should be less than or equal to 1000000")


def test_a_csv_whose_only_column_is_the_target(capsys, tmp_path) -> None:
    csv = tmp_path / "only.csv"
    csv.write_text("y\n" + "".join(f"{i % 2}\n" for i in range(40)))
    code, _, err = cli(capsys, "run", csv, "--target", "y", "--out", tmp_path / "r", *TINY)
    one_line(code, err, "each input has shape (0,), no values to learn from", "add feature columns")
    assert not (tmp_path / "r").exists()


def test_a_csv_cell_that_overflows_names_its_row_and_column(capsys, tmp_path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("x1,x2,y\n" + "".join(f"{i / 40:.3f},{(i * 7 % 40) / 40:.3f},{i % 2}\n" for i in range(60)))
    assert cli(capsys, "run", csv, "--target", "y", "--out", tmp_path / "r", *TINY)[0] == 0
    rows = tmp_path / "rows.csv"
    rows.write_text("x1,x2\n0.5,0.5\n1e400,0.25\n")
    code, out, err = cli(capsys, "predict", tmp_path / "r", rows)
    one_line(code, err, "rows.csv, row 2, column 'x1': '1e400' is not a finite number")
    assert "nan" not in out


def test_outputs_in_a_missing_folder_fail_before_the_work_and_make_no_folder(capsys, tmp_path, monkeypatch) -> None:
    assert cli(capsys, "run", "digits-mlp", "--out", tmp_path / "r", "--set", "model.hidden=[4]", *TINY)[0] == 0
    import neuroplast.stages  # noqa: F401

    export_stage = sys.modules["neuroplast.stages.export"]  # the module (the package exports a function of its name)

    monkeypatch.setattr(export_stage, "export_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    missing = tmp_path / "nonexistent"
    code, _, err = cli(capsys, "export", tmp_path / "r", "--out", missing / "dir" / "x.onnx")
    one_line(code, err, f"its folder {missing / 'dir'} does not exist")
    code, _, err = cli(capsys, "report", tmp_path / "r", "--out", missing / "x.html")
    one_line(code, err, f"its folder {missing} does not exist")
    assert not missing.exists()


def test_generate_tokens_over_the_budget(capsys, tmp_path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("abcabcabd " * 200)
    assert cli(capsys, "run", "shakespeare-lstm", "--out", tmp_path / "lm", "--set", f"data.path={text}",
               "--set", "data.block_size=8", "--set", "model.hidden_size=8", *TINY)[0] == 0
    code, _, err = cli(capsys, "generate", tmp_path / "lm", "--tokens", "1000000000")
    one_line(code, err, "needs 1e+09 tokens, over the limit of 100,000 (limits.tokens)", "NEUROPLAST_LIMIT_TOKENS")


RACER = [sys.executable, "-m", "neuroplast", "run", "digits-mlp", "--quiet", "--set", "train.threads=1",
         "--set", "train.epochs=150", "--set", "model.hidden=[8]"]  # ~3 s of training: the two overlap


def test_two_runs_into_one_folder_one_trains_the_other_names_the_lock(capsys, tmp_path) -> None:
    folder = tmp_path / "D"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    racers = [subprocess.Popen([*RACER, "--out", str(folder), "--set", f"seed={seed}"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for seed in (1, 2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in racers]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (won_seed, _, _), (_, _, lost_err) = [(1 if r is results[0] else 2, *r[1:]) for r in results
                                          if r[0] == 0] + [(0, *r[1:]) for r in results if r[0] == 2]
    assert len(lost_err.strip().splitlines()) == 1 and "Traceback" not in lost_err
    assert "neuroplast: error: " in lost_err and "run.lock" in lost_err and "another neuroplast process" in lost_err
    assert json.loads((folder / "metrics.json").read_text())["seed"] == won_seed  # one run's files, not a mix
    assert "seed = " + str(won_seed) in (folder / "spec.toml").read_text()
    code, out, err = cli(capsys, "evaluate", folder)
    assert code == 0 and "accuracy" in json.loads(out)["test"], err
    assert not (folder / "run.lock").exists()
