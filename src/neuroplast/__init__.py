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

from neuroplast.errors import DataError, TrainingDiverged, UserError
from neuroplast.experiment import lr_find

# The function shadows its submodule's attribute on the package: ``neuroplast.generate`` is the function,
# and ``from neuroplast.generate import generate_stream`` still reads the module (from sys.modules).
from neuroplast.generate import generate
from neuroplast.pipeline import fit, prune, resume, run
from neuroplast.rundir import Run, load
from neuroplast.spec import ExperimentSpec, available_specs, load_spec
from neuroplast.version import __version__

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
    "resume",
    "run",
]
