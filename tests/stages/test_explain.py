"""`neuroplast explain`: heatmap PNGs for a run's test images or files, and the sanity checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

import neuroplast
from neuroplast.cli import main


def test_explain_writes_heatmaps_and_sanity_figures(tmp_path: Path, capsys) -> None:
    run = neuroplast.run("digits-cnn", out=tmp_path / "run", progress=False, train={"epochs": 3, "threads": 1})
    for bad in ("0", "-3"):  # not a slice of the test set: a one-line error, exit 2
        assert main(["explain", str(run.dir), "--count", bad, "--out", str(tmp_path / "no")]) == 2
        assert f"--count (explain.count): Input should be greater than 0; received {bad}" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
    assert main(["explain", str(run.dir), "--count", "3", "--sanity"]) == 0
    out = capsys.readouterr().out
    assert "completeness delta" in out and "randomisation Spearman median" in out
    report = json.loads((run.dir / "explain-ig/explain.json").read_text())
    assert len(report["examples"]) == 3
    assert all(Path(e["png"]).stat().st_size > 1000 for e in report["examples"])
    s = report["sanity"]
    assert s["examples"] == 100 and s["randomization_spearman_median"] < 0.6
    assert 0 < s["randomization_spearman_median_abs"] < 0.8
    assert s["deletion_area"] < s["random_deletion_area"]

    digit = tmp_path / "seven.png"  # a drawn 7: dark ink on white, as a person would upload it
    a = np.full((32, 32), 255, np.uint8)
    a[6:9, 6:26] = 0
    a[9:27, 20:23] = 0
    Image.fromarray(a).save(digit)
    assert main(["explain", str(run.dir), str(digit), "--method", "saliency", "--out", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x/seven-saliency.png").is_file()
    (tmp_path / "b").mkdir()  # two inputs with one file name: two heatmaps, neither overwritten
    Image.fromarray(a).save(tmp_path / "b/seven.png")
    assert main(["explain", str(run.dir), str(digit), str(tmp_path / "b/seven.png"), "--method", "saliency",
                 "--out", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x/seven-2-saliency.png").is_file()
    assert [e["input"] for e in json.loads((tmp_path / "x/explain.json").read_text())["examples"]] == ["seven.png"] * 2
    (tmp_path / "file").write_text("x")
    for args, says in [([str(digit), "--out", str(tmp_path / "file")], "is a file; pass a folder"),
                       ([str(tmp_path / "b")], "is a folder; pass the files in it")]:
        assert main(["explain", str(run.dir), *args]) == 2 and says in capsys.readouterr().err
    from neuroplast.data import images

    limit = images.MAX_IMAGE_PIXELS
    images.MAX_IMAGE_PIXELS = 100  # the header check: an image over the limit is refused, not decoded
    try:
        assert main(["explain", str(run.dir), str(digit)]) == 2
    finally:
        images.MAX_IMAGE_PIXELS = limit
    said = capsys.readouterr().err
    assert said.startswith("neuroplast: error: Refusing to decode image") and "downscale it first" in said


def test_explain_refuses_a_table_model_with_the_reason(tmp_path: Path, capsys) -> None:
    run = neuroplast.run("wine-mlp", out=tmp_path / "wine", progress=False, train={"epochs": 2, "threads": 1})
    assert main(["explain", str(run.dir)]) == 2
    assert "image classifiers" in capsys.readouterr().err
