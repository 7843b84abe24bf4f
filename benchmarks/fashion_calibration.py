"""Fashion-MNIST calibration: every method side by side, and how far the ECE can be trusted.

Trains (or reuses) the shipped ``fashion-cnn`` at seeds S (each its own train/validation split) and,
for the first seed, M - 1 more members on that seed's split. Then scores on the 10,000 official test
images, ECE with 15 bins:

1. per seed: validation vs test accuracy and NLL, the uncalibrated model, and temperature scaling
   fitted on the validation split (the product's ``calibrate --method temperature``);
2. first seed: the deep ensemble of M members, alone and followed by a temperature, and the mixture
   of one last-layer Laplace approximation per member followed by a temperature (the product's
   ``calibrate --method ensemble|laplace --members M --then-temperature``);
3. a diagnostic, not a method: a temperature fitted on half of the *test* images and scored on the
   other half (both ways, median of five random halvings), i.e. calibration on data from the test
   distribution itself;
4. the ECE a perfectly calibrated model with the same confidences would show on 10,000 images
   (:func:`neuroplast.trust.ece_if_calibrated`, 2,000 draws): median, 5th and 95th percentiles, and
   the share of draws at or below the bar (0.5%).

    python benchmarks/fashion_calibration.py --data-dir ../shared/data --seeds 0 1 2 --members 5

Runs are kept under ``--work`` (``seed-S`` and ``seed-S-members/seed-K``) and reused. The last line is
``temperature_ece_median=E best_method=M best_ece=B floor=F perfect_within_bar=P``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

import neuroplast
from neuroplast.data import load_dataset
from neuroplast.rundir import load
from neuroplast.stages.calibrate import train_members
from neuroplast.trust import (
    DeepEnsemble,
    LaplaceApproximation,
    TemperatureScaling,
    Uncalibrated,
    ece_if_calibrated,
    scores,
)

BAR = 0.005


def parent(work: Path, seed: int, data_dir: Path):
    """The seed's run folder, trained by ``neuroplast.run`` unless a finished one is there."""
    folder = work / f"seed-{seed}"
    if (folder / "metrics.json").is_file():
        return load(folder)
    spec = neuroplast.load_spec("fashion-cnn").updated(seed=seed, data={"dir": str(data_dir / "fashion-mnist")})
    return neuroplast.run(spec, out=folder, progress=False)


def cross_fitted(method_logits: torch.Tensor, y: torch.Tensor, repeats: int = 5) -> float:
    """Test ECE when a temperature is fitted on one half of the test images and scores the other."""
    eces = []
    for r in range(repeats):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(r))
        halves = order[: len(y) // 2], order[len(y) // 2:]
        probs = torch.empty(len(y), method_logits.shape[1])
        for fit_on, score_on in (halves, halves[::-1]):
            t = TemperatureScaling(torch.nn.Identity()).fit(method_logits[fit_on], y[fit_on])
            probs[score_on] = t.predict(method_logits[score_on]).probs
        eces.append(scores(probs, y)["ece"])
    return statistics.median(eces)


def noise(probs: torch.Tensor) -> str:
    draws = ece_if_calibrated(probs, draws=2000)
    within = float((draws <= BAR).double().mean())
    return (f"{draws.median():.2%} | {draws.quantile(0.05):.2%}–{draws.quantile(0.95):.2%} | {within:.0%}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--work", type=Path, default=Path("runs/bench-fashion-calibration"))
    args = p.parse_args()
    header = ("| network | method | test ECE | test NLL | test accuracy | perfect calibration: median ECE | "
              "5–95% | draws ≤ 0.5% |\n|---|---|---|---|---|---|---|---|")
    rows, temperature_eces, best = [], [], ("", 1.0)

    def row(network: str, method: str, probs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        s = scores(probs, y)
        rows.append(f"| {network} | {method} | {s['ece']:.2%} | {s['nll']:.4f} | {s['accuracy']:.4f} | {noise(probs)} |")
        return s

    first = None
    print("| seed | val accuracy | val NLL | test accuracy | test NLL | T (validation) | T (test's own NLL) |")
    print("|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        run = parent(args.work, seed, args.data_dir)
        data = load_dataset(run.spec.data, run.spec.seed)
        first = first or (run, data)
        base = Uncalibrated(run.model)
        val_logits, test_logits = base.logits(data.x_val).clone(), base.logits(data.x_test).clone()
        temp = TemperatureScaling(run.model).fit(data.x_val, data.y_val)
        oracle = TemperatureScaling(torch.nn.Identity()).fit(test_logits, data.y_test)  # diagnostic only
        v, t = scores(val_logits.softmax(1), data.y_val), scores(test_logits.softmax(1), data.y_test)
        print(f"| {seed} | {v['accuracy']:.4f} | {v['nll']:.4f} | {t['accuracy']:.4f} | {t['nll']:.4f} | "
              f"{temp.temperature:.3f} | {oracle.temperature:.3f} |", flush=True)
        row(f"seed {seed}", "uncalibrated", test_logits.softmax(1), data.y_test)
        s = row(f"seed {seed}", f"temperature (T = {temp.temperature:.3f})", temp.predict(data.x_test).probs, data.y_test)
        temperature_eces.append(s["ece"])
        best = min(best, (f"temperature, seed {seed}", s["ece"]), key=lambda b: b[1])
        ece_x = cross_fitted(test_logits, data.y_test)
        rows.append(f"| seed {seed} | diagnostic: temperature cross-fitted on test halves | {ece_x:.2%} | | | | | |")
    run, data = first
    models = [run.model, *train_members(run, args.members - 1, args.work / f"seed-{run.spec.seed}-members")]
    m = len(models)
    ens = DeepEnsemble(models)
    row(f"seed {run.spec.seed} ×{m}", "ensemble", ens.predict(data.x_test).probs, data.y_test)
    methods = {
        "ensemble, then temperature": TemperatureScaling(ens).fit(data.x_val, data.y_val),
        "Laplace mixture, then temperature": TemperatureScaling(DeepEnsemble([
            LaplaceApproximation(net).fit(data.x_train, data.y_train, val=(data.x_val, data.y_val))
            for net in models])).fit(data.x_val, data.y_val),
    }
    for name, method in methods.items():
        s = row(f"seed {run.spec.seed} ×{m}", f"{name} (T = {method.temperature:.3f})",
                method.predict(data.x_test).probs, data.y_test)
        best = min(best, (f"{name} x{m}", s["ece"]), key=lambda b: b[1])
    ens_log = ens.predict(data.x_test).probs.clamp_min(1e-12).log()
    rows.append(f"| seed {run.spec.seed} ×{m} | diagnostic: ensemble, temperature cross-fitted on test halves | "
                f"{cross_fitted(ens_log, data.y_test):.2%} | | | | | |")
    print("\n" + header)
    print("\n".join(rows))
    floor = ece_if_calibrated(methods["ensemble, then temperature"].predict(data.x_test).probs, draws=2000)
    print(f"temperature_ece_median={statistics.median(temperature_eces):.4f} best_method={best[0].replace(' ', '_')} "
          f"best_ece={best[1]:.4f} floor={floor.median():.4f} perfect_within_bar={(floor <= BAR).double().mean():.2f}")


if __name__ == "__main__":
    main()
