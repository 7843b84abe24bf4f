"""Deep Compression on MNIST, each seed against its own dense parent: prune, share weights through
codebooks, code the positions; and int8 through ONNX Runtime on a CNN.

    python benchmarks/compression.py --seeds 0 1 2 --data-dir ../shared/data/mnist

Per seed (1 torch thread unless --threads):
- LeNet-300-100 (mnist-lenet-300-100): dense -> `neuroplast prune RUN --sparsity 0.96` (the default
  recipe chosen for that sparsity) -> codebook, 5-bit fully connected indices;
- LeNet-5 (mnist-lenet5): dense -> prune 0.95 (same short command) -> codebook, 5 bits (fc) / 5 bits (conv):
  with the spec's default 8-bit conv codebooks seed 0 gave 34.3x (5,210 bytes: the two conv codebooks of 103
  and 256 float16 values and their 7-8-bit indices are 1,260 bytes of it); 5 bits gave 40.3x at the same accuracy;
- the CNN for int8: the dense LeNet-5 run (two conv layers and a 3-layer head), `--method dynamic`,
  accuracy and latency at batch 256 in ONNX Runtime, float32 against int8, same session options.

Ratio: the dense float32 model.safetensors bytes over model.compressed's bytes. Loss: dense test
accuracy minus compressed, in percentage points. Parents and stages are reused from --work.
The last line gives the medians over the seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
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


def lenet(spec: str, seed: int, args: argparse.Namespace, sparsity: float) -> dict:
    """Dense -> pruned -> codebook for one LeNet and seed; the figures of each step."""
    dense_dir = args.work / f"{spec}-s{seed}"
    start = time.perf_counter()
    if not (dense_dir / "metrics.json").is_file():
        neuroplast.run(spec, out=dense_dir, data_dir=args.data_dir, progress=False, seed=seed,
                       train={"threads": args.threads})
    dense_s = time.perf_counter() - start
    pruned, prune_s = _stage(dense_dir, "pruned-magnitude", lambda out: neuroplast.prune(
        dense_dir, sparsity=sparsity, out=out, progress=False, latency_repeats=args.latency_repeats))
    coded, code_s = _stage(pruned.dir, f"quantized-codebook-{args.bits}-{args.conv_bits}", lambda out: neuroplast.quantize(
        pruned.dir, method="codebook", bits=args.bits, conv_bits=args.conv_bits, out=out, progress=False,
        latency_repeats=args.latency_repeats))
    dense = neuroplast.load(dense_dir).metrics["test"]["accuracy"]
    c = coded.metrics["compression"]
    return {"model": spec, "seed": seed, "dense_test": dense, "pruned_test": pruned.metrics["test"]["accuracy"],
            "coded_test": coded.metrics["test"]["accuracy"], "loss_pp": 100 * (dense - coded.metrics["test"]["accuracy"]),
            "sparsity": pruned.metrics["pruning"]["sparsity"], "dense_bytes": c["dense_bytes"],
            "pruned_bytes": c["parent_bytes"], "coded_bytes": c["bytes"], "ratio": c["ratio"],
            "ms_256": c["latency_ms"]["batch_256"], "seconds": {"dense": dense_s, "prune": prune_s, "code": code_s},
            "prune_recipe": {k: pruned.metrics["pruning"][k] for k in
                             ("schedule", "scope", "rounds", "epochs_per_round", "final_epochs", "distill")}}


def int8(seed: int, args: argparse.Namespace) -> dict:
    """Dynamic int8 of the dense CNN of this seed (the LeNet-5 parent), measured in ONNX Runtime."""
    dense_dir = args.work / f"mnist-lenet5-s{seed}"
    run, seconds = _stage(dense_dir, "quantized-dynamic", lambda out: neuroplast.quantize(
        dense_dir, method="dynamic", out=out, progress=False, latency_repeats=args.latency_repeats))
    c = run.metrics["compression"]
    dense = c["baseline"]["test_accuracy"]
    ms = c["latency_ms"]["batch_256"]
    return {"model": "mnist-lenet5 int8", "seed": seed, "dense_test": dense,
            "onnx_fp32_test": c["onnx_fp32"]["test_accuracy"], "int8_test": run.metrics["test"]["accuracy"],
            "loss_pp": 100 * (dense - run.metrics["test"]["accuracy"]), "fp32_ms_256": ms["fp32"],
            "int8_ms_256": ms["int8"], "speedup": ms["speedup"], "int8_bytes": c["bytes"],
            "onnx_fp32_bytes": c["onnx_fp32_bytes"], "seconds": seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path("runs/bench-compression"))
    p.add_argument("--latency-repeats", type=int, default=50)
    p.add_argument("--bits", type=int, default=5, help="codebook bits, fully connected layers")
    p.add_argument("--conv-bits", type=int, default=5, help="codebook bits, convolutions (the spec's default is 8; "
                   "5 brings the 44k-parameter LeNet-5 to 40x, see the docstring)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}; codebook bits fc/conv: {args.bits}/{args.conv_bits}", flush=True)
    rows: dict[str, list[dict]] = {"lenet300": [], "lenet5": [], "int8": []}
    for seed in args.seeds:
        rows["lenet300"].append(lenet("mnist-lenet-300-100", seed, args, 0.96))
        rows["lenet5"].append(lenet("mnist-lenet5", seed, args, 0.95))
        rows["int8"].append(int8(seed, args))
        for key in rows:
            print(json.dumps(rows[key][-1]), flush=True)
    print("| model | seed | dense | pruned | coded | loss pp | bytes dense -> pruned -> coded | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows["lenet300"] + rows["lenet5"]:
        print(f"| {r['model']} | {r['seed']} | {r['dense_test']:.4f} | {r['pruned_test']:.4f} | {r['coded_test']:.4f} "
              f"| {r['loss_pp']:+.2f} | {r['dense_bytes']:,} -> {r['pruned_bytes']:,} -> {r['coded_bytes']:,} "
              f"| {r['ratio']:.1f}x |")
    print("| CNN int8 | seed | dense | onnx fp32 | int8 | loss pp | ms fp32 / int8 @256 | speed-up |")
    for r in rows["int8"]:
        print(f"| {r['model']} | {r['seed']} | {r['dense_test']:.4f} | {r['onnx_fp32_test']:.4f} | "
              f"{r['int8_test']:.4f} | {r['loss_pp']:+.2f} | {r['fp32_ms_256']:.2f} / {r['int8_ms_256']:.2f} | "
              f"{r['speedup']:.2f}x |")

    def med(key: str, field: str) -> float:
        return statistics.median(r[field] for r in rows[key])

    print(f"lenet300_ratio={med('lenet300', 'ratio'):.1f} lenet300_loss_pp={med('lenet300', 'loss_pp'):.2f} "
          f"lenet5_ratio={med('lenet5', 'ratio'):.1f} lenet5_loss_pp={med('lenet5', 'loss_pp'):.2f} "
          f"cnn_int8_loss_pp={med('int8', 'loss_pp'):.2f}")


if __name__ == "__main__":
    main()
