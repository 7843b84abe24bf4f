"""Deep Compression on MNIST, each seed against its own dense parent: prune, share weights through
codebooks, code the positions; and int8 through ONNX Runtime on the MNIST CNN.

    python benchmarks/compression.py --seeds 0 1 2 --data-dir ../shared/data/mnist

Per seed (1 torch thread unless --threads):
- LeNet-300-100 (mnist-lenet-300-100): dense -> `neuroplast prune RUN --sparsity S` (the default recipe
  for that sparsity) -> codebook, B-bit indices (--lenet300-sparsity/--lenet300-bits; 0.92 and 5 bits were
  chosen on the runs' validation splits among 0.92/0.94 x 4/5 bits: the lowest validation loss of those at
  least 40x smaller once entropy-coded, see RESULTS.md, "Compression");
- LeNet-5 (mnist-lenet5): dense -> prune 0.95 (same short command) -> codebook, 5 bits (fc) / 5 bits (conv):
  with the spec's default 8-bit conv codebooks seed 0 gave 34.3x (5,210 bytes: the two conv codebooks of 103
  and 256 float16 values and their 7-8-bit indices are 1,260 bytes of it); 5 bits gave 40.3x at the same accuracy
  (those in file format 1; entropy-coded with float16 biases, format 2, 44.9x);
- int8 on the MNIST CNN (`mnist-cnn`, --cnn-epochs of training): `--method dynamic` and `--method static`
  (QDQ, per-channel, calibrated on 512 training images), accuracy in ONNX Runtime; then the float32 export,
  both int8 files and a QOperator-format static file (same calibration, for the format choice) run side by
  side in this process at batch 256, interleaved, one thread each, median of --latency-repeats.

Ratio: the dense float32 model.safetensors bytes over model.compressed's bytes. Loss: dense test
accuracy minus compressed, in percentage points. Parents and stages are reused from --work.
The last line gives the medians over the seeds (cnn_int8_loss_pp: the static method's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

import neuroplast


def _stage(parent: Path, folder: str, make) -> tuple[neuroplast.Run, float]:
    """The stage folder under ``parent``: reused when complete, else made by ``make(out)``."""
    out = parent / folder
    start = time.perf_counter()
    if (out / "metrics.json").is_file():
        return neuroplast.load(out), 0.0
    run = make(out)
    return run, time.perf_counter() - start


def lenet(spec: str, seed: int, args: argparse.Namespace, sparsity: float, bits: int) -> dict:
    """Dense -> pruned -> codebook for one LeNet and seed; the figures of each step."""
    dense_dir = args.work / f"{spec}-s{seed}"
    start = time.perf_counter()
    if not (dense_dir / "metrics.json").is_file():
        neuroplast.run(spec, out=dense_dir, data_dir=args.data_dir, progress=False, seed=seed,
                       train={"threads": args.threads})
    dense_s = time.perf_counter() - start
    pruned, prune_s = _stage(dense_dir, f"pruned-magnitude-{sparsity:g}", lambda out: neuroplast.prune(
        dense_dir, sparsity=sparsity, out=out, progress=False, latency_repeats=args.latency_repeats))
    coded, code_s = _stage(pruned.dir, f"quantized-codebook-{bits}-{args.conv_bits}", lambda out: neuroplast.quantize(
        pruned.dir, method="codebook", bits=bits, conv_bits=args.conv_bits, out=out, progress=False,
        latency_repeats=args.latency_repeats))
    dense_metrics = neuroplast.load(dense_dir).metrics
    dense = dense_metrics["test"]["accuracy"]
    c = coded.metrics["compression"]
    return {"model": spec, "seed": seed, "sparsity_asked": sparsity, "bits": bits,
            "val_loss_pp": 100 * (dense_metrics["val"]["accuracy"] - coded.metrics["val"]["accuracy"]),
            "dense_test": dense, "pruned_test": pruned.metrics["test"]["accuracy"],
            "coded_test": coded.metrics["test"]["accuracy"], "loss_pp": 100 * (dense - coded.metrics["test"]["accuracy"]),
            "sparsity": pruned.metrics["pruning"]["sparsity"], "dense_bytes": c["dense_bytes"],
            "pruned_bytes": c["parent_bytes"], "coded_bytes": c["bytes"], "ratio": c["ratio"],
            "ms_256": c["latency_ms"]["batch_256"], "seconds": {"dense": dense_s, "prune": prune_s, "code": code_s},
            "prune_recipe": {k: pruned.metrics["pruning"][k] for k in
                             ("schedule", "scope", "rounds", "epochs_per_round", "final_epochs", "distill")}}


def int8(seed: int, args: argparse.Namespace) -> dict:
    """Dynamic and static int8 of the dense MNIST CNN of this seed; accuracy from the stage folders, latency
    of the float32 export and the int8 files side by side here."""
    dense_dir = args.work / f"mnist-cnn-e{args.cnn_epochs}-s{seed}"
    start = time.perf_counter()
    if not (dense_dir / "metrics.json").is_file():
        neuroplast.run("mnist-cnn", out=dense_dir, data_dir=args.data_dir, progress=False, seed=seed,
                       train={"threads": args.threads, "epochs": args.cnn_epochs})
    row = {"model": "mnist-cnn", "seed": seed, "epochs": args.cnn_epochs,
           "seconds": {"dense": time.perf_counter() - start}}
    runs = {}
    for method in ("dynamic", "static"):
        runs[method], row["seconds"][method] = _stage(dense_dir, f"quantized-{method}", lambda out, m=method:
                                                      neuroplast.quantize(dense_dir, method=m, out=out, progress=False,
                                                                          latency_repeats=args.latency_repeats))
        c = runs[method].metrics["compression"]
        row.update({f"{method}_test": runs[method].metrics["test"]["accuracy"], f"{method}_bytes": c["bytes"],
                    f"{method}_loss_pp": 100 * (c["baseline"]["test_accuracy"] - c["quantized"]["test_accuracy"])})
    c = runs["static"].metrics["compression"]
    row.update(dense_test=c["baseline"]["test_accuracy"], onnx_fp32_test=c["onnx_fp32"]["test_accuracy"],
               onnx_fp32_bytes=c["onnx_fp32_bytes"], loss_pp=row["static_loss_pp"])
    row["ms_256"], row["load_avg"] = _int8_latency(dense_dir, runs, args)
    return row


def _int8_latency(dense_dir: Path, runs: dict, args: argparse.Namespace) -> tuple[dict, list[float]]:
    """Median ms per batch of 256 test images: float32, dynamic, static QDQ (the stage's file) and static
    QOperator, one ONNX Runtime thread each, interleaved; the load average before and after."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from neuroplast.export.onnx import export_model
    from neuroplast.stages.quantize import CalibrationReader, OnnxModule, calibration_inputs

    dense = neuroplast.load(dense_dir)
    data = dense.dataset()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        export_model(dense.model.cpu().eval(), dense.info, fp32, check=True)

        qop = Path(tmp) / "qoperator.onnx"
        reader = CalibrationReader(calibration_inputs(data.x_train, 512, dense.spec.seed))  # as the stage's
        quantize_static(str(fp32), str(qop), reader, quant_format=QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        files = {"fp32": fp32, "dynamic": runs["dynamic"].dir / "model.int8.onnx",
                 "static": runs["static"].dir / "model.int8.onnx", "static_qoperator": qop}
        sessions = {k: OnnxModule(f, threads=1).session for k, f in files.items()}
        x = data.x_test[:256].numpy()
        times: dict[str, list[float]] = {k: [] for k in sessions}
        for s in sessions.values():
            s.run(None, {"input": x})
        load = [os.getloadavg()[0]]
        for _ in range(args.latency_repeats):
            for k, s in sessions.items():
                t0 = time.perf_counter()
                s.run(None, {"input": x})
                times[k].append(1e3 * (time.perf_counter() - t0))
        load.append(os.getloadavg()[0])
    return {k: statistics.median(v) for k, v in times.items()}, load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path("runs/bench-compression"))
    p.add_argument("--latency-repeats", type=int, default=50)
    p.add_argument("--lenet300-sparsity", type=float, default=0.92)
    p.add_argument("--lenet300-bits", type=int, default=5, help="codebook bits of LeNet-300-100's layers")
    p.add_argument("--bits", type=int, default=5, help="codebook bits, LeNet-5's fully connected layers")
    p.add_argument("--cnn-epochs", type=int, default=3, help="training epochs of the mnist-cnn parent (the spec "
                   "says 6; 3 fit a shared 1-thread CPU)")
    p.add_argument("--conv-bits", type=int, default=5, help="codebook bits, convolutions (the spec's default is 8; "
                   "5 brings the 44k-parameter LeNet-5 to 40x, see the docstring)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}; LeNet-300-100: sparsity {args.lenet300_sparsity}, "
          f"{args.lenet300_bits} bits; LeNet-5 codebook bits fc/conv: {args.bits}/{args.conv_bits}", flush=True)
    rows: dict[str, list[dict]] = {"lenet300": [], "lenet5": [], "int8": []}
    for seed in args.seeds:
        rows["lenet300"].append(lenet("mnist-lenet-300-100", seed, args, args.lenet300_sparsity, args.lenet300_bits))
        rows["lenet5"].append(lenet("mnist-lenet5", seed, args, 0.95, args.bits))
        rows["int8"].append(int8(seed, args))
        for key in rows:
            print(json.dumps(rows[key][-1]), flush=True)
    print("| model | seed | sparsity / bits | val loss pp | dense | pruned | coded | loss pp | bytes dense -> pruned "
          "-> coded | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows["lenet300"] + rows["lenet5"]:
        print(f"| {r['model']} | {r['seed']} | {r['sparsity_asked']:g} / {r['bits']} | {r['val_loss_pp']:+.2f} | "
              f"{r['dense_test']:.4f} | {r['pruned_test']:.4f} | {r['coded_test']:.4f} | {r['loss_pp']:+.2f} | "
              f"{r['dense_bytes']:,} -> {r['pruned_bytes']:,} -> {r['coded_bytes']:,} | {r['ratio']:.1f}x |")
    print("| CNN int8 | seed | dense | onnx fp32 | dynamic (loss pp) | static (loss pp) | ms @256 fp32 / dynamic / "
          "static QDQ / static QOperator | static speed-up | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows["int8"]:
        ms = r["ms_256"]
        print(f"| {r['model']} ({r['epochs']} ep) | {r['seed']} | {r['dense_test']:.4f} | {r['onnx_fp32_test']:.4f} | "
              f"{r['dynamic_test']:.4f} ({r['dynamic_loss_pp']:+.2f}) | {r['static_test']:.4f} "
              f"({r['static_loss_pp']:+.2f}) | {ms['fp32']:.1f} / {ms['dynamic']:.1f} / {ms['static']:.1f} / "
              f"{ms['static_qoperator']:.1f} | {ms['fp32'] / ms['static']:.2f}x | "
              f"{r['load_avg'][0]:.1f}-{r['load_avg'][1]:.1f} |")

    def med(key: str, field: str) -> float:
        return statistics.median(r[field] for r in rows[key])

    print(f"lenet300_ratio={med('lenet300', 'ratio'):.1f} lenet300_loss_pp={med('lenet300', 'loss_pp'):.2f} "
          f"lenet5_ratio={med('lenet5', 'ratio'):.1f} lenet5_loss_pp={med('lenet5', 'loss_pp'):.2f} "
          f"cnn_int8_loss_pp={med('int8', 'loss_pp'):.2f}")


if __name__ == "__main__":
    main()
