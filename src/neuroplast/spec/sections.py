"""The spec sections of one run: data, model (one class per family) and training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- data
class AugmentSpec(SpecModel):
    shift: int = Field(0, ge=0, le=8, description="Random translation of images by up to this many pixels.")
    rotate: float = Field(0.0, ge=0.0, le=180.0, description="Random rotation by up to this many degrees.")
    scale: float = Field(0.0, ge=0.0, lt=1.0, description="Random zoom by a factor in [1 - scale, 1 + scale].")
    flip: bool = Field(False, description="Mirror half of the images left to right (clothing, objects; "
                       "not digits or letters, whose mirror image is another symbol).")

    @property
    def active(self) -> bool:
        """Whether any augmentation is asked for."""
        return bool(self.shift or self.rotate or self.scale or self.flip)


class DataSpec(SpecModel):
    source: str = Field("digits", description="Data source: digits, mnist, fashion-mnist, iris, wine, "
                        "breast_cancer, diabetes, csv, folder, text, text-csv, sunspots or series.")
    dir: Path | None = Field(None, description="Directory with the IDX files (mnist, fashion-mnist) or "
                             "with one sub-folder of images per class (folder).")
    test_dir: Path | None = Field(None, description="folder: a second folder with the same class sub-folders, "
                                  "used whole as the test split (data.dir is then split into train and "
                                  "validation only).")
    path: Path | None = Field(None, description="CSV file (source = 'csv').")
    target: str | None = Field(None, description="Name of the CSV column to predict.")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="CSV only: 'auto' treats a non-numeric or few-valued integer target as classes.")
    missing: tuple[str, ...] = Field(
        ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?", "-"),
        description="CSV and DataFrames: cell values (after trimming spaces) that mean 'missing'. A missing number "
        "takes the training mean; rows with a missing target are dropped.")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of training data held out for validation.")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0,
                                 description="Share held out for testing (sets with an official test split keep it).")
    max_train_samples: PositiveInt | None = Field(None, description="Use at most this many training samples.")
    split_seed: int | None = Field(None, description="Seed of the train/validation/test split (default: the run's "
                                   "seed). Ensemble members keep their parent's, so none trains on its validation data.")
    image_size: tuple[PositiveInt, PositiveInt] = Field((28, 28), description="Folder images are resized to (H, W).")
    channels: Literal[1, 3] = Field(1, description="Folder images: 1 = grayscale, 3 = RGB.")
    style: Literal["resize", "mnist", "digits"] | None = Field(
        None, description="Folder images: 'resize' stretches each to image_size; 'mnist' crops the ink, scales "
        "it into a 20/28 box and centres it by mass, as MNIST's digits are; 'digits' fills the frame, as "
        "scikit-learn's 8x8 digits. None: 'resize', or the parent's with train.init_from.")
    skip_bad_files: bool = Field(False, description="Folder images: skip the files that cannot be decoded (or, with "
                                 "a digit style, hold no digit), with their count said, instead of stopping.")
    normalize: tuple[float, Annotated[float, Field(gt=0.0)]] | None = Field(
        None, description="Images: standardize pixels with this (mean, std) instead of the training split's; "
        "train.init_from sets it to the parent run's.")
    augment: AugmentSpec | None = None
    # sequences: text, time series
    text_column: str | None = Field(None, description="text-csv: the column holding the text to classify.")
    tokens: Literal["char", "word", "ngrams"] = Field(
        "char", description="text-csv: a character or word vocabulary (recurrent and Transformer families), "
        "or 'ngrams': hashed word 1-2-grams and character 3-5-grams of the whole text (family 'bag').")
    block_size: PositiveInt = Field(128, description="text: characters per training sequence (the context); "
                                    "text-csv: tokens per block of a text.")
    chunks: PositiveInt = Field(1, description="text-csv with a vocabulary: blocks of block_size tokens read "
                                "per text, from its end; the model averages over a text's non-empty blocks. "
                                "1: only the last block_size tokens.")
    buckets: PositiveInt = Field(2**20, description="text-csv with tokens = 'ngrams': hash slots the n-grams "
                                 "share; the slots found in 2+ training texts get an embedding.")
    max_ngrams: PositiveInt = Field(100_000, description="text-csv with tokens = 'ngrams': n-grams read per "
                                    "text at most (a longer text keeps its first ones, and the loader says "
                                    "how many texts were cut).")
    column: str | None = Field(None, description="series: the CSV column holding the time series.")
    window: PositiveInt = Field(24, description="series: past steps the model sees.")
    horizon: PositiveInt = Field(1, description="series: steps ahead to forecast.")
    date_column: str | None = Field(None, description="series: a CSV column of dates (YYYY, YYYY-MM or "
                                    "YYYY-MM-DD), checked for order and gaps; None: a column named date, time, "
                                    "month or year, if any.")
    season: PositiveInt | None = Field(None, description="series: season length of the seasonal-naive "
                                       "baseline, seasonal ETS and Theta and the MASE scale (sunspots: 11 "
                                       "years). Unset: what a date column's step implies (months 12, "
                                       "quarters 4, days 7, business days 5), said in one line, else none.")


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


class _ModelSpec(SpecModel):
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
    linear_skip: bool = Field(False, description="Add a linear path from the inputs to the outputs (Wide & "
                              "Deep); the hidden layers learn what a linear model misses.")
    skip_start: Literal["zero", "ridge", "linear"] = Field(
        "zero", description="With linear_skip: start the skip at zero; 'ridge': a regression's skip at "
        "Ridge(alpha=1) fitted on the training rows (a classifier's at zero); 'linear': also a classifier's "
        "at LogisticRegression(C=1).")
    ensemble: PositiveInt = Field(1, description="Members trained at once (TabM-mini): each scales the input "
                                  "by its own vector and has its own output layer; predictions are their mean.")

    @model_validator(mode="after")
    def _skip_to_start(self) -> MLPSpec:
        if self.skip_start != "zero" and not self.linear_skip:
            raise ValueError(f"model.skip_start = {self.skip_start!r} starts the linear skip at a fitted linear "
                             "model, but "
                             "model.linear_skip is false: set linear_skip = true or skip_start = 'zero'")
        return self


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
    window_norm: Literal["none", "last", "mean"] = Field(
        "last", description="Forecasting: per-window normalisation (RevIN-style): shift each window by its "
        "last value or its mean, divide by its spread, and map the forecast back; 'none': off.")


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
    window_norm: Literal["none", "last", "mean"] = Field(
        "last", description="Forecasting: per-window normalisation (RevIN-style): shift each window by its "
        "last value or its mean, divide by its spread, and map the forecast back; 'none': off.")


class LinearSpec(_ModelSpec):
    """DLinear: a linear map from the window's trend (moving average) and one from its remainder to
    every forecast step, summed (forecasting only)."""

    family: Literal["linear"] = "linear"
    kernel_size: PositiveInt = Field(25, description="Moving-average length of the trend (capped at "
                                     "data.window); 1: a single linear map (NLinear).")
    window_norm: Literal["none", "last", "mean"] = Field(
        "last", description="Forecasting: per-window normalisation (RevIN-style): shift each window by its "
        "last value or its mean, divide by its spread, and map the forecast back; 'none': off.")


class NBeatsSpec(_ModelSpec):
    """N-BEATS (generic): a stack of fully connected blocks, each removing its backcast from the window
    and adding its forecast (forecasting only)."""

    family: Literal["nbeats"] = "nbeats"
    hidden_size: PositiveInt = Field(64, description="Width of each block's layers.")
    num_blocks: PositiveInt = Field(3, description="Blocks in the stack.")
    num_layers: PositiveInt = Field(2, description="Fully connected layers per block.")
    window_norm: Literal["none", "last", "mean"] = Field(
        "last", description="Forecasting: per-window normalisation (RevIN-style): shift each window by its "
        "last value or its mean, divide by its spread, and map the forecast back; 'none': off.")


ForecasterSpec = Annotated[Union[RecurrentSpec, LinearSpec, NBeatsSpec], Field(discriminator="family")]  # noqa: UP007


class CommitteeSpec(_ModelSpec):
    """Several forecasters trained side by side on the same windows, each by its own loss, forecasting
    together: the median (or mean) of their forecasts (forecasting only). ``[select]`` builds one from
    the best candidates on validation when that combination validates better than any one of them."""

    family: Literal["committee"] = "committee"
    members: list[ForecasterSpec] = Field(min_length=2, description="The forecasters' [model] sections "
                                          "(families lstm, gru, rnn, linear or nbeats).")
    combine: Literal["median", "mean"] = Field("median", description="How the members' forecasts are "
                                               "combined (the median of an even number is the mean of the "
                                               "middle two).")


class BagSpec(_ModelSpec):
    """fastText's classifier: the mean of a text's n-gram embeddings, then a linear layer (strong on
    small text data; needs data.tokens = 'ngrams')."""

    family: Literal["bag"] = "bag"
    embedding_dim: PositiveInt = Field(64, description="Size of each n-gram's embedding.")
    hidden: tuple[PositiveInt, ...] = Field((), description="Hidden layers (ReLU) between the mean embedding "
                                            "and the output; () is fastText's linear classifier.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the mean embedding (and hidden layers).")


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


class HebbianFCSpec(_ModelSpec):
    """A fully connected layer of competing hidden units learned by the Krotov-Hopfield rule (no labels,
    no backpropagation into it), then the features relu(I)^power and a linear readout trained by
    gradient descent."""

    family: Literal["hebbian-fc"] = "hebbian-fc"
    units: PositiveInt = Field(2000, description="Competing hidden units (2000 in Krotov & Hopfield 2019).")
    hidden: Literal["hebbian", "random", "backprop"] = Field(
        "hebbian", description="How the hidden weights learn: by the local rule, not at all (the random "
        "control), or by backpropagation with the readout (the reference).")
    p: float = Field(3.0, ge=2.0, description="Lebesgue exponent of the currents I = <W, v>_p (2: dot product).")
    k: PositiveInt = Field(7, ge=2, description="Rank of the unit that learns anti-Hebbian for each input.")
    delta: float = Field(0.4, ge=0.0, description="Strength of the anti-Hebbian step.")
    hebbian_lr: float = Field(0.2, gt=0.0, description="The hidden layer's initial learning rate (the largest "
                              "change of any weight per batch); it falls linearly to 0 over learning_samples.")
    learning_samples: PositiveInt | None = Field(
        None, description="Training samples the hidden layer learns from; then it is fixed and only the readout "
        "keeps learning. Default: the first half of training (train.epochs // 2 epochs of the training split, "
        "at least one), written into the run's spec.toml.")
    init_std: float = Field(1.0, gt=0.0, description="Standard deviation of the random normal initial weights.")
    power: float = Field(4.5, gt=0.0, description="Exponent n of the readout's features relu(I)^n.")


ModelSpec = Annotated[Union[PerceptronSpec, MLPSpec, CNNSpec, RecurrentSpec, TransformerSpec,  # noqa: UP007
                            LinearSpec, NBeatsSpec, CommitteeSpec, BagSpec, HebbianSpec,
                            HebbianFCSpec], Field(discriminator="family")]
FAMILIES = ("perceptron", "mlp", "cnn", "rnn", "lstm", "gru", "transformer", "linear", "nbeats", "committee", "bag",
            "hebbian", "hebbian-fc")


# --------------------------------------------------------------------------- training
class EarlyStoppingSpec(SpecModel):
    patience: PositiveInt = Field(10, description="Epochs without improvement before stopping.")
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = Field(True, description="Put back the weights of the best epoch at the end.")


class TrainSpec(SpecModel):
    epochs: PositiveInt = Field(10, le=1_000_000, description="Passes over the training data (at most a million).")
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
    gradient_accumulation: PositiveInt = Field(1, description="Batches whose gradients are averaged before each "
                                               "optimizer step: an effective batch of batch_size times this, "
                                               "in the memory of one batch (an epoch's last, shorter window "
                                               "steps with the mean of what it has).")
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
    threads: PositiveInt | Literal["auto"] | None = Field(
        "auto", description="CPU threads for torch: a count; 'auto' times a few steps of the model with 1, "
        "half and all the cores when training starts and keeps the fastest (recorded in metrics.json); "
        "None: torch's own default (one per core).")
    eval_batch_size: PositiveInt = 1024
    checkpoint: bool = Field(True, description="Write an exact-resume checkpoint after every epoch.")
    init_from: Path | None = Field(None, description="Fine-tune: start from the weights of this run folder "
                                   "(same family and input shape; a new output width starts a fresh head).")
    freeze: tuple[str, ...] = Field((), description="Parameter-name prefixes to keep fixed, e.g. "
                                    "['features'] or ['features.0'] (their batch norm stays in inference mode).")
    log: tuple[Literal["tensorboard", "mlflow"], ...] = Field((), description="Also log the run's metrics "
                                                              "to TensorBoard and/or MLflow (each needs its "
                                                              "package installed).")
    stream: bool | None = Field(None, description="neuroplast.fit with your own DataLoader or Dataset: "
                                "None streams it batch by batch every epoch (never held whole) unless it "
                                "is tensors in memory (a TensorDataset); false reads it into memory once "
                                "(fast for small data); true streams even a TensorDataset.")

    @field_validator("freeze", mode="before")
    @classmethod
    def _one_prefix_or_many(cls, value: Any) -> Any:
        """``freeze = "features"`` means ``["features"]``."""
        return (value,) if isinstance(value, str) else value

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
