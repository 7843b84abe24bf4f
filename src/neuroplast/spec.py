"""The typed experiment spec: one TOML file (or Python call) describes data, model and training.

Flow: ``configs/digits-cnn.toml`` -> :func:`load_spec` (with ``--set train.lr=3e-4`` overrides)
-> :class:`ExperimentSpec`; each stage then sees only its own part (``spec.data``, ``spec.model``,
``spec.train``). Unknown keys and wrong types fail here, naming the dotted key and the fix.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from neuroplast.errors import UserError, did_you_mean

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_SPEC = "digits-cnn"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- data
class AugmentSpec(_Spec):
    shift: int = Field(0, ge=0, le=8, description="Random translation of images by up to this many pixels.")
    rotate: float = Field(0.0, ge=0.0, le=180.0, description="Random rotation by up to this many degrees.")
    scale: float = Field(0.0, ge=0.0, lt=1.0, description="Random zoom by a factor in [1 - scale, 1 + scale].")
    flip: bool = Field(False, description="Mirror half of the images left to right (clothing, objects; "
                       "not digits or letters, whose mirror image is another symbol).")

    @property
    def active(self) -> bool:
        """Whether any augmentation is asked for."""
        return bool(self.shift or self.rotate or self.scale or self.flip)


class DataSpec(_Spec):
    source: str = Field("digits", description="Data source: digits, mnist, fashion-mnist, iris, wine, "
                        "breast_cancer, diabetes, csv, folder, text, text-csv, sunspots or series.")
    dir: Path | None = Field(None, description="Directory with the IDX files (mnist, fashion-mnist) or "
                             "with one sub-folder of images per class (folder).")
    path: Path | None = Field(None, description="CSV file (source = 'csv').")
    target: str | None = Field(None, description="Name of the CSV column to predict.")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="CSV only: 'auto' treats a non-numeric or few-valued integer target as classes.")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of training data held out for validation.")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0,
                                 description="Share held out for testing (sets with an official test split keep it).")
    max_train_samples: PositiveInt | None = Field(None, description="Use at most this many training samples.")
    split_seed: int | None = Field(None, description="Seed of the train/validation/test split (default: the run's "
                                   "seed). Ensemble members keep their parent's, so none trains on its validation data.")
    image_size: tuple[PositiveInt, PositiveInt] = Field((28, 28), description="Folder images are resized to (H, W).")
    channels: Literal[1, 3] = Field(1, description="Folder images: 1 = grayscale, 3 = RGB.")
    augment: AugmentSpec | None = None
    # sequences: text, time series
    text_column: str | None = Field(None, description="text-csv: the column holding the text to classify.")
    tokens: Literal["char", "word"] = Field("char", description="text-csv: character or word vocabulary.")
    block_size: PositiveInt = Field(128, description="text: characters per training sequence (the context); "
                                    "text-csv: tokens kept per text.")
    column: str | None = Field(None, description="series: the CSV column holding the time series.")
    window: PositiveInt = Field(24, description="series: past steps the model sees.")
    horizon: PositiveInt = Field(1, description="series: steps ahead to forecast.")
    season: PositiveInt | None = Field(None, description="series: season length for the seasonal-naive "
                                       "baseline (sunspots: 11 years).")


# --------------------------------------------------------------------------- models
Activation = Literal["relu", "sigmoid", "tanh", "gelu", "leaky_relu", "elu"]

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    # LeCun et al. 1998, the fully connected baseline: 784-300-100-10.
    "lenet-300-100": {"hidden": (300, 100), "activation": "tanh", "dropout": 0.0, "norm": "none"},
    # LeCun et al. 1998: conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> 120 -> 84 -> classes.
    "lenet5": {"channels": (6, 16), "kernel_size": 5, "padding": "valid", "pool": "avg",
               "hidden": (120, 84), "activation": "tanh", "dropout": 0.0, "batch_norm": False,
               "convs_per_block": 1},
}


class _ModelSpec(_Spec):
    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("preset"):
            preset = values["preset"]
            if preset not in MODEL_PRESETS:
                return values  # the Literal check reports it
            return {**MODEL_PRESETS[preset], **values}
        return values


class PerceptronSpec(_ModelSpec):
    """Rosenblatt's single neuron: weighted sum + bias + activation, for two classes."""

    family: Literal["perceptron"] = "perceptron"
    activation: Literal["sigmoid", "step"] = Field(
        "sigmoid", description="'sigmoid' trains with logistic loss; 'step' with the perceptron criterion.")


