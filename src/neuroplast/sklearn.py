"""scikit-learn estimators on neuroplast's MLP and trainer: ``NeuralClassifier`` and ``NeuralRegressor``.

They follow scikit-learn's contract (``fit`` / ``predict`` / ``predict_proba`` / ``score``,
``get_params`` / ``set_params``, ``classes_``, ``n_features_in_``), so they work in ``Pipeline``,
``GridSearchCV``, ``cross_val_score`` and ``clone``. Inputs may be float64 arrays, lists or pandas
frames; features (and regression targets) are standardized with statistics of the training rows,
so no scaler is needed in front of them.

Example:
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import GridSearchCV
    >>> from neuroplast.sklearn import NeuralClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> search = GridSearchCV(NeuralClassifier(epochs=30), {"hidden": [(64,), (128, 64)], "lr": [1e-3, 3e-3]})
    >>> search.fit(X, y).best_params_
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from neuroplast.data.base import Dataset
from neuroplast.models import build_model
from neuroplast.spec import EarlyStoppingSpec, MLPSpec, TrainSpec
from neuroplast.train import fit as train_fit


class _NeuralEstimator(BaseEstimator):
    """Shared parameters and training; see :class:`NeuralClassifier` and :class:`NeuralRegressor`."""

    _task = "classification"

    def __init__(self, hidden: tuple[int, ...] = (128, 64), activation: str = "relu", dropout: float = 0.0,
                 norm: str = "none", epochs: int = 100, batch_size: int = 64, lr: float = 1e-3,
                 optimizer: str = "adam", weight_decay: float = 0.0, schedule: str = "none",
                 early_stopping: bool = False, validation_fraction: float = 0.1, patience: int = 10,
                 random_state: int | None = None, device: str = "cpu", threads: int | str | None = "auto",
                 verbose: bool = False) -> None:
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.norm = norm
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.threads = threads
        self.verbose = verbose

    # ------------------------------------------------------------------ training
    def _fit(self, x: np.ndarray, targets: np.ndarray, num_outputs: int) -> None:
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self._x_mean = x.mean(axis=0)
        self._x_scale = _safe_scale(x.std(axis=0))
        xs = torch.tensor((x - self._x_mean) / self._x_scale, dtype=torch.float32)
        ys = torch.tensor(targets)
        model_spec = MLPSpec(hidden=tuple(self.hidden), activation=self.activation, dropout=self.dropout,
                             norm=self.norm)
        train = TrainSpec(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                          optimizer=self.optimizer, weight_decay=self.weight_decay, schedule=self.schedule,
                          early_stopping=EarlyStoppingSpec(patience=self.patience) if self.early_stopping
                          else None, device=self.device, threads=self.threads, checkpoint=False)
        n_val = int(round(len(xs) * self.validation_fraction)) if self.early_stopping else 0
        order = torch.randperm(len(xs), generator=torch.Generator().manual_seed(seed))
        val, tr = order[:n_val], order[n_val:]
        data = Dataset("arrays", self._task, xs[tr], ys[tr], xs[val], ys[val], xs[:0], ys[:0],
                       class_names=[str(c) for c in getattr(self, "classes_", [])] or None)
        torch.manual_seed(seed)
        self.model_ = build_model(model_spec, (x.shape[1],), num_outputs, self._task)
        result = train_fit(self.model_, data, train, seed=seed, progress=self.verbose)
        self.model_.cpu().eval()
        # Predictions in float64: a row's output then does not depend on which rows share its batch
        # (float32 matrix products round differently for different batch sizes).
        self._predictor = copy.deepcopy(self.model_).double()
        self.history_ = result.history
        self.n_iter_ = result.epochs
        self.loss_ = result.history[-1]["train_loss"]

    def _outputs(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        x = validate_data(self, x, reset=False, dtype=np.float64)
        xs = torch.tensor((x - self._x_mean) / self._x_scale, dtype=torch.float64)
        with torch.inference_mode():
            return self._predictor(xs).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class NeuralClassifier(ClassifierMixin, _NeuralEstimator):
    """A multilayer perceptron classifier trained by neuroplast (softmax output, cross-entropy loss).

    Parameters:
        hidden: widths of the hidden layers. activation: ``relu``, ``tanh``, ``sigmoid``, ``gelu``, ...
        dropout, norm (``none``, ``batch``, ``layer``): as in ``[model]`` of a spec.
        epochs, batch_size, lr, optimizer (``sgd``, ``adam``, ``adamw``), weight_decay, schedule
            (``none``, ``step``, ``cosine``, ``onecycle``): as in ``[train]``.
        early_stopping: hold out ``validation_fraction`` of the rows and stop after ``patience``
            epochs without a better validation loss, keeping the best weights.
        random_state: fixes the initial weights, the shuffling and the held-out rows.
        device, threads: where to train (``cpu``, ``cuda``, ``auto``) and torch's CPU threads (a count,
            ``"auto"``: timed on the model when training starts, or None: torch's default).

    Attributes:
        classes_, n_features_in_, feature_names_in_ (pandas input), model_ (the ``nn.Module``),
        history_ (one dict per epoch), n_iter_ (epochs run), loss_ (last training loss).
    """

    def fit(self, X: Any, y: Any) -> NeuralClassifier:
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"NeuralClassifier needs at least 2 classes in y; got 1 class "
                             f"({self.classes_[0]!r}). Pass rows of every class.")
        self._fit(X, codes.astype(np.int64), len(self.classes_))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, in the order of ``classes_``."""
        logits = self._outputs(X)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=1)]


class NeuralRegressor(RegressorMixin, _NeuralEstimator):
    """A multilayer perceptron regressor trained by neuroplast (linear output, squared error).

    Parameters and attributes as :class:`NeuralClassifier` (without ``classes_``); ``y`` may have
    several columns (one output each). Targets are standardized for training and predictions
    returned in their units.
    """

    _task = "regression"

    def fit(self, X: Any, y: Any) -> NeuralRegressor:
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self._y_mean, self._y_scale = y2.mean(axis=0), _safe_scale(y2.std(axis=0))
        self._fit(X, ((y2 - self._y_mean) / self._y_scale).astype(np.float32), y2.shape[1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        values = self._outputs(X)
        values = values * self._y_scale + self._y_mean
        return values[:, 0] if self._y_1d else values

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _safe_scale(std: np.ndarray) -> np.ndarray:
    """Standard deviations with zeros (constant columns) replaced by 1."""
    std = np.asarray(std, dtype=np.float64)
    return np.where(std > 1e-12, std, 1.0)
