"""The spec sections of the stages after training: each stage takes its own section object, and the
CLI builds the same object from its flags, so every option list and default is written here alone."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import (
    Field,
    PositiveInt,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from neuroplast.errors import UserError
from neuroplast.spec.sections import SpecModel

# Each option list is written once, here; the CLI's choices, the registries' names (a test pins them)
# and the documentation follow it.
CalibrationMethod = Literal["temperature", "mc-dropout", "ensemble", "laplace"]
OodMethod = Literal["mahalanobis"]
ExplainMethod = Literal["ig", "saliency", "occlusion", "gradcam"]
PruneMethod = Literal["magnitude", "saliency", "structured"]
PruneSchedule = Literal["one-shot", "iterative", "gradual", "lottery"]
PruneScope = Literal["global", "layer", "lamp", "erk"]
ExportFormat = Literal["onnx"]
Language = Literal["en", "zh-Hant"]


def choices(options: Any) -> tuple[str, ...]:
    """The values of one of the option lists above, e.g. ``choices(PruneSchedule)``."""
    return tuple(get_args(options))


def section(cls: type[SpecModel], options: dict[str, Any]) -> Any:
    """A stage's spec section built from keyword options (the Python API's, or the CLI's flags; None
    means "the default"); bad input is one line naming the flag and the spec key."""
    try:
        return cls(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as e:
        err = e.errors()[0]
        name = cls.__name__.removesuffix("Spec").lower()
        if not err["loc"]:  # a check across options: its message names them
            raise UserError(f"{err['msg'].removeprefix('Value error, ')}.") from None
        key = str(err["loc"][0])
        raise UserError(f"--{key.replace('_', '-')} ({name}.{key}): {err['msg']}; received "
                        f"{err.get('input')!r}.") from None


class UncertaintySpec(SpecModel):
    """After training: calibrate on the validation split (as ``neuroplast calibrate``)."""

    method: CalibrationMethod = "temperature"
    members: int | None = Field(None, le=20, description="ensemble: networks in it, the run's own "
                                "included (default 5, at least 2); laplace: more than 1 makes a mixture of one "
                                "Laplace approximation per network (default 1).")
    perturb: bool = Field(False, description="Fit the temperature (method 'temperature' or then_temperature) "
                          "on validation data plus noisy copies of it: calibrated under drift, humbler on "
                          "clean inputs.")
    then_temperature: bool = Field(False, description="Then fit a temperature on the method's output "
                                   "(e.g. an ensemble followed by temperature scaling).")
    target_accuracy: float = Field(0.99, gt=0.0, le=1.0, description="Accuracy the confident answers must "
                                   "reach on validation; below the threshold this sets: 'not sure'.")
    ood: OodMethod | None = Field(None, description="Also flag inputs unlike the training "
                                               "data (a feature density).")

    @model_validator(mode="after")
    def _options_fit_the_method(self) -> UncertaintySpec:
        """Settings that the method cannot use fail when the spec is read, not after training."""
        if self.method == "ensemble" and self.members is not None and self.members < 2:
            raise PydanticCustomError("uncertainty", "an ensemble needs --members (uncertainty.members) at least 2 "
                                      "(the run's own network and at least one more); received {members}",
                                      {"members": self.members})
        if self.members is not None and self.members < 1:
            raise PydanticCustomError("uncertainty", "--members (uncertainty.members) must be at least 1; received "
                                      "{members}", {"members": self.members})
        if self.members is not None and self.method not in ("ensemble", "laplace"):
            raise PydanticCustomError("uncertainty", "members (--members, uncertainty.members) applies to the "
                                      "ensemble and laplace methods, not {method}; leave it out or choose one of "
                                      "those methods", {"method": repr(self.method)})
        if self.then_temperature and self.method == "temperature":
            raise PydanticCustomError("uncertainty", "--then-temperature (uncertainty.then_temperature) adds a "
                                      "temperature after another method and method 'temperature' already is one; "
                                      "leave it out, or choose another method")
        if self.perturb and not (self.then_temperature or self.method == "temperature"):
            raise PydanticCustomError("uncertainty", "--perturb (uncertainty.perturb) changes how a temperature is "
                                      "fitted: use it with method 'temperature' or with --then-temperature "
                                      "(uncertainty.then_temperature = true)")
        return self


class ExplainSpec(SpecModel):
    """After training: attribution heatmaps for the first test images (as ``neuroplast explain``)."""

    method: ExplainMethod = "ig"
    count: PositiveInt = Field(8, description="Test images to explain.")
    sanity: bool = Field(False, description="Also run the randomisation test and the deletion curve.")


class PruneSpec(SpecModel):
    """After training: prune, fine-tune and measure (as ``neuroplast prune``) into RUN_DIR/pruned-METHOD."""

    method: PruneMethod = Field(
        "magnitude", description="magnitude |w|, saliency |w·dL/dw| (weights zeroed, stored sparse), or "
        "structured (whole neurons/channels/hidden units removed: a smaller, faster model; mlp, cnn and "
        "one-directional rnn/lstm/gru).")
    sparsity: float = Field(0.9, gt=0.0, lt=1.0, description="Share of the weights to remove (structured: "
                            "of each layer's neurons/channels).")
    schedule: PruneSchedule = Field(
        "one-shot", description="one-shot, iterative (the same share of the remaining weights per round), "
        "gradual (cubic ramp) or lottery (rewind survivors to early weights each round).")
    rounds: PositiveInt | None = Field(None, description="Rounds (default: ~20% of the remaining per round).")
    epochs: PositiveInt | None = Field(None, description="Fine-tuning epochs after each round but the last "
                                       "(default 2, cosine decay from lr).")
    lr: float | None = Field(None, gt=0.0, description="Learning rate of those rounds (default: train.lr).")
    final_epochs: PositiveInt | None = Field(None, description="Retraining epochs after the last round with "
                                             "the [train] recipe (default: train.epochs).")
    scope: PruneScope = Field(
        "global", description="One threshold for all layers, the same share of each layer, one threshold on "
        "layer-adaptive (LAMP) scores, or Erdős–Rényi-Kernel shares per layer (erk).")
    rewind_epoch: int = Field(1, ge=0, description="lottery: rewind to the weights after this many epochs.")
    distill: float = Field(0.0, ge=0.0, le=1.0, description="Classifiers: share of the fine-tuning loss that "
                           "is distillation from the dense network (0: none).")

    @model_validator(mode="after")
    def _options_fit_the_schedule(self) -> PruneSpec:
        """Combinations the method or schedule cannot use fail when the spec is read, not after work."""
        if self.schedule == "one-shot" and self.rounds not in (None, 1):
            raise PydanticCustomError("prune", "--rounds {rounds} (prune.rounds) needs a schedule that prunes in "
                                      "rounds: add --schedule iterative, gradual or lottery", {"rounds": self.rounds})
        if self.method == "structured" and self.scope in ("lamp", "erk"):
            raise PydanticCustomError("prune", "--scope {scope} shares out single weights across layers; structured "
                                      "pruning removes the same share of each layer's neurons/channels. Leave "
                                      "--scope out, or use --method magnitude", {"scope": self.scope})
        if self.method == "structured" and self.schedule == "lottery":
            raise PydanticCustomError("prune", "schedule 'lottery' rewinds individual weights; use it with --method "
                                      "magnitude or saliency. Structured pruning takes one-shot, iterative or gradual")
        return self


class ConformalSpec(SpecModel):
    """Split-conformal intervals for a regression or forecasting run, fitted on its validation split
    (``neuroplast predict --uncertainty``)."""

    coverage: float = Field(0.9, gt=0.0, lt=1.0, description="The share of answers the intervals should "
                            "hold, e.g. 0.9.")

    @property
    def alpha(self) -> float:
        """The miscoverage rate, 1 - coverage."""
        return round(1.0 - self.coverage, 12)


class ExportSpec(SpecModel):
    """Export a run's model (``neuroplast export``)."""

    format: ExportFormat = "onnx"
    opset: int = Field(17, description="ONNX opset to write (7 to the newest the installed onnx knows).")
    check: bool = Field(True, description="Run the exported file in ONNX Runtime and compare with PyTorch.")


class ReportSpec(SpecModel):
    """The run's self-contained ``report.html`` (``neuroplast report``)."""

    lang: Language = Field("en", description="Language of the report: en or zh-Hant.")


SpaceMethod = Literal["pca", "tsne"]


class SpaceSpec(SpecModel):
    """The vector space stored in a classification run's folder (``space.safetensors``): where the first
    test examples land after each block, in 2-D, with what places new inputs among them."""

    examples: int = Field(1000, ge=10, le=10_000, description="Test examples stored (the first ones of the test "
                          "split): their 2-D points, labels, predictions and, for images, thumbnails.")
    method: SpaceMethod = Field("pca", description="The 2-D map: 'pca' (principal components; a new input lands "
                                "by the stored projection) or 'tsne' (scikit-learn's t-SNE; a new input lands at the "
                                "distance-weighted mean of its nearest stored neighbours' points).")
    dims: int = Field(16, ge=2, le=64, description="Principal components kept per stage to place new inputs and "
                      "find their nearest stored neighbours (the PCA map shows the first two).")
