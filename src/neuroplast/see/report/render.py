"""The page: sections of blocks, rendered by the Jinja template ``static/report.html.j2`` and kept
under :data:`MAX_BYTES`; the block constructors and the number formats every section uses."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from neuroplast.see.report.context import Context

MAX_BYTES = 5_000_000  # the page's size limit; the largest pictures are left out beyond it
TEMPLATE = "report.html.j2"

Block = dict[str, Any]  # {"kind": "kv" | "table" | "figure" | "gallery" | "pre" | "note" | "link", ...}


@dataclass
class Section:
    """One titled part of the page: an anchor id, a translated title and its blocks."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

# --------------------------------------------------------------------------- page
def render(ctx: Context, sections: list[Section]) -> str:
    import jinja2

    source = (resources.files("neuroplast.see") / "static" / TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    name = ctx.metrics.get("name") or ctx.dir.name
    date = (ctx.metrics.get("finished") or "").replace("T", " ")[:16]
    date = date or time.strftime("%Y-%m-%d %H:%M", time.localtime(ctx.dir.stat().st_mtime))
    return env.from_string(source).render(
        lang=ctx.lang, title=ctx.t("report.title", name=name),
        subtitle=ctx.t("report.subtitle", task=ctx.word("task", ctx.task), date=date),
        contents=ctx.t("report.contents"), footer=ctx.t("report.footer", folder=ctx.dir.name), sections=sections)


def fit_size(ctx: Context, sections: list[Section]) -> str:
    """The page; while it is over :data:`MAX_BYTES`, the largest picture gives way to a note."""
    html = render(ctx, sections)
    figures = [b for s in sections for blk in s.blocks
               for b in ([blk] if blk["kind"] == "figure" else blk.get("items", []))]
    figures.sort(key=lambda f: len(f["src"]), reverse=True)
    for fig in figures:
        if len(html.encode()) <= MAX_BYTES:
            break
        fig.update(src="", caption=ctx.t("report.figure_left_out"))
        html = render(ctx, sections)
    return html


# --------------------------------------------------------------------------- blocks
def kv(rows: list[tuple[str, Any]]) -> Block:
    return {"kind": "kv", "rows": [(str(k), "" if v is None else str(v)) for k, v in rows]}


def table(head: list[str], rows: list[list[Any]], id: str = "", scroll: bool = False) -> Block:
    return {"kind": "table", "head": head, "rows": [[str(c) for c in r] for r in rows], "id": id, "scroll": scroll}


def figure(src: str, caption: str, alt: str, id: str = "", pixelated: bool = False) -> Block:
    return {"kind": "figure", "src": src, "caption": caption, "alt": alt, "id": id, "pixelated": pixelated}


def note(text: str) -> Block:
    return {"kind": "note", "text": text}


def link(ctx: Context, folder: Path) -> Block:
    """A relative link to a stage folder's own report (a local file, no network): inside the run, or
    beside it for folders written before :func:`neuroplast.rundir.stage_dir`'s rule."""
    return {"kind": "link", "href": Path(os.path.relpath(folder, ctx.dir), "report.html").as_posix(),
            "text": ctx.t("report.stage_folder", folder=folder.name)}


def decode(preprocess: dict[str, Any], ids: torch.Tensor) -> str:
    """Token ids back to text (characters joined, words spaced; padding dropped); hashed n-grams keep no
    text to show (a note says so)."""
    if "vocab" not in preprocess:
        return "(hashed word and character n-grams: the text itself is not kept)"
    vocab = preprocess["vocab"]
    tokens = [vocab[i] for i in ids.tolist() if 0 <= i < len(vocab) and vocab[i] != "<pad>"]
    return ("" if preprocess.get("mode") == "chars" or preprocess.get("tokens") == "char" else " ").join(tokens)


def num(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, int) and not isinstance(v, bool):
        return integer(v)
    v = float(v)
    plain = v == 0 or (math.isfinite(v) and 1e-3 <= abs(v) < 1e4)
    return f"{v:.{digits}f}" if plain else f"{v:.{digits}g}"


def integer(v: Any) -> str:
    return "" if v is None else f"{round(float(v)):,}"
