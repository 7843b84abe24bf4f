"""The model behind the API: input decoding (422 on bad input), calibration, answers, description."""

from __future__ import annotations

import base64
import binascii
import functools
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from neuroplast import rundir
from neuroplast.errors import UserError
from neuroplast.see.server.constants import PLAYGROUND

log = logging.getLogger(__name__)


class BadInput(Exception):
    """A request the model cannot read: answered with 422 and this message."""


class TooLarge(BadInput):
    """An image over the size limit, refused on its header before decoding: answered with 413."""


# --------------------------------------------------------------------------- request bodies
class PredictRequest(BaseModel):
    """One input to classify: exactly one of the fields, by the model's kind."""

    model_config = ConfigDict(extra="forbid", strict=True)  # as the OpenAPI schema says: no other keys

    image: str | None = Field(None, description="Image models: a PNG or JPEG, base64 (a data: URL is fine). "
                              "It gets the run's preprocessing (MNIST-style centring for digits).")
    pixels: list[list[float]] | None = Field(None, description="Image models: the model's own grid "
                                             "(e.g. 28x28) of grayscale values in [0, 1], taken as is.")
    features: dict[str, float | str | None] | None = Field(None, description="Table models: column -> value "
                                                           "(null: a missing cell).")
    text: str | None = Field(None, description="Text classifiers: the text to classify.")
    place: bool = Field(False, description="Also answer where the input lands in the stored vector space "
                        "(``space``: as /api/embed answers), from the same request.")
    layer: str | None = Field(None, description="With place (or /api/embed): the stage, default the last hidden one.")


