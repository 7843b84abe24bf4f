"""``neuroplast serve RUN_DIR``: one local page and a JSON API around a trained run.

The page (``static/index.html``, plain JS and canvas) lets a person draw a digit and watch the network
answer — the input it really receives, the probabilities, the calibrated confidence with "not sure",
and the saliency map — fill in a table row, or type a prompt and watch a language model write. It can
also train one of the shipped specs live ("watch it learn"), streaming the loss, accuracy and first
layer as server-sent events.

API: ``POST /api/predict``, ``GET /api/model``, ``GET /api/strings/{lang}``, ``GET /api/generate``
(text/event-stream), ``POST /api/train`` and ``GET /api/train/events`` (text/event-stream); the
OpenAPI schema at ``/docs``. Bodies over 1 MB get 413. Bound to a non-loopback address, every request
needs the token printed at start-up (as Jupyter does): ``?token=``, ``Authorization: Bearer`` or the
cookie the page gets when opened with ``?token=``.

Requests to ``/api/predict`` are batched: those that arrive while the model is busy are answered by
one forward and one backward pass, so many concurrent clients cost little more than one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import io
import ipaddress
import json
import logging
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import torch
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, ValidationError

from neuroplast.errors import UserError

MAX_BODY = 1_000_000  # bytes; larger bodies get 413
MAX_BATCH = 64
TOKEN_COOKIE = "neuroplast_token"
# "Watch it learn": the only specs the page may train, each with its bounds. The client names one of
# these; it never sends a path or spec text.
PLAYGROUND = {"digits-cnn": {"max_epochs": 30}, "digits-mlp": {"max_epochs": 60}}
GENERATE_MAX_TOKENS = 1000
log = logging.getLogger(__name__)


class BadInput(Exception):
    """A request the model cannot read: answered with 422 and this message."""


# --------------------------------------------------------------------------- request bodies
class PredictRequest(BaseModel):
    """One input to classify: exactly one of the fields, by the model's kind."""

    image: str | None = Field(None, description="Image models: a PNG or JPEG, base64 (a data: URL is fine). "
                              "It gets the run's preprocessing (MNIST-style centring for digits).")
    pixels: list[list[float]] | None = Field(None, description="Image models: the model's own grid "
                                             "(e.g. 28x28) of grayscale values in [0, 1], taken as is.")
    features: dict[str, float | str] | None = Field(None, description="Table models: column -> value.")
    text: str | None = Field(None, description="Text classifiers: the text to classify.")


class TrainRequest(BaseModel):
    spec: str = Field(description=f"One of the shipped playground specs: {', '.join(PLAYGROUND)}.")
    epochs: int = Field(10, ge=1, description="Epochs to train (bounded per spec).")


# --------------------------------------------------------------------------- the model behind the API
class Predictor:
    """A run's model with what the page needs around it: input decoding, calibration, saliency."""

    def __init__(self, run_dir: Path) -> None:
        from neuroplast.rundir import load

        self.run = load(run_dir)
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
        """Temperature and "not sure" threshold: this folder's or its ``calibrated-temperature``
        child's if `neuroplast calibrate` ran; else fitted now on the validation split."""
        for folder in (self.dir, self.dir / "calibrated-temperature", self.dir.with_name(f"{self.dir.name}-temperature")):
            f = folder / "metrics.json"
            if f.is_file():
                cal = json.loads(f.read_text()).get("calibration", {})
                if cal.get("method") == "temperature":
                    self.temperature, self.threshold = cal["temperature"], cal["threshold"]
                    self.calibration = f"temperature (from {folder.name})"
                    return
        if self.run.spec is None:
            return
        try:
            from neuroplast.data import load_dataset
            from neuroplast.trust.calibration import TemperatureScaling, selective_threshold

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
        from PIL import Image, UnidentifiedImageError

        from neuroplast.data.images import array_to_input

        if data.startswith("data:"):
            data = data.partition(",")[2]
        try:
            raw = base64.b64decode(data, validate=True)
            with Image.open(io.BytesIO(raw)) as im:
                im.load()
                if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:  # a canvas: ink on nothing
                    im = im.convert("RGBA")
                    paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(paper, im)
                channels = self.preprocess["shape"][0]
                a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
        except (binascii.Error, ValueError):
            raise BadInput("image is not valid base64; send a PNG or JPEG file encoded as base64.") from None
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
            raise BadInput(f"image cannot be decoded as PNG or JPEG ({type(e).__name__}).") from None
        if a.shape[0] > 4096 or a.shape[1] > 4096:
            raise BadInput(f"image is {a.shape[1]}x{a.shape[0]} pixels; send at most 4096x4096.")
        return array_to_input(a, self.preprocess)

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
            "input_shape": list(shape), "classes": self.classes, "summary": summary,
            "parameters": sum(p.numel() for p in self.run.model.parameters()),
            "test": {k: v for k, v in test.items() if isinstance(v, (int, float))},
            "calibration": self.calibration, "threshold": self.threshold, "temperature": self.temperature,
            "playground": {name: dict(v) for name, v in PLAYGROUND.items()},
        }
        if self.kind == "table":  # numeric fields start at the training mean, in the column's own units
            d["features"], offset = [], 0
            for c in self.preprocess["columns"]:
                f = {"name": c["name"], "type": c["type"], "categories": c.get("categories")}
                if c["type"] == "numeric":
                    f["default"] = float(np.round(self.preprocess["mean"][offset], 4))
                d["features"].append(f)
                offset += 1 if c["type"] == "numeric" else len(c["categories"])
        return d


