"""schemathesis hooks (loaded with ``SCHEMATHESIS_HOOKS=schemathesis_hooks``): how to make a value of the
custom string format ``picture-base64`` that the ``/api/predict`` schema gives its ``image`` field.

JSON Schema cannot say "a PNG in which a digit can be found"; OpenAPI's custom formats exist for such
strings, and a fuzzer told how to make them sends pictures a person could send: a stroke of dark or light
ink, 3 to 8 pixels wide, on a plain ground of the other shade, 16 to 96 pixels a side, some with a
``data:`` URL prefix. Strings that are not such pictures still come from the negative phase, which
expects a 4xx."""

from __future__ import annotations

import base64
import io

import schemathesis
from hypothesis import strategies as st

FORMAT = "picture-base64"


@st.composite
def pictures(draw: st.DrawFn) -> str:
    from PIL import Image, ImageDraw

    width, height = draw(st.integers(16, 96)), draw(st.integers(16, 96))
    paper = draw(st.integers(150, 255))
    ink = draw(st.integers(0, paper - 120))
    if draw(st.booleans()):  # light ink on dark paper, as MNIST itself is
        paper, ink = 255 - paper, 255 - ink
    image = Image.new("L", (width, height), paper)
    points = [(draw(st.integers(2, width - 3)), draw(st.integers(2, height - 3))) for _ in range(draw(st.integers(2, 5)))]
    ImageDraw.Draw(image).line(points, fill=ink, width=draw(st.integers(3, 8)))
    if len(set(points)) == 1:  # a stroke of one point: a dot
        x, y = points[0]
        ImageDraw.Draw(image).ellipse((x - 2, y - 2, x + 2, y + 2), fill=ink)
    buf = io.BytesIO()
    image.convert(draw(st.sampled_from(["L", "RGB", "RGBA"]))).save(buf, format="PNG")
    text = base64.b64encode(buf.getvalue()).decode()
    return ("data:image/png;base64," + text) if draw(st.booleans()) else text


schemathesis.openapi.format(FORMAT, pictures())
