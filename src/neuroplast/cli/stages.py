"""Commands for the stages after training: calibrate, explain, prune, export, report. Each builds
its stage's spec section from the flags (the section owns every choice and default) and runs the
stage through :func:`neuroplast.pipeline.run_stage`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from neuroplast.cli.options import add_field, section_options
from neuroplast.spec import (
    ExplainSpec,
    ExportSpec,
    PruneSpec,
    QuantizeSpec,
    ReportSpec,
    UncertaintySpec,
    section,
)


def add_commands(sub: Any) -> dict[str, Any]:
    c = sub.add_parser("calibrate", help="calibrate a classifier's confidence on its validation split")
    c.add_argument("run_dir", type=Path)
    add_field(c, UncertaintySpec, "method", help="temperature scaling and MC dropout fit on validation; "
              "ensemble trains --members - 1 more networks from the next seeds; laplace fits a posterior on the "
              "training data (laplace-torch) (default temperature)")
    for name in ("members", "then_temperature", "perturb", "ood", "target_accuracy"):
        add_field(c, UncertaintySpec, name, default=name == "target_accuracy")
    c.add_argument("--out", type=Path, help="folder to write (default: RUN_DIR/calibrated-METHOD)")

    xp = sub.add_parser("explain", help="which pixels drove an image classifier's prediction (heatmap PNGs)")
    xp.add_argument("run_dir", type=Path)
    xp.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="image files (default: the first "
                    "--count test examples)")
    for name in ("method", "count", "sanity"):
        add_field(xp, ExplainSpec, name)
    xp.add_argument("--out", type=Path, help="folder for the PNGs (default: RUN_DIR/explain-METHOD)")

    pn = sub.add_parser("prune", help="prune a trained run, fine-tune it and measure what it saves "
                        "(a new run folder)")
    pn.add_argument("run_dir", type=Path)
    for name in PruneSpec.model_fields:
        add_field(pn, PruneSpec, name, default=PruneSpec.model_fields[name].default is not None)
    pn.add_argument("--out", type=Path, help="run folder to write (default: RUN_DIR/pruned-METHOD)")
    pn.add_argument("--quiet", action="store_true")

    q = sub.add_parser("quantize", help="share a run's weights through k-means codebooks and code them compactly "
                       "(Deep Compression), or int8 (dynamic or static) through ONNX Runtime (a new run folder)")
    q.add_argument("run_dir", type=Path)
    for name in QuantizeSpec.model_fields:
        add_field(q, QuantizeSpec, name, default=QuantizeSpec.model_fields[name].default is not None)
    q.add_argument("--out", type=Path, help="run folder to write (default: RUN_DIR/quantized-METHOD)")
    q.add_argument("--quiet", action="store_true")

    x = sub.add_parser("export", help="export a run's model (ONNX, checked with ONNX Runtime)")
    x.add_argument("run_dir", type=Path)
    add_field(x, ExportSpec, "format")
    add_field(x, ExportSpec, "opset")
    x.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime round trip")
    x.add_argument("--out", type=Path, help="file to write (default: RUN_DIR/model.onnx)")

    rp = sub.add_parser("report", help="(re)write a run's self-contained report.html")
    rp.add_argument("run_dir", type=Path)
    add_field(rp, ReportSpec, "lang")
    rp.add_argument("--out", type=Path, help="file to write (default: RUN_DIR/report.html)")
    return {"calibrate": calibrate, "explain": explain, "prune": prune, "quantize": quantize, "export": export,
            "report": report}


def calibrate(args: argparse.Namespace) -> int:
    from neuroplast.pipeline import run_stage
    from neuroplast.rundir import read_metrics

    spec = section(UncertaintySpec, section_options(args, UncertaintySpec))
    folder = run_stage("uncertainty", args.run_dir, spec, out=args.out)
    c = read_metrics(folder)["calibration"]
    b, a = c["before"], c["after"]
    extra = f" (T = {c['temperature']:.3f})" if "temperature" in c else ""
    print(f"{spec.method}{extra}: test ECE {b['ece']:.2%} -> {a['ece']:.2%}, NLL {b['nll']:.4f} -> "
          f"{a['nll']:.4f}, accuracy {b['accuracy']:.4f} -> {a['accuracy']:.4f}")
    print(f"not sure below confidence {c['threshold']:.3f}: on test it answers "
          f"{c['test_coverage_at_threshold']:.1%} of inputs, {c['test_accuracy_at_threshold']:.2%} of them right")
    if "ood" in c:
        print(f"unfamiliar above Mahalanobis distance {c['ood']['threshold']:.1f} ({c['ood']['quantile']:.0%} "
              f"of validation inputs fall below it; {c['ood']['test_flagged']:.1%} of test inputs above)")
    print(f"run folder: {folder}")
    return 0


def explain(args: argparse.Namespace) -> int:
    from neuroplast.pipeline import run_stage
    from neuroplast.rundir import read_small_json

    spec = section(ExplainSpec, section_options(args, ExplainSpec))
    folder = run_stage("explain", args.run_dir, spec, out=args.out, inputs=args.inputs)
    result = read_small_json(folder, "explain.json")
    for item in result["examples"]:
        delta = f", completeness delta {item['delta']:.2g}" if item.get("delta") is not None else ""
        print(f"{item['input']}: {item['label']} -> {item['png']}{delta}")
    if "sanity" in result:
        s = result["sanity"]
        print(f"sanity ({s['examples']} test examples): randomisation Spearman median "
              f"{s['randomization_spearman_median']:.2f} (of |attributions|: "
              f"{s['randomization_spearman_median_abs']:.2f}); deletion area {s['deletion_area']:.3f} vs random "
              f"{s['random_deletion_area']:.3f}")
    return 0


def prune(args: argparse.Namespace) -> int:
    from neuroplast.pipeline import run_stage
    from neuroplast.rundir import read_metrics

    spec = section(PruneSpec, section_options(args, PruneSpec))
    folder = run_stage("prune", args.run_dir, spec, out=args.out, progress=not args.quiet)
    p = read_metrics(folder)["pruning"]
    key = "accuracy" if "test_accuracy" in p["baseline"] else "rmse"
    print(f"{'round':>5} {'removed':>8} {'val ' + key:>13} {'test ' + key:>14}")
    for row in p["curve"]:
        print(f"{row['round']:>5} {row['sparsity']:>8.2%} {row.get('val_' + key, float('nan')):>13.4f} "
              f"{row['test_' + key]:>14.4f}")
    b, prm, macs = p["bytes"], p["params"], p["macs"]
    print(f"parameters {prm['dense']:,} -> {prm['pruned']:,} ({prm['pruned_nonzero']:,} non-zero); "
          f"bytes on disk {b['dense']:,} -> {b['pruned']:,} ({b['ratio']:.1f}x smaller); "
          f"MACs {macs['dense']:,} -> {macs['pruned']:,} ({macs['pruned_nonzero']:,} with non-zero weights)")
    for batch, t in p["latency_ms"].items():
        print(f"latency {batch.replace('_', ' ')}: {t['dense']:.3f} ms -> {t['pruned']:.3f} ms "
              f"({t['speedup']:.2f}x, median, {p['threads']} thread{'s' if p['threads'] != 1 else ''})")
    if p.get("note"):
        print(f"note: {p['note']}")
    if p["not_pruned"]:
        print(f"not pruned: {', '.join(p['not_pruned'])}")
    print(f"run folder: {folder}")
    return 0


def quantize(args: argparse.Namespace) -> int:
    from neuroplast.pipeline import run_stage
    from neuroplast.rundir import read_metrics

    spec = section(QuantizeSpec, section_options(args, QuantizeSpec))
    folder = run_stage("quantize", args.run_dir, spec, out=args.out, progress=not args.quiet)
    c = read_metrics(folder)["compression"]
    key = "accuracy" if "test_accuracy" in c["baseline"] else "rmse"
    print(f"test {key}: {c['baseline']['test_' + key]:.4f} (parent) -> {c['quantized']['test_' + key]:.4f} "
          f"({c['method']}, {c['bits']} bits" + (f", {c['conv_bits']} in convolutions)" if "conv_bits" in c else ")"))
    print(f"bytes: {c['dense_bytes']:,} dense float32 -> {c['parent_bytes']:,} parent -> {c['bytes']:,} "
          f"{c['file']} ({c['ratio']:.1f}x smaller than dense)")
    for batch, t in c["latency_ms"].items():
        before, after = (t["parent"], t["quantized"]) if "parent" in t else (t["fp32"], t["int8"])
        print(f"latency {batch.replace('_', ' ')} ({c['runtime']}, {c['threads']} thread{'s' if c['threads'] != 1 else ''}): {before:.3f} ms -> "
              f"{after:.3f} ms ({t['speedup']:.2f}x, median)")
    if c.get("note"):
        print(f"note: {c['note']}")
    print(f"run folder: {folder}")
    return 0


def export(args: argparse.Namespace) -> int:
    from neuroplast.stages import export as export_run

    spec = section(ExportSpec, {"format": args.format, "opset": args.opset, "check": not args.no_check})
    result = export_run(args.run_dir, spec, out=args.out)
    if args.no_check:
        checked = "not checked (--no-check)"
    elif result.max_abs_diff is None:
        checked = "not checked (onnxruntime not installed)"
    else:
        checked = f"ONNX Runtime matches PyTorch to {result.max_abs_diff:.1e}"
    print(f"wrote {result.path} (opset {result.opset}); {checked}")
    return 0


def report(args: argparse.Namespace) -> int:
    from neuroplast.see.report import write_report

    spec = section(ReportSpec, {"lang": args.lang})
    print(f"wrote {write_report(args.run_dir, lang=spec.lang, out=args.out)}")
    return 0
