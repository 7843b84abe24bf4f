"""neuroplast: neural networks you can train, prune, trust and see into.

Example:
    >>> import neuroplast
    >>> run = neuroplast.run("digits-cnn")          # train, evaluate, write runs/digits-cnn-*/
    >>> run.metrics["test"]["accuracy"]
    >>> neuroplast.load(run.dir).predict(["seven.png"])
    >>> neuroplast.lr_find("digits-cnn").suggestion  # a learning rate, and .reason says why
    >>> neuroplast.prune(run.dir, method="structured", sparsity=0.5)  # smaller, faster, measured
    >>> neuroplast.generate("runs/shakespeare-lstm-...", "ROMEO:", tokens=300)  # a language model's text
"""

from typing import Any

from neuroplast.errors import DataError, TrainingDiverged, UserError

# The function shadows its submodule's attribute on the package: ``neuroplast.generate`` is the function,
# and ``from neuroplast.generate import generate_stream`` still reads the module (from sys.modules).
from neuroplast.generate import generate
from neuroplast.spec import ExperimentSpec, available_specs, load_spec
from neuroplast.version import __version__

# The rest loads torch: imported on first use, so that `neuroplast --help` and `neuroplast configs` answer
# at once (PEP 562).
_LAZY = {"lr_find": "neuroplast.experiment", "fit": "neuroplast.pipeline", "prune": "neuroplast.pipeline",
         "quantize": "neuroplast.pipeline",
         "resume": "neuroplast.pipeline", "run": "neuroplast.pipeline", "Run": "neuroplast.rundir",
         "load": "neuroplast.rundir"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neuroplast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "DataError",
    "ExperimentSpec",
    "Run",
    "TrainingDiverged",
    "UserError",
    "__version__",
    "available_specs",
    "fit",
    "generate",
    "load",
    "load_spec",
    "lr_find",
    "prune",
    "quantize",
    "resume",
    "run",
]
