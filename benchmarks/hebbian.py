"""Does Hebbian learning learn? MNIST test accuracy of two Hebbian networks beside their own random
controls, in the same process and for every seed.

* Fully connected (shipped spec ``hebbian-fc-mnist``): competing hidden units learned by the
  Krotov-Hopfield rule (no labels, no gradients), then ``relu(I)^n`` and a linear readout. Beside
  it, for the same seed: the identical network with its hidden weights left at their random
  initialisation (``model.hidden=random``, the same readout training), and for reference the same
  architecture trained end to end by backpropagation (``model.hidden=backprop``).
* Convolutional SoftHebb (shipped spec ``hebbian-mnist``) and the same network with a Hebbian
  learning rate of ~0, i.e. its random filters.

Every run is the spec run as a user runs it (``neuroplast.run``) with ``train.threads`` set. Each
Hebbian layer is checked afterwards: its weight never required or received a gradient, and it moved
from its initial value (the random controls: it did not). For the fully connected network the
script records how far the hidden weights moved in every epoch (``hebbian_fc_movement.json``) and
keeps the learned receptive fields beside the random ones (copied from the first seed's run folder). The last line is

    hebbian_fc=A random_fc=B hebbian_conv=C random_conv=D     (test accuracies, medians over seeds)

    python benchmarks/hebbian.py --seeds 0 1 2 --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

import neuroplast

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
FC_VARIANTS = ("hebbian", "random", "backprop")


class WeightTrace:
    """A callback: the hidden weight before training, how far it is from it after every epoch and its
    median p-norm, beside the epoch's validation accuracy, and whether the weight ever required a
    gradient. (The movement within each epoch is the run's own ``hebbian_change`` in its history.)"""

    def __init__(self) -> None:
        self.initial: torch.Tensor | None = None
        self.epochs: list[dict[str, Any]] = []
        self.required_grad = False

    def set_model(self, model: torch.nn.Module) -> None:
        layer = model.hebbian
        self.initial = layer.weight.detach().clone()
        self.required_grad = layer.weight.requires_grad
        self.layer = layer

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        weight = self.layer.weight.detach()
        self.required_grad |= self.layer.weight.requires_grad
        total = float((weight - self.initial).norm() / self.initial.norm())
        p = getattr(self.layer, "p", 2.0)  # the Lebesgue exponent of competing units; SoftHebb's norm is 2
        p_norm = weight.abs().pow(p).sum(1).pow(1 / p).median()
        self.epochs.append({"epoch": epoch, "from_initial": round(total, 6),
                            "median_p_norm": round(float(p_norm), 4), "samples_seen": int(self.layer.samples_seen),
                            "val_accuracy": logs.get("val_accuracy")})


def check_layer(layer: torch.nn.Module, initial: torch.Tensor, moves: bool, required_grad: bool = False) -> str:
    """Fail loudly unless the layer never had a gradient and moved (``moves``) or stayed put."""
    problems = []
    if required_grad or layer.weight.requires_grad or layer.weight.grad is not None:
        problems.append(f"requires_grad={layer.weight.requires_grad}, grad is None: {layer.weight.grad is None}")
    change = float((layer.weight.detach().cpu() - initial.cpu()).norm() / initial.norm())
    if moves and change < 0.05:
        problems.append(f"weights moved only {change:.3%} from their initialisation")
    if not moves and change > 1e-6:
        problems.append(f"the random control's weights moved by {change:.3%}")
    if problems:
        sys.exit(f"Hebbian layer check failed ({type(layer).__name__}): " + "; ".join(problems))
    return f"no_grad=ok learned_from={int(layer.samples_seen)} weight_change={change:.3f}"


def run_one(spec: str, out: Path, args: argparse.Namespace, overrides: list[str], seed: int,
            callbacks: tuple = ()) -> tuple[Any, float]:
    t0 = time.perf_counter()
    run = neuroplast.run(spec, out=out, data_dir=args.data_dir, callbacks=callbacks, progress=False,
                         overrides=[*overrides, f"seed={seed}", f"train.threads={args.threads}"])
    return run, time.perf_counter() - t0


def describe(label: str, seed: int, run: Any, wall: float, check: str) -> str:
    m = run.metrics
    return (f"{label:<13} seed={seed} test_accuracy={m['test']['accuracy']:.4f} epochs={m['train']['epochs']} "
            f"train_s={m['train']['seconds']:.1f} wall_s={wall:.1f} threads={m['threads']} {check}")


def fc_seed(args: argparse.Namespace, seed: int, results: dict[str, list[float]]) -> dict[str, Any]:
    """The fully connected network, its random control and its backprop reference for one seed."""
    record: dict[str, Any] = {"seed": seed}
    for variant in FC_VARIANTS:
        trace = WeightTrace()
        run, wall = run_one(args.fc_spec, args.out / f"fc-{variant}-seed{seed}", args,
                            [*args.fc_set, f"model.hidden={variant}"], seed, (trace,))
        layer = run.model.hebbian
        if variant == "backprop":
            check = f"weight_change={float((layer.weight.detach() - trace.initial).norm() / trace.initial.norm()):.3f}"
        else:
            check = check_layer(layer, trace.initial, variant == "hebbian", trace.required_grad)
        for row, logged in zip(trace.epochs, run.history, strict=True):  # the run measured it: history.csv
            row["relative_change"] = logged.get("hebbian_change")
        accuracy = run.metrics["test"]["accuracy"]
        results[f"{variant}_fc"].append(accuracy)
        record[variant] = {"test_accuracy": accuracy, "wall_s": round(wall, 1), "epochs": trace.epochs}
        print(describe(f"fc-{variant}", seed, run, wall, check), flush=True)
        if variant == "hebbian":
            (run.dir / "hebbian_fc_movement.json").write_text(json.dumps(trace.epochs, indent=1))
            if seed == args.seeds[0]:  # the run drew both: the fields it learned and the same units at the start
                shutil.copyfile(run.dir / "receptive_fields.png", args.out / "fc_learned_fields.png")
                shutil.copyfile(run.dir / "receptive_fields_initial.png", args.out / "fc_random_fields.png")
    return record


def conv_seed(args: argparse.Namespace, seed: int, results: dict[str, list[float]]) -> None:
    """The SoftHebb network and the same network with (practically) no Hebbian learning."""
    for variant, extra in (("hebbian", []), ("random", ["model.hebbian_lr=1e-12"])):
        trace = WeightTrace()
        run, wall = run_one(args.conv_spec, args.out / f"conv-{variant}-seed{seed}", args,
                            [*args.conv_set, *extra], seed, (trace,))
        layer = run.model.hebbian
        moved = float((layer.weight.detach() - trace.initial).norm() / trace.initial.norm())
        check = check_layer(layer, trace.initial, True) if variant == "hebbian" else (
            f"no_grad={'ok' if layer.weight.grad is None and not trace.required_grad else 'FAILED'} "
            f"weight_change={moved:.2e}")
        results[f"{variant}_conv"].append(run.metrics["test"]["accuracy"])
        print(describe(f"conv-{variant}", seed, run, wall, check), flush=True)


def summary(results: dict[str, list[float]]) -> None:
    print("\n| network | median | min | max | seeds |\n|---|---|---|---|---|")
    for name, values in results.items():
        if values:
            print(f"| {name} | {statistics.median(values):.4f} | {min(values):.4f} | {max(values):.4f} | "
                  f"{len(values)} |")
    median = {k: f"{statistics.median(v):.4f}" if v else "nan" for k, v in results.items()}
    print(f"hebbian_fc={median['hebbian_fc']} random_fc={median['random_fc']} "
          f"hebbian_conv={median['hebbian_conv']} random_conv={median['random_conv']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2],
                   help="seeds of the fully connected networks (none: skip them)")
    p.add_argument("--conv-seeds", type=int, nargs="*", default=None,
                   help="seeds of the convolutional pair (default: --seeds; none: skip it)")
    p.add_argument("--data-dir", type=Path, default=SHARED, help="folder with the MNIST IDX files")
    p.add_argument("--out", type=Path, default=Path("runs/hebbian-benchmark"), help="run folders and pictures")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every run")
    p.add_argument("--fc-spec", default="hebbian-fc-mnist")
    p.add_argument("--conv-spec", default="hebbian-mnist")
    p.add_argument("--fc-set", action="append", default=[], help="extra KEY=VALUE for the FC runs")
    p.add_argument("--conv-set", action="append", default=[], help="extra KEY=VALUE for the conv runs")
    args = p.parse_args()
    args.conv_seeds = args.seeds if args.conv_seeds is None else args.conv_seeds
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"threads={args.threads} fc_spec={args.fc_spec} {args.fc_set} conv_spec={args.conv_spec} {args.conv_set}")
    results: dict[str, list[float]] = {f"{v}_{kind}": [] for kind in ("fc", "conv") for v in FC_VARIANTS}
    del results["backprop_conv"]
    records = [fc_seed(args, seed, results) for seed in args.seeds]
    (args.out / "hebbian_fc_movement.json").write_text(json.dumps(records, indent=1))
    for seed in args.conv_seeds:
        conv_seed(args, seed, results)
    summary(results)


if __name__ == "__main__":
    main()
