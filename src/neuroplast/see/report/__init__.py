"""``report.html``: one self-contained, offline page that tells the story of a run folder.

The page is built from what the folder holds (``metrics.json``, ``model.json``, ``spec.toml``,
``history.csv``, the PNG plots and the stage sub-folders ``calibrated-*``, ``explain-*``,
``pruned-*``) plus a few cheap views computed from the saved model on at most
:data:`~neuroplast.see.report.context.MAX_EXAMPLES` test examples. A section appears only when its
data exists. Every picture is an embedded ``data:`` PNG and the CSS is inline: the file opens with no
network. Every word on it comes from the language tables (``see/locales/<lang>.json``); plots
carry numbers only.

The modules: :mod:`.context` reads the folder once, :mod:`.sections_run`, :mod:`.sections_stages`,
:mod:`.sections_layers`, :mod:`.sections_space` and :mod:`.sections_tokens` build the sections (put in
reading order by :func:`in_reading_order`), :mod:`.fonts` finds a CJK font for translated plots and
:mod:`.render` turns blocks into the page.

Example:
    >>> from neuroplast.see.report import write_report
    >>> write_report("runs/digits-cnn-20261123-101500", lang="zh-Hant")
    PosixPath('runs/digits-cnn-20261123-101500/report.html')
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from neuroplast import rundir
from neuroplast.data import Dataset
from neuroplast.errors import UserError, check_output
from neuroplast.io import atomic_write
from neuroplast.rundir import Run
from neuroplast.see.locale import table
from neuroplast.see.report import (
    sections_layers,
    sections_run,
    sections_space,
    sections_stages,
    sections_tokens,
)
from neuroplast.see.report.context import Context, first_line
from neuroplast.see.report.fonts import cjk_font_missing
from neuroplast.see.report.render import Section, fit_size, note

__all__ = ["rewrite_report", "write_report", "write_report_safely"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- public entry points
def write_report(run_dir: str | Path, lang: str = "en", out: str | Path | None = None, *,
                 run: Run | None = None, data: Dataset | None = None) -> Path:
    """Write ``report.html`` for a run folder and return its path.

    Args:
        run_dir: a folder written by ``neuroplast run``, ``prune`` or ``calibrate``.
        lang: ``"en"`` or ``"zh-Hant"``.
        out: the file to write (default ``run_dir/report.html``).
        run: the folder's already loaded :class:`~neuroplast.rundir.Run` (saves reading it again).
        data: its already loaded :class:`~neuroplast.data.Dataset` (saves reloading the data).

    Raises:
        UserError: ``run_dir`` is not a run folder, or ``lang`` is unknown.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not ((run_dir / rundir.METRICS).is_file() or (run_dir / rundir.MODEL_INFO).is_file()):
        raise UserError(f"{run_dir} is not a neuroplast run folder (no metrics.json or model.json). Pass the "
                        "folder that `neuroplast run` printed.")
    table(lang)  # an unknown language fails here, before any work
    if out is not None:
        check_output(out, "file", "report.html")
    started, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(1)  # the report's tensors are tiny: more threads only spin
    try:
        ctx = Context.read(run_dir, lang, run, data)
        if cjk_font_missing(lang):  # warns once per process; the page says it too
            ctx.notes["font"] = ctx.t("report.no_cjk_font")
        sections = in_reading_order([s for build in SECTIONS if (s := _build(build, ctx)) is not None])
    finally:
        torch.set_num_threads(threads)
    html = fit_size(ctx, sections)
    path = Path(out) if out is not None else run_dir / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: p.write_text(html, encoding="utf-8"))
    log.info("wrote %s (%.0f kB) in %.2f s", path, len(html) / 1e3, time.perf_counter() - started)
    return path


def write_report_safely(run_dir: str | Path, **options: Any) -> Path | None:
    """:func:`write_report`, but a failure is logged as a warning and gives None: the training,
    pruning or calibration whose folder it describes is already saved and must not be lost."""
    try:
        return write_report(run_dir, **options)
    except Exception as e:  # noqa: BLE001  (any failure: the report is a by-product)
        log.warning("could not write %s: %s: %s", Path(run_dir) / "report.html", type(e).__name__, e)
        return None


def rewrite_report(run_dir: str | Path, data: Dataset | None = None) -> Path | None:
    """Rewrite ``run_dir/report.html`` in the language it was written in, if it exists (after a
    stage added a sub-folder to the run, e.g. ``neuroplast explain``); ``data``: the run's already
    loaded dataset."""
    path = Path(run_dir) / "report.html"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(500)
    except OSError:  # no report yet (e.g. during training: it is written at the end)
        return None
    found = re.search(r'<html lang="([\w-]+)"', head)
    lang = found.group(1) if found and found.group(1) in ("en", "zh-Hant") else "en"
    return write_report_safely(run_dir, lang=lang, data=data)


SECTIONS: list[Callable[[Context], Section | None]] = [
    *sections_run.SECTIONS, *sections_stages.SECTIONS, *sections_layers.SECTIONS, *sections_space.SECTIONS,
    *sections_tokens.SECTIONS,
]
# What a person looks at first leads the page: the headline metric, the learning curves, the confusion
# matrix (or the forecast), a few predictions with their pictures; long tables come last.
FIRST = ("overview", "learning-curves", "confusion-matrix", "regression", "predictions", "generated-text")
LAST = ("data", "layers", "receptive-fields", "attention", "model", "spec", "environment")


def in_reading_order(sections: list[Section]) -> list[Section]:
    """``sections`` with the ids of :data:`FIRST` first and those of :data:`LAST` last, each in that order;
    the others between, in the order they were built."""
    def rank(item: tuple[int, Section]) -> tuple[int, int]:
        built, s = item
        if s.id in FIRST:
            return 0, FIRST.index(s.id)
        return (2, LAST.index(s.id)) if s.id in LAST else (1, built)

    return [s for _, s in sorted(enumerate(sections), key=rank)]


def _build(build: Callable[[Context], Section | None], ctx: Context) -> Section | None:
    """One section; a failure becomes a note on the page (and a log line), not a lost report."""
    try:
        return build(ctx)
    except Exception as e:  # noqa: BLE001
        log.warning("report section %s failed: %s: %s", build.__name__.strip("_"), type(e).__name__, e)
        return Section(build.__name__.strip("_").replace("_", "-"), ctx.t("report.section_failed_title"),
                       [note(ctx.t("report.section_failed", error=first_line(e)))])