class MLPSpec(_ModelSpec):
    """Fully connected layers: tables, flattened images."""

    family: Literal["mlp"] = "mlp"
    preset: Literal["lenet-300-100"] | None = None
    hidden: tuple[PositiveInt, ...] = Field((128, 64), description="Width of each hidden layer.")
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Probability of zeroing a hidden unit in training.")
    norm: Literal["none", "batch", "layer"] = Field("none", description="Normalization after each hidden layer.")


class CNNSpec(_ModelSpec):
    """Convolution -> activation -> pooling blocks, then fully connected layers."""

    family: Literal["cnn"] = "cnn"
    preset: Literal["lenet5"] | None = None
    channels: tuple[PositiveInt, ...] = Field((32, 64), description="Output channels of each conv block.")
    convs_per_block: PositiveInt = Field(1, description="Convolutions before each pooling layer.")
    kernel_size: PositiveInt = 3
    padding: Literal["same", "valid"] = "same"
    pool: Literal["max", "avg"] = "max"
    hidden: tuple[PositiveInt, ...] = Field((128,), description="Fully connected layers after the convolutions.")
    activation: Activation = "relu"
    batch_norm: bool = True
    dropout: float = Field(0.25, ge=0.0, lt=1.0, description="Dropout before each fully connected layer.")


class RecurrentSpec(_ModelSpec):
    """Elman RNN, LSTM or GRU layers over a sequence (tokens, time steps, or image rows)."""

    family: Literal["rnn", "lstm", "gru"] = "lstm"
    hidden_size: PositiveInt = 128
    num_layers: PositiveInt = 1
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout between recurrent layers and before "
                           "the output layer.")
    bidirectional: bool = Field(False, description="Read the sequence both ways (classification only).")
    embedding_dim: PositiveInt = Field(64, description="Size of the token embedding (token inputs only).")
    linear_skip: bool = Field(False, description="Forecasting: add a linear autoregressive path from the "
                              "window to the forecast (LSTNet's highway); the network learns a correction.")


class TransformerSpec(_ModelSpec):
    """Pre-norm Transformer blocks of multi-head self-attention and an MLP."""

    family: Literal["transformer"] = "transformer"
    d_model: PositiveInt = Field(128, description="Width of the token vectors.")
    num_heads: PositiveInt = 4
    num_layers: PositiveInt = 4
    mlp_ratio: PositiveInt = Field(4, description="MLP hidden width as a multiple of d_model.")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    positional: Literal["learned", "sinusoidal"] = "learned"
    pooling: Literal["mean", "cls"] = Field("mean", description="Classification: average the tokens or "
                                            "read a [CLS] token.")
    linear_skip: bool = Field(False, description="Forecasting: add a linear autoregressive path from the "
                              "window to the forecast (LSTNet's highway); the network learns a correction.")


class HebbianSpec(_ModelSpec):
    """A convolutional layer learned by a local Hebbian rule (SoftHebb: soft winner-take-all, no
    backpropagation into it), then a linear readout trained by gradient descent."""

    family: Literal["hebbian"] = "hebbian"
    units: PositiveInt = Field(96, description="Hebbian filters (competing units) in the hidden layer.")
    kernel_size: PositiveInt = Field(5, description="Filter size (odd; the layer keeps the resolution).")
    hebbian_lr: float = Field(0.05, gt=0.0, description="The Hebbian layer's own initial learning rate; it "
                              "decays linearly to 0 over learning_samples.")
    inverse_temperature: float = Field(5.0, gt=0.0, description="Sharpness of the softmax competition "
                                       "between units (larger: closer to hard winner-take-all).")
    learning_samples: PositiveInt = Field(60_000, description="Training samples the Hebbian layer learns "
                                          "from (60000: one MNIST epoch); then its filters are fixed and "
                                          "only the readout keeps learning.")
    power: float = Field(0.7, gt=0.0, description="Exponent of the triangle activation after the layer.")
    pool_size: PositiveInt = Field(4, description="Max-pooling window before the readout.")
    pool_stride: PositiveInt = Field(2, description="Max-pooling stride.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the features the readout sees "
                           "(slow on CPU; 0 turns it off).")