class Batcher:
    """Collects concurrent requests and answers them with one call of ``fn`` on a worker thread."""

    def __init__(self, fn: Any, max_batch: int = MAX_BATCH) -> None:
        self.fn, self.max_batch = fn, max_batch
        self.queue: asyncio.Queue | None = None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="neuroplast-model")
        self.task: asyncio.Task | None = None

    async def __call__(self, x: torch.Tensor) -> dict[str, Any]:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.task = asyncio.get_running_loop().create_task(self._work())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((x, future))
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            while len(items) < self.max_batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            try:
                answers = await loop.run_in_executor(self.pool, self.fn, [x for x, _ in items])
                for (_, f), a in zip(items, answers, strict=True):
                    if not f.done():
                        f.set_result(a)
            except Exception as e:  # the server keeps serving; each waiting request gets the error
                for _, f in items:
                    if not f.done():
                        f.set_exception(e)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.pool.shutdown(wait=False)


# --------------------------------------------------------------------------- watch it learn
class Playground:
    """One live training run at a time, from a shipped spec, streaming events to any listener."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.lock = threading.Lock()
        self.running = False
        self.events: list[dict[str, Any]] = []
        self.run_id = 0

    def start(self, name: str, epochs: int) -> int:
        from neuroplast.spec import load_spec

        if name not in PLAYGROUND:
            raise BadInput(f"spec must be one of {', '.join(PLAYGROUND)}; received {name!r}.")
        bound = PLAYGROUND[name]["max_epochs"]
        if not 1 <= epochs <= bound:
            raise BadInput(f"epochs for {name} must be between 1 and {bound}; received {epochs}.")
        with self.lock:
            if self.running:
                raise RuntimeError("busy")
            self.running = True
            self.run_id += 1
            self.events = [{"type": "start", "run": self.run_id, "spec": name, "epochs": epochs}]
        spec = load_spec(name).updated(train={"epochs": epochs, "threads": 1})
        threading.Thread(target=self._train, args=(spec, self.run_id), daemon=True,
                         name="neuroplast-playground").start()
        return self.run_id

    def _train(self, spec: Any, run_id: int) -> None:
        from neuroplast.pipeline import run

        listener = _Listener(self.events)
        try:
            result = run(spec, out=self.workdir / f"{spec.name}-{run_id}", callbacks=[listener], progress=False)
            test = result.metrics.get("test", {})
            self.events.append({"type": "done", "test_accuracy": test.get("accuracy"),
                                "test_loss": test.get("loss"), "seconds": result.metrics["train"]["seconds"]})
        except Exception as e:  # reported to the page; the server keeps serving
            log.exception("playground training failed")
            self.events.append({"type": "error", "message": f"{type(e).__name__}: {e}"})
        finally:
            with self.lock:
                self.running = False


class _Listener:
    """A training callback that appends one event per epoch: losses, accuracy, first-layer weights."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events, self.model, self.start = events, None, time.perf_counter()

    def set_model(self, model: torch.nn.Module) -> None:
        self.model = model

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        event = {"type": "epoch", "epoch": epoch, "seconds": round(time.perf_counter() - self.start, 2)}
        event.update({k: round(float(v), 5) for k, v in logs.items()
                      if isinstance(v, (int, float)) and k != "epoch"})
        if self.model is not None:
            event["filters"] = first_layer_images(self.model)
        self.events.append(event)


