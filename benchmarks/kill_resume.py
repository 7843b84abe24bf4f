"""Kill -9 in the middle of training, `neuroplast resume`, and compare with an uninterrupted run.

Runs the spec twice with the same seed: once straight through, once killed with SIGKILL right after
its checkpoint for epoch K is written, then resumed with `neuroplast resume`. Prints both runs' test
metrics and per-epoch losses and whether they are identical.

    python benchmarks/kill_resume.py mnist-cnn --data-dir ../shared/data/mnist --kill-after 3
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def neuroplast(*args: str) -> list[str]:
    return [sys.executable, "-m", "neuroplast", *args]


def checkpoint_epoch(run_dir: Path) -> int:
    path = run_dir / "checkpoint" / "last.pt"
    try:
        return int(torch.load(path, weights_only=True)["epoch"])
    except Exception:  # not written yet, or being replaced at this instant
        return 0


def history(run_dir: Path) -> list[tuple[str, str]]:
    with open(run_dir / "history.csv") as f:
        return [(r["train_loss"], r["val_loss"]) for r in csv.DictReader(f)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec")
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--kill-after", type=int, default=2, help="kill once epoch K is checkpointed")
    p.add_argument("--set", dest="extra", action="append", default=[])
    args = p.parse_args()
    common = [args.spec, "--quiet", *(["--data-dir", str(args.data_dir)] if args.data_dir else []),
              *[a for kv in args.extra for a in ("--set", kv)]]
    with tempfile.TemporaryDirectory() as tmp:
        whole, killed = Path(tmp) / "whole", Path(tmp) / "killed"
        subprocess.run(neuroplast("run", *common, "--out", str(whole)), check=True, stdout=subprocess.DEVNULL)
        proc = subprocess.Popen(neuroplast("run", *common, "--out", str(killed)), stdout=subprocess.DEVNULL)
        while checkpoint_epoch(killed) < args.kill_after:
            if proc.poll() is not None:
                sys.exit("the run finished before it could be killed; lower --kill-after")
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done = checkpoint_epoch(killed)
        print(f"killed with SIGKILL after epoch {done} was checkpointed; metrics.json present: "
              f"{(killed / 'metrics.json').exists()}")
        subprocess.run(neuroplast("resume", str(killed), "--quiet"), check=True, stdout=subprocess.DEVNULL)
        a = json.loads((whole / "metrics.json").read_text())
        b = json.loads((killed / "metrics.json").read_text())
        for name, m in (("uninterrupted", a), ("killed+resumed", b)):
            print(f"{name:15s} epochs={m['train']['epochs']} test={ {k: v for k, v in m['test'].items() if k != 'confusion_matrix'} }")
        same = a["test"] == b["test"] and history(whole) == history(killed)
        print(f"identical_test_metrics_and_history={same}")


if __name__ == "__main__":
    main()
