"""``report.html``: one self-contained, offline page that tells the story of a run folder.

The page is built from what the folder holds (``metrics.json``, ``model.json``, ``spec.toml``,
``history.csv``, the PNG plots and the stage sub-folders ``calibrated-*``, ``explain-*``,
``pruned-*``) plus a few cheap views computed from the saved model on at most
:data:`MAX_EXAMPLES` test examples. A section appears only when its data exists. Every picture is
an embedded ``data:`` PNG and the CSS is inline: the file opens with no network. Every word on it
comes from the language tables (``locales/report.<lang>.json``); plots carry numbers only.

Example:
    >>> from neuroplast.see.report import write_report
    >>> write_report("runs/digits-cnn-20261123-101500", lang="zh-Hant")
    PosixPath('runs/digits-cnn-20261123-101500/report.html')
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast.errors import UserError, check_output
from neuroplast.io import atomic_write
from neuroplast.see.locale import table
from neuroplast.see.pictures import file_uri, grid, histograms, image, plot, png, scatter

MAX_EXAMPLES = 1000  # test examples the report predicts on (confusions, per-class, scatter)
MAX_BYTES = 5_000_000  # the page's size limit; the largest pictures are left out beyond it
NUM_SAMPLES = 16  # sample inputs shown
NUM_MISTAKES = 8  # most confident mistakes shown
NUM_ATTRIBUTIONS = 12  # attribution heatmaps shown per explain folder
TEMPLATE = "report.html.j2"
log = logging.getLogger(__name__)

Block = dict[str, Any]  # {"kind": "kv" | "table" | "figure" | "gallery" | "pre" | "note" | "link", ...}


@dataclass
class Section:
    """One titled part of the page: an anchor id, a translated title and its blocks."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


# --------------------------------------------------------------------------- public entry points
def write_report(run_dir: str | Path, lang: str = "en", out: str | Path | None = None, *, run: Any = None,
                 data: Any = None) -> Path:
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
    if not run_dir.is_dir() or not ((run_dir / "metrics.json").is_file() or (run_dir / "model.json").is_file()):
        raise UserError(f"{run_dir} is not a neuroplast run folder (no metrics.json or model.json). Pass the "
                        "folder that `neuroplast run` printed.")
    table(lang)  # an unknown language fails here, before any work
    if out is not None:
        check_output(out, "file", "report.html")
    started, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(1)  # the report's tensors are tiny: more threads only spin
    try:
        ctx = _Context.read(run_dir, lang, run, data)
        sections = [s for build in SECTIONS if (s := _build(build, ctx)) is not None]
    finally:
        torch.set_num_threads(threads)
    html = _fit_size(ctx, sections)
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


def rewrite_report(run_dir: str | Path) -> Path | None:
    """Rewrite ``run_dir/report.html`` in the language it was written in, if it exists (after a
    stage added a sub-folder to the run, e.g. ``neuroplast explain``)."""
    path = Path(run_dir) / "report.html"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(500)
    except OSError:  # no report yet (e.g. during training: it is written at the end)
        return None
    found = re.search(r'<html lang="([\w-]+)"', head)
    lang = found.group(1) if found and found.group(1) in ("en", "zh-Hant") else "en"
    return write_report_safely(run_dir, lang=lang)


