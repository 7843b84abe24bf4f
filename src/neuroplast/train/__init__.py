"""Training: the loop, objectives, checkpoints, evaluation, progress and the learning-rate finder."""

from neuroplast.train.callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint
from neuroplast.train.evaluate import evaluate, predict_outputs
from neuroplast.train.loop import FitResult, fit
from neuroplast.train.lr_find import LRFinderResult, find_lr
from neuroplast.train.objective import Objective, make_objective
from neuroplast.train.optimizers import resolve_device
from neuroplast.train.seed import seed_everything

__all__ = ["CSVLogger", "Callback", "EarlyStopping", "ModelCheckpoint", "FitResult", "LRFinderResult", "Objective", "evaluate", "find_lr", "fit", "make_objective",
           "predict_outputs", "resolve_device", "seed_everything"]