def first_layer_images(model: torch.nn.Module, limit: int = 16) -> list[list[list[float]]]:
    """The first layer's weights as small grayscale images in [0, 1]: a CNN's first filters (channel
    mean), or an MLP's first-layer rows shaped like a square input."""
    from neuroplast.trust.explain import first_layer_filters, receptive_fields

    with torch.no_grad():
        if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
            w = first_layer_filters(model).mean(dim=1)
        else:
            w = receptive_fields(model)
            if w.ndim != 4:
                return []
            w = w[:, 0]
            low = w.amin(dim=(1, 2), keepdim=True)
            w = (w - low) / (w.amax(dim=(1, 2), keepdim=True) - low).clamp_min(1e-12)
    return np.round(w[:limit].cpu().numpy(), 3).tolist()


# --------------------------------------------------------------------------- ASGI guards
class Guard:
    """Plain ASGI middleware in front of the app: 413 for bodies over ``max_body`` bytes (by the
    Content-Length header, and by counting for chunked bodies), 401 without the token when one is set."""

    def __init__(self, app: Any, max_body: int = MAX_BODY, token: str | None = None) -> None:
        self.app, self.max_body, self.token = app, max_body, token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and not self._authorized(scope, headers):
            return await _plain(send, 401, "Missing or wrong token: open the address with ?token=... "
                                "that `neuroplast serve` printed.")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await _plain(send, 413, f"Request body of {int(length):,} bytes is over the "
                                f"{self.max_body:,}-byte limit; send a smaller image.")
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):  # chunked: count as it comes
            chunks, seen, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunks.append(message.get("body", b""))
                seen += len(chunks[-1])
                more = message.get("more_body", False)
                if seen > self.max_body:
                    return await _plain(send, 413, f"Request body is over the {self.max_body:,}-byte limit.")
            body = b"".join(chunks)
            replayed = False

            async def replay() -> dict:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await self.app(scope, replay, send)
        await self.app(scope, receive, send)

    def _authorized(self, scope: dict, headers: dict) -> bool:
        from urllib.parse import parse_qs

        offered = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
        auth = headers.get(b"authorization", b"").decode()
        if auth.lower().startswith("bearer "):
            offered = offered or auth[7:].strip()
        for part in headers.get(b"cookie", b"").decode().split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE:
                offered = offered or value
        return bool(offered) and secrets.compare_digest(offered.encode(), self.token.encode())