ModelSpec = Annotated[Union[PerceptronSpec, MLPSpec, CNNSpec, RecurrentSpec, TransformerSpec,  # noqa: UP007
                            HebbianSpec], Field(discriminator="family")]
FAMILIES = ("perceptron", "mlp", "cnn", "rnn", "lstm", "gru", "transformer", "hebbian")


# --------------------------------------------------------------------------- training
class EarlyStoppingSpec(_Spec):
    patience: PositiveInt = Field(10, description="Epochs without improvement before stopping.")
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = Field(True, description="Put back the weights of the best epoch at the end.")


class TrainSpec(_Spec):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    lr: float | Literal["auto"] = Field(1e-3, description="Learning rate (the peak rate for 'onecycle'), "
                                       "or 'auto': run the learning-rate finder first and train "
                                       "with its suggestion.")
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum.")
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)
    schedule: Literal["none", "step", "cosine", "onecycle"] = "none"
    step_size: PositiveInt = Field(10, description="'step' schedule: epochs between decays.")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="'step' schedule: decay factor.")
    grad_clip: float | None = Field(None, gt=0.0, description="Clip the gradient norm to this value.")
    loss: Literal["auto", "cross_entropy", "bce", "perceptron", "mse", "huber", "gaussian_nll"] = "auto"
    max_steps_per_epoch: PositiveInt | None = Field(None, description="Cap the batches per epoch (an "
                                                    "'epoch' of a long text is then a sample of it).")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    early_stopping: EarlyStoppingSpec | None = None
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: Literal["none", "bf16", "fp16"] = Field("none", description="Mixed precision autocast dtype.")
    channels_last: bool = Field(False, description="Images: NHWC memory layout (faster convolutions on "
                                "recent CPUs, especially with amp = 'bf16', and on GPU tensor cores).")
    ema: float | None = Field(None, gt=0.0, lt=1.0, description="Keep an exponential moving average of "
                              "the weights with this decay per step (e.g. 0.999); validation and the "
                              "final model use the averaged weights.")
    cuda_graphs: bool = Field(False, description="CUDA only (ignored on CPU): capture the whole training "
                              "step as one CUDA graph and replay it; for small models whose steps are "
                              "launch-bound. Adam/AdamW, fixed batch size.")
    compile: bool = Field(False, description="torch.compile the model (slow start; helps large models on GPU).")
    threads: PositiveInt | None = Field(None, description="CPU threads for torch (None: torch's default).")
    eval_batch_size: PositiveInt = 1024
    checkpoint: bool = Field(True, description="Write an exact-resume checkpoint after every epoch.")
    log: tuple[Literal["tensorboard", "mlflow"], ...] = Field((), description="Also log the run's metrics "
                                                              "to TensorBoard and/or MLflow (each needs its "
                                                              "package installed).")

    @field_validator("lr", mode="before")
    @classmethod
    def _lr_number_or_auto(cls, value: Any) -> Any:
        """A positive finite number (a numeric string too), or exactly "auto"; anything else gets a
        message naming both choices instead of pydantic's per-union-member errors."""
        if value == "auto":
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not 0.0 < number < float("inf"):
            raise PydanticCustomError(
                "lr", "expected a positive number such as 3e-4, or \"auto\" to run the learning-rate "
                "finder first (neuroplast lr-find)")
        return number


