"""The quantize stage: a trained (usually pruned) run's weights in fewer bits, measured against the
dense and the parent network, written as a new run folder (``neuroplast quantize``, ``[quantize]``).

- ``codebook`` (Deep Compression, Han et al. 2016): each layer's non-zero weights share ``2 ** bits``
  values found by k-means (:mod:`neuroplast.plasticity.codebook`), the codebooks are fine-tuned with the
  parent's own training recipe (the pruned weights stay zero), and the weights are stored as coded
  positions + packed indices + codebooks in ``model.compressed`` (:mod:`neuroplast.plasticity.coding`),
  which :func:`neuroplast.load` reads back. The network itself runs as before (dense kernels).
- ``dynamic``: the exported ONNX model's weights in int8 through ONNX Runtime's
  ``quantize_dynamic`` (activations quantized on the fly), saved as ``model.int8.onnx``; accuracy and
  latency are measured in ONNX Runtime against the float32 export, same session options.
  ``model.safetensors`` beside it is the parent's float32 network (what :func:`neuroplast.load` gives).
- ``static``: as ``dynamic``, through ``quantize_static``: int8 weights per output channel (symmetric)
  and uint8 activations whose ranges (min/max) are calibrated on ``calibration`` inputs of the run's
  training split, in the QDQ format (QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses into
  integer kernels; QOperator ran at the same speed here, benchmarks/compression.py).

``metrics["compression"]`` holds ``bytes`` (the quantized file), ``dense_bytes`` (the dense float32
``model.safetensors`` of the same network), ``ratio``, the parent's and the quantized accuracy, and the
latency at batch 256.
"""

from __future__ import annotations

import copy
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast import rundir
from neuroplast.data import Dataset
from neuroplast.data.augment import make_augment
from neuroplast.errors import UserError
from neuroplast.export.onnx import export_model
from neuroplast.plasticity import codebook, coding
from neuroplast.plasticity.measure import latency_ms, weights_bytes
from neuroplast.rundir import Run
from neuroplast.spec import QuantizeSpec
from neuroplast.train import Objective, evaluate, fit, seed_everything

log = logging.getLogger(__name__)

INT8_ONNX = "model.int8.onnx"
LATENCY_BATCH = 256
_FINETUNE = {"early_stopping": None, "ema": None, "checkpoint": False, "cuda_graphs": False, "compile": False,
             "log": (), "schedule": "cosine"}  # no early stopping, weight averaging, checkpoints or trackers


def quantize(run_dir: str | Path, spec: QuantizeSpec | None = None, *, out: str | Path | None = None,
             data: Dataset | None = None, progress: bool = True, latency_repeats: int = 30) -> Path:
    """Quantize the network of a finished (e.g. pruned) run as ``spec`` says; write it as a new run folder
    (``out``, default ``RUN_DIR/quantized-METHOD``) and return that folder.

    Example:
        >>> folder = quantize("runs/mnist-lenet-300-100-.../pruned-magnitude", QuantizeSpec(bits=5))
    """
    spec = QuantizeSpec() if spec is None else spec
    run_dir = Path(run_dir)
    parent = _quantizable(run_dir)
    out_dir = rundir.stage_dir(run_dir, "quantize", spec.method, out)
    seed_everything(parent.spec.seed, parent.spec.train.threads)
    data = parent.dataset() if data is None else data
    model = parent.model.cpu().eval()
    before = _evaluate(model, data, parent.objective, parent.spec.train.eval_batch_size)
    dense_bytes = weights_bytes(model, sparse=False)
    rundir.open_stage_folder(out_dir)
    if spec.method == "codebook":
        summary, evaluated = _codebook(parent, spec, data, out_dir, progress, latency_repeats)
    else:
        summary, evaluated = _int8(parent, spec, data, out_dir, latency_repeats)
    summary.update(dense_bytes=dense_bytes, ratio=dense_bytes / summary["bytes"],
                   parent_bytes=_parent_bytes(run_dir), baseline=_scores(before), quantized=_scores(evaluated))
    _write(out_dir, run_dir, parent, summary, evaluated)
    return out_dir


def _quantizable(run_dir: Path) -> Run:
    """The parent run, refused when it cannot be quantized."""
    parent = rundir.load(run_dir)
    if parent.spec is None:
        raise UserError(f"{run_dir} has no spec.toml to reload its data from; quantize a run made by "
                        "`neuroplast run`.")
    if parent.info["task"] == "language-model":
        raise UserError(f"quantize measures classifiers and regressors; {run_dir} is a language-model run. "
                        "Quantize a sequence classifier or a forecaster instead.")
    if "compression" in parent.metrics or (run_dir / rundir.COMPRESSED).is_file() or (run_dir / INT8_ONNX).is_file():
        origin = parent.metrics.get("parent", "its parent run")
        raise UserError(f"{run_dir} is already quantized; quantize {origin} instead (RUN_DIR must hold float32 "
                        "weights).")
    return parent


