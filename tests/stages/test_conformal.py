"""The conformal stage: split-conformal scores of a regression run, written to RUN/conformal.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import neuroplast
from neuroplast.errors import UserError
from neuroplast.spec import ConformalSpec, section
from neuroplast.stages import conformal
from neuroplast.stages.conformal import conformal_scores


def test_the_stage_writes_the_scores_it_computes(tmp_path: Path) -> None:
    run = neuroplast.run("diabetes-mlp", progress=False, out=tmp_path / "run", train={"epochs": 3, "threads": 1})
    path = conformal(run.dir, ConformalSpec(coverage=0.8))
    assert path == run.dir / "conformal.json"
    written = json.loads(path.read_text())
    assert written == conformal_scores(neuroplast.load(run.dir), 0.2)  # JSON keeps floats exactly
    assert written["alpha"] == pytest.approx(0.2) and written["val_samples"] == 36
    with pytest.raises(UserError, match=r"--coverage \(conformal.coverage\): Input should be less than 1"):
        section(ConformalSpec, {"coverage": 1.5})
    classifier = neuroplast.run("digits-mlp", progress=False, out=tmp_path / "c", train={"epochs": 1, "threads": 1})
    with pytest.raises(UserError, match="apply to regression and forecasting"):
        conformal(classifier.dir)
