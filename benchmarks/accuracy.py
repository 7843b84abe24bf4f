"""Test accuracy (or R²) of shipped specs over several seeds, with wall time: the figures of the
foundation issue's "done" list.

Each seed is a separate `neuroplast run` process (start-up included in the wall time), so what is
measured is exactly what a user runs. Prints one row per seed, then the median.

    python benchmarks/accuracy.py digits-cnn --seeds 0 1 2
    python benchmarks/accuracy.py mnist-cnn mnist-mlp fashion-cnn --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def run_once(spec: str, seed: int, data_dir: Path | None, out: Path, extra: list[str]) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "neuroplast", "run", spec, "--out", str(out), "--quiet",
           "--set", f"seed={seed}", *extra]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return json.loads((out / "metrics.json").read_text()), wall


def score_key(metrics: dict) -> tuple[str, str]:
    """The headline figure: val loss (nats/char) for language models, test RMSE for forecasts
    (baselines printed beside it), test accuracy or R² otherwise."""
    if metrics["task"] == "language-model":
        return "val", "loss"
    if metrics["task"] == "forecast":
        for name, b in metrics.get("baselines", {}).items():
            print(f"  baseline {name}: rmse={b['rmse']:.4f} (network/baseline = "
                  f"{metrics['test']['rmse'] / b['rmse']:.3f})")
        return "test", "rmse"
    return "test", "accuracy" if "accuracy" in metrics["test"] else "r2"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("specs", nargs="+")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-dir", type=Path, default=SHARED,
                   help="folder holding mnist/ and fashion-mnist/ (default: ../shared/data)")
    p.add_argument("--set", dest="extra", action="append", default=[], help="extra --set KEY=VALUE")
    args = p.parse_args()
    extra = [a for kv in args.extra for a in ("--set", kv)]
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.specs:
            scores, walls = [], []
            for seed in args.seeds:
                metrics, wall = run_once(spec, seed, args.data_dir, Path(tmp) / f"{spec}-{seed}", extra)
                split, key = score_key(metrics)
                scores.append(metrics[split][key])
                walls.append(wall)
                print(f"{spec} seed={seed} {split}_{key}={metrics[split][key]:.4f} wall_s={wall:.1f} "
                      f"train_s={metrics['train']['seconds']:.1f} epochs={metrics['train']['epochs']} "
                      f"threads={metrics['threads']} device={metrics['device']}", flush=True)
            summary.append(f"{spec}: median_{split}_{key}={statistics.median(scores):.4f} "
                           f"min={min(scores):.4f} max={max(scores):.4f} "
                           f"median_wall_s={statistics.median(walls):.1f}")
            print(summary[-1], flush=True)
    print(" | ".join(summary))


if __name__ == "__main__":
    main()
