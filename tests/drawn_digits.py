"""Hand-made pen strokes for the digits 0-9, two styles each, as a person would draw them on the
page's canvas: polylines in a unit square (x right, y down). Used to draw on the page in a real
browser and to render test images of different sizes and positions."""

from __future__ import annotations

import math

Stroke = list[tuple[float, float]]


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = -math.pi / 2, turns: float = 1.0,
             n: int = 28) -> Stroke:
    return [(cx + rx * math.cos(start + 2 * math.pi * turns * i / n),
             cy + ry * math.sin(start + 2 * math.pi * turns * i / n)) for i in range(n + 1)]


def _eight(n: int = 40) -> Stroke:
    return [(0.5 + 0.3 * math.sin(2 * t), 0.5 + 0.45 * math.sin(t))
            for t in (2 * math.pi * i / n for i in range(n + 1))]


def _slant(strokes: list[Stroke], k: float = 0.18) -> list[Stroke]:
    return [[(x + k * (0.5 - y), y) for x, y in s] for s in strokes]


PLAIN: dict[int, list[Stroke]] = {
    0: [_ellipse(0.5, 0.5, 0.3, 0.45)],
    1: [[(0.5, 0.05), (0.5, 0.95)]],
    2: [[(0.2, 0.3), (0.3, 0.12), (0.5, 0.05), (0.7, 0.12), (0.78, 0.3), (0.7, 0.5), (0.2, 0.95), (0.85, 0.95)]],
    3: [[(0.2, 0.15), (0.45, 0.05), (0.7, 0.12), (0.75, 0.3), (0.45, 0.48), (0.75, 0.62), (0.78, 0.8),
         (0.5, 0.95), (0.2, 0.88)]],
    4: [[(0.6, 0.05), (0.15, 0.65), (0.85, 0.65)], [(0.62, 0.3), (0.62, 0.95)]],
    5: [[(0.75, 0.05), (0.27, 0.05), (0.22, 0.45), (0.5, 0.38), (0.75, 0.5), (0.78, 0.72), (0.6, 0.92),
         (0.35, 0.95), (0.18, 0.85)]],
    6: [[(0.7, 0.08), (0.45, 0.1), (0.28, 0.35), (0.22, 0.65), (0.35, 0.9), (0.6, 0.92), (0.75, 0.75),
         (0.65, 0.55), (0.4, 0.52), (0.25, 0.65)]],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
    8: [_eight()],
    9: [[(0.68, 0.2)] + _ellipse(0.45, 0.28, 0.23, 0.23, start=-0.3, turns=1.0)[1:] + [(0.66, 0.4), (0.6, 0.95)]],
}

# A second hand: slanted, and drawn a little differently.
SECOND: dict[int, list[Stroke]] = {
    0: _slant([_ellipse(0.5, 0.5, 0.25, 0.45, start=math.pi / 2)]),
    1: _slant([[(0.35, 0.2), (0.52, 0.05), (0.52, 0.95)]]),
    2: _slant([[(0.2, 0.25), (0.4, 0.07), (0.65, 0.08), (0.75, 0.28), (0.55, 0.6), (0.25, 0.92), (0.8, 0.9)]]),
    3: _slant([[(0.2, 0.1), (0.75, 0.1), (0.45, 0.42), (0.72, 0.55), (0.75, 0.8), (0.5, 0.95), (0.2, 0.85)]]),
    4: _slant([[(0.25, 0.05), (0.22, 0.55), (0.8, 0.55)], [(0.68, 0.05), (0.68, 0.95)]]),
    5: _slant([[(0.3, 0.06), (0.25, 0.45), (0.55, 0.4), (0.75, 0.6), (0.65, 0.9), (0.2, 0.9)],
               [(0.3, 0.06), (0.8, 0.06)]]),
    6: _slant([[(0.65, 0.05), (0.3, 0.45), (0.25, 0.75), (0.45, 0.95), (0.7, 0.8), (0.6, 0.55), (0.3, 0.65)]]),
    7: _slant([[(0.2, 0.1), (0.8, 0.1), (0.6, 0.45), (0.5, 0.95)]]),
    8: _slant([_eight()], 0.12),
    9: _slant([[(0.7, 0.15), (0.45, 0.05), (0.25, 0.2), (0.3, 0.42), (0.55, 0.45), (0.7, 0.15), (0.68, 0.95)]]),
}


def placed(strokes: list[Stroke], size: float, left: float, top: float) -> list[Stroke]:
    """Strokes scaled to a ``size``-pixel box whose top-left corner is at (left, top)."""
    return [[(left + size * x, top + size * y) for x, y in s] for s in strokes]


def render(strokes: list[Stroke], canvas: int = 280, width: int = 18):
    """Black round-capped strokes on white, as the page's canvas draws them (a PIL image)."""
    from PIL import Image, ImageDraw

    im = Image.new("L", (canvas, canvas), 255)
    d = ImageDraw.Draw(im)
    for s in strokes:
        d.line(s, fill=0, width=width, joint="curve")
        for x, y in (s[0], s[-1]):
            d.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=0)
    return im


def twenty() -> list[tuple[int, list[Stroke]]]:
    """The 20 test drawings: each digit in both hands, off-centre and at different sizes on a
    280x280 canvas (sizes 100-220 px, corners spread over the canvas)."""
    out = []
    for i, (digit, hand) in enumerate((d, h) for d in range(10) for h in (PLAIN, SECOND)):
        size = 100 + (i * 37) % 121  # 100..220
        room = 280 - size - 10
        left = 5 + (i * 53) % max(1, room)
        top = 5 + (i * 29 + 17) % max(1, room)
        out.append((digit, placed(hand[digit], size, left, top)))
    return out
