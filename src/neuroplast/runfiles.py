"""Every file read from a run folder, through one validated schema.

A run folder may come from anyone (a download, a colleague, a damaged disk), so each file is read as
untrusted: its path must lie inside the folder (no symlink out of it), its size is bounded
(``limits.file_bytes``), its content is checked against a pydantic schema with bounds on shapes,
counts and sizes, and a network it describes is counted on the ``meta`` device before any weight is
allocated (``limits.parameters``). A damaged file is one :class:`~neuroplast.errors.UserError` line
naming the file, the key and the fix. The limits come from :func:`neuroplast.spec.limits_from_env`
(a folder never raises its own). :mod:`neuroplast.rundir` is the public API; it reads through here.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from neuroplast.errors import UserError
from neuroplast.io import decode_sparse
from neuroplast.models import model_outputs
from neuroplast.models.budget import check_parameters
from neuroplast.plasticity.coding import decode
from neuroplast.spec import ExperimentSpec, LimitsSpec, ModelSpec, limits_from_env, load_spec
from neuroplast.train.checkpoint import load_checkpoint

SPEC = "spec.toml"
MODEL_INFO = "model.json"
WEIGHTS = "model.safetensors"
COMPRESSED = "model.compressed"  # a quantized run's weights: coded positions, packed indices, codebooks
PREPROCESS = "preprocess.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
CHECKPOINT = Path("checkpoint") / "last.pt"
SPACE = "space.safetensors"  # the stored vector space of a classifier (neuroplast.stages.space)
SPACE_VERSION = 1
THUMBNAIL_SIDE = 32  # stored test pictures are at most this many pixels a side
FINISHED = "finished.json"  # written last: the training is complete and the folder no longer resumable
MAX_DIMS = 8
DIM = Annotated[int, Field(ge=1, le=2**31 - 1)]
FINITE = Annotated[float, Field(allow_inf_nan=False, ge=-1e30, le=1e30)]  # float32 keeps its arithmetic finite
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".text", ".md", ".dat", ".data", ".gz", ".bz2", ".xz", ".json", ".jsonl")  # data.path


# --------------------------------------------------------------------------- files inside the folder
def inside(run_dir: str | Path, name: str | Path) -> Path:
    """``run_dir/name``, refused when it resolves (through a symlink or ``..``) outside the folder."""
    run_dir = Path(run_dir)
    path = run_dir / name
    root = run_dir.resolve()
    if path.resolve() != root and root not in path.resolve().parents:
        raise UserError(f"{path} points outside its run folder (to {path.resolve()}); a run folder's files "
                        "must lie inside it. Replace the link with the file itself.")
    return path


def read_bytes(run_dir: str | Path, name: str | Path, limits: LimitsSpec | None = None) -> bytes:
    """The bytes of a run-folder file, refused when missing, outside the folder or over ``limits.file_bytes``."""
    path = inside(run_dir, name)
    limits = limits or limits_from_env()
    if not path.is_file():
        raise UserError(f"{path} is missing: the run folder is incomplete. Re-run training (or `neuroplast "
                        "resume` it if it was interrupted).")
    limits.refuse("file_bytes", path.stat().st_size, f"reading {path.name}", str(path))
    return path.read_bytes()


def read_json_file(run_dir: str | Path, name: str | Path, limits: LimitsSpec | None = None) -> Any:
    path = Path(run_dir) / name
    try:
        return json.loads(read_bytes(run_dir, name, limits).decode("utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text (byte {e.object[e.start]:#04x} at {e.start}); the run folder "
                        "is damaged. Re-run training.") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise UserError(f"{path} is not valid JSON ({str(e)[:120]}); the run folder is damaged. Re-run "
                        "training.") from None


def _one_line(path: Path, error: ValidationError, fix: str = "Re-run training, or restore the file.") -> UserError:
    err = error.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(the whole file)"
    given = "" if err["type"] == "missing" else f" (received {repr(err.get('input'))[:80]})"
    return UserError(f"{path}: key {key!r}: {err['msg']}{given}. {fix}")


def _validated(path: Path, schema: type[BaseModel], raw: Any) -> BaseModel:
    if not isinstance(raw, dict):
        raise UserError(f"{path} holds a JSON {type(raw).__name__}, not an object of keys; the run folder is "
                        "damaged. Re-run training.")
    try:
        return schema.model_validate(raw)
    except ValidationError as e:
        raise _one_line(path, e) from None


# --------------------------------------------------------------------------- model.json
class ModelInfo(BaseModel):
    """``model.json``: what rebuilds the network without the spec."""

    model_config = ConfigDict(extra="ignore", strict=True)
    family: str = Field(min_length=1, max_length=64)
    config: dict[str, Any]
    input_shape: list[DIM] = Field(min_length=1, max_length=MAX_DIMS)
    num_outputs: int = Field(ge=1, le=10_000_000)
    output_width: int = Field(ge=1, le=20_000_000)
    task: Literal["classification", "regression", "forecast", "language-model"]
    vocab_size: int = Field(0, ge=0, le=10_000_000)
    class_names: list[Annotated[str, Field(max_length=1000)]] | None = Field(None, max_length=10_000_000)
    loss: str = Field("auto", max_length=64)
    masks_padding: bool = False


def read_model_info(run_dir: str | Path, limits: LimitsSpec | None = None) -> dict[str, Any]:
    """``model.json``, validated: its shapes bounded (``limits.input_values``) and its network within
    ``limits.parameters`` (counted without allocating). Returns the dict as written."""
    limits = limits or limits_from_env()
    path = Path(run_dir) / MODEL_INFO
    raw = read_json_file(run_dir, MODEL_INFO, limits)
    info = _validated(path, ModelInfo, raw)
    limits.refuse("input_values", math.prod(info.input_shape), f"input_shape {info.input_shape}", str(path))
    if info.family != "custom":
        spec = model_spec(path, info.config)
        check_parameters(spec, tuple(info.input_shape), model_outputs(info.num_outputs, info.loss), info.task,
                         info.vocab_size, limits.parameters, str(path),
                         f"NEUROPLAST_LIMIT_PARAMETERS=N if you trust this folder (now {limits.parameters:,})")
    return raw


def model_spec(path: Path, config: dict[str, Any]) -> Any:
    """``model.json``'s ``config`` as a model spec, or one line naming the key."""
    try:
        return TypeAdapter(ModelSpec).validate_python(config)
    except ValidationError as e:
        err = e.errors()[0]
        if err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
            raise UserError(f"{path}: key 'config.family': unknown model family {config.get('family')!r}. "
                            "Re-run training, or restore the file.") from None
        loc = [str(p) for p in err["loc"]][1:]  # drop the family tag pydantic puts first
        raise UserError(f"{path}: key 'config.{'.'.join(loc)}': {err['msg']} (received "
                        f"{repr(err.get('input'))[:80]}). Re-run training, or restore the file.") from None