# --------------------------------------------------------------------------- what the folder holds
@dataclass
class _Context:
    """The run folder read once: files, the loaded run and data, and cached predictions."""

    dir: Path
    lang: str
    metrics: dict[str, Any]
    info: dict[str, Any]
    preprocess: dict[str, Any]
    history: list[dict[str, Any]]
    spec_text: str | None
    run: Any = None
    data: Any = None
    notes: dict[str, str] = field(default_factory=dict)
    _predictions: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def read(cls, run_dir: Path, lang: str, run: Any, data: Any) -> _Context:
        ctx = cls(run_dir, lang, _json(run_dir / "metrics.json"), _json(run_dir / "model.json"),
                  _json(run_dir / "preprocess.json"), _read_csv(run_dir / "history.csv"),
                  _text(run_dir / "spec.toml"), run, data)
        if ctx.run is None and (run_dir / "model.safetensors").is_file():
            try:
                from neuroplast.rundir import load

                ctx.run = load(run_dir)
            except Exception as e:  # noqa: BLE001  (the page still shows what the files hold)
                ctx.notes["model"] = ctx.t("report.model_unavailable", error=_first_line(e))
        if ctx.data is None and ctx.run is not None and ctx.run.spec is not None:
            try:
                from neuroplast.data import load_dataset

                ctx.data = load_dataset(ctx.run.spec.data, ctx.run.spec.seed)
            except Exception as e:  # noqa: BLE001  (e.g. the data folder moved)
                ctx.notes["data"] = ctx.t("report.data_unavailable", error=_first_line(e))
        return ctx

    def t(self, key: str, **values: Any) -> str:
        """The string ``key`` in the report's language."""
        s = table(self.lang)[key]
        return s.format(**values) if values else s

    def word(self, group: str, name: str) -> str:
        """A translated metric/task/split name, or ``name`` itself when the table has none."""
        return table(self.lang).get(f"report.{group}.{name}", name)

    @property
    def task(self) -> str:
        return self.info.get("task") or self.metrics.get("task", "")

    @property
    def class_names(self) -> list[str]:
        names = self.info.get("class_names") or (self.metrics.get("data") or {}).get("classes") or []
        return [str(n) for n in names]

    @property
    def is_image(self) -> bool:
        return len(self.info.get("input_shape", [])) == 3 and self.info.get("vocab_size", 0) == 0

    def split(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """At most :data:`MAX_EXAMPLES` test examples (validation for language models)."""
        if self.data is None:
            return None
        x, y = self.data.x_test, self.data.y_test
        if len(x) == 0:
            x, y = self.data.x_val, self.data.y_val
        return (x[:MAX_EXAMPLES].cpu(), y[:MAX_EXAMPLES].cpu()) if len(x) else None

    def predictions(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(x, y, outputs)`` on :meth:`split`, computed once."""
        if self._predictions is None and self.run is not None and (xy := self.split()) is not None:
            from neuroplast.train import predict_outputs

            self._predictions = (*xy, predict_outputs(self.run.model, xy[0]).float().cpu())
        return self._predictions


# --------------------------------------------------------------------------- sections
def _overview(ctx: _Context) -> Section:
    s = Section("overview", ctx.t("report.overview"))
    m = ctx.metrics
    rows = [(ctx.t("report.name"), m.get("name", ctx.dir.name)), (ctx.t("report.task"), ctx.word("task", ctx.task)),
            (ctx.t("report.family"), ctx.info.get("family", (m.get("model") or {}).get("family", ""))),
            (ctx.t("report.parameters"), _int((m.get("model") or {}).get("parameters")))]
    if "parent" in m:
        rows.append((ctx.t("report.parent"), m["parent"]))
    s.blocks.append(_kv(rows))
    splits = [k for k in ("test", "val") if m.get(k)]
    keys = [k for k in ("accuracy", "loss", "bits_per_char", "rmse", "mae", "r2", "nll", "brier", "ece")
            if any(k in m[sp] for sp in splits)]
    if keys:
        s.blocks.append(_table([ctx.t("report.split")] + [ctx.word("metric", k) for k in keys],
                               [[ctx.word("split", sp)] + [_num(m[sp].get(k)) for k in keys] for sp in splits],
                               id="headline"))
    return s


def _environment(ctx: _Context) -> Section | None:
    m, tr = ctx.metrics, ctx.metrics.get("train") or {}
    rows = [(ctx.t("report.device"), m.get("device")), (ctx.t("report.seed"), m.get("seed")),
            (ctx.t("report.threads"), m.get("threads")), (ctx.t("report.processes"), m.get("processes")),
            (ctx.t("report.epochs"), tr.get("epochs")), (ctx.t("report.best_epoch"), m.get("best_epoch")),
            (ctx.t("report.train_seconds"), _num(tr.get("seconds"), 3)),
            (ctx.t("report.samples_per_second"), _int(tr.get("samples_per_second"))),
            (ctx.t("report.finished"), (m.get("finished") or "").replace("T", " ")[:16])]
    rows += [(name, version) for name, version in (m.get("versions") or {}).items()]
    rows = [(k, v) for k, v in rows if v not in (None, "")]
    return Section("environment", ctx.t("report.environment"), [_kv(rows)]) if rows else None


def _spec(ctx: _Context) -> Section | None:
    if ctx.spec_text is None:
        return None
    return Section("spec", ctx.t("report.spec"), [{"kind": "pre", "text": ctx.spec_text, "id": "spec-toml"}])


def _data(ctx: _Context) -> Section:
    s = Section("data", ctx.t("report.data"))
    d, names = ctx.metrics.get("data") or {}, ctx.class_names
    rows = [(ctx.t("report.source"), d.get("source")), (ctx.t("report.task"), ctx.word("task", ctx.task)),
            (ctx.t("report.input_shape"), " × ".join(map(str, ctx.info.get("input_shape", []))))]
    if ctx.info.get("vocab_size"):
        rows.append((ctx.t("report.vocab_size"), ctx.info["vocab_size"]))
    elif names:
        rows.append((ctx.t("report.classes"), ", ".join(names[:50]) + (" …" if len(names) > 50 else "")))
    rows += [(ctx.t("report.split_size", split=ctx.word("split", k)), _int(d[k])) for k in ("train", "val", "test")
             if d.get(k)]
    s.blocks.append(_kv([(k, v) for k, v in rows if v not in (None, "")]))
    if "data" in ctx.notes:
        s.blocks.append(_note(ctx.notes["data"]))
    elif ctx.data is not None:
        s.blocks += _samples(ctx)
    return s


def _samples(ctx: _Context) -> list[Block]:
    """A grid of test images, a text snippet or the first table rows."""
    xy, kind = ctx.split(), ctx.preprocess.get("kind")
    if xy is None:
        return []
    x, y = xy
    title = {"kind": "h3", "text": ctx.t("report.samples")}
    if ctx.is_image:
        items = [_figure(png(image(x[i])), _label(ctx, y[i]), ctx.t("report.sample_alt"), pixelated=True)
                 for i in range(min(NUM_SAMPLES, len(x)))]
        return [title, {"kind": "gallery", "items": items, "id": "samples"}]
    if kind == "text":
        snippet = _decode(ctx.preprocess, ctx.data.x_train[:4].flatten())[:600]
        return [title, {"kind": "pre", "wrap": True, "text": snippet}]
    if kind == "table":
        head, values = _table_rows(ctx.preprocess, x[:5])
        target = [ctx.preprocess.get("target", "y")]
        rows = [v + [_label(ctx, y[i])] for i, v in enumerate(values)]
        return [title, _table(head + target, rows, id="sample-rows", scroll=True)]
    return []


def _model(ctx: _Context) -> Section | None:
    s = Section("model", ctx.t("report.model"))
    if "model" in ctx.notes:
        s.blocks.append(_note(ctx.notes["model"]))
    if ctx.run is None:
        return s if s.blocks else None
    from neuroplast.summary import summarize

    shape = tuple(ctx.info["input_shape"])
    try:
        text = summarize(ctx.run.model, shape, tokens=ctx.info.get("vocab_size", 0) > 0)
        s.blocks.append({"kind": "pre", "text": text})
    except Exception as e:  # noqa: BLE001  (torchinfo cannot trace every module)
        s.blocks += [_note(ctx.t("report.summary_failed", error=_first_line(e))),
                     {"kind": "pre", "text": str(ctx.run.model)}]
    return s


def _plot_labels(ctx: _Context) -> dict[str, str] | None:
    """Translated axis words for plots drawn in a non-English report, when matplotlib has a font with
    the language's characters (else None: the run folder's English PNGs are embedded as they are)."""
    if ctx.lang == "en" or _cjk_font() is None:
        return None
    from neuroplast.plots import LABELS

    return {k: ctx.t(f"report.plot_{k}") for k in LABELS}


@functools.cache
def _cjk_font() -> str | None:
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


def _plot_translated(draw: Callable[[io.BytesIO], None]) -> str:
    import matplotlib

    with matplotlib.rc_context({"font.family": [_cjk_font(), "DejaVu Sans"]}):
        return plot(draw)


def _learning_curves(ctx: _Context) -> Section | None:
    saved = ctx.dir / "learning_curves.png"
    labels = _plot_labels(ctx)
    if saved.is_file() and labels is None:
        src = file_uri(saved)
    elif ctx.history:
        from neuroplast.plots import plot_learning_curves

        history = [{**h, "epoch": h.get("epoch", i)} for i, h in enumerate(ctx.history, start=1)]
        if not saved.is_file():  # pruning rounds: one axis
            history = [{**h, "epoch": i} for i, h in enumerate(ctx.history, start=1)]
        def draw(buf: io.BytesIO) -> None:
            plot_learning_curves(history, buf, labels)

        src = _plot_translated(draw) if labels else plot(draw)
    else:
        return None
    s = Section("learning-curves", ctx.t("report.learning_curves"),
                [_figure(src, ctx.t("report.learning_curves_caption"), ctx.t("report.learning_curves"),
                         id="learning-curves-img")])
    if (ctx.dir / "lr_find.png").is_file() and "lr_find" in ctx.metrics:  # train.lr = "auto"
        s.blocks.append(_figure(file_uri(ctx.dir / "lr_find.png"),
                                ctx.t("report.lr_find_caption", lr=f"{ctx.metrics['lr_find']['suggestion']:.2g}"),
                                ctx.t("report.lr_find_alt"), id="lr-find-img"))
    return s


def _confusion(ctx: _Context) -> Section | None:
    cm = (ctx.metrics.get("test") or {}).get("confusion_matrix")
    saved = ctx.dir / "confusion_matrix.png"
    labels = _plot_labels(ctx)
    if saved.is_file() and (labels is None or not cm):
        src = file_uri(saved)
    elif cm:
        from neuroplast.plots import plot_confusion_matrix

        def draw(buf: io.BytesIO) -> None:
            plot_confusion_matrix(cm, ctx.class_names, buf, labels)

        src = _plot_translated(draw) if labels else plot(draw)
    else:
        return None
    return Section("confusion-matrix", ctx.t("report.confusion_matrix"),
                   [_figure(src, ctx.t("report.confusion_caption"), ctx.t("report.confusion_matrix"),
                            id="confusion-img")])


def _per_class(ctx: _Context) -> Section | None:
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
        note = ctx.t("report.per_class_from_matrix")
    elif (p := ctx.predictions()) is not None:
        k = max(len(ctx.class_names), 2)
        y_true, y_pred = p[1].numpy(), ctx.run.objective.predict(p[2]).numpy()
        note = ctx.t("report.per_class_from_predictions", count=len(y_true))
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
        _table([ctx.t("report.class")] + [ctx.word("metric", c) for c in cols], rows, id="per-class"),
        _note(note)])


def _mistakes(ctx: _Context) -> Section | None:
    """The test images the classifier got wrong with the highest confidence."""
    if ctx.task != "classification" or not ctx.is_image or (p := ctx.predictions()) is None:
        return None
    x, y, out = p
    probs = ctx.run.objective.proba(out)
    conf, pred = probs.max(dim=1)
    wrong = torch.nonzero(pred != y).flatten()
    if len(wrong) == 0:
        return Section("mistakes", ctx.t("report.mistakes"), [_note(ctx.t("report.no_mistakes", count=len(y)))])
    order = wrong[conf[wrong].argsort(descending=True)][:NUM_MISTAKES]
    items = [_figure(png(image(x[i])), ctx.t("report.true_predicted", true=_label(ctx, y[i]),
                                               predicted=_label(ctx, pred[i]), confidence=100 * float(conf[i])),
                     ctx.t("report.mistake_alt"), pixelated=True) for i in order.tolist()]
    return Section("mistakes", ctx.t("report.mistakes"), [
        {"kind": "gallery", "items": items, "id": "mistakes-gallery"},
        _note(ctx.t("report.mistakes_caption", wrong=len(wrong), count=len(y)))])


def _regression(ctx: _Context) -> Section | None:
    if ctx.task not in ("regression", "forecast"):
        return None
    s = Section("regression", ctx.t("report.regression"))
    test, baselines = ctx.metrics.get("test") or {}, ctx.metrics.get("baselines") or {}
    keys = [k for k in ("rmse", "mae", "r2") if k in test]
    rows = [[ctx.t("report.this_model")] + [_num(test[k]) for k in keys]]
    rows += [[ctx.word("baseline", name)] + [_num(b.get(k)) for k in keys] for name, b in baselines.items()]
    s.blocks.append(_table([""] + [ctx.word("metric", k) for k in keys], rows, id="regression-table"))
    if (p := ctx.predictions()) is not None:
        std = np.asarray(ctx.preprocess.get("target_std", [1.0]))
        mean = np.asarray(ctx.preprocess.get("target_mean", [0.0]))
        y_true = (p[1].reshape(len(p[1]), -1).numpy() * std + mean)[:, 0]
        y_pred = (p[2].reshape(len(p[2]), -1).numpy() * std + mean)[:, 0]
        s.blocks.append(_figure(plot(lambda buf: scatter(y_true, y_pred, buf)),
                                ctx.t("report.scatter_caption", count=len(y_true)), ctx.t("report.regression")))
    return s


def _generated(ctx: _Context) -> Section | None:
    if ctx.preprocess.get("mode") != "chars" or ctx.run is None:
        return None
    from neuroplast.generate import generate

    prompt = ""
    if ctx.data is not None and len(ctx.data.x_val):
        prompt = _decode(ctx.preprocess, ctx.data.x_val[0])[:24]
    text = generate(ctx.run, prompt, tokens=200, temperature=0.8, seed=0)
    return Section("generated-text", ctx.t("report.generated_text"), [
        {"kind": "pre", "text": text, "id": "generated", "wrap": True},
        _note(ctx.t("report.generated_caption", prompt=prompt.replace("\n", " ⏎ "), tokens=200, temperature=0.8))])


def _pruning(ctx: _Context) -> Section | None:
    found = _stage_folders(ctx, "pruning", "pruned-*")
    if not found:
        return None
    s = Section("pruning", ctx.t("report.pruning"))
    for folder, metrics in found:
        p = metrics["pruning"]
        if folder != ctx.dir:
            s.blocks.append(_link(ctx, folder))
        saved = folder / "pruning.png"
        if saved.is_file():
            src = file_uri(saved)
        else:
            from neuroplast.plots import plot_pruning

            src = plot(lambda buf, p=p: plot_pruning(p, buf))
        s.blocks += [_figure(src, ctx.t("report.pruning_caption", method=p["method"], schedule=p["schedule"]),
                             ctx.t("report.pruning"), id="pruning-img"),
                     _table([""] + [ctx.t(f"report.{c}") for c in ("dense", "pruned", "change")],
                            _pruning_rows(ctx, p), id="pruning-table")]
        if p.get("note"):
            s.blocks.append(_note(p["note"]))
    return s


def _pruning_rows(ctx: _Context, p: dict[str, Any]) -> list[list[str]]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}×" if b else "–"

    rows = [[ctx.t("report.sparsity"), "0%", f"{100 * p['sparsity']:.1f}%", ""],
            [ctx.t("report.parameters"), _int(p["params"]["dense"]), _int(p["params"]["pruned"]),
             ratio(p["params"]["dense"], p["params"]["pruned"])],
            [ctx.t("report.bytes"), _int(p["bytes"]["dense"]), _int(p["bytes"]["pruned"]),
             f"{p['bytes']['ratio']:.2f}×"],
            [ctx.t("report.macs"), _int(p["macs"]["dense"]), _int(p["macs"]["pruned_nonzero"]),
             ratio(p["macs"]["dense"], p["macs"]["pruned_nonzero"])]]
    for name, lat in p.get("latency_ms", {}).items():
        rows.append([ctx.t("report.latency", batch=name.removeprefix("batch_")), f"{lat['dense']:.3f}",
                     f"{lat['pruned']:.3f}", f"{lat['speedup']:.2f}×"])
    first, last = p["curve"][0], p["curve"][-1]
    for key in ("test_accuracy", "test_rmse"):
        if key in first:
            metric = ctx.word("metric", key.removeprefix("test_"))
            rows.append([f"{ctx.word('split', 'test')} {metric}", _num(first[key]), _num(last[key]),
                         f"{last[key] - first[key]:+.4f}"])
    return rows


def _calibration(ctx: _Context) -> Section | None:
    found = _stage_folders(ctx, "calibration", "calibrated-*")
    if not found:
        return None
    s = Section("calibration", ctx.t("report.calibration"))
    for folder, metrics in found:
        c = metrics["calibration"]
        if folder != ctx.dir:
            s.blocks.append(_link(ctx, folder))
        if (folder / "reliability.png").is_file():
            s.blocks.append(_figure(file_uri(folder / "reliability.png"), ctx.t("report.reliability_caption"),
                                    ctx.t("report.reliability"), id="reliability"))
        keys = [k for k in ("accuracy", "nll", "brier", "ece") if k in c.get("before", {})]
        s.blocks.append(_table([""] + [ctx.word("metric", k) for k in keys],
                               [[ctx.t(f"report.{w}")] + [_num(c[w][k]) for k in keys] for w in ("before", "after")],
                               id="calibration-table"))
        fitted = [(ctx.t("report.method"), c["method"])]
        fitted += [(ctx.word("metric", k), _num(c[k])) for k in ("temperature", "samples", "members") if k in c]
        fitted += [(ctx.t("report.threshold", target=f"{100 * c['target_accuracy']:.0f}%"), _num(c["threshold"])),
                   (ctx.t("report.coverage"), f"{100 * c['test_coverage_at_threshold']:.1f}%"),
                   (ctx.t("report.accuracy_kept"), _num(c["test_accuracy_at_threshold"]))]
        if "ece_floor" in c:  # the sampling noise of ECE on this many test examples
            fitted.append((ctx.t("report.ece_floor"), _num(c["ece_floor"])))
        s.blocks.append(_kv(fitted))
        if "ood" in c:
            s.blocks += _ood(ctx, folder, c["ood"])
    return s


def _ood(ctx: _Context, folder: Path, ood: dict[str, Any]) -> list[Block]:
    """The Mahalanobis scores of test images against the same images with shuffled pixels."""
    blocks: list[Block] = [{"kind": "h3", "text": ctx.t("report.ood")},
                           _kv([(ctx.t("report.ood_threshold"), _num(ood["threshold"])),
                                (ctx.t("report.ood_flagged"), f"{100 * ood['test_flagged']:.1f}%")])]
    xy = ctx.split()
    if ctx.run is None or xy is None or not (folder / "ood.safetensors").is_file():
        return blocks
    from safetensors.torch import load_file

    from neuroplast.trust.calibration import Mahalanobis

    density = Mahalanobis(ood["layer"]).load_state_dict(ctx.run.model, load_file(str(folder / "ood.safetensors")))
    x = xy[0][:200]  # the density score is costly on wide features
    flat = x.reshape(len(x), -1)
    shuffled = flat[:, torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(0))].reshape(x.shape)
    inside, outside = density.score(x).numpy(), density.score(shuffled).numpy()
    blocks.append(_figure(plot(lambda buf: histograms(inside, outside, ood["threshold"], buf)),
                          ctx.t("report.ood_caption", count=len(x)), ctx.t("report.ood"), id="ood-img"))
    return blocks


def _attributions(ctx: _Context) -> Section | None:
    folders = sorted(f for f in ctx.dir.glob("explain-*") if (f / "explain.json").is_file())
    if not folders:
        return None
    s = Section("attributions", ctx.t("report.attributions"))
    for folder in folders:
        e = _json(folder / "explain.json")
        s.blocks.append({"kind": "h3", "text": ctx.t("report.attribution_method", method=e.get("method", "?"))})
        items = []
        for ex in e.get("examples", [])[:NUM_ATTRIBUTIONS]:
            saved = folder / Path(ex["png"]).name
            if saved.is_file():
                caption = ctx.t("report.attribution_caption", input=ex["input"], label=ex["label"])
                items.append(_figure(file_uri(saved), caption, ctx.t("report.attribution_alt")))
        s.blocks.append({"kind": "gallery", "items": items, "id": f"{folder.name}-gallery", "wide": True})
        if (sanity := e.get("sanity")) is not None:
            s.blocks.append(_kv([
                (ctx.t("report.randomization"), _num(sanity["randomization_spearman_median"], 3)),
                *([(ctx.t("report.randomization_abs"), _num(sanity["randomization_spearman_median_abs"], 3))]
                  if "randomization_spearman_median_abs" in sanity else []),
                (ctx.t("report.deletion"),
                 f"{_num(sanity['deletion_area'], 3)} / {_num(sanity['random_deletion_area'], 3)}"),
            ]))
            s.blocks.append(_note(ctx.t("report.sanity_caption", count=sanity["examples"])))
    return s


def _layers(ctx: _Context) -> Section | None:
    """First-layer filters and feature maps (CNN), or first-layer weights as images (MLP)."""
    if ctx.run is None or not ctx.is_image:
        return None
    from torch import nn

    from neuroplast.trust import explain

    model, s = ctx.run.model, Section("layers", ctx.t("report.layers"))
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        w = explain.first_layer_filters(model)[:64]
        s.blocks.append(_figure(png(grid([f[0] for f in w], pad=1), size=256),
                                ctx.t("report.filters_caption", count=len(w)),
                                ctx.t("report.filters_alt"), pixelated=True))
        if (xy := ctx.split()) is not None:
            maps = explain.feature_maps(model, xy[0][:1])
            items = [_figure(png(grid(list(a[0, :16].float()), pad=1), cmap="viridis", size=200),
                             ctx.t("report.feature_map_caption", layer=name, count=min(16, a.shape[1])),
                             ctx.t("report.feature_map_alt"), pixelated=True) for name, a in list(maps.items())[:4]]
            s.blocks += [_figure(png(image(xy[0][0])), ctx.t("report.feature_map_input"), ctx.t("report.sample_alt"),
                                 pixelated=True),
                         {"kind": "gallery", "items": items, "id": "feature-maps", "wide": True}]
    elif not any(isinstance(m, (nn.RNNBase, nn.Embedding, nn.MultiheadAttention)) for m in model.modules()):
        try:
            fields = explain.receptive_fields(model, tuple(ctx.info["input_shape"]))[:64]
        except UserError:
            return None
        s.blocks.append(_figure(png(grid([f[0] for f in fields], pad=1), cmap="RdBu_r", size=320, symmetric=True),
                                ctx.t("report.mlp_fields_caption", count=len(fields)), ctx.t("report.filters_alt"),
                                pixelated=True))
    return s if s.blocks else None


def _receptive_fields(ctx: _Context) -> Section | None:
    saved = ctx.dir / "receptive_fields.png"
    if not saved.is_file():
        return None
    return Section("receptive-fields", ctx.t("report.receptive_fields"),
                   [_figure(file_uri(saved), ctx.t("report.receptive_fields_caption"),
                            ctx.t("report.receptive_fields"))])


def _attention(ctx: _Context) -> Section | None:
    """Per layer, the attention weights of one input averaged over the heads."""
    from neuroplast.models.transformer import Transformer

    if ctx.run is None or not isinstance(ctx.run.model, Transformer) or (xy := ctx.split()) is None:
        return None
    x = xy[0][:1]
    if ctx.info.get("vocab_size"):
        x = x[:, -64:]  # a readable map: the last 64 tokens
    with torch.no_grad():
        _, maps = ctx.run.model.eval()(x, return_attention=True)
    items = [_figure(png(a[0].mean(0).float(), cmap="viridis", size=256),
                     ctx.t("report.attention_caption", layer=i + 1, heads=a.shape[1]), ctx.t("report.attention"),
                     pixelated=True) for i, a in enumerate(maps[:6])]
    blocks: list[Block] = [{"kind": "gallery", "items": items, "id": "attention-maps", "wide": True},
                           _note(ctx.t("report.attention_note"))]
    if ctx.preprocess.get("kind") == "text":
        blocks.insert(0, {"kind": "pre", "text": _decode(ctx.preprocess, x[0])})
    elif ctx.is_image:  # image rows are the positions
        blocks.insert(0, _figure(png(image(x[0])), ctx.t("report.attention_input"), ctx.t("report.sample_alt"),
                                 pixelated=True))
    return Section("attention", ctx.t("report.attention"), blocks)


SECTIONS: list[Callable[[_Context], Section | None]] = [
    _overview, _environment, _spec, _data, _model, _learning_curves, _confusion, _per_class, _mistakes,
    _regression, _generated, _pruning, _calibration, _attributions, _layers, _receptive_fields, _attention,
]


def _build(build: Callable[[_Context], Section | None], ctx: _Context) -> Section | None:
    """One section; a failure becomes a note on the page (and a log line), not a lost report."""
    try:
        return build(ctx)
    except Exception as e:  # noqa: BLE001
        log.warning("report section %s failed: %s: %s", build.__name__.strip("_"), type(e).__name__, e)
        return Section(build.__name__.strip("_").replace("_", "-"), ctx.t("report.section_failed_title"),
                       [_note(ctx.t("report.section_failed", error=_first_line(e)))])


def _stage_folders(ctx: _Context, key: str, pattern: str) -> list[tuple[Path, dict[str, Any]]]:
    """This folder (when its metrics hold ``key``) and the stage sub-folders matching ``pattern``."""
    found = [(ctx.dir, ctx.metrics)] if key in ctx.metrics else []
    for folder in sorted(ctx.dir.glob(pattern)):
        metrics = _json(folder / "metrics.json")
        if key in metrics:
            found.append((folder, metrics))
    return found


# --------------------------------------------------------------------------- page
def _render(ctx: _Context, sections: list[Section]) -> str:
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


def _fit_size(ctx: _Context, sections: list[Section]) -> str:
    """The page; while it is over :data:`MAX_BYTES`, the largest picture gives way to a note."""
    html = _render(ctx, sections)
    figures = [b for s in sections for blk in s.blocks
               for b in ([blk] if blk["kind"] == "figure" else blk.get("items", []))]
    figures.sort(key=lambda f: len(f["src"]), reverse=True)
    for fig in figures:
        if len(html.encode()) <= MAX_BYTES:
            break
        fig.update(src="", caption=ctx.t("report.figure_left_out"))
        html = _render(ctx, sections)
    return html


# --------------------------------------------------------------------------- blocks
def _kv(rows: list[tuple[str, Any]]) -> Block:
    return {"kind": "kv", "rows": [(str(k), "" if v is None else str(v)) for k, v in rows]}


def _table(head: list[str], rows: list[list[Any]], id: str = "", scroll: bool = False) -> Block:
    return {"kind": "table", "head": head, "rows": [[str(c) for c in r] for r in rows], "id": id, "scroll": scroll}


def _figure(src: str, caption: str, alt: str, id: str = "", pixelated: bool = False) -> Block:
    return {"kind": "figure", "src": src, "caption": caption, "alt": alt, "id": id, "pixelated": pixelated}


def _note(text: str) -> Block:
    return {"kind": "note", "text": text}


def _link(ctx: _Context, folder: Path) -> Block:
    """A relative link to a stage sub-folder's own report (a local file, no network)."""
    return {"kind": "link", "href": f"{folder.name}/report.html",
            "text": ctx.t("report.stage_folder", folder=folder.name)}


# --------------------------------------------------------------------------- small helpers
def _label(ctx: _Context, y: torch.Tensor) -> str:
    """A target as the page shows it: the class name, or the value in the target's units."""
    if ctx.task == "classification":
        i = int(y)
        return ctx.class_names[i] if i < len(ctx.class_names) else str(i)
    std, mean = ctx.preprocess.get("target_std", [1.0]), ctx.preprocess.get("target_mean", [0.0])
    return _num(float(y.flatten()[0]) * std[0] + mean[0])


def _decode(preprocess: dict[str, Any], ids: torch.Tensor) -> str:
    """Token ids back to text (characters joined, words spaced; padding dropped)."""
    vocab = preprocess["vocab"]
    tokens = [vocab[i] for i in ids.tolist() if 0 <= i < len(vocab) and vocab[i] != "<pad>"]
    return ("" if preprocess.get("mode") == "chars" or preprocess.get("tokens") == "char" else " ").join(tokens)


def _table_rows(preprocess: dict[str, Any], x: torch.Tensor) -> tuple[list[str], list[list[str]]]:
    """Standardized table rows back in their own units, one column per encoded feature."""
    names = []
    for col in preprocess.get("columns", []):
        names += [col["name"]] if col["type"] == "numeric" else [f"{col['name']}={c}" for c in col["categories"]]
    values = x.numpy() * np.asarray(preprocess["std"]) + np.asarray(preprocess["mean"])
    if len(names) != values.shape[1]:
        names = [f"x{i}" for i in range(values.shape[1])]
    return names, [[_num(v, 4) for v in row] for row in values]


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, int) and not isinstance(v, bool):
        return _int(v)
    v = float(v)
    plain = v == 0 or (math.isfinite(v) and 1e-3 <= abs(v) < 1e4)
    return f"{v:.{digits}f}" if plain else f"{v:.{digits}g}"


def _int(v: Any) -> str:
    return "" if v is None else f"{round(float(v)):,}"


def _cell(v: float, column: str) -> str:
    """A classification-report cell: support is a count, the rest four decimals."""
    return _int(v) if column == "support" else f"{v:.4f}"


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _read_csv(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]
