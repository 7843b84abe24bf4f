"""Training: the loop, objectives, checkpoints, evaluation and progress."""

from neuroplast.train.evaluate import evaluate, predict_outputs
from neuroplast.train.loop import Callback, FitResult, fit, resolve_device
from neuroplast.train.objective import Objective, make_objective

__all__ = ["Callback", "FitResult", "Objective", "evaluate", "fit", "make_objective", "predict_outputs",
           "resolve_device"]