# --------------------------------------------------------------------------- the model behind the API
class Predictor:
    """A run's model with what the page needs around it: input decoding, calibration, saliency."""

    def __init__(self, run_dir: Path) -> None:
        self.run = rundir.load(run_dir)
        self.dir = Path(run_dir)
        self.preprocess = self.run.preprocess
        self.kind = self.preprocess["kind"]
        self.task = self.run.info["task"]
        self.language_model = self.kind == "text" and self.preprocess.get("mode") == "chars"
        self.classes = self.run.class_names or (
            [str(i) for i in range(self.run.info["num_outputs"])] if self.task == "classification" else [])
        self.temperature, self.threshold, self.calibration = 1.0, None, "none"
        if self.task == "classification" and not self.language_model:
            self._calibrate()

    # .............................................................. calibration ("not sure")
    def _calibrate(self) -> None:
        """Temperature and "not sure" threshold: this folder's own if `neuroplast calibrate` wrote it,
        else a temperature-scaling folder of the run's calibrate stage (:func:`neuroplast.rundir.stage_dirs`);
        else fitted now on the validation split."""
        for folder in (self.dir, *rundir.stage_dirs(self.dir, "calibrate")):
            cal = rundir.read_metrics(folder).get("calibration", {})
            if cal.get("method") == "temperature":
                self.temperature, self.threshold = cal["temperature"], cal["threshold"]
                self.calibration = f"temperature (from {folder.name})"
                return
        if self.run.spec is None:
            log.warning("serving uncalibrated confidence (raw softmax, no \"not sure\" threshold): %s has no "
                        "spec.toml to reload its validation split from; restore the run's spec.toml to fit one.",
                        self.dir.name)
            return
        try:
            from neuroplast.data import load_dataset
            from neuroplast.trust import TemperatureScaling, selective_threshold

            data = load_dataset(self.run.spec.data, self.run.spec.seed)
            if len(data.x_val) == 0:
                return
            ts = TemperatureScaling(self.run.model).fit(data.x_val, data.y_val)
            pred = ts.predict(data.x_val)
            self.temperature = ts.temperature
            self.threshold = selective_threshold(pred.confidence, pred.label == data.y_val, 0.99)
            self.calibration = "temperature (fitted on the validation split at start-up)"
        except (UserError, OSError) as e:  # the data is not reachable from here: raw softmax
            log.warning("serving uncalibrated confidence: %s", e)

    # .............................................................. decoding (422 on bad input)
    def decode(self, req: PredictRequest) -> torch.Tensor:
        """A request body -> the model's (1, ...) input; :class:`BadInput` when it cannot be read."""
        given = [k for k in ("image", "pixels", "features", "text") if getattr(req, k) is not None]
        if len(given) != 1:
            raise BadInput(f"Send exactly one of image, pixels, features, text; received "
                           f"{', '.join(given) or 'none'}.")
        field = given[0]
        wanted = {"image": ("image", "pixels"), "table": ("features",), "text": ("text",)}.get(self.kind, ())
        if self.language_model or field not in wanted:
            raise BadInput(f"This {self.kind} model takes {' or '.join(wanted) or 'no /api/predict input'}; "
                           f"received {field}." + (" Use /api/generate." if self.language_model else ""))
        if field == "image":
            return self._image(req.image)
        if field == "pixels":
            return self._pixels(req.pixels)
        if field == "features":
            from neuroplast.data.tabular import encode_rows

            try:
                return torch.from_numpy(encode_rows([req.features], self.preprocess))
            except (UserError, ValueError) as e:
                raise BadInput(str(e)) from None
        from neuroplast.data.text import encode_texts

        return encode_texts([req.text], self.preprocess)

    def _image(self, data: str) -> torch.Tensor:
        from neuroplast.data.images import ImageTooLarge, array_to_input, read_image

        if data.startswith("data:"):
            data = data.partition(",")[2]
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadInput("image is not valid base64; send a PNG or JPEG file encoded as base64.") from None
        try:  # the size on the header is checked before any pixel is decoded (image bombs)
            # a canvas (ink on nothing) is composited over white paper, as image files are
            a = read_image(io.BytesIO(raw), self.preprocess["shape"][0], name="the image")
        except ImageTooLarge as e:
            raise TooLarge(str(e)) from None
        except UserError as e:
            raise BadInput("image cannot be decoded as PNG or JPEG; send an image file encoded as base64.") from e
        try:
            return array_to_input(a, self.preprocess, name="the image")
        except UserError as e:  # e.g. "no digit found in the image": an answer, not a class
            raise BadInput(str(e)) from None

    def _pixels(self, pixels: list[list[float]]) -> torch.Tensor:
        channels, height, width = self.preprocess["shape"]
        rows = len(pixels)
        cols = {len(r) for r in pixels}
        if channels != 1 or rows != height or cols != {width}:
            got = f"{rows} rows of {'/'.join(map(str, sorted(cols))) or 0} values"
            raise BadInput(f"pixels must be {height} rows of {width} grayscale values in [0, 1] "
                           f"({height * width} in all); received {got}.")
        a = np.asarray(pixels, dtype=np.float32)
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise BadInput("pixels must be numbers in [0, 1] (0 = background, 1 = ink).")
        return torch.from_numpy((a[None, None] - self.preprocess["mean"]) / self.preprocess["std"]).float()

    # .............................................................. answering a batch
    def answer(self, xs: list[torch.Tensor]) -> list[dict[str, Any]]:
        """The model's answers for a batch of decoded inputs: one forward (and one backward for the
        saliency maps of classifiers)."""
        x = torch.cat(xs)
        if self.task != "classification":
            return self._regression(x)
        model = self.run.model
        grad_input = x.is_floating_point()
        if grad_input:
            x = x.detach().requires_grad_()
        with torch.enable_grad():
            logits = model(x).float()
            top = logits.argmax(dim=1)
            saliency = None
            if grad_input:  # |d top-logit / d input| (Simonyan et al. 2014), one backward for all
                grads, = torch.autograd.grad(logits.gather(1, top[:, None]).sum(), x)
                saliency = grads.abs().sum(dim=1) if grads.ndim == 4 else grads.abs()
        probs = torch.softmax(logits.detach() / self.temperature, dim=1).double()
        conf = probs.max(dim=1).values
        # one numpy pass per batch, in float64 so that 3-decimal values print short ("0.123")
        prob_lists = np.round(probs.numpy(), 5).tolist()
        conf_list = np.round(conf.numpy(), 5).tolist()
        maps = seen = None
        if saliency is not None:
            s = saliency.double()
            s = s / s.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, *([1] * (s.ndim - 1)))
            maps = np.round(s.numpy(), 3).tolist()
            if self.kind == "image":  # what the network sees, back in [0, 1]
                raw = x.detach()[:, 0].double() * self.preprocess["std"] + self.preprocess["mean"]
                seen = np.round(raw.clamp(0, 1).numpy(), 3).tolist()
        out = []
        for i, index in enumerate(top.tolist()):
            answer = {
                "prediction": self.classes[index], "index": index, "classes": self.classes,
                "probabilities": prob_lists[i], "confidence": conf_list[i],
                "not_sure": self.threshold is not None and conf_list[i] < self.threshold,
                "threshold": self.threshold, "calibration": self.calibration,
            }
            if maps is not None:
                answer["saliency"] = maps[i]
            if seen is not None:
                answer["input"] = seen[i]
            out.append(answer)
        return out

    def _regression(self, x: torch.Tensor) -> list[dict[str, Any]]:
        with torch.no_grad():
            out = self.run.model(x).float().numpy()
        std = np.asarray(self.preprocess.get("target_std", [1.0]))
        mean = np.asarray(self.preprocess.get("target_mean", [0.0]))
        values = out * std + mean
        return [{"value": [float(v) for v in row]} for row in values]

    @functools.cached_property
    def summary(self) -> str:
        """The model summary (torchinfo traces the model once; the served model never changes)."""
        from neuroplast.summary import summarize

        try:
            return summarize(self.run.model, tuple(self.run.info["input_shape"]), tokens=self.kind == "text")
        except Exception as e:  # the summary is a nicety; a model that torchinfo cannot trace still serves
            return f"(no summary: {type(e).__name__})"

    def describe(self) -> dict[str, Any]:
        """What the page needs to draw its controls (``GET /api/model``)."""
        info = self.run.info
        shape = tuple(info["input_shape"])
        summary = self.summary
        test = self.run.metrics.get("test", {})
        d: dict[str, Any] = {
            "name": self.run.metrics.get("name", self.dir.name), "family": info.get("family"),
            "task": self.task, "kind": self.kind, "language_model": self.language_model,
            "input_shape": list(shape), "image_style": self.preprocess.get("style"), "classes": self.classes,
            "summary": summary,
            "parameters": sum(p.numel() for p in self.run.model.parameters()),
            "test": {k: v for k, v in test.items() if isinstance(v, (int, float))},
            "calibration": self.calibration, "threshold": self.threshold, "temperature": self.temperature,
            "playground": {name: dict(v) for name, v in PLAYGROUND.items()},
        }
        if self.kind == "table":  # numeric fields start at the training mean, in the column's own units
            from neuroplast.data.columns import feature_names

            d["features"], offset = [], 0
            for c in self.preprocess["columns"]:
                if c["type"] != "dropped":  # identifiers and constants are not asked for
                    f = {"name": c["name"], "type": c["type"], "categories": c.get("categories")}
                    if c["type"] == "numeric":
                        f["default"] = float(np.round(self.preprocess["mean"][offset], 4))
                    d["features"].append(f)
                offset += len(feature_names([c]))
        return d
