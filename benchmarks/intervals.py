"""90% prediction intervals for regression and forecasting, over several seeds: empirical coverage
and mean width on the test split, in target units.

For each spec and seed the run is trained twice, with the plain squared-error head and with a Gaussian
head (``train.loss = "gaussian_nll"``), then ``neuroplast.stages.conformal.conformal_scores`` fits split conformal
on the validation split (normalized by the head's sigma for the Gaussian head); forecasts also get
adaptive conformal inference, which walks the test windows in time order.

    python benchmarks/intervals.py --specs diabetes-mlp sunspots-lstm --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import neuroplast
from neuroplast.stages.conformal import conformal_scores

KEYS = {"split conformal": ("test_coverage", "test_mean_width"),
        "Gaussian head alone": ("gaussian_test_coverage", "gaussian_test_mean_width"),
        "adaptive conformal": ("adaptive_test_coverage", "adaptive_test_mean_width")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--specs", nargs="+", default=["diabetes-mlp", "sunspots-lstm"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--alpha", type=float, default=0.1)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="intervals-"))
    rows = []
    for spec in args.specs:
        for loss in ("mse", "gaussian_nll"):
            per_method: dict[str, list[tuple[float, float]]] = {}
            for seed in args.seeds:
                run = neuroplast.run(spec, out=work / f"{spec}-{loss}-{seed}", seed=seed, progress=False,
                                     overrides=[f"train.loss={loss}"])
                c = conformal_scores(run, args.alpha)
                line = {"spec": spec, "loss": loss, "seed": seed, "rmse": run.metrics["test"]["rmse"],
                        "calibration_points": c["val_samples"], "test_points": c["test_samples"]}
                for name, (cov, width) in KEYS.items():
                    if cov in c:
                        per_method.setdefault(name, []).append((c[cov], c[width]))
                        line[name] = [round(c[cov], 3), round(c[width], 1)]
                print(json.dumps(line), flush=True)
            for name, values in per_method.items():
                rows.append((spec, loss, name, [v[0] for v in values], statistics.median(v[1] for v in values)))
    print("\n| spec | head | intervals | coverage per seed | median coverage | median width |")
    print("|---|---|---|---|---|---|")
    for spec, loss, name, covs, width in rows:
        print(f"| {spec} | {loss} | {name} | {' / '.join(f'{c:.3f}' for c in covs)} | "
              f"{statistics.median(covs):.3f} | {width:.1f} |")


if __name__ == "__main__":
    main()
