"""Out-of-distribution detection and "not sure": an MNIST CNN against Fashion-MNIST, seed by seed.

For each seed: train the spec (default ``mnist-fast`` with a 10% validation split), calibrate it with
``neuroplast calibrate --target-accuracy 0.995 --ood mahalanobis`` (the library call), then score the
Fashion-MNIST test set against the MNIST test set, both through MNIST's preprocessing: AUROC and
FPR at 95% TPR for max-softmax, entropy and the Mahalanobis distance on the conv features and on the
penultimate layer; and the share of the first 100 Fashion images that the calibrated run calls
"not sure" (confidence below its threshold, or distance above its threshold) and of the 10,000 MNIST
digits it calls "sure".

    python benchmarks/ood.py --data-dir ../shared/data --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

import neuroplast
from neuroplast.data.idx import read_idx
from neuroplast.spec import UncertaintySpec
from neuroplast.stages import calibrate
from neuroplast.trust import Mahalanobis, Uncalibrated, ood_metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data")
    p.add_argument("--spec", default="mnist-fast")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    fashion = read_idx(args.data_dir / "fashion-mnist/t10k-images-idx3-ubyte.gz")
    mnist = read_idx(args.data_dir / "mnist/t10k-images-idx3-ubyte.gz")
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            run = neuroplast.run(args.spec, out=Path(tmp) / "run", progress=False, seed=seed,
                                 data={"dir": str(args.data_dir / "mnist"), "val_fraction": 0.1})
            spec = UncertaintySpec(method="temperature", target_accuracy=0.995, ood="mahalanobis")
            cal = neuroplast.load(calibrate(run.dir, spec, out=Path(tmp) / "cal")).metrics["calibration"]
            x_in = run.inputs(mnist[:, None].astype(np.float32) / 255.0)
            x_out = run.inputs(fashion[:, None].astype(np.float32) / 255.0)
            base = Uncalibrated(run.model)
            p_in, p_out = base.predict(x_in), base.predict(x_out)
            conv = Mahalanobis("features").fit(run.model, *_train(run))
            pen = Mahalanobis("penultimate").fit(run.model, *_train(run))
            d_in, d_out = conv.score(x_in), conv.score(x_out)
            scores = {"max-softmax": ood_metrics(-p_in.confidence, -p_out.confidence),
                      "entropy": ood_metrics(p_in.entropy, p_out.entropy),
                      "Mahalanobis, conv features": ood_metrics(d_in, d_out),
                      "Mahalanobis, penultimate": ood_metrics(pen.score(x_in), pen.score(x_out))}
            t = cal["temperature"]
            conf_in = torch.softmax(base.logits(x_in) / t, 1).max(1).values
            conf_out = torch.softmax(base.logits(x_out[:100]) / t, 1).max(1).values
            unsure_out = (conf_out < cal["threshold"]) | (d_out[:100] > cal["ood"]["threshold"])
            sure_in = (conf_in >= cal["threshold"]) & (d_in <= cal["ood"]["threshold"])
            rows.append((seed, run.metrics["test"]["accuracy"], scores, unsure_out.float().mean().item(),
                         sure_in.float().mean().item()))
        print(f"seed {seed}: accuracy {rows[-1][1]:.4f}; " + "; ".join(
            f"{k} AUROC {v['auroc']:.4f} FPR95 {v['fpr_at_95_tpr']:.4f}" for k, v in scores.items())
            + f"; Fashion not sure {rows[-1][3]:.0%}, MNIST sure {rows[-1][4]:.2%}", flush=True)
    med = {k: statistics.median(r[2][k]["auroc"] for r in rows) for k in rows[0][2]}
    print(f"ood_auroc_median conv_mahalanobis={med['Mahalanobis, conv features']:.4f} "
          f"maxsoftmax={med['max-softmax']:.4f} not_sure_fashion_median={statistics.median(r[3] for r in rows):.2f} "
          f"sure_mnist_median={statistics.median(r[4] for r in rows):.4f}")


def _train(run: neuroplast.Run) -> tuple[torch.Tensor, torch.Tensor]:
    from neuroplast.data import load_dataset

    data = load_dataset(run.spec.data, run.spec.seed)
    return data.x_train, data.y_train


if __name__ == "__main__":
    main()
