"""The vector space behind the page's map: the run's stored test points (``space.safetensors``) and where a
new input lands among them (``POST /api/embed``, ``GET /api/space``).

A new input goes through the same forward pass as the stored examples (:func:`neuroplast.trust.space.
representations`), its vector at the chosen stage is projected with the stored principal components
(``(v - mean) @ components.T``), and its :data:`~neuroplast.trust.space.NEIGHBOURS` nearest stored
examples are found in those coordinates; on the 2-D map it lands at the first two coordinates (PCA) or
at the distance-weighted mean of its neighbours' points (t-SNE, which has no projection for new points).
A character language model's map is its embedding table in principal components (stored with the run;
computed at start-up for a run from before the file existed).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import torch

from neuroplast.errors import UserError


def thumbnail_uri(picture: np.ndarray, scale: int = 2, ink: bool = False) -> str:
    """A small grayscale or RGB uint8 picture ``(C, H, W)`` as a ``data:`` PNG URI (enlarged ``scale``x);
    ``ink``: grayscale digits (high values are ink) drawn dark on white, as the page draws them."""
    from PIL import Image

    a = picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)[..., :3]
    if ink and a.ndim == 2:
        a = 255 - a
    im = Image.fromarray(np.ascontiguousarray(a))
    im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class Space:
    """A run's stored vector space, read once: each stage's principal components and stored points, the
    examples' labels and thumbnails, and the answers for new inputs. ``missing`` says why there is none."""

    def __init__(self, run_dir: Path, run: Any, classes: list[str]) -> None:
        from neuroplast.runfiles import SPACE, read_space

        self.run, self.classes, self.missing = run, classes, ""
        self.stages: list[dict[str, Any]] = []
        self.vocab: list[str] | None = None
        if run.preprocess.get("kind") == "text" and run.preprocess.get("mode") == "chars":
            self._characters(Path(run_dir), run)
            return
        if not (Path(run_dir) / SPACE).is_file():
            self.missing = (f"{Path(run_dir).name} has no stored vector space ({SPACE}): only classifiers on images "
                            "or tables store one, at the end of training; re-run training to store it.")
            return
        try:
            self.meta, t = read_space(run_dir, num_classes=len(classes) or None)
        except UserError as e:
            self.missing = str(e)
            return
        self.method = self.meta["method"]
        self.labels, self.indices = t["labels"], t["indices"]
        wrong = (t["predicted"] != t["labels"]).tolist()
        for i, facts in enumerate(self.meta["stages"]):
            s = {**facts, "mean": t[f"stage{i}.mean"].double(), "components": t[f"stage{i}.components"].double(),
                 "coords": t[f"stage{i}.coords"].double(), "points": t[f"stage{i}.points"]}
            pts = np.round(s["points"].numpy().astype(float), 4).tolist()
            s["map"] = orjson.dumps({"layer": s["name"], "method": self.method, "classes": classes,
                                     "layers": [], "points": [
                                         {"x": x, "y": y, "label": classes[c], "wrong": w}
                                         for (x, y), c, w in zip(pts, self.labels.tolist(), wrong, strict=True)]})
            self.stages.append(s)
        self.names = [s["name"] for s in self.stages]
        self.default = self.names[-2] if len(self.names) >= 3 else self.names[-1]  # the last hidden stage
        self.shapes = {}  # a convolutional stage's (channels, height, width): its feature maps are shown
        if run.preprocess.get("kind") == "image":
            from neuroplast.trust.space import map_shapes

            self.shapes = map_shapes(run.model, run.preprocess["shape"])
        thumbs = t.get("thumbnails")
        ink = run.preprocess.get("style") in ("mnist", "digits")
        self.thumbnails = None if thumbs is None else [thumbnail_uri(p, ink=ink) for p in thumbs.numpy()]

    def _characters(self, run_dir: Path, run: Any) -> None:
        """A character language model's map: its embedding table's first two principal components, one
        point per character of the vocabulary (stored with the run; computed here for an older run)."""
        from neuroplast.runfiles import SPACE, read_space
        from neuroplast.stages.space import character_space, embedding_table

        vocab = list(run.preprocess["vocab"])
        if (Path(run_dir) / SPACE).is_file():
            try:
                meta, t = read_space(run_dir)
            except UserError as e:
                self.missing = str(e)
                return
            if meta["kind"] != "chars" or meta["examples"] != len(vocab):
                self.missing = (f"{Path(run_dir) / SPACE} does not describe this model's {len(vocab)} characters; "
                                "delete it, or re-run training.")
                return
        else:
            table = embedding_table(run.model, len(vocab))
            if table is None:
                self.missing = "This language model has no character embedding table to draw."
                return
            t, meta = character_space(table)
        self.method, self.vocab, self.char_points = "pca", vocab, t["stage0.points"]
        pts = np.round(self.char_points.numpy().astype(float), 4).tolist()
        self.stages = [{"name": "embedding", "dims": meta["stages"][0]["dims"], "knn": None, "map": orjson.dumps({
            "layer": "embedding", "method": "pca", "classes": vocab, "layers": [],
            "points": [{"x": x, "y": y, "label": c, "wrong": False} for (x, y), c in zip(pts, vocab, strict=True)]})}]
        self.names, self.default, self.thumbnails = ["embedding"], "embedding", None

    def characters(self, text: str) -> dict[str, Any]:
        """``POST /api/embed`` for a language model: each character of ``text`` at its embedding's point."""
        index = {c: i for i, c in enumerate(self.vocab or [])}
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(f"text holds characters outside the model's vocabulary: {''.join(unknown)[:20]!r}.")
        chars = [{"char": c, "x": round(float(self.char_points[index[c], 0]), 5),
                  "y": round(float(self.char_points[index[c], 1]), 5)} for c in text]
        return {"layer": "embedding", "layers": self.names, "characters": chars}

    @property
    def available(self) -> bool:
        return bool(self.stages)

    @property
    def places_inputs(self) -> bool:
        """Whether ``/api/predict`` may ask to place its input (a stored space of inputs, not characters)."""
        return self.available and self.vocab is None

    def layers(self) -> list[dict[str, Any]]:
        """Each stage's name, features and 5-NN accuracy, in order."""
        return [{"name": s["name"], "dims": s["dims"], "knn": s["knn"]} for s in self.stages]

    def stage(self, layer: str | None) -> dict[str, Any]:
        name = self.default if layer is None else layer
        for s in self.stages:
            if s["name"] == name:
                return s
        raise ValueError(f"layer {layer!r} is not a stage of this network's stored space; its stages: "
                         f"{', '.join(self.names)}.")

    def map_json(self, layer: str | None) -> bytes:
        """``GET /api/space``: the stored points of ``layer`` (default: the last hidden stage), as JSON."""
        s = self.stage(layer)
        return s["map"].replace(b'"layers":[]', b'"layers":' + orjson.dumps(self.layers()), 1)

    def answer(self, items: list[tuple[torch.Tensor, str | None]]) -> list[dict[str, Any]]:
        """``POST /api/embed`` for a batch of decoded inputs, each with its stage: one forward pass."""
        from neuroplast.trust.space import representations

        vectors = representations(self.run.model, torch.cat([x for x, _ in items]))
        return [self.place(vectors, j, layer) for j, (_, layer) in enumerate(items)]

    def place(self, vectors: dict[str, torch.Tensor], j: int, layer: str | None) -> dict[str, Any]:
        """Where row ``j`` of a batch's stage ``vectors`` (:func:`~neuroplast.trust.space.recording`'s
        stages) lands at ``layer``: its 2-D point and nearest stored examples, and at a convolutional
        stage its first feature maps (:func:`~neuroplast.trust.space.feature_maps`)."""
        from neuroplast.trust.space import nearest, place

        s = self.stage(layer)
        coords = (vectors[s["name"]][j:j + 1].double() - s["mean"]) @ s["components"].T
        point = place(coords, s["coords"], s["points"], self.method)[0]
        distances, found = nearest(coords, s["coords"])
        neighbours = []
        for d, i in zip(distances[0].tolist(), found[0].tolist(), strict=True):
            n = {"index": int(self.indices[i]), "label": self.classes[int(self.labels[i])],
                 "distance": round(float(d), 5)}
            if self.thumbnails is not None:
                n["thumbnail"] = self.thumbnails[i]
            neighbours.append(n)
        answer = {"layer": s["name"], "point": {"x": round(float(point[0]), 5), "y": round(float(point[1]), 5)},
                  "neighbours": neighbours, "layers": self.names}
        if s["name"] in self.shapes:  # a convolutional stage: the input's feature maps there
            from neuroplast.trust.space import feature_maps

            answer["maps"] = feature_maps(vectors[s["name"]][j], self.shapes[s["name"]])
        return answer

    def answering(self, predictor_answer: Any) -> Any:
        """The predict batcher's function: ``predictor_answer`` for plain inputs; for ``(x, layer)`` items
        (``"place": true``) the same answers with ``space`` added, the stages recorded during the
        prediction's own forward pass (no second one)."""
        from neuroplast.trust.space import recording

        def answer(items: list[Any]) -> list[dict[str, Any]]:
            xs = [i[0] if isinstance(i, tuple) else i for i in items]
            if not any(isinstance(i, tuple) for i in items):
                return predictor_answer(xs)
            with recording(self.run.model) as found:
                answers = predictor_answer(xs)
            vectors = {name: torch.cat(v) for name, v in found.items()}
            return [{**a, "space": self.place(vectors, j, i[1])} if isinstance(i, tuple) else a
                    for j, (a, i) in enumerate(zip(answers, items, strict=True))]
        return answer