def _codebook(parent: Run, spec: QuantizeSpec, data: Dataset, out_dir: Path, progress: bool,
              repeats: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Share the weights, fine-tune the codebooks, write ``model.compressed``; the summary and the scores."""
    model = parent.model
    reference = copy.deepcopy(model).eval()
    bits, conv_bits = spec.index_bits
    sizes = codebook.share_weights(model, bits, conv_bits)
    if not sizes:
        raise UserError(f"{parent.dir} has no Linear or Conv weights to share through a codebook.")
    train = parent.spec.train
    shared = _scores(_evaluate(model.eval(), data, parent.objective, train.eval_batch_size))
    log.info("weights shared through %s-value codebooks; before fine-tuning: %s", sizes, shared)
    finetune = train.model_copy(update={**_FINETUNE, "epochs": spec.epochs or 3, "lr": spec.lr or train.lr / 10})
    result = fit(model, data, finetune, seed=parent.spec.seed + 1, progress=progress,
                 augment=make_augment(parent.spec.data.augment))
    model.cpu().eval()
    books = codebook.finalize(model, bits, conv_bits)
    size = coding.save(out_dir / rundir.COMPRESSED, model.state_dict(), books)
    model.load_state_dict(rundir.read_compressed(out_dir / rundir.COMPRESSED))  # score what the file holds
    evaluated = _evaluate(model, data, parent.objective, train.eval_batch_size)
    example = _batch(data.x_test, LATENCY_BATCH)
    ms = latency_ms({"parent": reference, "quantized": model}, example, repeats=repeats)
    summary = {
        "method": "codebook", "bits": bits, "conv_bits": conv_bits, "file": rundir.COMPRESSED, "bytes": size,
        "codebooks": {name: book.centroids.numel() for name, book in books.items()},
        "kept_weights": sum(int(book.mask.sum()) for book in books.values()),
        "finetune": {"epochs": finetune.epochs, "lr": finetune.lr, "history": result.history},
        "before_finetune": shared,
        "latency_ms": {f"batch_{LATENCY_BATCH}": {**ms, "speedup": ms["parent"] / ms["quantized"]}},
        "runtime": "pytorch", "threads": torch.get_num_threads(),
        "note": "the codebook shrinks the file; the network still runs dense float32 kernels, so latency "
                "is the parent's.",
    }
    return summary, evaluated


class OnnxModule(nn.Module):
    """An ONNX Runtime session behind ``nn.Module``'s call, so the run's own metrics score it."""

    def __init__(self, path: Path, threads: int) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {"input": x.detach().cpu().numpy()})[0])


def _int8(parent: Run, spec: QuantizeSpec, data: Dataset, out_dir: Path,
          repeats: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """int8 through ONNX Runtime's dynamic or static quantizer; the summary and the int8 model's scores."""
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError:
        raise UserError(f'--method {spec.method} needs onnxruntime. Run: pip install "neuroplast[onnx]"') from None
    threads = torch.get_num_threads()
    batch = parent.spec.train.eval_batch_size
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "model.onnx"
        export_model(parent.model.cpu().eval(), parent.info, fp32_path, check=True)
        fp32_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
        extra = _quantize_onnx(spec, fp32_path, out_dir / INT8_ONNX, data.x_train, parent.spec.seed)
        fp32, int8 = OnnxModule(fp32_path, threads), OnnxModule(out_dir / INT8_ONNX, threads)
        fp32_scores = _scores(_evaluate(fp32, data, parent.objective, batch))
        evaluated = _evaluate(int8, data, parent.objective, batch)
        ms = _onnx_latency({"fp32": fp32, "int8": int8}, _batch(data.x_test, LATENCY_BATCH), repeats)
    speedup = ms["fp32"] / ms["int8"]
    summary = {
        "method": spec.method, "bits": 8, "file": INT8_ONNX, "bytes": (out_dir / INT8_ONNX).stat().st_size,
        "onnx_fp32_bytes": fp32_bytes, "onnx_fp32": fp32_scores, **extra,
        "latency_ms": {f"batch_{LATENCY_BATCH}": {**ms, "speedup": speedup}},
        "runtime": "onnxruntime", "threads": threads,
    }
    if speedup < 1.1:
        summary["note"] = (f"int8 is not faster here ({speedup:.2f}x at batch {LATENCY_BATCH} in ONNX Runtime, "
                           f"{threads} thread{'s' if threads != 1 else ''}): the file is smaller, the time is not.")
    return summary, evaluated


def _quantize_onnx(spec: QuantizeSpec, fp32_path: Path, out: Path, x_train: torch.Tensor,
                   seed: int) -> dict[str, Any]:
    """Write the int8 model of ``fp32_path`` to ``out``; what the summary records about how."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if spec.method == "dynamic":
        quantize_dynamic(str(fp32_path), str(out), weight_type=QuantType.QInt8)
        return {}
    inputs = calibration_inputs(x_train, spec.calibration_samples, seed)
    log.info("static int8: activation ranges calibrated (min/max) on %d training inputs", len(inputs))
    try:
        quantize_static(str(fp32_path), str(out), CalibrationReader(inputs), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    except Exception as e:  # ONNX Runtime's quantizer refuses graphs it cannot place
        raise UserError(f"ONNX Runtime's static quantizer failed on this network ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}); try --method dynamic.") from None
    return {"format": "QDQ", "per_channel": True, "calibration": {"split": "train", "samples": len(inputs),
                                                                  "method": "minmax", "seed": seed}}


def calibration_inputs(x_train: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    """``samples`` training inputs (all when fewer), drawn without replacement with ``seed``."""
    order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))
    return x_train[order[:samples]].cpu()


class CalibrationReader:
    """ONNX Runtime's calibration reader: the inputs in batches of 64 (``calibration_inputs`` gives them)."""

    def __init__(self, inputs: torch.Tensor) -> None:
        self.batches = iter([{"input": inputs[i:i + 64].numpy()} for i in range(0, len(inputs), 64)])

    def get_next(self) -> dict[str, Any] | None:
        return next(self.batches, None)

    def rewind(self) -> None:  # the MinMax calibrator reads the batches once
        pass


def _onnx_latency(models: dict[str, OnnxModule], example: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median milliseconds per batch for each session, interleaved after a warm-up."""
    x = example.numpy()
    times: dict[str, list[float]] = {k: [] for k in models}
    for m in models.values():
        m.session.run(None, {"input": x})
    for _ in range(repeats):
        for name, m in models.items():
            t0 = time.perf_counter()
            m.session.run(None, {"input": x})
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def _batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """``size`` real inputs (repeated when the split is smaller)."""
    x = x.cpu()
    return x.repeat((size + len(x) - 1) // len(x), *([1] * (x.ndim - 1)))[:size]


def _evaluate(model: nn.Module, data: Dataset, objective: Objective, batch_size: int) -> dict[str, dict[str, Any]]:
    """The full metrics of the validation and test splits (as metrics.json holds them)."""
    return {split: evaluate(model, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"), objective,
                            batch_size, data.preprocess, data.num_classes) for split in ("val", "test")}


def _scores(evaluated: dict[str, dict[str, Any]]) -> dict[str, float]:
    """``val_accuracy``/``test_accuracy`` (``_rmse`` for regression)."""
    return {f"{split}_{key}": m[key] for split, m in evaluated.items() for key in ("accuracy", "rmse") if key in m}


def _parent_bytes(run_dir: Path) -> int:
    """The parent's weights file (sparse when it was pruned)."""
    return (run_dir / rundir.WEIGHTS).stat().st_size


def _write(out_dir: Path, parent_dir: Path, parent: Run, summary: dict[str, Any],
           evaluated: dict[str, dict[str, Any]]) -> None:
    """The quantized run folder: spec, model files, metrics (``compression`` beside ``test``)."""
    rundir.write_spec(out_dir, parent.spec.updated(prune=None, quantize=None))
    shutil.copy2(parent_dir / rundir.PREPROCESS, out_dir / rundir.PREPROCESS)
    if summary["method"] != "codebook":  # the float32 network the int8 file was made from
        rundir.write_model(out_dir, parent.model, parent.info, sparse=True)
    else:  # the weights are model.compressed alone
        rundir.write_model(out_dir, parent.model, parent.info, weights=False)
    test = evaluated["test"]
    rundir.write_metrics(out_dir, {
        "name": f"{parent.metrics.get('name', parent_dir.name)}-quantized",
        "task": parent.info["task"], "parent": str(parent_dir.resolve()), "test": test, "val": evaluated["val"],
        "compression": summary, "seed": parent.spec.seed, "threads": torch.get_num_threads(),
        "model": {"family": parent.info["family"], "parameters": sum(p.numel() for p in parent.model.parameters())},
        "versions": rundir.versions(),
    })
    summary_line = {k: summary[k] for k in ("bytes", "dense_bytes", "ratio")}
    log.info("quantized (%s): %s, test %s", summary["method"], summary_line,
             {k: v for k, v in test.items() if k in ("accuracy", "rmse")})
