"""How separable the classes are after each block of a trained network: the vector space, measured.

Trains a spec (default: mnist-cnn, from --data-dir) or reads a run folder, and prints for each stage
(the input pixels, each block, the logits) its width and the leave-one-out 5-nearest-neighbour accuracy
of the first --count test examples there, as the report's Vector space section does. A network that
learned a useful space raises it from the input to the last hidden layer.

    python benchmarks/vector_space.py --data-dir ../shared/data --set train.epochs=2
    python benchmarks/vector_space.py --run runs/mnist-cnn-...
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import neuroplast
from neuroplast.trust.space import knn_accuracy, representations


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default="mnist-cnn")
    p.add_argument("--run", type=Path, help="a trained run folder instead of training")
    p.add_argument("--data-dir")
    p.add_argument("--set", dest="changes", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        if args.run is None:
            spec = neuroplast.load_spec(args.spec, [f"train.threads={args.threads}", *args.changes])
            run = neuroplast.run(spec, out=Path(tmp) / "run", data_dir=args.data_dir, progress=False)
        else:
            run = neuroplast.load(args.run)
        trained = time.perf_counter() - started
        data = run.dataset()
        x, y = data.x_test[:args.count], data.y_test[:args.count]
        started = time.perf_counter()
        stages = representations(run.model, x)
        print(f"{'stage':16s} {'dims':>6s} {'5-NN accuracy':>13s}")
        for name, vectors in stages.items():
            print(f"{name:16s} {vectors.shape[1]:6d} {knn_accuracy(vectors, y):13.4f}")
        print(f"test accuracy {run.metrics['test']['accuracy']:.4f}; first {len(y)} test examples; "
              f"{args.threads} threads; training {trained:.0f} s, measuring {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
