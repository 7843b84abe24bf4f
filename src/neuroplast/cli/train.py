"""Commands that train or read a spec: run, resume, lr-find, evaluate, summary, configs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from neuroplast.errors import check_output


def add_commands(sub: Any) -> dict[str, Any]:
    r = sub.add_parser("run", help="train the network a spec describes (or the table default on a CSV file) "
                       "and write its run folder")
    r.add_argument("spec", nargs="?", default=None, help="spec file or shipped name (default: digits-cnn), or a "
                   "CSV file with --target COLUMN")
    r.add_argument("--target", metavar="COLUMN", help="a CSV file's column to predict (sets data.target)")
    r.add_argument("--column", metavar="COLUMN", help="a CSV file's column to forecast, one row per time step: "
                   "the forecaster is chosen by rolling-origin validation (sets data.column)")
    r.add_argument("--season", type=int, metavar="S", help="with --column: the season length in rows, e.g. 12 "
                   "for monthly data (sets data.season)")
    r.add_argument("--horizon", type=int, metavar="H", help="with --column: steps ahead to forecast "
                   "(sets data.horizon)")
    r.add_argument("--out", type=Path, help="run folder (default: runs/<name>-<time>)")
    _spec_flags(r, "train.lr=3e-4")
    r.add_argument("--quiet", action="store_true", help="no progress output")

    f = sub.add_parser("lr-find", help="sweep the learning rate on a spec's model and suggest one (with a plot)")
    f.add_argument("spec", nargs="?", default=None, help="spec file or shipped name (default: digits-cnn)")
    f.add_argument("--out", type=Path, help="folder for lr_find.png and lr_find.json "
                   "(default: runs/<name>-lr-find-<time>)")
    _spec_flags(f, "train.optimizer=sgd")

    s = sub.add_parser("resume", help="continue an interrupted run from its last checkpoint")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--quiet", action="store_true")

    e = sub.add_parser("evaluate", help="re-measure a run on its test split")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--split", choices=("test", "val", "train"), default="test")

    m = sub.add_parser("summary", help="layers, output shapes, parameters and MACs of a spec's model")
    m.add_argument("spec", nargs="?", default=None)
    _spec_flags(m, "model.channels=[16,32]")

    sub.add_parser("configs", help="list the shipped specs")
    return {"run": run, "lr-find": lr_find, "resume": resume, "evaluate": evaluate, "summary": summary,
            "configs": configs}


def _spec_flags(p: argparse.ArgumentParser, example: str) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a spec value, e.g. --set {example} (repeatable)")
    p.add_argument("--data-dir", type=Path, help="folder with the data files (sets data.dir)")


def spec_of(args: argparse.Namespace) -> Any:
    """The spec the command names, with its --set overrides and --data-dir."""
    from neuroplast.data.text import text_default
    from neuroplast.spec import load_spec

    target = [f"data.target={args.target}"] if getattr(args, "target", None) else []
    overrides = [*target, *args.overrides]
    series_flags = {k: getattr(args, k, None) for k in ("season", "horizon")}
    if getattr(args, "column", None) is None and any(v is not None for v in series_flags.values()):
        from neuroplast.errors import UserError

        given = " ".join(f"--{k} {v}" for k, v in series_flags.items() if v is not None)
        raise UserError(f"{given} shapes a forecast and needs --column: neuroplast run FILE.csv --column COLUMN "
                        f"{given}.")
    if getattr(args, "column", None) is not None:
        spec = _series_spec(args, overrides)
    else:
        spec = text_default(args.spec, overrides) or load_spec(args.spec, overrides)
    if getattr(args, "data_dir", None) is not None:
        spec = spec.updated(data={"dir": str(args.data_dir.resolve())})
    return spec


def _series_spec(args: argparse.Namespace, overrides: list[str]) -> Any:
    from neuroplast.errors import UserError
    from neuroplast.spec import is_table_file, series_spec

    if Path(str(args.spec)).suffix.lower() in (".csv", ".tsv") and not Path(str(args.spec)).is_file():
        raise UserError(f"No such file: {args.spec} (looked in {Path.cwd()}). Check the path and its spelling.")
    if not is_table_file(args.spec) or args.target is not None:
        raise UserError(f"--column forecasts a column of a CSV file, one row per time step: neuroplast run "
                        f"FILE.csv --column COLUMN (without --target); received {args.spec!r}.")
    for flag in ("season", "horizon"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UserError(f"--{flag} must be a whole number of rows, at least 1; received {getattr(args, flag)}.")
    flags = {"column": args.column, "season": args.season, "horizon": args.horizon}
    return series_spec(Path(args.spec), [f"data.{k}={v}" for k, v in flags.items() if v is not None] + overrides)


def run(args: argparse.Namespace) -> int:
    from neuroplast.pipeline import run as run_spec

    print_result(run_spec(spec_of(args), out=args.out, progress=not args.quiet))
    return 0


def lr_find(args: argparse.Namespace) -> int:
    from neuroplast.experiment import lr_find as sweep
    from neuroplast.io import save_json
    from neuroplast.rundir import new_run_dir

    spec = spec_of(args)
    out = args.out if args.out is not None else new_run_dir(f"{spec.name}-lr-find")
    check_output(out, "folder", f"runs/{spec.name}-lr-find")
    found = sweep(spec)
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "lr_find.json", found.to_dict())
    plot = found.plot(out / "lr_find.png")
    end = "stopped when the smoothed loss diverged" if found.stopped_early else "reached the end"
    print(f"suggested lr {found.suggestion:.2g}: {found.reason}")
    print(f"sweep: {len(found.lrs)} steps from {found.lrs[0]:.2g} to {found.lrs[-1]:.2g} ({end})")
    print(f"plot: {plot}")
    return 0


def resume(args: argparse.Namespace) -> int:
    from neuroplast.pipeline import resume as resume_run

    print_result(resume_run(args.run_dir, progress=not args.quiet))
    return 0


def print_result(result: Any) -> None:
    """The headline score, the training time and the run folder."""
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
        score += f", mase {test['mase']:.3f}" if "mase" in test else ""
        order = result.metrics.get("arima_order")
        for name, b in result.metrics.get("baselines", {}).items():
            label = f"arima({', '.join(map(str, order))})" if name == "arima" and order else name
            score += f"; {label} rmse {b['rmse']:.4g}"
    print(f"{score}, {result.metrics['train']['seconds']:.1f} s training on {result.metrics['device']}")
    print(f"run folder: {result.dir}")


def evaluate(args: argparse.Namespace) -> int:
    from neuroplast.rundir import load

    metrics = load(args.run_dir).evaluate(args.split)
    metrics.pop("confusion_matrix", None)
    print(json.dumps({args.split: metrics}, indent=2))
    return 0


def summary(args: argparse.Namespace) -> int:
    from neuroplast.summary import spec_summary

    print(spec_summary(spec_of(args)))
    return 0


def configs(args: argparse.Namespace) -> int:
    from neuroplast.spec import available_specs, load_spec

    for name in available_specs():
        print(f"{name:28s} {load_spec(name).description}")
    return 0
