"""The FastAPI app and its routes; ``serve`` runs it with uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import secrets
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import torch
from fastapi import HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError

from neuroplast import rundir
from neuroplast.errors import UserError
from neuroplast.see.server.batcher import Batcher
from neuroplast.see.server.constants import (
    GENERATE_MAX_TOKENS,
    MAX_BATCH,
    MAX_BODY,
    PROMPT_MAX,
    TOKEN_COOKIE,
)
from neuroplast.see.server.decoding import SharedDecode
from neuroplast.see.server.guard import LOOPBACK_HOSTS, Guard
from neuroplast.see.server.limits import uvicorn_config
from neuroplast.see.server.playground import Playground, TrainRequest
from neuroplast.see.server.predictor import BadInput, Predictor, PredictRequest, TooLarge
from neuroplast.see.server.schema import (
    EventStream,
    errors,
    one_line_422,
    predict_body,
    sse_responses,
    train_body,
    vocabulary_pattern,
)
from neuroplast.see.server.space import Space
from neuroplast.see.server.space_routes import place_body, space_routes


def create_app(run_dir: str | Path, *, token: str | None = None, max_body: int = MAX_BODY,
               lang: str = "en", workdir: str | Path | None = None, max_batch: int = MAX_BATCH,
               host: str = "127.0.0.1") -> Any:
    """The FastAPI app for ``run_dir`` wrapped in the Host, token and body-size guard (an ASGI app).

    Args:
        run_dir: a run folder written by ``neuroplast run`` (or prune/calibrate).
        token: required on every request when set (``serve`` sets one for non-loopback addresses).
        max_body: request bodies over this many bytes get 413.
        lang: the page's first language (``en`` or ``zh-Hant``); the page can switch.
        workdir: where live "watch it learn" runs are written (default: a temporary folder).
        max_batch: most concurrent predictions answered by one forward/backward pass (1: none batched).
        host: the address served; the Host header must name it or a loopback name (any port), except
            on 0.0.0.0 or :: (every address: the token guards those).
    """
    from neuroplast.see.locale import table

    run_dir = Path(run_dir)
    if not (run_dir / rundir.MODEL_INFO).is_file():
        raise UserError(f"{run_dir} is not a neuroplast run folder (no {rundir.MODEL_INFO}). Pass the folder "
                        "that `neuroplast run` printed.")
    table(lang)  # unknown language: a clear error now
    predictor = Predictor(run_dir)
    space = Space(run_dir, predictor.run, predictor.classes)
    batcher = Batcher(space.answering(predictor.answer), max_batch)  # predict; with "place", the point too
    scratch = None if workdir else Path(tempfile.mkdtemp(prefix="neuroplast-serve-"))  # removed at shutdown
    playground = Playground(Path(workdir) if workdir else scratch)

    # FastAPIOffline: FastAPI with /docs (Swagger UI) and /redoc served from files on this disk, not a CDN
    app = FastAPIOffline(title="neuroplast", version="1", description=f"The model of {run_dir.name}: predict, "
                         "describe, generate, and train a small network live.", favicon_url="data:,",
                         lifespan=_removing(scratch))
    app.add_exception_handler(RequestValidationError, one_line_422)
    _page_routes(app, lang, token)
    _model_routes(app, predictor)
    decoding = SharedDecode(predictor.decode)  # the page sends each stroke to predict and embed: decoded once
    space_routes(app, predictor, batcher, space, decoding)
    _predict_route(app, predictor, batcher, decoding, space if space.places_inputs else None)
    _generate_route(app, predictor, batcher)
    _playground_routes(app, playground)
    app.state.predictor = predictor
    app.state.playground = playground
    hosts = None if host in ("0.0.0.0", "::", "") else LOOPBACK_HOSTS | {host.strip("[]").lower()}
    return Guard(app, max_body=max_body, token=token, hosts=hosts)


def _removing(scratch: Path | None) -> Any:
    """The app's lifespan: the playground's scratch folder goes with the server (Ctrl+C, SIGTERM)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> Any:
        try:
            yield
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    return lifespan


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


# --------------------------------------------------------------------------- the page and its files
def _page_routes(app: FastAPIOffline, lang: str, token: str | None) -> None:
    static = resources.files("neuroplast.see") / "static"

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


# --------------------------------------------------------------------------- what the model is
def _model_routes(app: FastAPIOffline, predictor: Predictor) -> None:
    from neuroplast.see.locale import LANGUAGES, table

    @app.get("/api/model", summary="What the model is and what it takes", responses=errors())
    async def model_info():
        return _json(predictor.describe())

    @app.get("/api/strings/{name}", summary="The page's strings in one language (en, zh-Hant)",
             responses=errors(404, 422))
    async def strings(name: str = PathParam(description="A language of the page.",
                                            json_schema_extra={"enum": list(LANGUAGES)})):
        if name not in LANGUAGES:
            raise HTTPException(404, f"No language {name!r}; expected one of {', '.join(LANGUAGES)}.")
        return _json(table(name))


# --------------------------------------------------------------------------- predictions
def _invalid(e: ValidationError, example: str) -> Response:
    """A body that is not the JSON the route takes: 422, one line naming the keys."""
    problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors()[:3])
    return _json({"detail": f"The body must be JSON like {example}; {problems}."}, 422)


EXAMPLE = {"image": '{"image": "<base64 PNG>"}', "table": '{"features": {"column": 1.0}}'}