# --------------------------------------------------------------------------- experiment
class UncertaintySpec(_Spec):
    """After training: calibrate on the validation split (as ``neuroplast calibrate``)."""

    method: Literal["temperature", "mc-dropout", "ensemble", "laplace"] = "temperature"
    members: int | None = Field(None, ge=1, le=20, description="ensemble: networks in it, the run's own "
                                "included (default 5, at least 2); laplace: more than 1 makes a mixture of one "
                                "Laplace approximation per network (default 1).")
    perturb: bool = Field(False, description="Fit the temperature (method 'temperature' or then_temperature) "
                          "on validation data plus noisy copies of it: calibrated under drift, humbler on "
                          "clean inputs.")
    then_temperature: bool = Field(False, description="Then fit a temperature on the method's output "
                                   "(e.g. an ensemble followed by temperature scaling).")
    target_accuracy: float = Field(0.99, gt=0.0, le=1.0, description="Accuracy the confident answers must "
                                   "reach on validation; below the threshold this sets: 'not sure'.")
    ood: Literal["mahalanobis"] | None = Field(None, description="Also flag inputs unlike the training "
                                               "data (a feature density).")

    @model_validator(mode="after")
    def _options_fit_the_method(self) -> UncertaintySpec:
        """Settings that the method cannot use fail when the spec is read, not after training."""
        if self.members is not None and self.method not in ("ensemble", "laplace"):
            raise PydanticCustomError("uncertainty", "members applies to the ensemble and laplace methods, not "
                                      "{method}; remove uncertainty.members", {"method": self.method})
        if self.method == "ensemble" and self.members is not None and self.members < 2:
            raise PydanticCustomError("uncertainty", "an ensemble needs uncertainty.members >= 2 (the run's own "
                                      "network and at least one more)")
        if self.then_temperature and self.method == "temperature":
            raise PydanticCustomError("uncertainty", "then_temperature adds a temperature after another method "
                                      "and method 'temperature' already is one; remove uncertainty.then_temperature")
        if self.perturb and not (self.then_temperature or self.method == "temperature"):
            raise PydanticCustomError("uncertainty", "perturb changes how a temperature is fitted: set "
                                      "uncertainty.then_temperature = true or method = 'temperature'")
        return self


class ExplainSpec(_Spec):
    """After training: attribution heatmaps for the first test images (as ``neuroplast explain``)."""

    method: Literal["ig", "saliency", "occlusion", "gradcam"] = "ig"
    count: PositiveInt = Field(8, description="Test images to explain.")
    sanity: bool = Field(False, description="Also run the randomisation test and the deletion curve.")


class PruneSpec(_Spec):
    """After training: prune, fine-tune and measure (as ``neuroplast prune``) into RUN_DIR/pruned-METHOD."""

    method: Literal["magnitude", "saliency", "structured"] = Field(
        "magnitude", description="magnitude |w|, saliency |w·dL/dw| (weights zeroed, stored sparse), or "
        "structured (whole neurons/channels/hidden units removed: a smaller, faster model; mlp, cnn, rnn).")
    sparsity: float = Field(0.9, gt=0.0, lt=1.0, description="Share of the weights to remove (structured: "
                            "of each layer's neurons/channels).")
    schedule: Literal["one-shot", "iterative", "gradual", "lottery"] = Field(
        "iterative", description="one-shot, iterative (the same share of the remaining weights per round), "
        "gradual (cubic ramp) or lottery (rewind survivors to early weights each round).")
    rounds: PositiveInt | None = Field(None, description="Rounds (default: ~20% of the remaining per round).")
    epochs: PositiveInt | None = Field(None, description="Fine-tuning epochs after each round but the last "
                                       "(default 2, cosine decay from lr).")
    lr: float | None = Field(None, gt=0.0, description="Learning rate of those rounds (default: train.lr).")
    final_epochs: PositiveInt | None = Field(None, description="Retraining epochs after the last round with "
                                             "the [train] recipe (default: train.epochs).")
    scope: Literal["global", "layer", "lamp", "erk"] = Field(
        "global", description="One threshold for all layers, the same share of each layer, one threshold on "
        "layer-adaptive (LAMP) scores, or Erdős–Rényi-Kernel shares per layer (erk).")
    rewind_epoch: int = Field(1, ge=0, description="lottery: rewind to the weights after this many epochs.")
    distill: float = Field(0.0, ge=0.0, le=1.0, description="Classifiers: share of the fine-tuning loss that "
                           "is distillation from the dense network (0: none).")


