"""The ``[select]`` section: choose a series' forecaster by rolling-origin validation before the test
period, and the candidates it chooses among (each a ``[model]`` section)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from neuroplast.spec.sections import SpecModel

Candidate = Literal["dlinear", "nlinear", "lstm", "nbeats"]

# The [model] section of each candidate (the family's other keys keep their defaults). The LSTM and
# N-BEATS shrink on a short series (SelectSpec.adapt); their sizes here are the long-series ones.
CANDIDATE_MODELS: dict[str, dict[str, Any]] = {
    "dlinear": {"family": "linear", "kernel_size": 25},
    "nlinear": {"family": "linear", "kernel_size": 1},
    "lstm": {"family": "lstm", "hidden_size": 32, "num_layers": 1},
    "nbeats": {"family": "nbeats", "hidden_size": 64, "num_blocks": 3},
}


class SelectSpec(SpecModel):
    """Forecasts: train every candidate on rolling-origin folds of the values before the test period,
    keep the one (or the committee of the best ones) with the lowest mean validation MASE, then train
    it as the run's model. The test values are never read by the choice. Naming ``model.family`` on the command line turns it off."""

    candidates: tuple[Candidate, ...] = Field(("dlinear", "nlinear", "lstm"), min_length=1,
                                              description="Forecasters to choose among.")
    folds: PositiveInt = Field(3, description="Rolling-origin validation folds at most (fewer on a short "
                               "series, said in one line).")
    committee: NonNegativeInt = Field(3, description="The best k candidates on validation, combined by the "
                                      "median of their forecasts, compete as one more candidate "
                                      "(model.family = 'committee'); 0 or 1: off.")
    adapt: bool = Field(True, description="Fit data.window and the candidates' sizes to a short series "
                        "(said in one line); false keeps them as set.")
