"""MNIST test accuracy of the Hebbian network (shipped spec ``hebbian-mnist``) over several seeds,
with a check that the hidden layer learned by its local rule alone.

For every seed the spec is run as a user runs it (``neuroplast.run``, 2 CPU threads by default),
and the Hebbian layer is checked afterwards: its weight never required or received a gradient,
it has learned from ``learning_samples`` images, and it differs from its initial value (recorded
by a global forward pre-hook before the layer's first forward pass). ``--random-filters`` runs
the same network with a Hebbian learning rate of ~0, i.e. fixed random filters, for comparison.

    python benchmarks/hebbian.py --seeds 0 1 2 --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import neuroplast
from neuroplast.plasticity.hebbian import SoftHebbConv2d

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


class InitialWeights:
    """Records each SoftHebbConv2d's weight before its first forward pass (a global hook)."""

    def __init__(self) -> None:
        self.weights: dict[int, torch.Tensor] = {}
        self.handle = nn.modules.module.register_module_forward_pre_hook(self._hook)

    def _hook(self, module: nn.Module, _inputs) -> None:
        if isinstance(module, SoftHebbConv2d) and id(module) not in self.weights:
            self.weights[id(module)] = module.weight.detach().clone()

    def of(self, layer: SoftHebbConv2d) -> torch.Tensor:
        return self.weights[id(layer)]


def check_hebbian_layer(layer: SoftHebbConv2d, initial: torch.Tensor, random_filters: bool) -> str:
    """Fail loudly unless the layer was untouched by backpropagation and (unless random) learned."""
    problems = []
    if layer.weight.requires_grad or layer.weight.grad is not None:
        problems.append(f"requires_grad={layer.weight.requires_grad}, grad is None: {layer.weight.grad is None}")
    if int(layer.samples_seen) < layer.learning_samples:
        problems.append(f"learned from {int(layer.samples_seen)} of {layer.learning_samples} images")
    change = (layer.weight.detach().cpu() - initial.cpu()).norm() / initial.norm()
    if not random_filters and change < 0.05:
        problems.append(f"weights moved only {change:.3%} from their initialisation")
    if problems:
        sys.exit("Hebbian layer check failed: " + "; ".join(problems))
    return f"no_grad=ok learned_from={int(layer.samples_seen)} weight_change={change:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-dir", type=Path, default=SHARED, help="folder with the MNIST IDX files")
    p.add_argument("--spec", default="hebbian-mnist")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="extra KEY=VALUE")
    p.add_argument("--random-filters", action="store_true",
                   help="baseline: Hebbian learning rate ~0, so the readout sees fixed random filters")
    args = p.parse_args()
    overrides = [*args.overrides, *(["model.hebbian_lr=1e-12"] if args.random_filters else [])]
    initial = InitialWeights()
    accuracies = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            t0 = time.perf_counter()
            run = neuroplast.run(args.spec, out=Path(tmp) / f"seed{seed}", data_dir=args.data_dir,
                                 overrides=[*overrides, f"seed={seed}"], progress=False)
            wall = time.perf_counter() - t0
            layer = run.model.hebbian
            check = check_hebbian_layer(layer, initial.of(layer), args.random_filters)
            accuracy = run.metrics["test"]["accuracy"]
            accuracies.append(accuracy)
            print(f"{args.spec} seed={seed} test_accuracy={accuracy:.4f} "
                  f"train_s={run.metrics['train']['seconds']:.1f} wall_s={wall:.1f} "
                  f"epochs={run.metrics['train']['epochs']} threads={run.metrics['threads']} {check}",
                  flush=True)
    initial.handle.remove()
    print(f"median_accuracy={statistics.median(accuracies):.4f} min_accuracy={min(accuracies):.4f}")


if __name__ == "__main__":
    main()
