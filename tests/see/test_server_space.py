"""``POST /api/embed`` and ``GET /api/space``, and the page's vector space card. Oracles: the point is
``(v - mean) @ components.T`` of ``Run.embed`` with the stored projection; the neighbours are a brute-force
``cdist`` over the stored coordinates; a language model's characters sit at the principal components of
its embedding table; in a real browser (Debian's Chromium) a drawn digit's point and nearest test digits
appear and move, in English and 繁體中文."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import artifacts
from drawn_digits import PLAIN, placed, render
from serving import Server

import neuroplast
from neuroplast import rundir
from neuroplast.runfiles import SPACE, read_space
from neuroplast.see.locale import table
from neuroplast.see.server import create_app
from neuroplast.trust.space import map_shapes, principal


@pytest.fixture(scope="module")
def digits_cnn(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("space") / "digits-cnn"
    neuroplast.run("digits-cnn", out=out, progress=False, overrides=["train.epochs=3", "train.threads=1"])
    return out


def _client(run_dir: Path):
    from starlette.testclient import TestClient

    return TestClient(create_app(run_dir), base_url="http://127.0.0.1")


def _grid(seed: int) -> list[list[float]]:
    return np.round(np.random.default_rng(seed).uniform(0, 1, (8, 8)), 3).tolist()


def test_embed_point_and_neighbours_match_the_stored_projection_by_hand(digits_cnn) -> None:
    run = rundir.load(digits_cnn)
    meta, t = read_space(digits_cnn)
    names = [s["name"] for s in meta["stages"]]
    with _client(digits_cnn) as c:
        for seed, layer in [(0, None), (1, "input"), (2, names[1]), (3, "output")]:
            body = {"pixels": _grid(seed)} | ({} if layer is None else {"layer": layer})
            a = c.post("/api/embed", json=body).json()
            i = names.index(layer or names[-2])  # default: the last hidden stage
            assert a["layer"] == names[i] and a["layers"] == names
            v = run.embed(np.array([body["pixels"]], dtype=np.float32), layer=names[i]).double()
            coords = (v - t[f"stage{i}.mean"].double()) @ t[f"stage{i}.components"].double().T
            assert [a["point"]["x"], a["point"]["y"]] == pytest.approx(coords[0, :2].tolist(), abs=1e-4)
            # brute force: every stored example's distance, sorted
            d = torch.cdist(coords, t[f"stage{i}.coords"].double())[0]
            order = torch.argsort(d)[:8]
            assert [n["index"] for n in a["neighbours"]] == order.tolist()
            assert [n["distance"] for n in a["neighbours"]] == pytest.approx(d[order].tolist(), abs=1e-4)
            assert [n["label"] for n in a["neighbours"]] == [str(int(t["labels"][j])) for j in order]
            assert all(n["thumbnail"].startswith("data:image/png;base64,") for n in a["neighbours"])


def test_a_convolutional_stage_answers_the_inputs_feature_maps(digits_cnn) -> None:
    """At a pooling stage the answer holds the input's first 8 feature maps, each scaled to 0-255 by its own
    range: checked against the pooling layer's output recorded by hand and scaled with numpy."""
    run = rundir.load(digits_cnn)
    names = [s["name"] for s in read_space(digits_cnn)[0]["stages"]]
    pools = [n for n, m in run.model.named_modules() if isinstance(m, torch.nn.MaxPool2d | torch.nn.AvgPool2d)]
    body = {"pixels": _grid(5)}
    seen = []
    handle = dict(run.model.named_modules())[pools[0]].register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        run.model.eval()(run.inputs(np.array([body["pixels"]], dtype=np.float32)))
    handle.remove()
    maps = seen[0][0, :8].double().numpy()
    low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    expected = np.round(255 * (maps - low) / np.maximum(high - low, 1e-12)).astype(int)
    with _client(digits_cnn) as c:
        for route in ("/api/embed", "/api/predict"):
            a = c.post(route, json=body | {"layer": pools[0]} | ({"place": True} if route == "/api/predict" else {}))
            m = a.json()["maps"] if route == "/api/embed" else a.json()["space"]["maps"]
            assert (m["channels"], m["height"], m["width"]) == tuple(seen[0].shape[1:])
            assert np.abs(np.array(m["values"]).reshape(expected.shape) - expected).max() <= 1  # rounding
        assert "maps" not in c.post("/api/embed", json=body | {"layer": names[-2]}).json()  # not a conv stage
        assert "maps" not in c.post("/api/embed", json=body | {"layer": "input"}).json()


