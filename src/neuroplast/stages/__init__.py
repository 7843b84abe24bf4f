"""The stages after training, one module each, all called the same way:
``stage(run_dir, section_spec, *, out=None, data=None)``, where ``section_spec`` is the stage's own
section of the spec (:class:`~neuroplast.spec.PruneSpec`, :class:`~neuroplast.spec.UncertaintySpec`...)
and ``data`` the run's already loaded dataset (reloaded from its spec when None).

``SECTIONS`` maps each optional section of an :class:`~neuroplast.spec.ExperimentSpec` to its stage,
in the order the pipeline runs them.
"""

from collections.abc import Callable
from pathlib import Path

from neuroplast.registry import Registry
from neuroplast.stages.calibrate import calibrate
from neuroplast.stages.conformal import conformal
from neuroplast.stages.explain import explain
from neuroplast.stages.export import export
from neuroplast.stages.prune import prune
from neuroplast.stages.quantize import quantize

SECTIONS: Registry[Callable[..., Path]] = Registry("spec section with a stage")
SECTIONS.register("uncertainty")(calibrate)
SECTIONS.register("explain")(explain)
SECTIONS.register("prune")(prune)
SECTIONS.register("quantize")(quantize)
ORDER = ("uncertainty", "explain", "prune", "quantize")  # the order the pipeline runs the sections in

__all__ = ["ORDER", "SECTIONS", "calibrate", "conformal", "explain", "export", "prune", "quantize"]
