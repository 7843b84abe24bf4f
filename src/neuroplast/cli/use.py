"""Commands that use a trained run: predict, generate, serve."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuroplast.cli.options import add_field
from neuroplast.errors import UserError
from neuroplast.spec import ConformalSpec, ReportSpec, section

if TYPE_CHECKING:  # the CLI imports torch-heavy modules only in the command that runs
    from neuroplast.rundir import Run


def add_commands(sub: Any) -> dict[str, Any]:
    pr = sub.add_parser("predict", help="classify images (PNG/JPG) or CSV rows with a trained run")
    pr.add_argument("run_dir", type=Path)
    pr.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    pr.add_argument("--top", type=int, default=3, help="how many classes to list per input")
    pr.add_argument("--uncertainty", action="store_true", help="classifiers: print confidence and entropy, "
                    "and 'not sure' below the threshold `neuroplast calibrate` chose; regression and forecasts: "
                    "a split-conformal interval from the run's validation split")
    add_field(pr, ConformalSpec, "coverage", default=False,
              help="regression --uncertainty: the share of answers the intervals should hold (default "
              f"{ConformalSpec.model_fields['coverage'].default})")

    g = sub.add_parser("generate", help="sample text from a character language model run")
    g.add_argument("run_dir", type=Path)
    g.add_argument("--prompt", default="", help="text to continue")
    g.add_argument("--tokens", type=int, default=300, help="characters to generate")
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--seed", type=int, default=0)

    sv = sub.add_parser("serve", help="a local web page and JSON API for a run: draw a digit, see the answer")
    sv.add_argument("run_dir", type=Path)
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other "
                    "address requires the token printed at start-up)")
    sv.add_argument("--port", type=int, default=8000)
    add_field(sv, ReportSpec, "lang", help="the page's first language")
    return {"predict": predict, "generate": generate, "serve": serve}


def predict(args: argparse.Namespace) -> int:
    from neuroplast.rundir import load

    run = load(args.run_dir)
    if run.info["task"] == "language-model":
        raise UserError(f"{args.run_dir} is a character language model; predict is for classifiers and "
                        f"regressors. Continue a text with: neuroplast generate {shlex.quote(str(args.run_dir))} "
                        f"--prompt {shlex.quote(' '.join(map(str, args.inputs)))}")
    regression = run.objective.kind == "regression"
    if args.coverage is not None and not (args.uncertainty and regression):
        unset = "" if args.uncertainty else " and --uncertainty is not set"
        raise UserError("--coverage sets the intervals of `predict --uncertainty` on a regression or forecasting "
                        f"run; {args.run_dir} is a {run.info['task']} run{unset}.")
    if args.top < 1:
        raise UserError(f"--top must be at least 1 (classes listed per input); received {args.top}.")
    if regression:
        _predict_values(run, args)
    else:
        _predict_classes(run, args)
    return 0


def _predict_values(run: Run, args: argparse.Namespace) -> None:
    """Regression and forecasts: values, each with its split-conformal interval under --uncertainty."""
    from neuroplast.stages.conformal import on_validation

    spec = section(ConformalSpec, {"coverage": args.coverage})
    conformal = on_validation(run, spec.alpha)[0] if args.uncertainty else None
    for path in args.inputs:
        # one forward pass: the interval's centre is the prediction (in the target's units)
        bounds = None if conformal is None else conformal.predict(run.inputs([path])).to_units(run.preprocess)
        values = run.predict([path]) if bounds is None else bounds.mean.numpy()
        for i, v in enumerate(values):
            steps = np.atleast_1d(np.asarray(v, dtype=float))  # one value per target or forecast step
            if bounds is None:
                text = " ".join(f"{x:.6g}" for x in steps)
            else:  # each value with its own range
                text = "; ".join(f"{x:.6g} [{lo:.6g}, {hi:.6g}]" for x, lo, hi in
                                 zip(steps, bounds.lower[i].tolist(), bounds.upper[i].tolist(), strict=True))
                text += (f" ({spec.coverage * 100:g}% interval{'s' if len(steps) > 1 else ''}, split conformal "
                         f"on {conformal.n} validation examples)")
            print(f"{path}{f'[{i}]' if len(values) > 1 else ''}: {text}")


def _predict_classes(run: Run, args: argparse.Namespace) -> None:
    """Classifiers: the top classes, and under --uncertainty the confidence, entropy and "not sure"."""
    from neuroplast.stages.calibrate import calibrated_method

    calibrated = calibrated_method(run) if args.uncertainty else None
    for path in args.inputs:
        prediction = None if calibrated is None else calibrated.predict(run.inputs([path]))
        proba = run.predict_proba([path]) if prediction is None else prediction.probs.numpy()
        mutual_information = (None if prediction is None or prediction.mutual_information is None
                              else prediction.mutual_information.tolist())
        names = run.class_names or [str(i) for i in range(proba.shape[1])]
        for i, row in enumerate(proba):
            order = row.argsort()[::-1][: args.top]
            top = ", ".join(f"{names[k]} {row[k]:.3f}" for k in order)
            line = f"{path}{f'[{i}]' if len(proba) > 1 else ''}: {names[order[0]]} ({top})"
            if args.uncertainty:
                line += _uncertainty(run, path, i, row, mutual_information)
            print(line)


def _uncertainty(run: Run, path: Path, i: int, row: np.ndarray, mutual_information: list[float] | None) -> str:
    """Confidence, entropy, disagreement, distance and the "sure" / "not sure" verdict of one answer."""
    from neuroplast.stages.calibrate import ood_scores

    cal = run.metrics.get("calibration", {})
    threshold = cal.get("threshold")
    entropy = float(-(row * np.log(np.clip(row, 1e-12, None))).sum())
    line = f"; confidence {row.max():.3f}, entropy {entropy:.3f} nats"
    if mutual_information is not None:  # ensemble / MC dropout: how much the samples disagree
        line += f", mutual information {mutual_information[i]:.3f} nats"
    unfamiliar = False
    if "ood" in cal:
        distance = ood_scores(run, run.inputs([path]))[i]
        unfamiliar = distance > cal["ood"]["threshold"]
        line += f", distance {distance:.1f}"
    if unfamiliar:
        return line + "; not sure (unlike the training data)"
    if threshold is not None:
        return line + ("; not sure" if row.max() < threshold else "; sure")
    return line + " (no 'not sure' threshold: run `neuroplast calibrate` on this folder first)"


def generate(args: argparse.Namespace) -> int:
    from neuroplast.generate import generate as sample
    from neuroplast.rundir import load

    print(sample(load(args.run_dir), args.prompt, args.tokens, args.temperature, args.top_k, args.seed))
    return 0


def serve(args: argparse.Namespace) -> int:
    from neuroplast.see.server import serve as serve_run

    serve_run(args.run_dir, host=args.host, port=args.port, lang=args.lang)
    return 0
