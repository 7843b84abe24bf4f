"""Plots with translated axis words: a CJK font for matplotlib, when one is installed."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path

from neuroplast.see.pictures import plot
from neuroplast.see.report.context import Context


def plot_labels(ctx: Context) -> dict[str, str] | None:
    """Translated axis words for plots drawn in a non-English report, when matplotlib has a font with
    the language's characters (else None: the run folder's English PNGs are embedded as they are)."""
    if ctx.lang == "en" or cjk_font() is None:
        return None
    from neuroplast.plots import LABELS

    return {k: ctx.t(f"report.plot_{k}") for k in LABELS}


@functools.cache
def cjk_font() -> str | None:
    from matplotlib import font_manager

    wanted = ("Noto Sans CJK TC", "Noto Sans TC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Microsoft JhengHei",
              "PingFang TC", "Heiti TC", "AR PL UMing TW", "Noto Sans CJK JP", "Noto Sans CJK SC")
    names = {f.name for f in font_manager.fontManager.ttflist}
    if not any(n in names for n in wanted):  # matplotlib's font cache predates a font installed since
        for path in font_manager.findSystemFonts():
            if any(k in Path(path).name.lower() for k in ("wqy", "cjk", "notosanstc", "jhenghei", "pingfang", "uming")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError):
                    continue
        names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in wanted if n in names), None)


def plot_translated(draw: Callable[[io.BytesIO], None]) -> str:
    import matplotlib

    with matplotlib.rc_context({"font.family": [cjk_font(), "DejaVu Sans"]}):
        return plot(draw)
