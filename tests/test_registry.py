from __future__ import annotations

import pytest

from neuroplast.data import SOURCES
from neuroplast.errors import UserError
from neuroplast.models import MODELS
from neuroplast.registry import Registry


def test_registry_names_are_pinned() -> None:
    assert MODELS.names() == ["bag", "cnn", "committee", "gru", "hebbian", "hebbian-fc", "linear", "lstm", "mlp", "nbeats", "perceptron", "rnn", "transformer"]
    assert SOURCES.names() == ["breast_cancer", "csv", "diabetes", "digits", "fashion-mnist", "folder", "iris",
                               "mnist", "series", "sunspots", "text", "text-csv", "wine"]


def test_unknown_name_suggests_nearest_and_duplicates_are_refused() -> None:
    reg: Registry[int] = Registry("thing")
    reg.register("alpha")(1)
    with pytest.raises(UserError, match=r"Unknown thing 'alpah'\. Known: alpha\. Did you mean 'alpha'\?"):
        reg.get("alpah")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha")(2)
