"""train.threads = "auto" against fixed thread counts, on a quiet machine and with one core kept busy.

The digits MLP (configs/digits-mlp.toml: 64-256-128-10, 60 epochs of 21 batches) trains with
``train.threads`` = 1, 2 (torch's default on a 2-core machine) and "auto", interleaved (1, 2, auto, 1, 2,
auto, ...) so that the three share the machine's moment. In the "busy" condition a second process spins
on one core for the whole measurement (``while True: pass``), as a notebook kernel, a browser or another
training job would. Each cell is the median wall time of ``neuroplast.experiment.train`` (training,
validation and the run folder's files; "auto" includes its own measurement) over the repeats.

    python benchmarks/threads_auto.py                 # quiet and busy, 3 repeats each
    python benchmarks/threads_auto.py --repeats 5 --conditions busy

The last line is ``auto_vs_best_fixed_busy=X``: auto's median over the best fixed count's (the bar: <= 1.3).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from neuroplast import experiment
from neuroplast.train.threads import usable_cores

SETTINGS: tuple[int | str, ...] = (1, 2, "auto")


def one_run(setting: int | str, folder: Path) -> tuple[float, dict]:
    spec = experiment.resolve_spec("digits-mlp", None, (), {"train": {"threads": setting}})
    data = experiment.load_data(spec)
    start = time.perf_counter()
    run = experiment.train(spec, data, out=folder, progress=False)
    return time.perf_counter() - start, run.metrics["train"]["threads"]


def measure(condition: str, repeats: int, root: Path) -> dict[str, list[float]]:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if condition == "busy" else None
    times: dict[str, list[float]] = {str(s): [] for s in SETTINGS}
    try:
        time.sleep(0.5 if spinner else 0.0)
        for r in range(repeats):
            for setting in SETTINGS:
                seconds, chosen = one_run(setting, root / f"{condition}-{setting}-{r}")
                times[str(setting)].append(seconds)
                if setting == "auto":
                    print(f"  {condition} repeat {r}: auto chose {chosen['threads']} "
                          f"(seconds per step {chosen.get('seconds_per_step')})", flush=True)
    finally:
        if spinner is not None:
            spinner.kill()
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--conditions", nargs="+", default=["quiet", "busy"], choices=["quiet", "busy"])
    args = p.parse_args()
    print(f"digits-mlp, {usable_cores()} usable cores, torch {torch.__version__}, median of {args.repeats}")
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        for condition in args.conditions:
            times = measure(condition, args.repeats, Path(tmp))
            medians = {k: statistics.median(v) for k, v in times.items()}
            best_fixed = min(medians["1"], medians["2"])
            ratios[condition] = medians["auto"] / best_fixed
            print(f"{condition:6s} threads=1 {medians['1']:7.2f} s  threads=2 {medians['2']:7.2f} s  "
                  f"auto {medians['auto']:7.2f} s  auto/best fixed {ratios[condition]:.2f}", flush=True)
    for condition, ratio in ratios.items():
        print(f"auto_vs_best_fixed_{condition}={ratio:.3f}")


if __name__ == "__main__":
    main()