def _predict_route(app: FastAPIOffline, predictor: Predictor, batcher: Batcher, decoding: SharedDecode,
                   placing: Space | None) -> None:
    """``POST /api/predict``; with ``placing`` (a run with a stored vector space) a body may ask
    ``"place": true`` to get the input's point and nearest test examples in the same answer (``space``),
    as the page does on every stroke: one request instead of two."""
    body = place_body(predict_body(predictor.preprocess), placing.names) if placing else predict_body(predictor.preprocess)

    @app.post("/api/predict", summary="Classify one input: classes, probabilities, confidence, "
              "'not sure' and the saliency map", responses=errors(413, 422), openapi_extra=body,
              include_in_schema=not predictor.language_model)
    async def predict(request: Request):
        # the body is parsed here rather than by FastAPI's dependency machinery: the hot path is
        # parse, decode, batch, answer, and every tenth of a millisecond is latency under load
        try:
            req = PredictRequest.model_validate_json(await request.body())
            if req.image is None:
                x = predictor.decode(req)
            else:  # an image may take a second to decode: off the event loop, so other requests go on
                x = await decoding(req)
        except ValidationError as e:
            return _invalid(e, EXAMPLE.get(predictor.kind, '{"text": "..."}'))
        except TooLarge as e:
            return _json({"detail": str(e)}, 413)
        except BadInput as e:
            return _json({"detail": str(e)}, 422)
        if not req.model_fields_set & {"place", "layer"}:
            return _json(await batcher(x))
        if placing is None:
            return _json({"detail": "This run has no stored vector space to place inputs in (space.safetensors); "
                          "send the body without \"place\" and \"layer\"."}, 422)
        try:
            placing.stage(req.layer)
        except ValueError as e:
            return _json({"detail": str(e)}, 422)
        return _json(await batcher((x, req.layer) if req.place else x))


# --------------------------------------------------------------------------- text from a language model
def _generate_route(app: FastAPIOffline, predictor: Predictor, batcher: Batcher) -> None:
    lm = predictor.language_model
    pattern = {"pattern": vocabulary_pattern(predictor.preprocess["vocab"])} if lm else None

    @app.get("/api/generate", summary="Stream text from a language model (text/event-stream)",
             response_class=EventStream, include_in_schema=lm, responses={**sse_responses(
                 ["message", "done"], "JSON: one character, then {} in the done event"), **errors(422)})
    async def generate(prompt: str = Query("", max_length=PROMPT_MAX, json_schema_extra=pattern,
                                           description="Text to continue, in the model's vocabulary."),
                       tokens: int = Query(300, ge=1, le=GENERATE_MAX_TOKENS, description="Characters to write."),
                       temperature: float = Query(0.8, ge=0.01, le=5, description="Sampling temperature "
                                                  "(lower: surer; below 0.01 the logits overflow)."),
                       seed: int = Query(0, ge=0, le=2**63 - 1, description="Seed of the sampler.")):
        from neuroplast.generate import generate_stream

        if not lm:
            return _json({"detail": "This run is not a character language model."}, 422)
        loop = asyncio.get_running_loop()
        try:  # the first character is drawn before the answer starts: a bad prompt is a 422, not a cut stream
            chars = generate_stream(predictor.run, prompt, tokens, temperature, None, seed)
            first = await loop.run_in_executor(batcher.pool, next, chars, None)
        except UserError as e:
            return _json({"detail": str(e)}, 422)

        async def events():
            ch = first
            while ch is not None:
                yield f"data: {json.dumps(ch)}\n\n"
                ch = await loop.run_in_executor(batcher.pool, next, chars, None)
            yield "event: done\ndata: {}\n\n"

        return EventStream(events())


# --------------------------------------------------------------------------- watch it learn
def _playground_routes(app: FastAPIOffline, playground: Playground) -> None:
    @app.post("/api/train", summary="Start a live training run of a shipped playground spec "
              "(one at a time: 409 while one runs)", status_code=202, openapi_extra=train_body(),
              responses={202: {"description": "Started; follow /api/train/events."}, **errors(409, 422)})
    async def train(request: Request):
        try:
            body = TrainRequest.model_validate_json(await request.body())
            run_id = playground.start(body.spec, body.epochs)
        except ValidationError as e:
            return _invalid(e, '{"spec": "digits-mlp", "epochs": 10}')
        except BadInput as e:
            return _json({"detail": str(e)}, 422)
        except RuntimeError:
            return _json({"detail": "A training run is already in progress; wait for it to "
                          "finish (GET /api/train/events)."}, 409)
        return _json({"run": run_id, "events": "/api/train/events"}, 202)

    @app.get("/api/train/events", summary="The live run's events (text/event-stream): start, one per "
             "epoch with losses, accuracy and first-layer images, then done or error",
             response_class=EventStream,
             responses={**sse_responses(["message"], "JSON: an event object with its type"), **errors()})
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

        return EventStream(events(), headers={"Cache-Control": "no-cache"})


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
    app = create_app(run_dir, token=token, lang=lang, host=host)
    torch.set_num_threads(1)  # small batches: a second intra-op thread only competes with the event loop
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(f"neuroplast: serving {Path(run_dir).name} on {where}" + (f"?token={token}" if token else ""),
          flush=True)
    if token:
        print("neuroplast: bound beyond loopback: every request needs that token.", flush=True)
    import gc

    gc.freeze()  # the model, torch and FastAPI live for the whole server: keep them out of the full GC passes
    uvicorn.Server(uvicorn_config(app, host, port)).run()  # with read deadlines and a connection cap
