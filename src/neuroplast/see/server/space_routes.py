"""``POST /api/embed`` and ``GET /api/space``: where an input lands in the network's vector space, and the
stored test examples it lands among (:mod:`neuroplast.see.server.space`)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from neuroplast.see.server.batcher import Batcher
from neuroplast.see.server.constants import PROMPT_MAX
from neuroplast.see.server.decoding import SharedDecode
from neuroplast.see.server.predictor import BadInput, Predictor, PredictRequest, TooLarge
from neuroplast.see.server.schema import errors, predict_body, vocabulary_pattern
from neuroplast.see.server.space import Space

POINT = {"type": "object", "required": ["x", "y"], "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}
NEIGHBOUR = {"type": "object", "required": ["index", "label", "distance"], "properties": {
    "index": {"type": "integer", "minimum": 0, "description": "The test example's index in the test split."},
    "label": {"type": "string"}, "distance": {"type": "number", "minimum": 0},
    "thumbnail": {"type": "string", "description": "Image runs: the test example, a data: PNG URI."}}}
CHARACTER = {"type": "object", "required": ["char", "x", "y"], "properties": {
    "char": {"type": "string"}, "x": {"type": "number"}, "y": {"type": "number"}}}


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


def _ok(schema: dict[str, Any], description: str) -> dict[int, dict[str, Any]]:
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


def layer_field(layers: list[str]) -> dict[str, Any]:
    """The optional ``layer`` of a body: one of ``layers``, or null for the last hidden one."""
    return {"anyOf": [{"type": "string", "enum": layers}, {"type": "null"}],
            "description": "The stage (null or left out: the last hidden one)."}


def with_fields(body: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A copy of the request ``body`` whose every option also takes ``fields`` (name -> schema)."""
    body = copy.deepcopy(body)
    schema = body["requestBody"]["content"]["application/json"]["schema"]
    for option in schema.get("oneOf", [schema]):
        option["properties"].update(copy.deepcopy(fields))
    return body


def embed_body(preprocess: dict[str, Any], layers: list[str], vocab: list[str] | None) -> dict[str, Any]:
    """``/api/predict``'s body with an optional ``layer``, one of ``layers`` (a language model: a text in
    its vocabulary, at most :data:`PROMPT_MAX` characters)."""
    body = with_fields(predict_body(preprocess), {"layer": layer_field(layers)})
    if vocab is not None:
        schema = body["requestBody"]["content"]["application/json"]["schema"]
        schema["properties"]["text"].update({"pattern": vocabulary_pattern(vocab), "maxLength": PROMPT_MAX})
    return body


def place_body(body: dict[str, Any], layers: list[str]) -> dict[str, Any]:
    """``/api/predict``'s body with the optional ``place`` and ``layer`` of a run with a stored space."""
    place = {"type": "boolean", "default": False,
             "description": "Also answer where the input lands in the vector space (space: as /api/embed answers)."}
    return with_fields(body, {"place": place, "layer": layer_field(layers)})


MAPS = {"type": "object", "required": ["channels", "height", "width", "values"],
        "description": "A convolutional stage: the input's first feature maps, each scaled to 0-255 by its own range.",
        "properties": {"channels": {"type": "integer", "minimum": 1}, "height": {"type": "integer", "minimum": 1},
                       "width": {"type": "integer", "minimum": 1}, "values": {"type": "array", "items": {
                           "type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}}}}}


def embed_answer_schema(names: list[str]) -> dict[str, Any]:
    layer = {"type": "string", "enum": names}
    return {"type": "object", "required": ["layer", "layers"], "properties": {
        "layer": layer, "layers": {"type": "array", "items": layer}, "point": POINT, "maps": MAPS,
        "neighbours": {"type": "array", "items": NEIGHBOUR, "maxItems": 8},
        "characters": {"type": "array", "items": CHARACTER}}}


def map_schema(names: list[str]) -> dict[str, Any]:
    stage = {"type": "object", "required": ["name", "dims", "knn"], "properties": {
        "name": {"type": "string", "enum": names}, "dims": {"type": "integer", "minimum": 1},
        "knn": {"type": ["number", "null"], "minimum": 0, "maximum": 1}}}
    point = {"type": "object", "required": ["x", "y", "label", "wrong"], "properties": {
        "x": {"type": "number"}, "y": {"type": "number"}, "label": {"type": "string"}, "wrong": {"type": "boolean"}}}
    return {"type": "object", "required": ["layer", "method", "classes", "layers", "points"], "properties": {
        "layer": {"type": "string", "enum": names}, "method": {"type": "string", "enum": ["pca", "tsne"]},
        "classes": {"type": "array", "items": {"type": "string"}}, "layers": {"type": "array", "items": stage},
        "points": {"type": "array", "items": point}}}


def space_routes(app: Any, predictor: Predictor, batcher: Batcher, space: Space,
                 decoding: SharedDecode) -> None:
    """Add ``POST /api/embed`` and ``GET /api/space`` to ``app``; their forward passes share ``batcher``'s
    model thread (the stage hooks must not see another request's forward pass)."""
    placing = Batcher(space.answer, batcher.max_batch)
    placing.pool = batcher.pool
    names = space.names if space.available else []
    shown = space.available

    @app.post("/api/embed", summary="Where one input lands in the network's vector space: its 2-D point at a "
              "stage and its 8 nearest stored test examples", openapi_extra=embed_body(predictor.preprocess, names, space.vocab),
              responses={**_ok(embed_answer_schema(names), "The point and its neighbours."), **errors(404, 413, 422)},
              include_in_schema=shown)
    async def embed(request: Request):
        if not space.available:
            return _json({"detail": space.missing}, 404)
        try:
            req = PredictRequest.model_validate_json(await request.body())
            if "place" in req.model_fields_set:
                raise BadInput("/api/embed always places its input; \"place\" belongs to /api/predict.")
            space.stage(req.layer)
            if space.vocab is not None:
                if req.text is None or req.image is not None or req.pixels is not None or req.features is not None:
                    raise BadInput('A language model places the characters of a text: send {"text": "..."}.')
                if len(req.text) > PROMPT_MAX:
                    raise BadInput(f"text holds {len(req.text):,} characters; at most {PROMPT_MAX:,}.")
                return _json(space.characters(req.text))
            if req.image is None:
                x = predictor.decode(req)
            else:  # an image may take a second to decode: off the event loop
                x = await decoding(req)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors()[:3])
            return _json({"detail": f"The body must be JSON as /api/predict takes it, with an optional \"layer\"; "
                          f"{problems}."}, 422)
        except TooLarge as e:
            return _json({"detail": str(e)}, 413)
        except (BadInput, ValueError) as e:
            return _json({"detail": str(e)}, 422)
        return _json(await placing((x, req.layer)))

    @app.get("/api/space", summary="The stored test examples' 2-D points at one stage (x, y, label, wrong) "
             "and every stage's 5-NN accuracy", responses={**_ok(map_schema(names), "The map."), **errors(404, 422)},
             include_in_schema=shown)
    async def space_map(layer: str = Query(None, description="The stage (default: the last hidden one).",
                                                  json_schema_extra={"enum": names} if names else None)):
        if not space.available:
            return _json({"detail": space.missing}, 404)
        try:
            return Response(space.map_json(layer), media_type="application/json")
        except ValueError as e:
            return _json({"detail": str(e)}, 422)