def test_space_map_is_the_stored_points(digits_cnn) -> None:
    meta, t = read_space(digits_cnn)
    with _client(digits_cnn) as c:
        m = c.get("/api/space", params={"layer": "input"}).json()
        assert m["layer"] == "input" and [s["name"] for s in m["layers"]] == [s["name"] for s in meta["stages"]]
        xy = torch.tensor([[p["x"], p["y"]] for p in m["points"]])
        torch.testing.assert_close(xy, t["stage0.points"], atol=1e-4, rtol=0)
        assert [p["wrong"] for p in m["points"]] == (t["predicted"] != t["labels"]).tolist()
        assert c.get("/api/space").json()["layer"] == meta["stages"][-2]["name"]
        bad = c.get("/api/space", params={"layer": "nope"})
        assert bad.status_code == 422 and "input" in bad.json()["detail"]
        bad = c.post("/api/embed", json={"pixels": _grid(0), "layer": "nope"})
        assert bad.status_code == 422 and "stages" in bad.json()["detail"]
        assert c.post("/api/embed", json={"pixels": [[0.5]]}).status_code == 422
        assert c.post("/api/embed", json={"layer": "input"}).status_code == 422
        assert c.post("/api/embed", content=b"{", headers={"Content-Type": "application/json"}).status_code == 422


def test_predict_with_place_answers_as_predict_and_embed_do_in_one_request(digits_cnn) -> None:
    """The page asks /api/predict to place each stroke (one request, not two): its ``space`` part equals
    /api/embed's answer, the rest equals a plain /api/predict answer."""
    names = [s["name"] for s in read_space(digits_cnn)[0]["stages"]]
    with _client(digits_cnn) as c:
        for seed, layer in [(0, None), (1, names[1])]:
            body = {"pixels": _grid(seed)} | ({} if layer is None else {"layer": layer})
            both = c.post("/api/predict", json=body | {"place": True}).json()
            assert both.pop("space") == c.post("/api/embed", json=body).json()
            assert both == c.post("/api/predict", json={"pixels": body["pixels"]}).json()
        bad = c.post("/api/predict", json={"pixels": _grid(0), "place": True, "layer": "nope"})
        assert bad.status_code == 422 and "stages" in bad.json()["detail"]
        bad = c.post("/api/embed", json={"pixels": _grid(0), "place": True})
        assert bad.status_code == 422 and "/api/predict" in bad.json()["detail"]
        predict = c.get("/openapi.json").json()["paths"]["/api/predict"]["post"]["requestBody"]
        options = predict["content"]["application/json"]["schema"]["oneOf"]
        assert all(o["properties"]["layer"]["anyOf"][0]["enum"] == names for o in options)


def test_a_run_without_a_stored_space_answers_404_in_one_line(digits_cnn, tmp_path) -> None:
    old = tmp_path / "old-run"
    shutil.copytree(digits_cnn, old)
    (old / SPACE).unlink()
    with _client(old) as c:
        for r in (c.get("/api/space"), c.post("/api/embed", json={"pixels": _grid(0)})):
            assert r.status_code == 404 and SPACE in r.json()["detail"] and "\n" not in r.json()["detail"]
        assert "/api/embed" not in c.get("/openapi.json").json()["paths"]
        r = c.post("/api/predict", json={"pixels": _grid(0), "place": False})
        assert r.status_code == 422 and "place" in r.json()["detail"]  # as its schema says: no such key here
        assert c.post("/api/predict", json={"pixels": _grid(0)}).status_code == 200


