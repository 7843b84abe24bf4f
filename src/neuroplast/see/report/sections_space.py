"""The vector space section: where the test examples lie after each block of the network, in 2-D, and how
well the classes separate there (leave-one-out 5-nearest-neighbour accuracy, from the input to the output).

It reads the space stored with the run (``space.safetensors``, :mod:`neuroplast.stages.space`) and
computes it from the model and the test split only when the folder has none (a run made before the file
existed, a stage folder) or the file is damaged (a warning names it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from neuroplast.see.pictures import plot, space_plot
from neuroplast.see.report.context import Context, first_line
from neuroplast.see.report.render import Section, figure, integer, note, table

log = logging.getLogger(__name__)


def _stored(ctx: Context) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, str, str] | None:
    """``(stages with their points, labels, wrong, which, method)`` from the folder's space file, or None."""
    from neuroplast.runfiles import SPACE, read_space

    if not (ctx.dir / SPACE).is_file():
        return None
    try:
        meta, t = read_space(ctx.dir, num_classes=ctx.info.get("num_outputs"))
    except Exception as e:  # noqa: BLE001  (a damaged by-product: computed again, said in the log)
        log.warning("report: could not read %s: %s; the vector space is computed again", SPACE, first_line(e))
        return None
    stages = [{**s, "points": t[f"stage{i}.points"].numpy()} for i, s in enumerate(meta["stages"])]
    n, total = meta["examples"], meta["test_examples"]
    which = (ctx.t("report.examples_first", count=f"{n:,}", total=f"{total:,}") if total > n
             else ctx.t("report.examples_all", count=f"{n:,}"))
    y = t["labels"].numpy()
    return stages, y, (t["predicted"].numpy() != y), which, meta["method"]


def _computed(ctx: Context) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray, str, str] | None:
    """The same, computed now from the model and the first test examples."""
    if (p := ctx.predictions()) is None or len(p[1]) <= 5:
        return None
    from neuroplast.trust.space import chosen_stages, knn_accuracy, project, representations

    x, y, out = p
    wrong = (ctx.run.objective.predict(out) != y).numpy()
    stages = [{"name": name, "dims": int(v.shape[1]), "knn": knn_accuracy(v, y), "points": project(v)[0].numpy()}
              for name, v in chosen_stages(representations(ctx.run.model, x))]
    return stages, y.numpy(), wrong, ctx.examples(len(y)), "pca"


def _space(ctx: Context) -> Section | None:
    if ctx.task != "classification" or ctx.run is None or ctx.preprocess.get("kind") not in ("image", "table"):
        return None
    found = _stored(ctx) or _computed(ctx)
    if found is None:
        return None
    stages, y, wrong, which, method = found
    rows, items = [], []
    for s in stages:
        name = s["name"]
        label = ctx.t(f"report.space_{name}") if name in ("input", "output") else name
        rows.append([label, integer(s["dims"]), "" if s["knn"] is None else f"{s['knn']:.4f}"])
        items.append(figure(plot(lambda buf, c=s["points"]: space_plot(c, y, wrong, buf, ctx.class_names)),
                            label, ctx.t("report.space_alt", layer=label)))
    head = [ctx.t("report.space_stage"), ctx.t("report.space_dims"), ctx.t("report.space_knn")]
    intro = ctx.t("report.space_intro", which=which)
    if method == "tsne":
        intro += " " + ctx.t("report.space_tsne")
    return Section("space", ctx.t("report.space"), [
        note(intro), table(head, rows, id="space-table"),
        {"kind": "gallery", "items": items, "id": "space-gallery", "wide": True}])


SECTIONS: list[Callable[[Context], Section | None]] = [_space]
