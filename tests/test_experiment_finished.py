"""A run folder is either resumable or complete (issue 21 item 9): ``finished.json`` is written last, so a
run killed after metrics.json and before history.csv is finished by ``resume``, bit-identical to an
uninterrupted run; the temp files of a killed write are removed on the next start. Oracle: the same spec
and seed trained straight through, compared file by file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from neuroplast import experiment
from neuroplast.cli import main

TINY = ["--quiet", "--set", "train.epochs=2", "--set", "model.hidden=[8]", "--set", "train.threads=1"]


def history(folder: Path) -> list[dict[str, str]]:
    with open(folder / "history.csv") as f:  # all but the wall time of each epoch
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_a_kill_between_metrics_and_history_leaves_a_folder_resume_finishes(tmp_path, monkeypatch, capsys) -> None:
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(["run", "digits-mlp", "--out", str(whole), *TINY]) == 0

    def killed_here(*args, **kwargs) -> None:  # the process dies right after metrics.json is written
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(experiment.rundir, "write_history", killed_here)
        assert main(["run", "digits-mlp", "--out", str(killed), *TINY]) == 130
    assert (killed / "metrics.json").is_file() and not (killed / "history.csv").exists()
    assert not (killed / "finished.json").exists() and not (killed / "run.lock").exists()
    left = killed / ".history.csv.k1ll9abc.tmp"  # what a kill -9 inside atomic_write leaves
    left.write_text("epoch,train_loss\n1,")
    capsys.readouterr()

    assert main(["resume", str(killed), "--quiet"]) == 0, capsys.readouterr().err
    assert not left.exists()
    assert (killed / "finished.json").is_file() and (killed / "learning_curves.png").is_file()
    assert history(killed) == history(whole)
    assert (killed / "model.safetensors").read_bytes() == (whole / "model.safetensors").read_bytes()

    capsys.readouterr()
    assert main(["resume", str(killed)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is complete: it finished all 2 epochs of its spec: nothing to resume" in err


def test_raising_epochs_of_a_complete_run_makes_it_resumable_again(tmp_path) -> None:
    run = tmp_path / "r"
    assert main(["run", "digits-mlp", "--out", str(run), *TINY, "--set", "train.schedule=none"]) == 0
    with pytest.raises(Exception, match="is complete"):
        experiment.resumable(run)
    spec = run / "spec.toml"
    spec.write_text(spec.read_text().replace("epochs = 2", "epochs = 3"))
    assert experiment.resumable(run)[1]["epoch"] == 2  # resumable from its last checkpoint
    assert main(["resume", str(run), "--quiet"]) == 0
    assert [int(h["epoch"]) for h in history(run)] == [1, 2, 3] and (run / "finished.json").is_file()