class ExperimentSpec(_Spec):
    """Everything one run needs. Later stages (prune, uncertainty, explain) add optional sections."""

    name: str = Field("experiment", min_length=1, description="Names the run folder runs/<name>-<time>: one "
                      "folder name (no slash or backslash, not '.' or '..').")
    description: str = ""
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds the weights, the batches and (by default) "
                      "the data split; 0 to 4294967295.")
    data: DataSpec = DataSpec()
    model: ModelSpec = CNNSpec()
    train: TrainSpec = TrainSpec()
    uncertainty: UncertaintySpec | None = Field(None, description="Calibrate after training into "
                                                "RUN_DIR/calibrated-METHOD.")
    explain: ExplainSpec | None = Field(None, description="Explain test images after training into "
                                        "RUN_DIR/explain-METHOD.")
    prune: PruneSpec | None = Field(None, description="Prune, fine-tune and measure after training into "
                                    "RUN_DIR/pruned-METHOD.")

    @field_validator("name")
    @classmethod
    def _name_is_one_folder(cls, value: str) -> str:
        """The run folder's name stays inside runs/: one path component."""
        if "/" in value or "\\" in value or value.strip(".") == "":
            raise PydanticCustomError("name", "one folder name for the run (no slash or backslash, not '.' or "
                                      "'..'), e.g. \"my-experiment\"")
        return value

    def to_toml(self) -> str:
        return tomli_w.dumps(_drop_none(self.model_dump(mode="json")))

    def updated(self, **changes: Any) -> ExperimentSpec:
        """A copy with nested changes, e.g. ``spec.updated(train={"epochs": 2})``, validated again.

        A change of ``model.family`` replaces the model section instead of merging into it.
        """
        base = self.model_dump(mode="json")
        new_family = changes.get("model", {}).get("family") if isinstance(changes.get("model"), dict) else None
        if new_family and new_family != base["model"]["family"]:
            base["model"] = {}
        return spec_from_dict(_deep_merge(base, changes))


# --------------------------------------------------------------------------- loading
def available_specs() -> list[str]:
    """Names of the shipped example specs (``neuroplast configs``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def resolve_spec_path(spec: str | Path | None) -> Path:
    """A file path, or the name of a shipped spec."""
    if spec is None:
        spec = DEFAULT_SPEC
    path = Path(spec)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{spec}.toml"
    if shipped.is_file():
        return shipped
    if path.is_dir():
        inside = path / "spec.toml"
        raise UserError(f"{path} is a folder; pass a .toml spec file" + (f" such as {inside}." if inside.is_file() else "."))
    names = available_specs()
    hint = did_you_mean(str(spec), names)
    raise UserError(f"No spec file or shipped spec named {str(spec)!r}. Shipped specs: {', '.join(names)}.{hint}")


def load_spec(spec: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentSpec:
    """Read a TOML spec (file or shipped name) and apply dotted ``key=value`` overrides."""
    path = resolve_spec_path(spec)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"Spec file {path} is not valid TOML: {e}. Fix the syntax at that line.") from None
    except UnicodeDecodeError as e:
        raise UserError(f"Spec file {path} is not UTF-8 text (byte {e.object[e.start]:#04x} at position {e.start}); "
                        "save it as UTF-8 TOML.") from None
    data = raw.get("data")
    if isinstance(data, dict):  # relative paths in a spec file are relative to that file
        for key in ("dir", "path"):
            if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                data[key] = str(path.parent / data[key])
    for item in overrides:
        _apply_override(raw, item)
    return spec_from_dict(raw, source=str(path))


def spec_from_dict(raw: dict[str, Any], source: str = "spec") -> ExperimentSpec:
    try:
        return ExperimentSpec.model_validate(raw)
    except ValidationError as e:
        raise UserError(_one_line(e, raw, source)) from None


def parse_value(text: str) -> Any:
    """A TOML value (``3e-4``, ``true``, ``[64, 32]``, ``"adam"``), or the bare text as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as e:
        if text.lstrip()[:1] in ("[", "{", '"', "'"):  # meant as a list, table or string: say why it is not one
            raise UserError(f"--set value {text!r} is not valid TOML ({e}); e.g. [32, 64], {{ shift = 2 }} or "
                            "\"adam\".") from None
        return text