# --------------------------------------------------------------------------- preprocess.json
class _Preprocess(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    kind: Literal["image", "tensor", "table", "text", "series"]
    shape: list[DIM] | None = Field(None, min_length=1, max_length=MAX_DIMS)
    mean: FINITE | list[FINITE] | None = None
    std: FINITE | list[FINITE] | None = None
    target_mean: list[FINITE] | None = None
    target_std: list[FINITE] | None = None
    columns: list[dict[str, Any]] | None = Field(None, max_length=100_000)
    vocab: list[str] | None = Field(None, max_length=10_000_000)
    window: int | None = Field(None, ge=1, le=10_000_000)
    horizon: int | None = Field(None, ge=1, le=10_000_000)
    block_size: int | None = Field(None, ge=1, le=10_000_000)
    tokens: Literal["char", "word", "ngrams"] | None = None
    chunks: int | None = Field(None, ge=1, le=100_000)
    buckets: int | None = Field(None, ge=1, le=2**31)
    max_ngrams: int | None = Field(None, ge=1, le=100_000_000)
    kept: list[int] | None = Field(None, max_length=10_000_000)  # hashed n-gram slots (tokens = "ngrams")

    @field_validator("std")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        if any(v is not None and v < 1e-30 for v in values):
            raise ValueError("a standard deviation must be above 0 (at least 1e-30)")
        return value


_NEEDS = {"image": ("shape", "mean", "std"), "tensor": ("shape",), "table": ("columns",), "text": ("vocab",),
          "series": ("window", "mean", "std")}


def read_preprocess(run_dir: str | Path, limits: LimitsSpec | None = None) -> dict[str, Any]:
    """``preprocess.json``, validated: its kind, its statistics (finite, std > 0) and an input shape within
    ``limits.input_values``."""
    limits = limits or limits_from_env()
    path = Path(run_dir) / PREPROCESS
    raw = read_json_file(run_dir, PREPROCESS, limits)
    pre = _validated(path, _Preprocess, raw)
    needs = ("kept", "buckets") if pre.kind == "text" and pre.tokens == "ngrams" else _NEEDS[pre.kind]
    for key in needs:
        if getattr(pre, key) is None:
            raise UserError(f"{path}: key {key!r} is missing (a {pre.kind} run needs it). Re-run training, or "
                            "restore the file.")
    if pre.shape is not None:
        limits.refuse("input_values", math.prod(pre.shape), f"input shape {pre.shape}", str(path))
    scalar = pre.kind in ("image", "series")  # one mean and std for every pixel / step
    for key in ("mean", "std"):
        value = getattr(pre, key)
        if value is not None and isinstance(value, list) == scalar:
            raise UserError(f"{path}: key {key!r} must be {'a number' if scalar else 'a list of numbers'} for a "
                            f"{pre.kind} run (received {repr(value)[:60]}). Re-run training, or restore the file.")
    if pre.kind == "image" and not (0 <= pre.mean <= 1 and 0 < pre.std <= 1):  # statistics of pixels in [0, 1]
        raise UserError(f"{path}: keys 'mean' and 'std' ({pre.mean}, {pre.std}) are not statistics of pixels in "
                        "[0, 1] (0 <= mean <= 1, 0 < std <= 1). Re-run training, or restore the file.")
    if pre.kind == "table" and len(pre.mean or []) != len(pre.std or []):
        raise UserError(f"{path}: keys 'mean' and 'std' hold {len(pre.mean or [])} and {len(pre.std or [])} "
                        "values; a table run has one of each per feature. Re-run training, or restore the file.")
    return raw


# --------------------------------------------------------------------------- metrics.json, history.csv
class _Calibration(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    method: str | None = Field(None, max_length=64)
    temperature: float | None = Field(None, gt=0, allow_inf_nan=False)
    then_temperature: float | None = Field(None, gt=0, allow_inf_nan=False)
    threshold: float | None = Field(None, ge=0, le=1)
    samples: int | None = Field(None, ge=1)
    ood: dict[str, Any] | None = None


class _Reload(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    source: str = Field(max_length=64)
    seed: int = Field(ge=0, le=2**32 - 1)


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    reload: _Reload = None  # type: ignore[assignment]  (neuroplast.fit on a shipped name: reloads it)


class _Metrics(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    schema_version: int | None = Field(None, ge=1, le=1000)
    task: str | None = Field(None, max_length=64)
    test: dict[str, Any] = None  # type: ignore[assignment]
    val: dict[str, Any] = None  # type: ignore[assignment]
    train: dict[str, Any] = None  # type: ignore[assignment]
    calibration: _Calibration = None  # type: ignore[assignment]  (absent: None; given: an object, never null)
    pruning: dict[str, Any] = None  # type: ignore[assignment]
    data: _Data = None  # type: ignore[assignment]


def read_metrics_file(folder: str | Path, limits: LimitsSpec | None = None) -> dict[str, Any]:
    """``metrics.json`` of a run or stage folder ({} when there is none yet), validated; MC samples are
    bounded by ``limits.samples``."""
    limits = limits or limits_from_env()
    path = Path(folder) / METRICS
    if not path.is_file() and not path.is_symlink():
        return {}
    raw = read_json_file(folder, METRICS, limits)
    metrics = _validated(path, _Metrics, raw)
    cal = metrics.calibration
    if cal is not None and cal.samples is not None:
        limits.refuse("samples", cal.samples, "calibration.samples (MC dropout passes per prediction)", str(path))
    return raw


def read_history_file(folder: str | Path, name: str = HISTORY, limits: LimitsSpec | None = None) -> list[dict[str, Any]]:
    """``history.csv``: one dict per epoch; ``epoch`` an integer, every other value a number."""
    path = Path(folder) / name
    if not path.is_file() and not path.is_symlink():
        return []
    try:
        text = read_bytes(folder, name, limits).decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text (byte {e.object[e.start]:#04x} at {e.start}); the run folder "
                        "is damaged. Re-run training.") from None
    rows = []
    for i, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=1):
        try:
            rows.append({k: (float(v) if k != "epoch" else int(v)) for k, v in row.items()
                         if v not in ("", None) and k is not None})
        except (ValueError, TypeError) as e:
            raise UserError(f"{path}, row {i}: {str(e)[:100]}; every value must be a number. Re-run training, "
                            "or restore the file.") from None
    return rows


# --------------------------------------------------------------------------- spec.toml, checkpoint, weights
def read_run_spec(run_dir: str | Path, limits: LimitsSpec | None = None) -> ExperimentSpec:
    """``spec.toml`` of a run. Its data paths name the run's data, never a file of the run: a ``data.path``
    must be a data file (CSV, TSV, text, JSON), and every path must exist as the kind it names."""
    path = inside(run_dir, SPEC)
    limits = limits or limits_from_env()
    read_bytes(run_dir, SPEC, limits)  # present, inside, within the size limit
    spec = load_spec(path)
    data = spec.data
    if data.path is not None and not str(data.path).lower().endswith(DATA_SUFFIXES):
        raise UserError(f"{path}: key 'data.path' names {data.path}, which is not a data file "
                        f"({', '.join(DATA_SUFFIXES)}); point it at the run's CSV or text file.")
    for key in ("dir", "test_dir"):
        value = getattr(data, key, None)
        if value is not None and Path(value).exists() and not Path(value).is_dir():
            raise UserError(f"{path}: key 'data.{key}' names {value}, which is not a folder; point it at the "
                            "run's data folder.")
    return spec


def read_checkpoint(run_dir: str | Path, limits: LimitsSpec | None = None) -> dict[str, Any]:
    """``checkpoint/last.pt`` (``weights_only``), checked: a dict with an ``epoch``, the ``model`` state
    and the ``history`` so far."""
    limits = limits or limits_from_env()
    path = inside(run_dir, CHECKPOINT)
    if path.is_file():
        limits.refuse("file_bytes", path.stat().st_size, "reading the checkpoint", str(path))
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict) \
            or not isinstance(state.get("epoch"), int) or state["epoch"] < 0 \
            or not isinstance(state.get("history"), list):
        raise UserError(f"{path}: not a neuroplast checkpoint (keys 'epoch', 'model', 'history' expected); the "
                        "run folder is damaged. Start the run again.")
    return state


def read_weights(path: Path, limits: LimitsSpec | None = None) -> dict[str, torch.Tensor]:
    """A safetensors file (no pickle), size-bounded, whose sparse entries (``NAME::shape``,
    ``::bitmask``, ``::values``) are checked against each other before any dense tensor is made."""
    from safetensors import SafetensorError, safe_open

    limits = limits or limits_from_env()
    path = inside(path.parent, path.name)
    if not path.is_file():
        raise UserError(f"Weights file {path} is missing. Is this a finished neuroplast run folder?")
    limits.refuse("file_bytes", path.stat().st_size, "reading the weights", str(path))
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"Weights file {path} is corrupt ({str(e)[:120]}). Re-run training, or resume from its "
                        "checkpoint with `neuroplast resume`.") from None
    _check_sparse(path, state, limits)
    return decode_sparse(state)


def read_compressed(path: Path, limits: LimitsSpec | None = None) -> dict[str, torch.Tensor]:
    """A ``model.compressed`` file (no pickle), size-bounded, every count checked before a tensor is made
    (:func:`neuroplast.plasticity.coding.decode`)."""
    limits = limits or limits_from_env()
    path = inside(path.parent, path.name)
    if not path.is_file():
        raise UserError(f"Weights file {path} is missing. Quantize the run it came from again (neuroplast "
                        "quantize PARENT; metrics.json's 'parent' names it).")
    limits.refuse("file_bytes", path.stat().st_size, "reading the weights", str(path))
    data = path.read_bytes()
    return decode(data, str(path), limits.parameters, min(limits.file_bytes, 1024 * len(data) + 2**20))


def _check_sparse(path: Path, state: dict[str, torch.Tensor], limits: LimitsSpec) -> None:
    for key, shape in state.items():
        if not key.endswith("::shape"):
            continue
        name = key[: -len("::shape")]
        bits, values = state.get(name + "::bitmask"), state.get(name + "::values")
        if bits is None or values is None or shape.dim() != 1 or len(shape) > MAX_DIMS \
                or shape.dtype != torch.int64 or bool((shape < 0).any()):
            raise UserError(f"{path}: sparse tensor {name!r} has a bad shape/bitmask/values triple; the weights "
                            "are damaged. Re-run training.")
        n = math.prod(int(d) for d in shape.tolist())
        limits.refuse("parameters", n, f"sparse tensor {name!r}", str(path))
        if bits.dtype != torch.uint8 or bits.numel() * 8 < n or values.dim() != 1:
            raise UserError(f"{path}: sparse tensor {name!r}: its bitmask holds {bits.numel() * 8} bits for "
                            f"{n} entries; the weights are damaged. Re-run training.")
        ones = int(np.unpackbits(bits.numpy())[:n].sum())
        if ones != values.numel():
            raise UserError(f"{path}: sparse tensor {name!r}: {ones} entries marked non-zero but {values.numel()} "
                            "values stored; the weights are damaged. Re-run training.")


# --------------------------------------------------------------------------- small JSON files
def read_small_json(folder: str | Path, name: str, limits: LimitsSpec | None = None) -> dict[str, Any]:
    """A stage's JSON file (``explain.json``, ``lr_find.json``, ``finished.json``...): an object, or one line."""
    raw = read_json_file(folder, name, limits)
    if not isinstance(raw, dict):
        raise UserError(f"{Path(folder) / name} holds a JSON {type(raw).__name__}, not an object of keys; the "
                        "folder is damaged. Run that stage again.")
    return raw


# --------------------------------------------------------------------------- space.safetensors
class _SpaceStage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=200)
    dims: DIM
    knn: float | None = Field(None, ge=0, le=1)


class _SpaceMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    version: Literal[1]
    method: Literal["pca", "tsne"]
    examples: int = Field(ge=6, le=100_000)
    dims: int = Field(ge=2, le=64)
    kind: Literal["image", "table", "chars"]  # chars: a character model's embedding table, one row per entry
    test_examples: int = Field(ge=1, le=2**40)
    stages: list[_SpaceStage] = Field(min_length=1, max_length=8)


def read_space(run_dir: str | Path, limits: LimitsSpec | None = None,
               num_classes: int | None = None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``space.safetensors`` (:mod:`neuroplast.stages.space`) as ``(facts, tensors)``: its JSON facts
    validated, every tensor's dtype and shape checked on the header before any is read (each stage's
    features within ``limits.input_values``), values finite and labels within ``num_classes``."""
    from safetensors import SafetensorError, safe_open

    limits = limits or limits_from_env()
    path = inside(run_dir, SPACE)
    if not path.is_file():
        raise UserError(f"{path} is missing: this run stored no vector space (a run before it existed, or not "
                        "a classifier on images or tables). Re-run training to store one.")
    limits.refuse("file_bytes", path.stat().st_size, f"reading {SPACE}", str(path))
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = _space_meta(path, (f.metadata() or {}).get("space"))
            shapes = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
            _check_space_shapes(path, meta, shapes, limits)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except UserError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise _space_damaged(path, f"it cannot be read ({str(e).splitlines()[0][:100] if str(e) else type(e).__name__})") from None
    for key, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise _space_damaged(path, f"tensor {key!r} holds a value that is not finite")
    for key in ("labels", "predicted"):
        top = num_classes if num_classes is not None else 10_000_000
        if bool((tensors[key] < 0).any()) or bool((tensors[key] >= top).any()):
            raise _space_damaged(path, f"tensor {key!r} holds a class outside 0..{top - 1}")
    if bool((tensors["indices"] < 0).any()) or bool((tensors["indices"] >= meta["test_examples"]).any()):
        raise _space_damaged(path, "tensor 'indices' names a test example outside the test split")
    return meta, tensors


def _space_damaged(path: Path, what: str) -> UserError:
    return UserError(f"{path}: {what}; the file is damaged. Delete it (the report then computes the vector "
                     "space again) or re-run training.")


def _space_meta(path: Path, text: str | None) -> dict[str, Any]:
    if text is None:
        raise _space_damaged(path, "its metadata has no 'space' entry")
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise _space_damaged(path, "its 'space' metadata is not valid JSON") from None
    if not isinstance(raw, dict):
        raise _space_damaged(path, f"its 'space' metadata is a JSON {type(raw).__name__}, not an object")
    try:
        return _SpaceMeta.model_validate(raw).model_dump()
    except ValidationError as e:
        raise _one_line(path, e, "Delete the file (the report then computes the vector space again) or re-run "
                        "training.") from None


def _check_space_shapes(path: Path, meta: dict[str, Any], shapes: dict[str, tuple[tuple, str]],
                        limits: LimitsSpec) -> None:
    n, stages = meta["examples"], meta["stages"]
    expected: dict[str, tuple[tuple | None, str]] = {k: ((n,), "I64") for k in ("labels", "predicted", "indices")}
    if meta["kind"] == "image":
        expected["thumbnails"] = (None, "U8")
    for i, stage in enumerate(stages):
        limits.refuse("input_values", stage["dims"], f"stage {stage['name']!r} of {SPACE}", str(path))
        m = min(meta["dims"], max(2, stage["dims"]))
        expected.update({f"stage{i}.mean": ((stage["dims"],), "F32"),
                         f"stage{i}.components": ((m, stage["dims"]), "F32"),
                         f"stage{i}.coords": ((n, m), "F32"), f"stage{i}.points": ((n, 2), "F32")})
    if set(shapes) != set(expected):
        odd = sorted(set(shapes) ^ set(expected))[:3]
        raise _space_damaged(path, f"it holds other tensors than its metadata describes ({', '.join(odd)})")
    for key, (shape, dtype) in expected.items():
        got_shape, got_dtype = shapes[key]
        if key == "thumbnails":
            ok = (len(got_shape) == 4 and got_shape[0] == n and 1 <= got_shape[1] <= 4
                  and all(1 <= s <= THUMBNAIL_SIDE for s in got_shape[2:]))
            shape = f"({n}, channels, <= {THUMBNAIL_SIDE}, <= {THUMBNAIL_SIDE})"
        else:
            ok = got_shape == shape
        if not ok or got_dtype != dtype:
            raise _space_damaged(path, f"tensor {key!r} is {got_dtype} {list(got_shape)}, expected {dtype} {shape}")
