"""The stored vector space (space.safetensors): its points are the principal components of the network's
representations of the first test examples, recomputed here by hand; the file stays small; a damaged file
is one line; t-SNE places a new input at the distance-weighted mean of its neighbours."""

from __future__ import annotations

import json

import pytest
import torch

import neuroplast
from neuroplast import rundir
from neuroplast.errors import UserError
from neuroplast.runfiles import SPACE, read_space
from neuroplast.trust.space import knn_accuracy, place, project, representations


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("space") / "digits"
    neuroplast.run("digits-cnn", out=out, progress=False,
                   overrides=["train.epochs=2", "train.threads=1", "space.examples=200"])
    return out


def test_stored_points_are_the_principal_components_of_the_first_test_examples(digits_run) -> None:
    run = rundir.load(digits_run)
    data = run.dataset()
    meta, t = read_space(digits_run)
    x, y = data.x_test[:200], data.y_test[:200]
    assert meta["examples"] == 200 and meta["test_examples"] == len(data.x_test) and meta["method"] == "pca"
    assert torch.equal(t["indices"], torch.arange(200)) and torch.equal(t["labels"], y.long())
    stages = representations(run.model, x)
    assert [s["name"] for s in meta["stages"]] == list(stages)  # input, blocks, output (fewer than 8)
    for i, v in enumerate(stages.values()):
        # by hand: centre, SVD, the first two right singular vectors with their entries summing positive
        centred = v.double() - v.double().mean(0)
        vh = torch.linalg.svd(centred, full_matrices=False)[2][:2]
        vh = vh * torch.sign(vh.sum(1, keepdim=True))
        expected = (centred @ vh.T).float()
        torch.testing.assert_close(t[f"stage{i}.points"], expected, rtol=1e-3, atol=1e-3 * float(expected.abs().max()))
        torch.testing.assert_close(t[f"stage{i}.points"], project(v)[0], rtol=1e-3, atol=1e-3 * float(expected.abs().max()))
        assert meta["stages"][i]["knn"] == pytest.approx(knn_accuracy(v, y))
    predicted = stages["output"].argmax(1)
    assert torch.equal(t["predicted"], predicted)
    # the thumbnails are the test pictures in uint8, at the model's 8x8 input size
    raw = (x * run.preprocess["std"] + run.preprocess["mean"]).clamp(0, 1)
    assert t["thumbnails"].shape == (200, 1, 8, 8)
    assert (t["thumbnails"].float() - raw * 255).abs().max() <= 0.5 + 1e-3
    assert (digits_run / SPACE).stat().st_size < 300_000


def _damaged(folder, change) -> str:
    from safetensors.torch import load_file, save_file

    path = folder / SPACE
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["space"])
    tensors, meta = change(tensors, meta)
    save_file(tensors, str(path), metadata={"space": json.dumps(meta)} if meta is not None else None)
    with pytest.raises(UserError) as e:
        read_space(folder, num_classes=10)
    return str(e.value)


@pytest.mark.parametrize("name, change, says", [
    ("no-metadata", lambda t, m: (t, None), "no 'space' entry"),
    ("wrong-version", lambda t, m: (t, {**m, "version": 7}), "version"),
    ("points-shape", lambda t, m: ({**t, "stage0.points": torch.zeros(3, 2)}, m), "stage0.points"),
    ("extra-tensor", lambda t, m: ({**t, "bogus": torch.zeros(1)}, m), "bogus"),
    ("missing-tensor", lambda t, m: ({k: v for k, v in t.items() if k != "labels"}, m), "labels"),
    ("nan", lambda t, m: ({**t, "stage1.mean": torch.full_like(t["stage1.mean"], float("nan"))}, m), "not finite"),
    ("label-out-of-range", lambda t, m: ({**t, "labels": t["labels"] + 100}, m), "outside 0..9"),
    ("huge-stage", lambda t, m: (t, {**m, "stages": [{**m["stages"][0], "dims": 10**9}, *m["stages"][1:]]}), "input values"),
    ("dtype", lambda t, m: ({**t, "stage0.coords": t["stage0.coords"].double()}, m), "F64"),
])
def test_a_damaged_space_file_is_one_line(digits_run, tmp_path, name, change, says) -> None:
    import shutil

    folder = tmp_path / name
    shutil.copytree(digits_run, folder)
    message = _damaged(folder, change)
    assert len(message.splitlines()) == 1 and SPACE in message and says in message, message


def test_truncated_space_file_is_one_line(digits_run, tmp_path) -> None:
    import shutil

    folder = tmp_path / "cut"
    shutil.copytree(digits_run, folder)
    data = (folder / SPACE).read_bytes()
    (folder / SPACE).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError) as e:
        read_space(folder)
    assert len(str(e.value).splitlines()) == 1 and "damaged" in str(e.value)


def test_tsne_places_a_new_input_at_the_distance_weighted_mean_of_its_neighbours() -> None:
    stored = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [10.0, 10.0]])
    points = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 8.0], [50.0, 50.0]])
    new = torch.tensor([[0.5, 0.0]])
    # by hand, k = 3: distances 0.5, 0.5, sqrt(9.25); weights 1/d
    d = torch.tensor([0.5, 0.5, 9.25 ** 0.5], dtype=torch.float64)
    w = (1 / d) / (1 / d).sum()
    expected = (w[:, None] * points[:3].double()).sum(0).float()
    torch.testing.assert_close(place(new, stored, points, "tsne", k=3)[0], expected)
    assert torch.equal(place(new, stored, points, "pca")[0], new[0])


def test_tsne_spec_stores_a_tsne_map(tmp_path) -> None:
    out = tmp_path / "tsne"
    neuroplast.run("digits-mlp", out=out, progress=False,
                   overrides=["train.epochs=1", "train.threads=1", "space.examples=60", "space.method=tsne"])
    meta, t = read_space(out)
    assert meta["method"] == "tsne" and t["stage0.points"].shape == (60, 2)
    assert not torch.allclose(t["stage0.points"], t["stage0.coords"][:, :2])  # a t-SNE map, not the PCA one


def test_stages_wider_than_the_bound_are_left_out_and_said(tmp_path, monkeypatch, capsys) -> None:
    from neuroplast.stages import space

    monkeypatch.setattr(space, "MAX_FEATURES", 100)  # the 8x8 input (64) stays; wider blocks go
    out = tmp_path / "narrow"
    run = neuroplast.run("digits-cnn", out=out, progress=False,
                         overrides=["train.epochs=1", "train.threads=1", "space.examples=50"])
    capsys.readouterr()
    space.write_space(run, run.dataset(), run.spec.space)
    meta, _ = read_space(out)
    kept = [s["name"] for s in meta["stages"]]
    stages = representations(run.model, run.dataset().x_test[:50])
    assert kept == [n for n, v in stages.items() if v.shape[1] <= 100] and "input" in kept
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not stored: wider than 100 features" in err
    assert all(f"{n} ({v.shape[1]:,} features)" in err for n, v in stages.items() if v.shape[1] > 100)
