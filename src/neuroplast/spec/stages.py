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
QuantizeMethod = Literal["codebook", "dynamic", "static"]
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


HIGH_SPARSITY = 0.9  # from here, pruning's defaults are a measured recipe (PruneSpec.resolved)
HIGH_SPARSITY_RECIPES: dict[str, dict[str, Any]] = {  # benchmarks/RESULTS.md, "Unstructured magnitude pruning"
    "fully-connected": {"rounds": 16, "epochs": 2, "scope": "erk", "distill": 0.5, "final_times": 2},
    "convolutional": {"rounds": 8, "epochs": 3, "scope": "lamp", "distill": 0.0, "final_times": 1},
}


class PruneSpec(SpecModel):
    """After training: prune, fine-tune and measure (as ``neuroplast prune``) into RUN_DIR/pruned-METHOD."""

    method: PruneMethod = Field(
        "magnitude", description="magnitude |w|, saliency |w·dL/dw| (weights zeroed, stored sparse), or "
        "structured (whole neurons/channels/hidden units removed: a smaller, faster model; mlp, cnn and "
        "one-directional rnn/lstm/gru).")
    sparsity: float = Field(0.9, gt=0.0, lt=1.0, description="Share of the weights to remove (structured: "
                            "of each layer's neurons/channels).")
    schedule: PruneSchedule | None = Field(
        None, description="one-shot, iterative (the same share of the remaining weights per round), "
        "gradual (cubic ramp) or lottery (rewind survivors to early weights each round). Default: one-shot "
        "below 90% sparsity; gradual from 90% (magnitude, saliency) or when --rounds is given.")
    rounds: PositiveInt | None = Field(None, le=1000, description="Rounds, at most 1000 (default: 16 for the "
                                       "high-sparsity recipe, else ~20% of the remaining per round).")
    epochs: PositiveInt | None = Field(None, description="Fine-tuning epochs after each round but the last "
                                       "(default 2, cosine decay from lr).")
    lr: float | None = Field(None, gt=0.0, description="Learning rate of those rounds (default: train.lr).")
    final_epochs: PositiveInt | None = Field(None, description="Retraining epochs after the last round with "
                                             "the [train] recipe (default: train.epochs; twice that in the "
                                             "high-sparsity recipe).")
    scope: PruneScope | None = Field(
        None, description="One threshold for all layers (global), the same share of each layer, one threshold "
        "on layer-adaptive (LAMP) scores, or Erdős–Rényi-Kernel shares per layer (erk). Default: erk from 90% "
        "sparsity (magnitude, saliency), else global.")
    rewind_epoch: int = Field(1, ge=0, description="lottery: rewind to the weights after this many epochs.")
    distill: float | None = Field(None, ge=0.0, le=1.0, description="Classifiers: share of the fine-tuning "
                                  "loss that is distillation from the dense network (0: none). Default: 0.5 "
                                  "from 90% sparsity (magnitude, saliency), else 0.")

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

    def resolved(self, classifier: bool, train_epochs: int, convolutional: bool = False) -> PruneSpec:
        """Every option the user left out, filled from the sparsity asked. From :data:`HIGH_SPARSITY`
        (magnitude or saliency) that is the recipe measured to keep each LeNet within 0.1 point at the
        median of 3 seeds (benchmarks/RESULTS.md, :data:`HIGH_SPARSITY_RECIPES`): for fully connected
        networks gradual, 16 rounds of 2 epochs, ERK shares, half of each fine-tuning loss distilled from
        the dense network (classifiers), then twice the parent's epochs; for networks with convolutions
        gradual, 8 rounds of 3 epochs, LAMP scores, then the parent's epochs. Below it, one-shot global
        pruning with the parent's recipe."""
        high = self.sparsity >= HIGH_SPARSITY and self.method != "structured"
        recipe = HIGH_SPARSITY_RECIPES["convolutional" if convolutional else "fully-connected"] if high else {}
        schedule = self.schedule or ("gradual" if high or self.rounds is not None else "one-shot")
        auto_gradual = self.schedule is None and schedule == "gradual"
        return self.model_copy(update={
            "schedule": schedule,
            "rounds": self.rounds if self.rounds is not None or not (high and auto_gradual) else recipe["rounds"],
            "epochs": self.epochs or recipe.get("epochs", 2),
            "scope": self.scope or recipe.get("scope", "global"),
            "distill": self.distill if self.distill is not None else (recipe.get("distill", 0.0) if classifier
                                                                      else 0.0),
            "final_epochs": self.final_epochs or recipe.get("final_times", 1) * train_epochs,
        })


