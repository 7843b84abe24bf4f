"""The sections about the stages after training, from this folder or its stage sub-folders: pruning,
calibration (with out-of-distribution scores) and attributions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from neuroplast import rundir
from neuroplast.see.pictures import file_uri, histograms, plot
from neuroplast.see.report.context import Context
from neuroplast.see.report.fonts import plot_labels
from neuroplast.see.report.render import Block, Section, figure, integer, kv, link, note, num, table

NUM_ATTRIBUTIONS = 12  # attribution heatmaps shown per explain folder


def _pruning(ctx: Context) -> Section | None:
    found = _stage_folders(ctx, "pruning", "prune")
    if not found:
        return None
    s = Section("pruning", ctx.t("report.pruning"))
    for folder, metrics in found:
        p = metrics["pruning"]
        if folder != ctx.dir:
            s.blocks.append(link(ctx, folder))
        saved = folder / "pruning.png"
        if saved.is_file():
            src = file_uri(saved)
        else:
            from neuroplast.plots import plot_pruning

            src = plot(lambda buf, p=p: plot_pruning(p, buf))
        s.blocks += [figure(src, ctx.t("report.pruning_caption", method=p["method"], schedule=p["schedule"]),
                            ctx.t("report.pruning"), id="pruning-img"),
                     table([""] + [ctx.t(f"report.{c}") for c in ("dense", "pruned", "change")],
                           _pruning_rows(ctx, p), id="pruning-table")]
        if p.get("note"):
            s.blocks.append(note(p["note"]))
    return s


def _pruning_rows(ctx: Context, p: dict[str, Any]) -> list[list[str]]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}×" if b else "–"

    rows = [[ctx.t("report.sparsity"), "0%", f"{100 * p['sparsity']:.1f}%", ""],
            [ctx.t("report.parameters"), integer(p["params"]["dense"]), integer(p["params"]["pruned"]),
             ratio(p["params"]["dense"], p["params"]["pruned"])],
            [ctx.t("report.bytes"), integer(p["bytes"]["dense"]), integer(p["bytes"]["pruned"]),
             f"{p['bytes']['ratio']:.2f}×"],
            [ctx.t("report.macs"), integer(p["macs"]["dense"]), integer(p["macs"]["pruned_nonzero"]),
             ratio(p["macs"]["dense"], p["macs"]["pruned_nonzero"])]]
    for name, lat in p.get("latency_ms", {}).items():
        rows.append([ctx.t("report.latency", batch=name.removeprefix("batch_")), f"{lat['dense']:.3f}",
                     f"{lat['pruned']:.3f}", f"{lat['speedup']:.2f}×"])
    first, last = p["curve"][0], p["curve"][-1]
    for key in ("test_accuracy", "test_rmse"):
        if key in first:
            metric = ctx.word("metric", key.removeprefix("test_"))
            rows.append([f"{ctx.word('split', 'test')} {metric}", num(first[key]), num(last[key]),
                         f"{last[key] - first[key]:+.4f}"])
    return rows


def _compression(ctx: Context) -> Section | None:
    """Dense -> parent (e.g. pruned) -> quantized: bytes, test score and latency, per quantized folder
    of this run or of its pruned folders."""
    found = _stage_folders(ctx, "compression", "quantize")
    for folder in rundir.stage_dirs(ctx.dir, "prune"):
        found += [(f, rundir.read_metrics(f)) for f in rundir.stage_dirs(folder, "quantize")]
    found = [(f, m) for f, m in found if "compression" in m]
    if not found:
        return None
    s = Section("compression", ctx.t("report.compression"))
    for folder, metrics in found:
        c = metrics["compression"]
        if folder != ctx.dir:
            s.blocks.append(link(ctx, folder))
        key = "test_accuracy" if "test_accuracy" in c["baseline"] else "test_rmse"
        (_, before), (_, after) = [(k, v) for k, v in c["latency_ms"]["batch_256"].items() if k != "speedup"]
        rows = [[ctx.t("report.dense"), integer(c["dense_bytes"]), "1.00×", "", ""],
                [ctx.t("report.compression_parent"), integer(c["parent_bytes"]),
                 f"{c['dense_bytes'] / c['parent_bytes']:.2f}×", num(c["baseline"][key]), f"{before:.3f}"],
                [ctx.t("report.compression_quantized"), integer(c["bytes"]), f"{c['ratio']:.2f}×",
                 num(c["quantized"][key]), f"{after:.3f}"]]
        s.blocks += [table(["", ctx.t("report.bytes"), "×", ctx.t("report.score"),
                            ctx.t("report.latency", batch=256)], rows, id="compression-table"),
                     note(ctx.t("report.compression_caption", parent=Path(metrics["parent"]).name,
                                method=c["method"], bits=c["bits"], runtime=c["runtime"]))]
        if c.get("note"):
            s.blocks.append(note(c["note"]))
    return s


def _calibration(ctx: Context) -> Section | None:
    found = _stage_folders(ctx, "calibration", "calibrate")
    if not found:
        return None
    s = Section("calibration", ctx.t("report.calibration"))
    for folder, metrics in found:
        c = metrics["calibration"]
        if folder != ctx.dir:
            s.blocks.append(link(ctx, folder))
        if (folder / "reliability.png").is_file():
            s.blocks.append(figure(file_uri(folder / "reliability.png"), ctx.t("report.reliability_caption"),
                                   ctx.t("report.reliability"), id="reliability"))
        keys = [k for k in ("accuracy", "nll", "brier", "ece") if k in c.get("before", {})]
        s.blocks.append(table([""] + [ctx.word("metric", k) for k in keys],
                              [[ctx.t(f"report.{w}")] + [num(c[w][k]) for k in keys] for w in ("before", "after")],
                              id="calibration-table"))
        if c.get("after", {}).get("ece", 0) > c.get("before", {}).get("ece", 0):
            s.blocks.append(note(ctx.t("report.ece_worse", before=f"{100 * c['before']['ece']:.2f}%",
                                       after=f"{100 * c['after']['ece']:.2f}%")))
        fitted = [(ctx.t("report.method"), c["method"])]
        fitted += [(ctx.word("metric", k), num(c[k])) for k in ("temperature", "samples", "members") if k in c]
        fitted += [(ctx.t("report.threshold", target=f"{100 * c['target_accuracy']:.0f}%"), num(c["threshold"])),
                   (ctx.t("report.coverage"), f"{100 * c['test_coverage_at_threshold']:.1f}%"),
                   (ctx.t("report.accuracy_kept"), num(c["test_accuracy_at_threshold"]))]
        if "ece_floor" in c:  # the sampling noise of ECE on this many test examples
            fitted.append((ctx.t("report.ece_floor"), num(c["ece_floor"])))
        s.blocks.append(kv(fitted))
        if "ood" in c:
            s.blocks += _ood(ctx, folder, c["ood"])
    return s


def _ood(ctx: Context, folder: Path, ood: dict[str, Any]) -> list[Block]:
    """The Mahalanobis scores of test images against the same images with shuffled pixels."""
    blocks: list[Block] = [{"kind": "h3", "text": ctx.t("report.ood")},
                           kv([(ctx.t("report.ood_threshold"), num(ood["threshold"])),
                               (ctx.t("report.ood_flagged"), f"{100 * ood['test_flagged']:.1f}%")])]
    xy = ctx.split()
    if ctx.run is None or xy is None or not (folder / "ood.safetensors").is_file():
        return blocks
    from neuroplast.trust import Mahalanobis

    density = Mahalanobis(ood["layer"]).load_state_dict(ctx.run.model, rundir.read_weights(folder / "ood.safetensors"))
    x = xy[0][:200]  # the density score is costly on wide features
    flat = x.reshape(len(x), -1)
    shuffled = flat[:, torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(0))].reshape(x.shape)
    inside, outside = density.score(x).numpy(), density.score(shuffled).numpy()
    words = plot_labels(ctx)
    blocks.append(figure(plot(lambda buf: histograms(inside, outside, ood["threshold"], buf, words)),
                         ctx.t("report.ood_caption", count=len(x)), ctx.t("report.ood"), id="ood-img"))
    return blocks


def _attributions(ctx: Context) -> Section | None:
    folders = [f for f in rundir.stage_dirs(ctx.dir, "explain") if (f / "explain.json").is_file()]
    if not folders:
        return None
    s = Section("attributions", ctx.t("report.attributions"))
    for folder in folders:
        e = rundir.read_small_json(folder, "explain.json")
        s.blocks.append({"kind": "h3", "text": ctx.t("report.attribution_method", method=e.get("method", "?"))})
        items = []
        for ex in e.get("examples", [])[:NUM_ATTRIBUTIONS]:
            saved = folder / Path(ex["png"]).name
            if saved.is_file():
                caption = ctx.t("report.attribution_caption", input=ex["input"], label=ex["label"])
                items.append(figure(file_uri(saved), caption, ctx.t("report.attribution_alt")))
        s.blocks.append({"kind": "gallery", "items": items, "id": f"{folder.name}-gallery", "wide": True})
        if (sanity := e.get("sanity")) is not None:
            s.blocks.append(kv([
                (ctx.t("report.randomization"), num(sanity["randomization_spearman_median"], 3)),
                *([(ctx.t("report.randomization_abs"), num(sanity["randomization_spearman_median_abs"], 3))]
                  if "randomization_spearman_median_abs" in sanity else []),
                (ctx.t("report.deletion"),
                 f"{num(sanity['deletion_area'], 3)} / {num(sanity['random_deletion_area'], 3)}"),
            ]))
            s.blocks.append(note(ctx.t("report.sanity_caption", count=sanity["examples"])))
    return s


def _stage_folders(ctx: Context, key: str, stage: str) -> list[tuple[Path, dict[str, Any]]]:
    """This folder (when its metrics hold ``key``) and the folders ``stage`` wrote for it
    (:func:`neuroplast.rundir.stage_dirs`) whose metrics hold ``key``. A damaged ``metrics.json``
    raises: the section becomes a note."""
    found = [(ctx.dir, ctx.metrics)] if key in ctx.metrics else []
    for folder in rundir.stage_dirs(ctx.dir, stage):
        metrics = rundir.read_metrics(folder)
        if key in metrics:
            found.append((folder, metrics))
    return found


SECTIONS: list[Callable[[Context], Section | None]] = [_pruning, _compression, _calibration, _attributions]
