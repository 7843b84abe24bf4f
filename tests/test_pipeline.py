"""The pipeline: preflight -> training -> the spec's stage sections -> report, with the data loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

import neuroplast
import neuroplast.stages
from neuroplast import rundir
from neuroplast.data.base import SOURCES


@pytest.fixture
def counted_digits(monkeypatch) -> list[int]:
    """Each load of the digits source, counted (every path to the data goes through the source)."""
    calls: list[int] = []
    load = SOURCES.get("digits")

    def counting(spec, seed):
        calls.append(seed)
        return load(spec, seed)

    monkeypatch.setitem(SOURCES._items, "digits", counting)
    return calls


def test_a_spec_with_every_stage_section_loads_its_data_once(tmp_path: Path, counted_digits: list[int],
                                                            capsys) -> None:
    run = neuroplast.run(
        "digits-cnn", out=tmp_path / "run", train={"epochs": 2, "threads": 1},
        uncertainty={"method": "ensemble", "members": 2},  # trains one more member on the same data
        explain={"method": "saliency", "count": 2},
        prune={"method": "magnitude", "sparsity": 0.5, "final_epochs": 1})
    assert len(counted_digits) == 1
    for stage, folder in [("calibrate", "calibrated-ensemble"), ("explain", "explain-saliency"),
                          ("prune", "pruned-magnitude")]:
        assert rundir.stage_dirs(run.dir, stage) == [run.dir / folder]  # one rule: inside the run
    assert (run.dir / "calibrated-ensemble/members/seed-1/metrics.json").is_file()
    assert (run.dir / "calibrated-ensemble/report.html").is_file() and (run.dir / "pruned-magnitude/report.html").is_file()
    page = (run.dir / "report.html").read_text(encoding="utf-8")
    assert 'id="calibration"' in page and 'id="pruning"' in page  # the run's report shows its stages
    said = [line for line in capsys.readouterr().err.splitlines()  # stage announcements (not a calibration's
            if line.startswith("note: ") and not line.startswith("note: WARNING")]  # ECE warning, if any)
    assert (run.dir / "space.safetensors").is_file()  # stored quietly
    assert [line.split(" (")[0].split(" done")[0].split(" of ")[0] for line in said] == [  # each announced
        "note: stage uncertainty", "note: ensemble member 2", "note: ensemble member 2", "note: stage uncertainty",
        "note: stage explain", "note: stage explain", "note: stage prune", "note: stage prune"]
    assert said[0] == f"note: stage uncertainty (ensemble) of {run.dir}"
    assert said[1] == (f"note: ensemble member 2 of 2 (seed 1, 2 epochs) -> "
                       f"{run.dir / 'calibrated-ensemble' / 'members' / 'seed-1'}")
    assert said[-1].startswith("note: stage prune done in ") and said[-1].endswith(f"-> {run.dir / 'pruned-magnitude'}")


def test_a_stage_on_its_own_writes_where_the_section_would(tmp_path: Path, counted_digits: list[int]) -> None:
    from neuroplast.cli import main

    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, train={"epochs": 2, "threads": 1})
    counted_digits.clear()
    assert main(["calibrate", str(run.dir)]) == 0
    assert len(counted_digits) == 1  # once for the stage, its folder's report and the parent's report
    assert main(["prune", str(run.dir), "--sparsity", "0.5", "--final-epochs", "1", "--quiet"]) == 0
    assert len(counted_digits) == 2
    assert rundir.stage_dirs(run.dir, "calibrate") == [run.dir / "calibrated-temperature"]
    assert rundir.stage_dirs(run.dir, "prune") == [run.dir / "pruned-magnitude"]
    assert neuroplast.load(run.dir / "pruned-magnitude").metrics["parent"] == str(run.dir.resolve())


def test_stage_folders_written_beside_the_run_by_older_versions_are_still_found(tmp_path: Path) -> None:
    run = neuroplast.run("digits-mlp", out=tmp_path / "run", progress=False, train={"epochs": 1, "threads": 1})
    folder = rundir.stage_dir(run.dir, "calibrate", "temperature", out=tmp_path / "run-temperature")
    neuroplast.stages.calibrate(run.dir, out=folder)  # where `neuroplast calibrate` wrote before the one rule
    assert rundir.stage_dirs(run.dir, "calibrate") == [folder]
    assert neuroplast.load(folder).metrics["calibration"]["method"] == "temperature"


def test_stages_that_cannot_run_fail_before_training(tmp_path: Path, capsys) -> None:
    from neuroplast.cli import main

    text = tmp_path / "abc.txt"
    text.write_text("abcd" * 400)
    for spec, sets, says in [
        ("diabetes-mlp", ["uncertainty.method=\"temperature\""], "[uncertainty] calibrates classifiers"),
        ("wine-mlp", ["explain.method=\"ig\""], "[explain] draws heatmaps for image classifiers"),
        ("digits-mlp", ["explain.method=\"gradcam\""], "'gradcam' needs a CNN"),
        ("digits-cnn", ["model.dropout=0", "uncertainty.method=\"mc-dropout\""], "needs dropout layers"),
        ("shakespeare-lstm", [f"data.path=\"{text}\"", "prune.method=\"magnitude\""],
         "[prune] measures and fine-tunes classifiers and regressors"),
        ("digits-cnn", ["model.family=\"hebbian\"", "prune.method=\"structured\""],
         "--method structured removes units from mlp, cnn and one-directional rnn/lstm/gru models"),
    ]:
        overrides = [a for s in sets for a in ("--set", s)]
        assert main(["run", spec, *overrides, "--out", str(tmp_path / spec), "--quiet"]) == 2
        assert says in capsys.readouterr().err
        assert not (tmp_path / spec).exists()  # nothing trained, no folder
