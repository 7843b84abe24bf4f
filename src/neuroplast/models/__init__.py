"""Model families, one readable file each. ``build_model`` sizes inputs and outputs from the data."""

from __future__ import annotations

from neuroplast.models import (  # noqa: F401,E501  (fill MODELS)
           bag,
           cnn,
           committee,
           hebbian,
           hebbian_fc,
           linear,
           mlp,
           nbeats,
           perceptron,
           rnn,
           transformer,
)
from neuroplast.models.bag import BagOfNgrams
from neuroplast.models.base import MODELS, build_model, count_parameters, model_outputs
from neuroplast.models.cnn import CNN
from neuroplast.models.committee import Committee
from neuroplast.models.hebbian import HebbianNet
from neuroplast.models.hebbian_fc import CompetingNet
from neuroplast.models.linear import LinearForecaster
from neuroplast.models.mlp import MLP
from neuroplast.models.nbeats import NBeats
from neuroplast.models.perceptron import Perceptron
from neuroplast.models.rnn import Recurrent
from neuroplast.models.transformer import Transformer

__all__ = ["CNN", "BagOfNgrams", "Committee", "CompetingNet", "MLP", "MODELS", "NBeats", "HebbianNet", "LinearForecaster", "Perceptron", "Recurrent", "Transformer", "build_model",
           "count_parameters", "model_outputs"]
