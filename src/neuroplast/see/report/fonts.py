"""Plots with translated axis words: a CJK font for matplotlib, when one is installed; without one,
a warning (once per process) and a note on the page name the fix."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable
from pathlib import Path

from neuroplast.see.pictures import plot
from neuroplast.see.report.context import Context

FONT_PACKAGE = "fonts-wqy-microhei"  # the CJK font CI installs (Debian/Ubuntu package)
log = logging.getLogger(__name__)


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


def cjk_font_missing(lang: str) -> bool:
    """True when a report in ``lang`` would translate its plots but matplotlib has no CJK font; the
    first time in a process, a warning on the terminal says so and names the fix."""
    if lang == "en" or cjk_font() is not None:
        return False
    warn_no_cjk_font()
    return True


@functools.cache
def warn_no_cjk_font() -> None:
    """The warning :func:`cjk_font_missing` logs, once per process (``cache_clear()`` re-arms it)."""
    log.warning("no CJK font found for matplotlib: the plots of this report keep their English words (Chinese "
                "characters would be empty boxes). Install a CJK font, e.g. `sudo apt-get install %s` on "
                "Debian/Ubuntu, and write the report again.", FONT_PACKAGE)
