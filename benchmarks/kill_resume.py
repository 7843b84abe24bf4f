"""Kill -9 in the middle of training, `neuroplast resume`, and compare with an uninterrupted run.

Runs the spec twice with the same seed: once straight through, once killed with SIGKILL right after
its checkpoint for epoch K is written, then resumed with `neuroplast resume`. Prints both runs' test
metrics and per-epoch losses and whether they are identical.

    python benchmarks/kill_resume.py mnist-cnn --data-dir ../shared/data/mnist --kill-after 3

With ``--moments N`` it kills N runs at random moments instead (seeded by ``--seed``), drawn uniformly
over the time the run holds its folder (from ``run.lock`` appearing to the process's exit: training,
writing the results, the stages and the report), then ``resume``s each; a run killed before its
first checkpoint is started again with ``run`` (what resume's message says). Every one must end with
weights (model.safetensors, byte for byte), history losses and test metrics identical to an
uninterrupted run:

    python benchmarks/kill_resume.py digits-mlp --moments 20 --set train.epochs=30 --set train.threads=1

``--span training`` kills during training alone, where a kill leaves the most to resume: each moment is
a random epoch E and a random fraction f, the kill coming f of an epoch's time (measured in the
uninterrupted run) after epoch E's checkpoint appears, so that it lands inside epoch E + 1 however
loaded the machine is.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
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
    p.add_argument("--moments", type=int, default=0, help="kill N runs at random moments instead")
    p.add_argument("--seed", type=int, default=0, help="seeds the random moments")
    p.add_argument("--span", choices=["all", "training"], default="all",
                   help="draw the moments over the whole run or over its training alone")
    args = p.parse_args()
    common = [args.spec, "--quiet", *(["--data-dir", str(args.data_dir)] if args.data_dir else []),
              *[a for kv in args.extra for a in ("--set", kv)]]
    if args.moments:
        random_moments(common, args.moments, args.seed, args.span)
        return
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


def fingerprint(run_dir: Path) -> tuple[bytes, list[tuple[str, str]], dict]:
    """What must be identical: the weights byte for byte, the per-epoch losses and the test metrics."""
    return ((run_dir / "model.safetensors").read_bytes(), history(run_dir),
            json.loads((run_dir / "metrics.json").read_text())["test"])


def finish_killed(common: list[str], run_dir: Path) -> str:
    """``resume`` until complete (or ``run`` again when killed before anything resumable): how it went."""
    resumed = subprocess.run(neuroplast("resume", str(run_dir), "--quiet"), capture_output=True, text=True)
    if resumed.returncode == 0:
        return "resumed"
    if "is complete" in resumed.stderr:
        return "complete"
    if "not a neuroplast run folder" in resumed.stderr or "No checkpoint" in resumed.stderr:
        again = subprocess.run(neuroplast("run", *common, "--out", str(run_dir)), capture_output=True, text=True)
        return "run again" if again.returncode == 0 else f"run again FAILED: {again.stderr.strip()[-200:]}"
    return f"FAILED: {resumed.stderr.strip()[-300:]}"


def appeared(proc: subprocess.Popen, path: Path) -> float:
    """When ``path`` appeared while the run goes on (run.lock: the folder claimed; metrics.json: training
    ended), polled every 10 ms."""
    while not path.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the run exited ({proc.returncode}) before writing {path}")
        time.sleep(0.01)
    return time.perf_counter()


def random_moments(common: list[str], moments: int, seed: int, span: str = "all") -> None:
    rng = random.Random(seed)
    print(f"threads: {torch.get_num_threads()} here; the runs use the spec's train.threads")
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "whole"
        started = time.perf_counter()
        proc = subprocess.Popen(neuroplast("run", *common, "--out", str(whole)), stdout=subprocess.DEVNULL)
        claimed = appeared(proc, whole / "run.lock")
        trained = appeared(proc, whole / "metrics.json")
        assert proc.wait() == 0, "the uninterrupted run failed"
        holding = time.perf_counter() - claimed
        lifetime = trained - claimed if span == "training" else holding
        print(f"uninterrupted run: {time.perf_counter() - started:.1f} s wall, {holding:.1f} s holding its folder, "
              f"{trained - claimed:.1f} s of it training; the kills are drawn from the first {lifetime:.1f} s")
        expected, epochs = fingerprint(whole), len(history(whole))
        print("| # | killed at (s after the claim; after epoch E's checkpoint with --span training) | state left | how it ended | identical |\n|---|---|---|---|---|")
        identical = 0
        for i in range(moments):
            run_dir = Path(tmp) / f"killed-{i}"
            epoch, at = (rng.randrange(epochs), rng.random() * lifetime / epochs) if span == "training" \
                else (0, rng.uniform(0.0, lifetime))
            proc = subprocess.Popen(neuroplast("run", *common, "--out", str(run_dir)), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            appeared(proc, run_dir / "run.lock")
            while checkpoint_epoch(run_dir) < epoch and proc.poll() is None:
                time.sleep(0.01)
            time.sleep(at)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            state = (f"epoch {checkpoint_epoch(run_dir)}, " +
                     ", ".join(n for n in ("metrics.json", "history.csv", "finished.json", "run.lock")
                               if (run_dir / n).exists()) if run_dir.exists() else "no folder")
            ended = finish_killed(common, run_dir)
            same = not ended.startswith(("FAILED", "run again FAILED")) and fingerprint(run_dir) == expected
            identical += same
            when = f"{at:.2f}" + (f" after epoch {epoch}" if span == "training" else "")
            print(f"| {i + 1} | {when} | {state} | {ended} | {same} |", flush=True)
        print(f"identical to the uninterrupted run: {identical} of {moments}")


if __name__ == "__main__":
    main()
