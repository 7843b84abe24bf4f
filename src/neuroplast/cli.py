"""The ``neuroplast`` command: a thin layer from argv to a spec and a library call.

Bad input (a spec key, a file, a shape) prints one line and exits with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from neuroplast.errors import TrainingDiverged, UserError, check_output


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuroplast", description="Train, evaluate and use neural networks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="train the network a spec describes and write its run folder")
    r.add_argument("spec", nargs="?", default=None, help="spec file or shipped name (default: digits-cnn)")
    r.add_argument("--out", type=Path, help="run folder (default: runs/<name>-<time>)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec value, e.g. --set train.lr=3e-4 (repeatable)")
    r.add_argument("--data-dir", type=Path, help="folder with the data files (sets data.dir)")
    r.add_argument("--quiet", action="store_true", help="no progress output")

    f = sub.add_parser("lr-find", help="sweep the learning rate on a spec's model and suggest one (with a plot)")
    f.add_argument("spec", nargs="?", default=None, help="spec file or shipped name (default: digits-cnn)")
    f.add_argument("--out", type=Path, help="folder for lr_find.png and lr_find.json "
                   "(default: runs/<name>-lr-find-<time>)")
    f.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec value, e.g. --set train.optimizer=sgd (repeatable)")
    f.add_argument("--data-dir", type=Path, help="folder with the data files (sets data.dir)")

    s = sub.add_parser("resume", help="continue an interrupted run from its last checkpoint")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--quiet", action="store_true")

    e = sub.add_parser("evaluate", help="re-measure a run on its test split")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--split", choices=("test", "val", "train"), default="test")

    pr = sub.add_parser("predict", help="classify images (PNG/JPG) or CSV rows with a trained run")
    pr.add_argument("run_dir", type=Path)
    pr.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    pr.add_argument("--top", type=int, default=3, help="how many classes to list per input")
    pr.add_argument("--uncertainty", action="store_true", help="classifiers: print confidence and entropy, "
                    "and 'not sure' below the threshold `neuroplast calibrate` chose; regression and forecasts: "
                    "a split-conformal interval from the run's validation split")
    pr.add_argument("--coverage", type=float, help="regression --uncertainty: the share of answers the "
                    "intervals should hold (default 0.9)")

    m = sub.add_parser("summary", help="layers, output shapes, parameters and MACs of a spec's model")
    m.add_argument("spec", nargs="?", default=None)
    m.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    m.add_argument("--data-dir", type=Path)

    g = sub.add_parser("generate", help="sample text from a character language model run")
    g.add_argument("run_dir", type=Path)
    g.add_argument("--prompt", default="", help="text to continue")
    g.add_argument("--tokens", type=int, default=300, help="characters to generate")
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--seed", type=int, default=0)

    x = sub.add_parser("export", help="export a run's model (ONNX, checked with ONNX Runtime)")
    x.add_argument("run_dir", type=Path)
    x.add_argument("--format", choices=("onnx",), default="onnx")
    x.add_argument("--out", type=Path, help="file to write (default: RUN_DIR/model.onnx)")
    x.add_argument("--opset", type=int, default=17)
    x.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime round trip")

    c = sub.add_parser("calibrate", help="calibrate a classifier's confidence on its validation split")
    c.add_argument("run_dir", type=Path)
    c.add_argument("--method", choices=("temperature", "mc-dropout", "ensemble", "laplace"), default="temperature",
                   help="temperature scaling and MC dropout fit on validation; ensemble trains --members - 1 more "
                   "networks from the next seeds; laplace fits a posterior on the training data (laplace-torch)")
    c.add_argument("--members", type=int, help="ensemble: networks in it, the run's own included (default 5); "
                   "laplace: more than 1 makes a mixture of one Laplace approximation per network (default 1)")
    c.add_argument("--then-temperature", action="store_true", help="then fit a temperature on the method's "
                   "output (validation split), e.g. an ensemble followed by temperature scaling")
    c.add_argument("--perturb", action="store_true", help="fit the temperature (--method temperature or "
                   "--then-temperature) on the validation split plus copies under Gaussian noise of growing "
                   "strength: calibrated for inputs that drift from the training data, humbler on clean ones")
    c.add_argument("--out", type=Path, help="folder to write (default: RUN_DIR-METHOD)")
    c.add_argument("--ood", choices=("mahalanobis",), help="also model the training features' density; "
                   "inputs far from it are 'not sure' (out of distribution)")
    c.add_argument("--target-accuracy", type=float, default=0.99, help="accuracy the confident answers "
                   "must reach on validation; below the threshold this sets, predictions say 'not sure'")

    xp = sub.add_parser("explain", help="which pixels or features drove a prediction (heatmap PNGs)")
    xp.add_argument("run_dir", type=Path)
    xp.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="images or a CSV (default: "
                    "the first --count test examples)")
    xp.add_argument("--method", choices=("ig", "saliency", "occlusion", "gradcam"), default="ig")
    xp.add_argument("--out", type=Path, help="folder for the PNGs (default: RUN_DIR/explain-METHOD)")
    xp.add_argument("--count", type=int, default=8, help="test examples to explain without INPUT")
    xp.add_argument("--sanity", action="store_true", help="also run the model-randomisation test and "
                    "the deletion curve on 100 test examples")

    pn = sub.add_parser("prune", help="prune a trained run, fine-tune it and measure what it saves "
                        "(a new run folder)")
    pn.add_argument("run_dir", type=Path)
    pn.add_argument("--method", choices=("magnitude", "saliency", "structured"), default="magnitude",
                    help="magnitude |w| or saliency |w*dL/dw| zero single weights (stored sparse); "
                    "structured removes whole neurons/channels/hidden units (a smaller, faster mlp, cnn or "
                    "one-directional rnn/lstm/gru)")
    pn.add_argument("--sparsity", type=float, default=0.9, help="share of the weights to remove "
                    "(structured: of each layer's neurons/channels)")
    pn.add_argument("--schedule", choices=("one-shot", "iterative", "gradual", "lottery"), default="one-shot")
    pn.add_argument("--rounds", type=int, help="rounds of iterative/gradual/lottery (default: ~20%% of the "
                    "remaining weights per round)")
    pn.add_argument("--epochs", type=int, help="fine-tuning epochs after each round but the last (default 2)")
    pn.add_argument("--lr", type=float, help="their learning rate (default: the run's)")
    pn.add_argument("--final-epochs", type=int, help="retraining epochs after the last round, with the "
                    "run's own recipe (default: its epochs)")
    pn.add_argument("--scope", choices=("global", "layer", "lamp", "erk"), default="global",
                    help="one threshold across layers, the same share of each layer, one threshold on "
                    "layer-adaptive (LAMP) scores, or Erdős–Rényi-Kernel shares per layer")
    pn.add_argument("--rewind-epoch", type=int, default=1, help="lottery: rewind to the weights after "
                    "this many epochs of the original training (0: the initialization)")
    pn.add_argument("--distill", type=float, default=0.0, help="classifiers: share of the fine-tuning loss "
                    "that is distillation from the dense run (0 to 1; default 0)")
    pn.add_argument("--out", type=Path, help="run folder to write (default: RUN_DIR-pruned-METHOD)")
    pn.add_argument("--quiet", action="store_true")

    rp = sub.add_parser("report", help="(re)write a run's self-contained report.html")
    rp.add_argument("run_dir", type=Path)
    rp.add_argument("--lang", choices=("en", "zh-Hant"), default="en", help="language of the report")
    rp.add_argument("--out", type=Path, help="file to write (default: RUN_DIR/report.html)")

    sv = sub.add_parser("serve", help="a local web page and JSON API for a run: draw a digit, see the answer")
    sv.add_argument("run_dir", type=Path)
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other "
                    "address requires the token printed at start-up)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--lang", choices=("en", "zh-Hant"), default="en", help="the page's first language")

    sub.add_parser("configs", help="list the shipped specs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    try:
        code = COMMANDS[args.command](args)
    except (UserError, TrainingDiverged) as e:
        print(f"neuroplast: error: {e}", file=sys.stderr)
        code = 2
    except BrokenPipeError:  # e.g. `neuroplast configs | head -2`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("neuroplast: interrupted; `neuroplast resume RUN_DIR` continues from the last epoch.",
              file=sys.stderr)
        return 130
    if "neuroplast.train.distributed" in sys.modules:  # a torchrun worker leaves the group, exits
        sys.modules["neuroplast.train.distributed"].shutdown(code)
    return code


def _spec(args: argparse.Namespace):
    from neuroplast.spec import load_spec

    spec = load_spec(args.spec, list(args.overrides))
    if getattr(args, "data_dir", None) is not None:
        spec = spec.updated(data={"dir": str(args.data_dir.resolve())})
    return spec


def _cmd_run(args: argparse.Namespace) -> int:
    from neuroplast.rundir import run

    spec = _spec(args)
    result = run(spec, out=args.out, progress=not args.quiet)
    _print_result(result)
    return 0


def _cmd_lr_find(args: argparse.Namespace) -> int:
    from neuroplast.rundir import _new_run_dir, lr_find
    from neuroplast.io import save_json

    spec = _spec(args)
    out = args.out if args.out is not None else _new_run_dir(f"{spec.name}-lr-find")
    check_output(out, "folder", f"runs/{spec.name}-lr-find")
    found = lr_find(spec)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "lr_find.json", found.to_dict())
    plot = found.plot(out / "lr_find.png")
    end = "stopped when the smoothed loss diverged" if found.stopped_early else "reached the end"
    print(f"suggested lr {found.suggestion:.2g}: {found.reason}")
    print(f"sweep: {len(found.lrs)} steps from {found.lrs[0]:.2g} to {found.lrs[-1]:.2g} ({end})")
    print(f"plot: {plot}")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from neuroplast.rundir import resume

    _print_result(resume(args.run_dir, progress=not args.quiet))
    return 0


def _print_result(result) -> None:
    if result.dir is None:  # a torchrun worker other than rank 0: rank 0 reports
        return
    test, val = result.metrics["test"], result.metrics["val"]
    if "lr_find" in result.metrics:  # train.lr = "auto"
        print(f"train.lr = auto: {result.metrics['lr_find']['suggestion']:.2g}, "
              f"{result.metrics['lr_find']['reason']}")
    if result.metrics["task"] == "language-model":
        score = f"val loss {val['loss']:.4f} nats/char ({val['bits_per_char']:.3f} bits/char)"
    elif "accuracy" in test:
        score = f"test accuracy {test['accuracy']:.4f}"
    else:
        score = f"test rmse {test['rmse']:.4g}, mae {test['mae']:.4g}, r2 {test['r2']:.4f}"
        order = result.metrics.get("arima_order")
        for name, b in result.metrics.get("baselines", {}).items():
            label = f"arima({', '.join(map(str, order))})" if name == "arima" and order else name
            score += f"; {label} rmse {b['rmse']:.4g}"
    print(f"{score}, {result.metrics['train']['seconds']:.1f} s training on {result.metrics['device']}")
    print(f"run folder: {result.dir}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from neuroplast.rundir import load

    metrics = load(args.run_dir).evaluate(args.split)
    metrics.pop("confusion_matrix", None)
    print(json.dumps({args.split: metrics}, indent=2))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from neuroplast.rundir import load

    run = load(args.run_dir)
    if run.info["task"] == "language-model":
        import shlex

        raise UserError(f"{args.run_dir} is a character language model; predict is for classifiers and "
                        f"regressors. Continue a text with: neuroplast generate {shlex.quote(str(args.run_dir))} "
                        f"--prompt {shlex.quote(' '.join(map(str, args.inputs)))}")
    regression = run.objective.kind == "regression"
    if args.coverage is not None and not (args.uncertainty and regression):
        raise UserError("--coverage sets the intervals of `predict --uncertainty` on a regression or forecasting "
                        f"run; {args.run_dir} is a {run.info['task']} run{'' if args.uncertainty else ' and --uncertainty is not set'}.")
    if args.top < 1:
        raise UserError(f"--top must be at least 1 (classes listed per input); received {args.top}.")
    coverage = 0.9 if args.coverage is None else args.coverage
    calibrated = _calibrator(run) if args.uncertainty and not regression else None
    conformal = _conformal(run, coverage) if args.uncertainty and regression else None
    for path in args.inputs:
        if regression:
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
                    text += (f" ({coverage * 100:g}% interval{'s' if len(steps) > 1 else ''}, split conformal "
                             f"on {conformal.n} validation examples)")
                print(f"{path}{f'[{i}]' if len(values) > 1 else ''}: {text}")
            continue
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
                cal = run.metrics.get("calibration", {})
                threshold = cal.get("threshold")
                entropy = float(-(row * np.log(np.clip(row, 1e-12, None))).sum())
                line += f"; confidence {row.max():.3f}, entropy {entropy:.3f} nats"
                if mutual_information is not None:  # ensemble / MC dropout: how much the samples disagree
                    line += f", mutual information {mutual_information[i]:.3f} nats"
                unfamiliar = False
                if "ood" in cal:
                    distance = _ood_score(run, path)[i]
                    unfamiliar = distance > cal["ood"]["threshold"]
                    line += f", distance {distance:.1f}"
                if unfamiliar:
                    line += "; not sure (unlike the training data)"
                elif threshold is not None:
                    line += "; not sure" if row.max() < threshold else "; sure"
                else:
                    line += " (no 'not sure' threshold: run `neuroplast calibrate` on this folder first)"
            print(line)
    return 0


def _calibrator(run):
    """The calibration of a `neuroplast calibrate` folder, built once for every input (members loaded,
    a Laplace posterior refitted on the training data), with the temperature fitted on top of it by
    --then-temperature; a plain folder gets temperature 1 (its own softmax)."""
    from neuroplast.trust.calibration import MCDropout, TemperatureScaling

    cal = run.metrics.get("calibration", {})
    method = cal.get("method")
    if method == "mc-dropout":
        calibrator = MCDropout(run.model, samples=cal.get("samples", 30))
    elif method == "ensemble":
        from neuroplast.trust.calibration import DeepEnsemble

        calibrator = DeepEnsemble(_networks(run))
    elif method == "laplace":  # the posterior is refitted on the training data (seconds per network)
        from neuroplast.data import load_dataset
        from neuroplast.trust.calibration import DeepEnsemble, LaplaceApproximation

        data = load_dataset(run.spec.data, run.spec.seed)
        networks = _networks(run)
        # the prior precision calibrate chose for each network (older folders: the marginal likelihood's)
        priors = cal.get("prior_precision_per_network") or [None] * len(networks)
        if len(priors) != len(networks):
            raise UserError(f"{run.dir} was calibrated with {len(priors)} networks but members/ now holds "
                            f"{len(networks) - 1} besides the run's own. Run `neuroplast calibrate` again.")
        fitted = [LaplaceApproximation(m, cal.get("subset", "auto"), cal.get("hessian", "kron")).fit(
            data.x_train, data.y_train, prior_precision=prior) for m, prior in zip(networks, priors, strict=True)]
        calibrator = fitted[0] if len(fitted) == 1 else DeepEnsemble(fitted)
    else:
        scaled = TemperatureScaling(run.model)
        scaled.temperature = cal.get("temperature", 1.0)
        return scaled
    if cal.get("then_temperature") is not None:
        calibrator = TemperatureScaling(calibrator)
        calibrator.temperature = cal["then_temperature"]
    return calibrator


def _conformal(run, coverage: float):
    """Split-conformal intervals fitted on the run's validation split (a Gaussian head: normalized by
    its sigma), for regression and forecasting runs."""
    from neuroplast.trust.intervals import conformal_on_validation

    if not 0.0 < coverage < 1.0:
        raise UserError(f"--coverage must be between 0 and 1, e.g. 0.9; received {coverage}.")
    return conformal_on_validation(run, round(1.0 - coverage, 12))[0]


def _networks(run) -> list:
    """A calibrated folder's network and the members `calibrate` trained beside it (``members/seed-N``)."""
    from neuroplast.rundir import load

    return [run.model, *(load(d).model for d in sorted((run.dir / "members").glob("seed-*")))]


