"""The vector space section: where the test examples lie after each block of the network, in 2-D, and how
well the classes separate there (leave-one-out 5-nearest-neighbour accuracy, from the input to the output)."""

from __future__ import annotations

from collections.abc import Callable

from neuroplast.see.pictures import plot, space_plot
from neuroplast.see.report.context import Context
from neuroplast.see.report.render import Section, figure, integer, note, table

MAX_STAGES = 8  # the input, the output and up to six blocks between


def _space(ctx: Context) -> Section | None:
    if (ctx.task != "classification" or ctx.run is None or ctx.preprocess.get("kind") not in ("image", "table")
            or (p := ctx.predictions()) is None or len(p[1]) <= 5):
        return None
    from neuroplast.trust.space import knn_accuracy, project, representations

    x, y, out = p
    wrong = (ctx.run.objective.predict(out) != y).numpy()
    stages = list(representations(ctx.run.model, x).items())
    stages = stages if len(stages) <= MAX_STAGES else [*stages[:MAX_STAGES - 1], stages[-1]]
    rows, items = [], []
    for name, vectors in stages:
        label = ctx.t(f"report.space_{name}") if name in ("input", "output") else name
        rows.append([label, integer(vectors.shape[1]), f"{knn_accuracy(vectors, y):.4f}"])
        coords = project(vectors)[0].numpy()
        items.append(figure(plot(lambda buf, c=coords: space_plot(c, y.numpy(), wrong, buf, ctx.class_names)),
                            label, ctx.t("report.space_alt", layer=label)))
    head = [ctx.t("report.space_stage"), ctx.t("report.space_dims"), ctx.t("report.space_knn")]
    return Section("space", ctx.t("report.space"), [
        note(ctx.t("report.space_intro", which=ctx.examples(len(y)))),
        table(head, rows, id="space-table"),
        {"kind": "gallery", "items": items, "id": "space-gallery", "wide": True}])


SECTIONS: list[Callable[[Context], Section | None]] = [_space]