async def _plain(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- the app
def create_app(run_dir: str | Path, *, token: str | None = None, max_body: int = MAX_BODY,
               lang: str = "en", workdir: str | Path | None = None, max_batch: int = MAX_BATCH) -> Any:
    """The FastAPI app for ``run_dir`` wrapped in the body-size and token guard (an ASGI app).

    Args:
        run_dir: a run folder written by ``neuroplast run`` (or prune/calibrate).
        token: required on every request when set (``serve`` sets one for non-loopback addresses).
        max_body: request bodies over this many bytes get 413.
        lang: the page's first language (``en`` or ``zh-Hant``); the page can switch.
        workdir: where live "watch it learn" runs are written (default: a temporary folder).
        max_batch: most concurrent predictions answered by one forward/backward pass (1: none batched).
    """
    from neuroplast.see.locale import LANGUAGES, table

    run_dir = Path(run_dir)
    if not (run_dir / "model.json").is_file():
        raise UserError(f"{run_dir} is not a neuroplast run folder (no model.json). Pass the folder "
                        "that `neuroplast run` printed.")
    table(lang)  # unknown language: a clear error now
    predictor = Predictor(run_dir)
    batcher = Batcher(predictor.answer, max_batch)
    scratch = None if workdir else Path(tempfile.mkdtemp(prefix="neuroplast-serve-"))  # removed at shutdown
    playground = Playground(Path(workdir) if workdir else scratch)
    static = resources.files("neuroplast.see") / "static"

    # FastAPIOffline: FastAPI with /docs (Swagger UI) and /redoc served from files on this disk, not a CDN
    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> Any:
        try:
            yield
        finally:  # the playground's scratch folder goes with the server (Ctrl+C, SIGTERM)
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    app = FastAPIOffline(title="neuroplast", version="1", description=f"The model of {run_dir.name}: predict, "
                         "describe, generate, and train a small network live.", favicon_url="data:,",
                         lifespan=lifespan)

    def json_response(obj: Any, status: int = 200) -> Response:
        return Response(orjson.dumps(obj), status_code=status, media_type="application/json")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request):
        html = (static / "index.html").read_text(encoding="utf-8").replace("__LANG__", lang)
        response = HTMLResponse(html)
        if token is not None and request.query_params.get("token") == token:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str):
        types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        suffix = Path(name).suffix
        f = static / name
        if "/" in name or suffix not in types or not f.is_file():
            raise HTTPException(404, f"No static file {name!r}.")
        return Response(f.read_bytes(), media_type=types[suffix])

    @app.get("/api/model", summary="What the model is and what it takes")
    async def model_info():
        return json_response(predictor.describe())

    @app.get("/api/strings/{name}", summary="The page's strings in one language (en, zh-Hant)")
    async def strings(name: str):
        if name not in LANGUAGES:
            raise HTTPException(404, f"No language {name!r}; expected one of {', '.join(LANGUAGES)}.")
        return json_response(table(name))

    @app.post("/api/predict", summary="Classify one input: classes, probabilities, confidence, "
              "'not sure' and the saliency map", openapi_extra={"requestBody": {
                  "required": True, "content": {"application/json": {"schema": PredictRequest.model_json_schema()}}}})
    async def predict(request: Request):
        # the body is parsed here rather than by FastAPI's dependency machinery: the hot path is
        # parse, decode, batch, answer, and every tenth of a millisecond is latency under load
        try:
            x = predictor.decode(PredictRequest.model_validate_json(await request.body()))
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors()[:3])
            return json_response({"detail": f"The body must be JSON like {{\"image\": \"<base64 PNG>\"}}; "
                                  f"{problems}."}, 422)
        except BadInput as e:
            return json_response({"detail": str(e)}, 422)
        return json_response(await batcher(x))

    @app.get("/api/generate", summary="Stream text from a language model (text/event-stream)")
    async def generate(prompt: str = "", tokens: int = 300, temperature: float = 0.8,
                       seed: int = 0):
        from neuroplast.generate import generate_stream

        if not predictor.language_model:
            return json_response({"detail": "This run is not a character language model."}, 422)
        if not 1 <= tokens <= GENERATE_MAX_TOKENS or not 0 < temperature <= 5:
            return json_response({"detail": f"tokens must be 1..{GENERATE_MAX_TOKENS} and temperature in "
                                  f"(0, 5]; received tokens={tokens}, temperature={temperature}."}, 422)
        try:
            chars = generate_stream(predictor.run, prompt[-2000:], tokens, temperature, None, seed)
        except UserError as e:
            return json_response({"detail": str(e)}, 422)

        async def events():
            loop = asyncio.get_running_loop()
            it = iter(chars)
            while True:
                ch = await loop.run_in_executor(batcher.pool, next, it, None)
                if ch is None:
                    break
                yield f"data: {json.dumps(ch)}\n\n"
            yield "event: done\ndata: {}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/api/train", summary="Start a live training run of a shipped playground spec "
              "(one at a time: 409 while one runs)")
    async def train(body: TrainRequest):
        try:
            run_id = playground.start(body.spec, body.epochs)
        except BadInput as e:
            return json_response({"detail": str(e)}, 422)
        except RuntimeError:
            return json_response({"detail": "A training run is already in progress; wait for it to "
                                  "finish (GET /api/train/events)."}, 409)
        return json_response({"run": run_id, "events": "/api/train/events"}, 202)

    @app.get("/api/train/events", summary="The live run's events (text/event-stream): start, one per "
             "epoch with losses, accuracy and first-layer images, then done or error")
    async def train_events():
        async def events():
            sent, run_id = 0, playground.run_id
            while True:
                batch = playground.events[sent:]
                for e in batch:
                    yield f"data: {json.dumps(e, separators=(',', ':'))}\n\n"
                sent += len(batch)
                if (batch and batch[-1]["type"] in ("done", "error")) or run_id != playground.run_id or (
                        not playground.running and sent >= len(playground.events)):
                    break
                await asyncio.sleep(0.1)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    app.state.predictor = predictor
    app.state.playground = playground
    return Guard(app, max_body=max_body, token=token)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, lang: str = "en") -> None:
    """Serve the page and API for ``run_dir`` until Ctrl+C. Any address but loopback gets a token."""
    import socket

    import uvicorn

    if not 1 <= port <= 65535:
        raise UserError(f"--port must be between 1 and 65535; received {port}.")
    try:  # the address is free and valid: said now, before the page is announced
        with socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET):
            pass
    except OSError as e:
        raise UserError(f"Cannot serve on {host}:{port} ({e.strerror or e}); pass another --port or --host.") from None
    token = None if is_loopback(host) else secrets.token_urlsafe(24)
    app = create_app(run_dir, token=token, lang=lang)
    torch.set_num_threads(1)  # small batches: a second intra-op thread only competes with the event loop
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(f"neuroplast: serving {Path(run_dir).name} on {where}" + (f"?token={token}" if token else ""),
          flush=True)
    if token:
        print("neuroplast: bound beyond loopback: every request needs that token.", flush=True)
    import gc

    gc.freeze()  # the model, torch and FastAPI live for the whole server: keep them out of the full GC passes
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