def _ood_score(run, path: Path):
    """Mahalanobis distance of the input's features from the training data (a calibrated folder)."""
    from safetensors.torch import load_file

    from neuroplast.trust.calibration import Mahalanobis

    density = Mahalanobis(run.metrics["calibration"]["ood"]["layer"])
    density.load_state_dict(run.model, load_file(str(run.dir / "ood.safetensors")))
    return density.score(run.inputs([path])).tolist()


def _cmd_generate(args: argparse.Namespace) -> int:
    from neuroplast.generate import generate
    from neuroplast.rundir import load

    print(generate(load(args.run_dir), args.prompt, args.tokens, args.temperature, args.top_k, args.seed))
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from neuroplast.summary import spec_summary

    print(spec_summary(_spec(args)))
    return 0


def _cmd_configs(args: argparse.Namespace) -> int:
    from neuroplast.spec import available_specs, load_spec

    for name in available_specs():
        spec = load_spec(name)
        print(f"{name:28s} {spec.description}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from neuroplast.trust.calibration import calibrate_run

    extra = {"members": args.members} if args.members is not None else {}
    m = calibrate_run(args.run_dir, args.method, args.out, target_accuracy=args.target_accuracy,
                      ood=args.ood, then_temperature=args.then_temperature, perturb=args.perturb, **extra)
    b, a = m["calibration"]["before"], m["calibration"]["after"]
    extra = f" (T = {m['calibration']['temperature']:.3f})" if "temperature" in m["calibration"] else ""
    print(f"{args.method}{extra}: test ECE {b['ece']:.2%} -> {a['ece']:.2%}, NLL {b['nll']:.4f} -> "
          f"{a['nll']:.4f}, accuracy {b['accuracy']:.4f} -> {a['accuracy']:.4f}")
    c = m["calibration"]
    print(f"not sure below confidence {c['threshold']:.3f}: on test it answers "
          f"{c['test_coverage_at_threshold']:.1%} of inputs, {c['test_accuracy_at_threshold']:.2%} of them right")
    if "ood" in c:
        print(f"unfamiliar above Mahalanobis distance {c['ood']['threshold']:.1f} ({c['ood']['quantile']:.0%} "
              f"of validation inputs fall below it; {c['ood']['test_flagged']:.1%} of test inputs above)")
    print(f"run folder: {m['dir']}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from neuroplast.stages.explain import explain_run

    result = explain_run(args.run_dir, args.inputs, args.method, args.out, args.count, args.sanity)
    for item in result["examples"]:
        delta = f", completeness delta {item['delta']:.2g}" if item.get("delta") is not None else ""
        print(f"{item['input']}: {item['label']} -> {item['png']}{delta}")
    if "sanity" in result:
        s = result["sanity"]
        print(f"sanity ({s['examples']} test examples): randomisation Spearman median "
              f"{s['randomization_spearman_median']:.2f} (of |attributions|: "
              f"{s['randomization_spearman_median_abs']:.2f}); deletion area {s['deletion_area']:.3f} vs random "
              f"{s['random_deletion_area']:.3f}")
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from neuroplast.stages.prune import prune_run

    if args.rounds is not None and args.rounds < 1:
        raise UserError(f"--rounds must be at least 1; received {args.rounds}.")
    run = prune_run(args.run_dir, args.method, args.sparsity, args.schedule, args.rounds, args.epochs, args.lr,
                    args.scope, args.rewind_epoch, out=args.out, progress=not args.quiet,
                    final_epochs=args.final_epochs, distill=args.distill)
    p = run.metrics["pruning"]
    key = "accuracy" if "test_accuracy" in p["baseline"] else "rmse"
    print(f"{'round':>5} {'removed':>8} {'val ' + key:>13} {'test ' + key:>14}")
    for row in p["curve"]:
        print(f"{row['round']:>5} {row['sparsity']:>8.2%} {row.get('val_' + key, float('nan')):>13.4f} "
              f"{row['test_' + key]:>14.4f}")
    b, prm, macs = p["bytes"], p["params"], p["macs"]
    print(f"parameters {prm['dense']:,} -> {prm['pruned']:,} ({prm['pruned_nonzero']:,} non-zero); "
          f"bytes on disk {b['dense']:,} -> {b['pruned']:,} ({b['ratio']:.1f}x smaller); "
          f"MACs {macs['dense']:,} -> {macs['pruned']:,} ({macs['pruned_nonzero']:,} with non-zero weights)")
    for batch, t in p["latency_ms"].items():
        print(f"latency {batch.replace('_', ' ')}: {t['dense']:.3f} ms -> {t['pruned']:.3f} ms "
              f"({t['speedup']:.2f}x, median, {p['threads']} threads)")
    if p.get("note"):
        print(f"note: {p['note']}")
    if p["not_pruned"]:
        print(f"not pruned: {', '.join(p['not_pruned'])}")
    print(f"run folder: {run.dir}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from neuroplast.see.report import write_report

    print(f"wrote {write_report(args.run_dir, lang=args.lang, out=args.out)}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from neuroplast.see.server import serve

    serve(args.run_dir, host=args.host, port=args.port, lang=args.lang)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from neuroplast.export.onnx import export_onnx

    result = export_onnx(args.run_dir, args.out, check=not args.no_check, opset=args.opset)
    checked = ("not checked (onnxruntime not installed)" if result.max_abs_diff is None
               else f"ONNX Runtime matches PyTorch to {result.max_abs_diff:.1e}")
    print(f"wrote {result.path} (opset {result.opset}); {checked}")
    return 0


COMMANDS = {"run": _cmd_run, "resume": _cmd_resume, "evaluate": _cmd_evaluate, "predict": _cmd_predict,
            "summary": _cmd_summary, "configs": _cmd_configs, "generate": _cmd_generate,
            "lr-find": _cmd_lr_find, "export": _cmd_export,
            "calibrate": _cmd_calibrate, "explain": _cmd_explain, "prune": _cmd_prune,
            "report": _cmd_report, "serve": _cmd_serve}
