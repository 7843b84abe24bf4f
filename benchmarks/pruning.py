"""Pruning against its own dense baseline, over several seeds: weights removed, accuracy change,
bytes on disk and measured CPU latency (dense and pruned in the same process).

    python benchmarks/pruning.py mnist-lenet-300-100 --method magnitude --schedule gradual \\
        --sparsity 0.96 --rounds 10 --epochs 4 --seeds 0 1 2 --data-dir ../shared/data/mnist

Each seed trains the parent run (or reuses it from --work), then prunes it with the same settings.
The last line gives the medians over the seeds. Run it alone on the machine for latency figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import neuroplast


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec")
    p.add_argument("--method", default="magnitude", choices=("magnitude", "saliency", "structured"))
    p.add_argument("--schedule", default="iterative")
    p.add_argument("--sparsity", type=float, default=0.9)
    p.add_argument("--rounds", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--final-epochs", type=int)
    p.add_argument("--distill", type=float, default=0.0)
    p.add_argument("--scope", default="global")
    p.add_argument("--rewind-epoch", type=int, default=1, help="lottery only: rewind to the weights after this epoch")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("runs/bench-pruning"))
    p.add_argument("--latency-repeats", type=int, default=50)
    args = p.parse_args()
    rows = []
    for seed in args.seeds:
        parent = args.work / f"{args.spec}-s{seed}"
        if not (parent / "metrics.json").is_file():
            neuroplast.run(args.spec, out=parent, data_dir=args.data_dir, progress=False, seed=seed,
                           train={"threads": args.threads})
        tag = f"{args.method}-{args.schedule}-{args.sparsity}-r{args.rounds}-e{args.epochs}-lr{args.lr}-f{args.final_epochs}-{args.scope}-d{args.distill}" + (
            f"-w{args.rewind_epoch}" if args.schedule == "lottery" else "")
        start = time.perf_counter()
        run = neuroplast.prune(parent, method=args.method, sparsity=args.sparsity, schedule=args.schedule,
                               rounds=args.rounds, epochs=args.epochs, lr=args.lr, scope=args.scope,
                               out=args.work / f"{parent.name}-{tag}", progress=False,
                               latency_repeats=args.latency_repeats, final_epochs=args.final_epochs,
                               distill=args.distill, rewind_epoch=args.rewind_epoch)
        seconds = time.perf_counter() - start
        m = run.metrics["pruning"]
        row = {"seed": seed, "dense_test": m["baseline"]["test_accuracy"],
               "pruned_test": m["curve"][-1]["test_accuracy"], "sparsity": m["sparsity"],
               "change_pp": 100 * m["test_accuracy_change"], "params": m["params"], "bytes_ratio": m["bytes"]["ratio"],
               "macs": m["macs"], "speedup_1": m["latency_ms"]["batch_1"]["speedup"],
               "speedup_256": m["latency_ms"]["batch_256"]["speedup"],
               "ms_256": m["latency_ms"]["batch_256"], "prune_seconds": seconds, "threads": m["threads"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in
           ("dense_test", "pruned_test", "sparsity", "change_pp", "bytes_ratio", "speedup_1", "speedup_256")}
    print(" ".join(f"median_{k}={v:.4f}" for k, v in med.items()),
          f"worst_change_pp={min(r['change_pp'] for r in rows):.3f}")


if __name__ == "__main__":
    main()
