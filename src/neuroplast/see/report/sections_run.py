"""The sections about the run itself: overview, environment, spec, data, model, learning curves,
confusion matrix, per-class metrics, mistakes, regression and generated text."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from neuroplast.data.columns import feature_names
from neuroplast.see.pictures import file_uri, image, plot, png, scatter
from neuroplast.see.report.context import Context, first_line
from neuroplast.see.report.fonts import plot_labels, plot_translated
from neuroplast.see.report.render import (
    Block,
    Section,
    decode,
    figure,
    integer,
    kv,
    note,
    num,
    table,
)

NUM_SAMPLES = 16  # sample inputs shown
NUM_MISTAKES = 8  # most confident mistakes shown
NUM_PREDICTIONS = 8  # first test examples shown with their predictions
ROUND_WORDS = {"round": "round", "fine_tuning_epoch": "fine-tuning epoch, all rounds in order"}
FORECAST_WORDS = {"actual": "actual", "forecast": "forecast", "test_step": "test step", "value": "value"}


def _overview(ctx: Context) -> Section:
    s = Section("overview", ctx.t("report.overview"))
    m = ctx.metrics
    rows = [(ctx.t("report.name"), m.get("name", ctx.dir.name)), (ctx.t("report.task"), ctx.word("task", ctx.task)),
            (ctx.t("report.family"), ctx.info.get("family", (m.get("model") or {}).get("family", ""))),
            (ctx.t("report.parameters"), integer((m.get("model") or {}).get("parameters")))]
    if "parent" in m:
        rows.append((ctx.t("report.parent"), m["parent"]))
    s.blocks.append(kv(rows))
    splits = [k for k in ("test", "val") if m.get(k)]
    keys = [k for k in ("accuracy", "loss", "bits_per_char", "rmse", "mae", "r2", "nll", "brier", "ece")
            if any(k in m[sp] for sp in splits)]
    if keys:
        s.blocks.append(table([ctx.t("report.split")] + [ctx.word("metric", k) for k in keys],
                              [[ctx.word("split", sp)] + [num(m[sp].get(k)) for k in keys] for sp in splits],
                              id="headline"))
    if "font" in ctx.notes:  # a zh-Hant report without a CJK font: its plots stay in English
        s.blocks.append(note(ctx.notes["font"]))
    return s


def _environment(ctx: Context) -> Section | None:
    m, tr = ctx.metrics, ctx.metrics.get("train") or {}
    rows = [(ctx.t("report.device"), m.get("device")), (ctx.t("report.seed"), m.get("seed")),
            (ctx.t("report.threads"), m.get("threads")), (ctx.t("report.processes"), m.get("processes")),
            (ctx.t("report.epochs"), tr.get("epochs")), (ctx.t("report.best_epoch"), m.get("best_epoch")),
            (ctx.t("report.train_seconds"), num(tr.get("seconds"), 3)),
            (ctx.t("report.samples_per_second"), integer(tr.get("samples_per_second"))),
            (ctx.t("report.finished"), (m.get("finished") or "").replace("T", " ")[:16])]
    rows += [(name, version) for name, version in (m.get("versions") or {}).items()]
    rows = [(k, v) for k, v in rows if v not in (None, "")]
    return Section("environment", ctx.t("report.environment"), [kv(rows)]) if rows else None


def _spec(ctx: Context) -> Section | None:
    """The resolved spec, less the data keys its source does not read (an 8x8 digits run has no use for
    ``image_size``, ``tokens`` or ``window``), which a note names."""
    if ctx.spec_text is None:
        return None
    text, unread = read_keys_only(ctx.spec_text)
    blocks: list[Block] = [{"kind": "pre", "text": text, "id": "spec-toml"}]
    if unread:
        blocks.append(note(ctx.t("report.spec_unread", keys=", ".join(f"data.{k}" for k in unread))))
    return Section("spec", ctx.t("report.spec"), blocks)


def read_keys_only(spec_text: str) -> tuple[str, list[str]]:
    """``spec.toml`` without the data keys its source does not read (see ``neuroplast.data.base.READERS``),
    and those keys; the text unchanged when it is not valid TOML."""
    import tomllib

    import tomli_w

    from neuroplast.data.base import READERS

    try:
        raw = tomllib.loads(spec_text)
    except tomllib.TOMLDecodeError:
        return spec_text, []
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    unread = [k for k, readers in READERS.items() if k in data and data.get("source") not in readers]
    if not unread:
        return spec_text, []
    for key in unread:
        del data[key]
    return tomli_w.dumps(raw), unread


def _data(ctx: Context) -> Section:
    s = Section("data", ctx.t("report.data"))
    d, names = ctx.metrics.get("data") or {}, ctx.class_names
    rows = [(ctx.t("report.source"), d.get("source")), (ctx.t("report.task"), ctx.word("task", ctx.task)),
            (ctx.t("report.input_shape"), " × ".join(map(str, ctx.info.get("input_shape", []))))]
    if ctx.info.get("vocab_size"):
        rows.append((ctx.t("report.vocab_size"), ctx.info["vocab_size"]))
    elif names:
        rows.append((ctx.t("report.classes"), ", ".join(names[:50]) + (" …" if len(names) > 50 else "")))
    rows += [(ctx.t("report.split_size", split=ctx.word("split", k)), integer(d[k])) for k in ("train", "val", "test")
             if d.get(k)]
    s.blocks.append(kv([(k, v) for k, v in rows if v not in (None, "")]))
    if ctx.preprocess.get("kind") == "table" and ctx.preprocess.get("columns"):
        s.blocks += _roles(ctx, ctx.preprocess["columns"])
    if "data" in ctx.notes:
        s.blocks.append(note(ctx.notes["data"]))
    elif ctx.data is not None:
        s.blocks += _samples(ctx)
    return s


def _roles(ctx: Context, columns: list[dict[str, Any]]) -> list[Block]:
    """The column-role table said at the start of training: each column, its role, its features, why."""
    head = [ctx.t(f"report.roles_{k}") for k in ("column", "role", "features", "note")]
    rows = [[c["name"], c.get("role", c["type"]), integer(len(feature_names([c]))), c.get("note", "")] for c in columns]
    return [{"kind": "h3", "text": ctx.t("report.roles")}, table(head, rows, id="column-roles", scroll=True)]


def _samples(ctx: Context) -> list[Block]:
    """A grid of test images, a text snippet or the first table rows."""
    xy, kind = ctx.split(), ctx.preprocess.get("kind")
    if xy is None:
        return []
    x, y = xy
    title = {"kind": "h3", "text": ctx.t("report.samples")}
    if ctx.is_image:
        items = [figure(png(image(x[i])), _label(ctx, y[i]), ctx.t("report.sample_alt"), pixelated=True)
                 for i in range(min(NUM_SAMPLES, len(x)))]
        return [title, {"kind": "gallery", "items": items, "id": "samples"}]
    if kind == "text":
        snippet = decode(ctx.preprocess, ctx.data.x_train[:4].flatten())[:600]
        return [title, {"kind": "pre", "wrap": True, "text": snippet}]
    if kind == "table":
        head, values = _table_rows(ctx.preprocess, x[:5])
        target = [ctx.preprocess.get("target", "y")]
        rows = [v + [_label(ctx, y[i])] for i, v in enumerate(values)]
        return [title, table(head + target, rows, id="sample-rows", scroll=True)]
    return []


def _model(ctx: Context) -> Section | None:
    s = Section("model", ctx.t("report.model"))
    if "model" in ctx.notes:
        s.blocks.append(note(ctx.notes["model"]))
    if ctx.run is None:
        return s if s.blocks else None
    from neuroplast.summary import summarize

    shape = tuple(ctx.info["input_shape"])
    try:
        text = summarize(ctx.run.model, shape, tokens=ctx.info.get("vocab_size", 0) > 0)
        s.blocks.append({"kind": "pre", "text": text})
    except Exception as e:  # noqa: BLE001  (torchinfo cannot trace every module)
        s.blocks += [note(ctx.t("report.summary_failed", error=first_line(e))),
                     {"kind": "pre", "text": str(ctx.run.model)}]
    return s


def _learning_curves(ctx: Context) -> Section | None:
    saved = ctx.dir / "learning_curves.png"
    labels = plot_labels(ctx)
    if any("round" in h for h in ctx.history):  # a pruned run: each round's fine-tuning, marked
        return _round_curves(ctx, labels)
    if saved.is_file() and labels is None:
        src = file_uri(saved)
    elif ctx.history:
        from neuroplast.plots import plot_learning_curves

        history = [{**h, "epoch": h.get("epoch", i)} for i, h in enumerate(ctx.history, start=1)]

        def draw(buf: io.BytesIO) -> None:
            plot_learning_curves(history, buf, labels)

        src = plot_translated(draw) if labels else plot(draw)
    else:
        return None
    s = Section("learning-curves", ctx.t("report.learning_curves"),
                [figure(src, ctx.t("report.learning_curves_caption"), ctx.t("report.learning_curves"),
                        id="learning-curves-img")])
    if (ctx.dir / "lr_find.png").is_file() and "lr_find" in ctx.metrics:  # train.lr = "auto"
        s.blocks.append(figure(file_uri(ctx.dir / "lr_find.png"),
                               ctx.t("report.lr_find_caption", lr=f"{ctx.metrics['lr_find']['suggestion']:.2g}"),
                               ctx.t("report.lr_find_alt"), id="lr-find-img"))
    return s


def _round_curves(ctx: Context, labels: dict[str, str] | None) -> Section:
    """A pruned run's learning curves: the fine-tuning epochs of every round in order on one axis, each
    round begun by a dotted line and its label, so that no round passes for one long training."""
    words = ROUND_WORDS if labels is None else {k: ctx.t(f"report.plot_{k}") for k in ROUND_WORDS}
    history = [{**h, "epoch": i} for i, h in enumerate(ctx.history, start=1)]
    starts = [(h["epoch"], int(h["round"])) for i, h in enumerate(history)
              if "round" in h and (i == 0 or history[i - 1].get("round") != h["round"])]

    def draw(buf: io.BytesIO) -> None:
        round_curves(history, starts, buf, {**(labels or {}), **words})

    src = plot_translated(draw) if labels else plot(draw)
    return Section("learning-curves", ctx.t("report.learning_curves"), [
        figure(src, ctx.t("report.round_curves_caption", rounds=len(starts), epochs=len(history)),
               ctx.t("report.learning_curves"), id="learning-curves-img")])


def round_curves(history: list[dict[str, Any]], starts: list[tuple[int, int]], buf: io.BytesIO,
                 labels: dict[str, str]) -> Any:
    """Loss (and accuracy) per fine-tuning epoch, numbered across rounds; ``starts``: ``(epoch, round)``
    where each round begins, drawn as a dotted line labelled with the round. Returns the figure."""
    from neuroplast.plots import draw_learning_curve
    from neuroplast.plots import figure as new_figure

    panels = [m for m in ("loss", "accuracy") if any(f"{s}_{m}" in h for h in history for s in ("train", "val"))]
    fig = new_figure(figsize=(5 * max(1, len(panels)), 3.6))
    for ax, metric in zip(fig.subplots(1, max(1, len(panels)), squeeze=False)[0], panels or ["loss"], strict=True):
        draw_learning_curve(ax, history, metric, labels)
        for epoch, k in starts:
            ax.axvline(epoch - 0.5, color="0.5", ls=":", lw=1)
            ax.annotate(f"{labels['round']} {k}", (epoch - 0.4, 1), xycoords=("data", "axes fraction"),
                        fontsize=7, va="top", color="0.3")
        ax.set_xlabel(labels["fine_tuning_epoch"])
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    return fig


def _confusion(ctx: Context) -> Section | None:
    cm = (ctx.metrics.get("test") or {}).get("confusion_matrix")
    saved = ctx.dir / "confusion_matrix.png"
    labels = plot_labels(ctx)
    if saved.is_file() and (labels is None or not cm):
        src = file_uri(saved)
    elif cm:
        from neuroplast.plots import plot_confusion_matrix

        def draw(buf: io.BytesIO) -> None:
            plot_confusion_matrix(cm, ctx.class_names, buf, labels)

        src = plot_translated(draw) if labels else plot(draw)
    else:
        return None
    return Section("confusion-matrix", ctx.t("report.confusion_matrix"),
                   [figure(src, ctx.t("report.confusion_caption"), ctx.t("report.confusion_matrix"),
                           id="confusion-img")])


def _per_class(ctx: Context) -> Section | None:
    """Precision, recall, F1 and support per class, by scikit-learn, on the whole test split
    (rebuilt from the stored confusion matrix) or, without one, on the predictions."""
    from sklearn.metrics import classification_report

    if ctx.task != "classification":
        return None
    cm = (ctx.metrics.get("test") or {}).get("confusion_matrix")
    if cm:
        cm = np.asarray(cm)
        k = len(cm)
        y_true = np.repeat(np.arange(k), cm.sum(axis=1))
        y_pred = np.concatenate([np.repeat(np.arange(k), row) for row in cm])
        source = ctx.t("report.per_class_from_matrix")
    elif (p := ctx.predictions()) is not None:
        k = max(len(ctx.class_names), 2)
        y_true, y_pred = p[1].numpy(), ctx.run.objective.predict(p[2]).numpy()
        source = ctx.t("report.per_class_from_predictions", which=ctx.examples(len(y_true)))
    else:
        return None
    names = ctx.class_names if len(ctx.class_names) == k else [str(i) for i in range(k)]
    report = classification_report(y_true, y_pred, labels=list(range(k)), target_names=names, output_dict=True,
                                   zero_division=0)
    cols = ("precision", "recall", "f1-score", "support")
    rows = [[name] + [_cell(report[name][c], c) for c in cols] for name in names]
    rows += [[ctx.word("metric", avg)] + [_cell(report[avg][c], c) for c in cols]
             for avg in ("macro avg", "weighted avg") if avg in report]
    return Section("per-class", ctx.t("report.per_class"), [
        table([ctx.t("report.class")] + [ctx.word("metric", c) for c in cols], rows, id="per-class"),
        note(source)])


def _predictions(ctx: Context) -> Section | None:
    """The first few test images with what the classifier predicts for each (right or wrong)."""
    if ctx.task != "classification" or not ctx.is_image or (p := ctx.predictions()) is None:
        return None
    x, y, out = p
    conf, pred = ctx.run.objective.proba(out).max(dim=1)
    items = [figure(png(image(x[i])), ctx.t("report.prediction_caption", predicted=_label(ctx, pred[i]),
                                              confidence=100 * float(conf[i]), true=_label(ctx, y[i])),
                    ctx.t("report.sample_alt"), pixelated=True) for i in range(min(NUM_PREDICTIONS, len(x)))]
    return Section("predictions", ctx.t("report.predictions"), [
        {"kind": "gallery", "items": items, "id": "predictions-gallery"},
        note(ctx.t("report.predictions_caption", shown=len(items)))])


def _mistakes(ctx: Context) -> Section | None:
    """The test images the classifier got wrong with the highest confidence."""
    if ctx.task != "classification" or not ctx.is_image or (p := ctx.predictions()) is None:
        return None
    x, y, out = p
    probs = ctx.run.objective.proba(out)
    conf, pred = probs.max(dim=1)
    wrong = torch.nonzero(pred != y).flatten()
    if len(wrong) == 0:
        return Section("mistakes", ctx.t("report.mistakes"), [note(ctx.t("report.no_mistakes", which=ctx.examples(len(y))))])
    order = wrong[conf[wrong].argsort(descending=True)][:NUM_MISTAKES]
    items = [figure(png(image(x[i])), ctx.t("report.true_predicted", true=_label(ctx, y[i]),
                                              predicted=_label(ctx, pred[i]), confidence=100 * float(conf[i])),
                    ctx.t("report.mistake_alt"), pixelated=True) for i in order.tolist()]
    return Section("mistakes", ctx.t("report.mistakes"), [
        {"kind": "gallery", "items": items, "id": "mistakes-gallery"},
        note(ctx.t("report.mistakes_caption", wrong=f"{len(wrong):,}", which=ctx.examples(len(y))))])


def _regression(ctx: Context) -> Section | None:
    if ctx.task not in ("regression", "forecast"):
        return None
    s = Section("regression", ctx.t("report.regression"))
    test, baselines = ctx.metrics.get("test") or {}, ctx.metrics.get("baselines") or {}
    keys = [k for k in ("rmse", "mae", "r2") if k in test]
    rows = [[ctx.t("report.this_model")] + [num(test[k]) for k in keys]]
    rows += [[ctx.word("baseline", name)] + [num(b.get(k)) for k in keys] for name, b in baselines.items()]
    s.blocks.append(table([""] + [ctx.word("metric", k) for k in keys], rows, id="regression-table"))
    if (p := ctx.predictions()) is not None:
        std = np.asarray(ctx.preprocess.get("target_std", [1.0]))
        mean = np.asarray(ctx.preprocess.get("target_mean", [0.0]))
        y_true = (p[1].reshape(len(p[1]), -1).numpy() * std + mean)[:, 0]
        y_pred = (p[2].reshape(len(p[2]), -1).numpy() * std + mean)[:, 0]
        if ctx.task == "forecast":  # the series itself first: what a person looks at
            words = FORECAST_WORDS if plot_labels(ctx) is None else {k: ctx.t(f"report.plot_{k}") for k in FORECAST_WORDS}
            draw = (plot if plot_labels(ctx) is None else plot_translated)
            s.blocks.append(figure(draw(lambda buf: forecast_plot(y_true, y_pred, buf, words)),
                                   ctx.t("report.forecast_caption", which=ctx.examples(len(y_true))),
                                   ctx.t("report.forecast_alt"), id="forecast-img"))
        s.blocks.append(figure(plot(lambda buf: scatter(y_true, y_pred, buf)),
                               ctx.t("report.scatter_caption", which=ctx.examples(len(y_true))), ctx.t("report.regression")))
    return s


def forecast_plot(y_true: np.ndarray, y_pred: np.ndarray, buf: io.BytesIO, words: dict[str, str]) -> None:
    """The test series and the model's forecast of its next value, one point per test window, in order;
    ``words``: the legend and axis words (:data:`FORECAST_WORDS`'s keys)."""
    from neuroplast.plots import figure as new_figure

    fig = new_figure(figsize=(7.5, 3.2))
    ax = fig.subplots()
    steps = np.arange(1, len(y_true) + 1)
    ax.plot(steps, y_true, color="0.3", lw=1.2, label=words["actual"])
    ax.plot(steps, y_pred, color="C1", lw=1.2, ls="--", label=words["forecast"])
    ax.set_xlabel(words["test_step"])
    ax.set_ylabel(words["value"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)


def _generated(ctx: Context) -> Section | None:
    if ctx.preprocess.get("mode") != "chars" or ctx.run is None:
        return None
    from neuroplast.generate import generate

    prompt = ""
    if ctx.data is not None and len(ctx.data.x_val):
        prompt = decode(ctx.preprocess, ctx.data.x_val[0])[:24]
    text = generate(ctx.run, prompt, tokens=200, temperature=0.8, seed=0)
    return Section("generated-text", ctx.t("report.generated_text"), [
        {"kind": "pre", "text": text, "id": "generated", "wrap": True},
        note(ctx.t("report.generated_caption", prompt=prompt.replace("\n", " ⏎ "), tokens=200, temperature=0.8))])


# --------------------------------------------------------------------------- small helpers
def _label(ctx: Context, y: torch.Tensor) -> str:
    """A target as the page shows it: the class name, or the value in the target's units."""
    if ctx.task == "classification":
        i = int(y)
        return ctx.class_names[i] if i < len(ctx.class_names) else str(i)
    std, mean = ctx.preprocess.get("target_std", [1.0]), ctx.preprocess.get("target_mean", [0.0])
    return num(float(y.flatten()[0]) * std[0] + mean[0])


def _table_rows(preprocess: dict[str, Any], x: torch.Tensor) -> tuple[list[str], list[list[str]]]:
    """Standardized table rows back in their own units, one column per encoded feature."""
    names = feature_names(preprocess.get("columns", []))
    values = x.numpy() * np.asarray(preprocess["std"]) + np.asarray(preprocess["mean"])
    if len(names) != values.shape[1]:
        names = [f"x{i}" for i in range(values.shape[1])]
    return names, [[num(v, 4) for v in row] for row in values]


def _cell(v: float, column: str) -> str:
    """A classification-report cell: support is a count, the rest four decimals."""
    return integer(v) if column == "support" else f"{v:.4f}"


SECTIONS: list[Callable[[Context], Section | None]] = [
    _overview, _environment, _spec, _data, _model, _learning_curves, _confusion, _per_class, _predictions,
    _mistakes, _regression, _generated,
]