class QuantizeSpec(SpecModel):
    """After training (or pruning): quantize the weights and measure size, accuracy and latency (as
    ``neuroplast quantize``) into RUN_DIR/quantized-METHOD."""

    method: QuantizeMethod = Field(
        "codebook", description="codebook: k-means weight sharing per layer (2^bits values, fine-tuned) stored "
        "with the pruned positions coded in model.compressed (Deep Compression); dynamic: int8 weights through "
        "ONNX Runtime's dynamic quantizer on the exported model (model.int8.onnx); static: int8 weights (per "
        "channel) and activations through ONNX Runtime's static quantizer, activation ranges calibrated on "
        "training images (model.int8.onnx).")
    bits: int | None = Field(None, description="codebook: bits per index in fully connected layers, 1 to 8 "
                             "(default 5); dynamic and static: 8 (int8).")
    conv_bits: int | None = Field(None, description="codebook: bits per index in convolutions, 1 to 8 "
                                  "(default 8).")
    epochs: PositiveInt | None = Field(None, description="codebook: epochs fine-tuning the codebooks "
                                       "(default 3).")
    lr: float | None = Field(None, gt=0.0, description="codebook: learning rate of that fine-tuning "
                             "(default: train.lr / 10).")
    calibration: PositiveInt | None = Field(None, description="static: training inputs (drawn with the run's "
                                            "seed, never validation or test) that set the activation ranges "
                                            "(default 512).")

    @model_validator(mode="after")
    def _options_fit_the_method(self) -> QuantizeSpec:
        """Bit widths the method cannot use fail when the spec is read, not after work."""
        for name in ("bits", "conv_bits"):
            value = getattr(self, name)
            if self.method == "codebook" and value is not None and not 1 <= value <= 8:
                raise PydanticCustomError("quantize", "--{flag} {value} (quantize.{name}): a codebook holds 2^bits "
                                          "values; give 1 to 8 bits (e.g. 5 for fully connected layers, 8 for "
                                          "convolutions)", {"flag": name.replace("_", "-"), "value": value,
                                                            "name": name})
        if self.method != "codebook" and self.bits not in (None, 8):
            raise PydanticCustomError("quantize", "--bits {bits} (quantize.bits): {method} quantization is int8; "
                                      "leave --bits out, or use --method codebook for other widths",
                                      {"bits": self.bits, "method": self.method})
        unused = [n for n in ("conv_bits", "epochs", "lr") if getattr(self, n) is not None]
        if self.method != "codebook" and unused:
            raise PydanticCustomError("quantize", "{names} apply to --method codebook ({method} quantization does "
                                      "not fine-tune); leave them out", {"names": ", ".join(unused),
                                                                          "method": self.method})
        if self.method != "static" and self.calibration is not None:
            raise PydanticCustomError("quantize", "--calibration (quantize.calibration) applies to --method static "
                                      "(the {method} method calibrates nothing); leave it out",
                                      {"method": self.method})
        return self

    @property
    def index_bits(self) -> tuple[int, int]:
        """``(fully connected, convolution)`` bits with the defaults filled in."""
        return (self.bits or 5, self.conv_bits or 8)

    @property
    def calibration_samples(self) -> int:
        """Training inputs the static method calibrates on, with the default filled in."""
        return self.calibration or 512


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
