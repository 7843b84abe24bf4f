"""Does validation rank the forecasters as the test period does? A diagnosis for issue 20, not a choice.

    python benchmarks/forecasting_ranks.py [--suite design|heldout|all] [--series marriages ...] [--seeds 0 1 2]

For each series, horizon and seed of ``benchmarks/forecasting.py``'s suites, the product's choice
(:func:`neuroplast.train.select.choose`, on the values before the test period only) gives every
candidate's mean fold MASE and the naive and seasonal-naive forecasts' on the same folds. This script
then trains **every** candidate as ``neuroplast run`` would train the chosen one (the run's split, the
chosen window) and scores all of them on the test period, to ask after the fact:

- how well the validation ranking of {candidates, committee, naive, seasonal naive} agrees with the test
  ranking (Spearman's rho per case; the median over cases);
- what a rule "fall back to the naive (or seasonal naive) forecast when no network validates better"
  would have scored beside the product's choice, per case, and whether either meets issue 20's
  "MASE <= seasonal naive" on every case, and the median ratio to the better of ETS and ARIMA.

It reads the test values of every candidate, so nothing here may be used to change a default: it
measures how much information the validation folds carry on these series. MASE is scaled as
``benchmarks/forecasting.py`` scales it (the calendar period).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time

import forecasting as fb
import numpy as np
import torch
from scipy.stats import spearmanr

from neuroplast.data.series import series_dataset
from neuroplast.data.smoothing import mase_scale
from neuroplast.train.select import candidate_spec, choose, pretest_values


def case_scores(s: fb.Series, values: np.ndarray, horizon: int, seed: int) -> dict[str, tuple[float, float]]:
    """``{forecaster: (validation MASE, test MASE)}`` for every candidate, the committee and the references
    (validation: the product's fold scores; test: the benchmark's scale)."""
    spec = fb._series_default(s, horizon, seed)
    pretest = pretest_values(values, spec)
    chosen_spec, record = choose(spec, pretest, s.season, s.name)
    data = series_dataset(s.name, values, chosen_spec.data, season=s.season)
    origins = fb.test_origins(len(values), horizon)
    truth = values[origins[:, None] + np.arange(horizon)]
    scale = mase_scale(values, int(origins[0]), s.period)
    test: dict[str, float] = {}
    for name, cand in record["candidates"].items():
        model_spec = candidate_spec(spec, name, record["window"], len(pretest), cand.get("members"))
        test[name] = fb.scores(fb._train_predict(model_spec, data, data.x_test, seed), truth, scale)["mase"]
    baselines = fb.baseline_forecasts(values, origins, horizon, s)
    out = {k: (v["val_mase"], test[k]) for k, v in record["candidates"].items()}
    for ref, val in record["references"].items():
        out[ref] = (val, fb.scores(baselines[ref], truth, scale)["mase"])
    out["_chosen"] = out[record["chosen"]]
    out["_snaive_test"] = (float("nan"), fb.scores(baselines["seasonal_naive"], truth, scale)["mase"])
    out["_best_stat_test"] = (float("nan"), min(fb.scores(baselines[k], truth, scale)["mase"]
                                                for k in ("ets", "arima")))
    return out


def with_fallback(scores: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """The choice among the networks, the committee and the references, on validation."""
    pool = {k: v for k, v in scores.items() if not k.startswith("_")}
    return pool[min(pool, key=lambda k: pool[k][0])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["design", "heldout", "all"], default="all")
    parser.add_argument("--series", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    pool = {"design": fb.SUITE, "heldout": fb.HELD_OUT, "all": fb.SUITE + fb.HELD_OUT}[args.suite]
    suite = [s for s in pool if args.series is None or s.name in args.series]
    print("| series | h | rho(val, test) median over seeds | val-best is test-best | chosen test MASE "
          "| with naive fallback | seasonal naive | min(ETS, ARIMA) | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    rhos, chosen_ok, fallback_ok, cases = [], 0, 0, 0
    ratios: dict[str, list[float]] = {"chosen": [], "fallback": []}
    for s in suite:
        values = s.load()
        for horizon in s.horizons:
            start = time.perf_counter()
            runs = [case_scores(s, values, horizon, seed) for seed in args.seeds]
            rho = []
            for r in runs:
                names = [k for k in r if not k.startswith("_")]
                rho.append(spearmanr([r[k][0] for k in names], [r[k][1] for k in names]).statistic)
            best_same = sum(min((k for k in r if not k.startswith("_")), key=lambda k: r[k][0])
                            == min((k for k in r if not k.startswith("_")), key=lambda k: r[k][1]) for r in runs)
            chosen = statistics.median(r["_chosen"][1] for r in runs)
            fallback = statistics.median(with_fallback(r)[1] for r in runs)
            snaive, best = runs[0]["_snaive_test"][1], runs[0]["_best_stat_test"][1]
            ratios["chosen"].append(chosen / best)
            ratios["fallback"].append(fallback / best)
            rhos.append(statistics.median(rho))
            cases += 1
            chosen_ok += chosen <= snaive
            fallback_ok += fallback <= snaive
            print(f"| {s.name} | {horizon} | {statistics.median(rho):.2f} ({' '.join(f'{x:.2f}' for x in rho)}) "
                  f"| {best_same}/{len(runs)} | {chosen:.3f} | {fallback:.3f} | {snaive:.3f} | {best:.3f} "
                  f"| {time.perf_counter() - start:.0f} |", flush=True)
    print(f"\nmedian rho over {cases} cases: {statistics.median(rhos):.2f}; MASE <= seasonal naive: chosen "
          f"{chosen_ok}/{cases}, with the naive fallback {fallback_ok}/{cases}; median ratio to min(ETS, ARIMA): "
          f"chosen {statistics.median(ratios['chosen']):.3f}, with the naive fallback "
          f"{statistics.median(ratios['fallback']):.3f}")


if __name__ == "__main__":
    sys.exit(main())