def _apply_override(raw: dict[str, Any], item: str) -> None:
    if "=" not in item:
        raise UserError(f"--set expects KEY=VALUE (e.g. train.lr=3e-4); received {item!r}.")
    key, _, text = item.partition("=")
    parts = key.strip().split(".")
    _check_key(parts, raw, item)
    value = parse_value(text.strip())
    if parts == ["model", "family"] and raw.get("model", {}).get("family", "cnn") != value:
        raw["model"] = {}  # another family: the old family's keys do not apply
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"--set {item!r}: {part!r} is not a section.")
    node[parts[-1]] = value


def _check_key(parts: list[str], raw: dict[str, Any], item: str) -> None:
    """Reject ``--set`` on a key that the schema does not have, suggesting the nearest."""
    cls: type[BaseModel] = ExperimentSpec
    node: Any = raw
    for depth, part in enumerate(parts):
        fields = list(cls.model_fields)
        if part not in fields:
            where = ".".join(parts[:depth]) or "the spec"
            hint = did_you_mean(part, fields, "".join(f"{p}." for p in parts[:depth]))
            raise UserError(f"--set {item!r}: {where} has no key {part!r}.{hint} Known: {', '.join(fields)}.")
        sub = _model_class(cls, part, node.get(part) if isinstance(node, dict) else None)
        if sub is None:
            if depth != len(parts) - 1:
                raise UserError(f"--set {item!r}: {'.'.join(parts[: depth + 1])} is a value, not a section.")
            return
        cls, node = sub, (node.get(part, {}) if isinstance(node, dict) else {})


def _model_class(cls: type[BaseModel], name: str, value: Any) -> type[BaseModel] | None:
    """The spec class of field ``name`` (picking the model family from ``value``), or None for a leaf."""
    annotation = cls.model_fields[name].annotation
    candidates = [a for a in _flatten(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    family = value.get("family", "cnn") if isinstance(value, dict) else "cnn"
    for c in candidates:
        if family in get_args(c.model_fields["family"].annotation):
            return c
    return candidates[0]


def _flatten(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Annotated:
        return _flatten(get_args(annotation)[0])
    if get_origin(annotation) in (Union, __import__("types").UnionType):
        return [x for a in get_args(annotation) for x in _flatten(a)]
    return [annotation]


def _one_line(error: ValidationError, raw: dict[str, Any], source: str) -> str:
    err = error.errors()[0]
    loc = [str(p) for p in err["loc"] if not (isinstance(p, str) and p in FAMILIES)]
    key = ".".join(loc)
    if err["type"] == "extra_forbidden":
        cls: type[BaseModel] = ExperimentSpec
        node: Any = raw
        for part in loc[:-1]:
            sub = _model_class(cls, part, node.get(part) if isinstance(node, dict) else None)
            if sub is None:
                break
            cls, node = sub, node.get(part, {}) if isinstance(node, dict) else {}
        fields = list(cls.model_fields)
        hint = did_you_mean(loc[-1], fields, "".join(f"{p}." for p in loc[:-1]))
        return f"{source}: unknown key {key!r}.{hint} Known keys here: {', '.join(fields)}."
    if err["type"] == "union_tag_invalid":
        return (f"{source}: unknown model family {err['input'].get('family')!r} at {key or 'model'}.family; "
                f"expected one of: {', '.join(FAMILIES)}.")
    received = err.get("input")
    return f"{source}: invalid value for {key!r}: {err['msg']}. Received {received!r}."


def _drop_none(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_drop_none(v) for v in d]
    return d


def _deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
