"""Real CSV files as their makers wrote them (other delimiters, dates, missing cells), trained with the tabular
MLP spec (wine-mlp's network and training, data.source = 'csv'), 1 thread: test accuracy per seed and the
median, or the one-line error a file gets. Run it with another checkout on PYTHONPATH for a before/after.

    python benchmarks/messy_csv.py                              # statsmodels' anes96 (tabs), modechoice (;)
    python benchmarks/messy_csv.py seattle-weather.csv:weather --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import neuroplast


def default_files() -> list[str]:
    import statsmodels.datasets as sd

    root = Path(sd.__file__).parent
    return [f"{root / 'anes96' / 'anes96.csv'}:'vote'", f"{root / 'modechoice' / 'modechoice.csv'}:choice"]


def one(path: str, target: str, seed: int, out: Path) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        run = neuroplast.run("wine-mlp", data={"source": "csv", "path": path, "target": target},
                             train={"threads": 1}, seed=seed, out=out, progress=False)
    except neuroplast.UserError as e:
        return f"error: {str(e).splitlines()[0][:110]}", time.perf_counter() - started
    test = run.metrics["test"]
    metric = "accuracy" if "accuracy" in test else "r2"
    return f"{metric} {test[metric]:.4f}", time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="FILE.csv:TARGET (default: two statsmodels files)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"threads: {torch.get_num_threads()}; neuroplast from {Path(neuroplast.__file__).parent}")
    print(f"{'file':<24} {'target':<8} {'seed':>4}  {'result':<60} {'seconds':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for item in args.files or default_files():
            path, _, target = item.rpartition(":")
            scores = []
            for seed in args.seeds:
                result, seconds = one(path, target, seed, Path(tmp) / f"{Path(path).stem}-{target.strip(chr(39))}-{seed}")
                print(f"{Path(path).name:<24} {target:<8} {seed:>4}  {result:<60} {seconds:>7.1f}", flush=True)
                if not result.startswith("error"):
                    scores.append(float(result.split()[1]))
            if scores:
                print(f"{Path(path).name:<24} {target:<8} {'med':>4}  {statistics.median(scores):.4f}")


if __name__ == "__main__":
    main()
