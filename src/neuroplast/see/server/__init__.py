"""``neuroplast serve RUN_DIR``: one local page and a JSON API around a trained run.

The page (``static/index.html``, plain JS and canvas) lets a person draw a digit and watch the network
answer — the input it really receives, the probabilities, the calibrated confidence with "not sure",
and the saliency map — fill in a table row, or type a prompt and watch a language model write. It can
also train one of the shipped specs live ("watch it learn"), streaming the loss, accuracy and first
layer as server-sent events.

API: ``POST /api/predict``, ``POST /api/embed`` (where the input lands in the run's stored vector space,
with its 8 nearest test examples), ``GET /api/space`` (the stored test points of one layer),
``GET /api/model``, ``GET /api/strings/{lang}``, ``GET /api/generate``
(text/event-stream), ``POST /api/train`` and ``GET /api/train/events`` (text/event-stream); the
OpenAPI schema at ``/docs`` (it lists what this run serves, every error as ``{"detail": "one line"}``).
Bodies over 1 MB get 413, images over 4096x4096 pixels too (read on the header, before decoding). Bound to a
non-loopback address, every request needs the token printed at start-up (as Jupyter does): ``?token=``,
``Authorization: Bearer`` or the cookie the page gets when opened with ``?token=``. A Host header naming
another host gets 400 (DNS rebinding); a request not fully received 10 s after its first byte is cut off.

Requests to ``/api/predict`` (and ``/api/embed``) are batched: those that arrive while the model is busy
are answered by one forward and one backward pass, so many concurrent clients cost little more than one;
a picture sent to both routes at once (the page does, on every stroke) is decoded once.
"""

from neuroplast.see.server.app import create_app, is_loopback, serve
from neuroplast.see.server.batcher import Batcher
from neuroplast.see.server.constants import (
    GENERATE_MAX_TOKENS,
    MAX_BATCH,
    MAX_BODY,
    PLAYGROUND,
    TOKEN_COOKIE,
)
from neuroplast.see.server.guard import Guard
from neuroplast.see.server.playground import Playground, TrainRequest, first_layer_images
from neuroplast.see.server.predictor import BadInput, Predictor, PredictRequest

__all__ = [
    "GENERATE_MAX_TOKENS", "MAX_BATCH", "MAX_BODY", "PLAYGROUND", "TOKEN_COOKIE",
    "BadInput", "Batcher", "Guard", "Playground", "PredictRequest", "Predictor", "TrainRequest",
    "create_app", "first_layer_images", "is_loopback", "serve",
]