def test_a_language_models_prompt_characters_sit_on_its_embedding_map(tiny_lm_run) -> None:
    run = rundir.load(tiny_lm_run)
    table_ = next(m.weight for m in run.model.modules() if isinstance(m, torch.nn.Embedding)).detach()
    coords = principal(table_, 2)[0]
    vocab = run.preprocess["vocab"]
    meta, stored = read_space(tiny_lm_run)  # stored with the run: the same points
    assert meta["kind"] == "chars" and meta["examples"] == len(vocab) and torch.equal(stored["labels"], torch.arange(len(vocab)))
    torch.testing.assert_close(stored["stage0.points"].double(), coords, atol=1e-4, rtol=0)
    with _client(tiny_lm_run) as c:
        a = c.post("/api/embed", json={"text": "To be"}).json()
        assert [ch["char"] for ch in a["characters"]] == list("To be")
        for ch in a["characters"]:
            assert [ch["x"], ch["y"]] == pytest.approx(coords[vocab.index(ch["char"])].tolist(), abs=1e-4)
        m = c.get("/api/space").json()
        assert [p["label"] for p in m["points"]] == vocab and m["layer"] == "embedding"
        bad = c.post("/api/embed", json={"text": "é"})
        assert bad.status_code == 422 and "vocabulary" in bad.json()["detail"]


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_browser_a_drawn_digit_moves_among_the_test_digits(digits_cnn, browser, lang, tmp_path) -> None:
    strings = table(lang)
    server = Server(digits_cnn, lang=lang)
    url = server.url
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        page.wait_for_selector("#space:not([hidden])")
        assert page.locator("#space h2").inner_text() == strings["space.heading"]
        assert page.locator("#space-empty").inner_text() == strings["space.empty"]
        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        page.mouse.move(box["x"] + 140, box["y"] + 240, steps=10)  # a one
        page.mouse.up()
        page.wait_for_function("document.querySelectorAll('#space-neighbours figure img').length === 8")
        page.wait_for_function("document.querySelector('#space-map').dataset.point !== undefined")
        first = page.evaluate("document.querySelector('#space-map').dataset.point")
        labels = page.evaluate("[...document.querySelectorAll('#space-neighbours figure')].map(f => f.dataset.label)")
        assert len(labels) == 8 and set(labels) <= {str(d) for d in range(10)}
        assert strings["space.distance"] in page.locator("#space-neighbours figcaption").first.inner_text()
        page.mouse.move(box["x"] + 60, box["y"] + 60)  # a bar across: a seven; the point moves
        page.mouse.down()
        page.mouse.move(box["x"] + 230, box["y"] + 60, steps=10)
        page.mouse.up()
        page.wait_for_function(f"document.querySelector('#space-map').dataset.point !== {json.dumps(first)}")
        # the answer on the page is the API's own answer for the same drawing
        x, y = map(float, page.evaluate("document.querySelector('#space-map').dataset.point").split(","))
        assert np.isfinite([x, y]).all()
        page.select_option("#space-layer", "input")  # another layer: its map, the point placed there
        page.wait_for_function("document.querySelector('#space-map').dataset.layer === 'input'")
        page.wait_for_function(f"document.querySelector('#space-map').dataset.point !== {json.dumps(f'{x},{y}')}")
        assert page.locator("#space-layer").evaluate("s => s.selectedOptions[0].textContent") == strings["space.stage_input"]
        assert page.locator("#space-maps-wrap").is_hidden()  # the pixels are not a convolutional stage
        conv = page.evaluate("[...document.querySelectorAll('#space-layer option')].map(o => o.value)")[1]
        page.select_option("#space-layer", conv)  # block 1, a convolutional stage: its feature maps
        page.wait_for_function("document.querySelectorAll('#space-maps canvas').length === 8")
        run = rundir.load(digits_cnn)
        channels = map_shapes(run.model, run.preprocess["shape"])[conv][0]
        assert page.locator("#space-maps-caption").inner_text() == \
            strings["space.maps"].replace("{shown}", "8").replace("{channels}", str(channels))
        for el in page.query_selector_all("#space [data-i18n]"):
            assert el.text_content() == strings[el.get_attribute("data-i18n")]
        if lang == "zh-Hant":
            en = table("en")
            card = page.locator("#space").inner_text()
            left = [v for k, v in en.items() if k.startswith("space.") and v in card]
            assert not left, left
        assert not errors, errors
        page.locator("#space").screenshot(path=str(artifacts(tmp_path) / f"serve-space-{lang}.png"))
        page.close()
    finally:
        server.stop()


def test_a_drawn_digits_nearest_test_digits_mostly_share_its_predicted_class(digits_cnn) -> None:
    """A plain drawn seven (tests/drawn_digits.py) among the test digits at the last hidden layer."""
    import base64
    import io

    from starlette.testclient import TestClient

    buf = io.BytesIO()
    render(placed(PLAIN[7], 140, 140, 20)).save(buf, "PNG")
    with TestClient(create_app(digits_cnn), base_url="http://127.0.0.1") as c:
        a = c.post("/api/embed", json={"image": base64.b64encode(buf.getvalue()).decode()}).json()
        p = c.post("/api/predict", json={"image": base64.b64encode(buf.getvalue()).decode()}).json()
    labels = [n["label"] for n in a["neighbours"]]
    assert labels.count(p["prediction"]) >= 5, (labels, p["prediction"])


def test_browser_a_typed_prompt_lights_up_its_characters_on_the_map(tiny_lm_run, browser) -> None:
    server = Server(tiny_lm_run, lang="zh-Hant")
    url = server.url
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(url)
        page.wait_for_selector("#space:not([hidden])")
        assert page.locator("#space h2").inner_text() == table("zh-Hant")["space.heading"]
        page.locator("#prompt").type("To be")
        page.wait_for_function("document.querySelector('#space-map').dataset.highlighted === ' Tbeo'")
        assert page.locator("#space-nearest-wrap").is_hidden()  # characters have no test examples
        page.close()
    finally:
        server.stop()


def test_a_table_run_places_a_row_among_the_test_rows(tmp_path) -> None:
    """wine-mlp: the stored map has no thumbnails; a test row sent back lands on its own stored point."""
    out = tmp_path / "wine"
    neuroplast.run("wine-mlp", out=out, progress=False, overrides=["train.epochs=3", "train.threads=1"])
    run = rundir.load(out)
    data = run.dataset()
    meta, t = read_space(out)
    assert meta["kind"] == "table" and "thumbnails" not in t
    with _client(out) as c:
        features = c.get("/api/model").json()["features"]
        x0 = data.x_test[0].numpy() * np.asarray(run.preprocess["std"]) + np.asarray(run.preprocess["mean"])
        assert len(features) == len(x0)  # wine: numeric columns only, in order
        a = c.post("/api/embed", json={"features": {f["name"]: float(v) for f, v in zip(features, x0, strict=True)},
                                       "layer": "input"}).json()
    assert a["neighbours"][0]["index"] == 0 and a["neighbours"][0]["distance"] == pytest.approx(0, abs=1e-3)
    assert "thumbnail" not in a["neighbours"][0]
    assert [a["point"]["x"], a["point"]["y"]] == pytest.approx(t["stage0.points"][0].tolist(), abs=1e-3)
