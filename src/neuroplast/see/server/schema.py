"""The OpenAPI schema told as the server answers: one error model (``{"detail": "one line"}``) for every
4xx, the codes each route can send, request bodies and parameters narrowed to what this run accepts
(the model's own pixel grid, the language model's vocabulary, the playground's specs and epoch bounds),
and ``text/event-stream`` for the streams."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from neuroplast.see.server.constants import MAX_BODY, PLAYGROUND

PICTURE = "picture-base64"  # OpenAPI's custom string format for an image field (tests/see/schemathesis_hooks.py)


class Problem(BaseModel):
    """Every refusal: one line saying what was wrong and how to fix it."""

    detail: str = Field(description="What was received, what was expected and how to fix it.")


WHY = {
    400: "The Host header names no address this server answers to (DNS rebinding is refused).",
    401: "A token is required (a server bound beyond loopback) and was missing or wrong.",
    404: "No such item.",
    409: "A training run is already in progress.",
    413: f"The request body is over the {MAX_BODY:,}-byte limit, or the image over 4096x4096 pixels.",
    422: "The request does not fit what this model takes; the detail says what and how to fix it.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: 400 and 401 (the guard, on every route) and ``codes``, each a
    :class:`Problem`."""
    problem = {"application/json": {"schema": Problem.model_json_schema()}}  # JSON on the streams' routes too
    return {code: {"description": WHY[code], "content": problem} for code in sorted({400, 401, *codes})}


class EventStream(StreamingResponse):
    """A server-sent event stream: documented as ``text/event-stream``."""

    media_type = "text/event-stream"


def sse_responses(names: list[str], data: str) -> dict[int, dict[str, Any]]:
    """The 200 answer of a stream: server-sent events named ``names`` ("message" when unnamed), each
    with one ``data:`` line (``data`` says what it holds)."""
    event = {"type": "object", "required": ["data"], "additionalProperties": True,
             "properties": {"event": {"type": "string", "enum": names},
                            "data": {"type": "string", "description": data}}}
    return {200: {"description": "Server-sent events (text/event-stream).",
                  "content": {"text/event-stream": {"schema": event}}}}


async def one_line_422(_: Request, exc: RequestValidationError) -> Response:
    """FastAPI's own validation errors as the app's other 422s: one line in ``detail`` (not a list)."""
    import orjson

    problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}"
                         for err in exc.errors()[:3])
    return Response(orjson.dumps({"detail": f"Invalid request: {problems}."}), status_code=422,
                    media_type="application/json")


def predict_body(preprocess: dict[str, Any]) -> dict[str, Any]:
    """The ``/api/predict`` request body that a model with this ``preprocess.json`` takes: exactly one field
    (an image model's own pixel grid; a table model's feature columns, each required)."""
    kind, shape = preprocess["kind"], preprocess.get("shape", [1, 1, 1])

    def one(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": [name], "properties": {name: schema}, "additionalProperties": False}

    if kind == "image":
        height, width = shape[-2:]
        row = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1},
               "minItems": width, "maxItems": width}
        options = [one("image", {"type": "string", "format": PICTURE, "contentEncoding": "base64",
                                 "contentMediaType": "image/png",
                                 "description": "A PNG or JPEG, base64 (a data: URL is fine); at most "
                                 "4096x4096 pixels. Format picture-base64: a picture of the model's subject "
                                 "(for a digit model, dark ink on light paper or the reverse); a blank, "
                                 "uniform or undecodable picture gets 422 with the reason."}),
                   one("pixels", {"type": "array", "items": row, "minItems": height, "maxItems": height,
                                  "description": f"The model's own {height}x{width} grid of grayscale values "
                                  "in [0, 1], taken as is."})]
    elif kind == "table":
        columns = [c for c in preprocess.get("columns", []) if c["type"] != "dropped"]
        value = {"numeric": {"type": ["number", "null"]}}  # null: a missing cell (the training mean)
        options = [one("features", {"type": "object", "required": [c["name"] for c in columns],
                                    "additionalProperties": {"type": ["string", "number", "null"]},
                                    "properties": {c["name"]: value.get(c["type"], {"type": ["string", "number", "null"]})
                                                   for c in columns},
                                    "description": "Column -> value (every feature column; others are ignored)."})]
    else:
        options = [one("text", {"type": "string", "description": "The text to classify."})]
    schema = options[0] if len(options) == 1 else {"oneOf": options}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def vocabulary_pattern(vocab: list[str]) -> str:
    """A regular expression for strings made only of ``vocab``'s characters."""
    special = {"\\": "\\\\", "]": "\\]", "[": "\\[", "^": "\\^", "-": "\\-", "\n": "\\n", "\r": "\\r",
               "\t": "\\t"}
    return "^[" + "".join(special.get(c, c) for c in vocab if len(c) == 1) + "]*$"


def train_body() -> dict[str, Any]:
    """The ``/api/train`` body: one shipped playground spec and its own epoch bound."""
    options = [{"type": "object", "required": ["spec"], "additionalProperties": False,
                "properties": {"spec": {"type": "string", "enum": [name]},
                               "epochs": {"type": "integer", "minimum": 1, "maximum": bound["max_epochs"],
                                          "default": 10}}}
               for name, bound in PLAYGROUND.items()]
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": options}}}}}
