"""ONNX for ONNX Runtime: :func:`export_model` writes the file (batch size dynamic) and, when ONNX
Runtime is installed, checks it on a fresh random batch against the PyTorch model."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast.errors import UserError

log = logging.getLogger(__name__)
ONNX_TOLERANCE = 1e-4


@dataclass
class OnnxExport:
    """Where the file went and how closely ONNX Runtime reproduced PyTorch (None: not checked)."""

    path: Path
    max_abs_diff: float | None
    opset: int


def example_input(info: dict[str, Any], batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A random batch shaped like the model's inputs: token ids, series, table rows or images."""
    g = torch.Generator().manual_seed(seed)
    shape = (batch, *info["input_shape"])
    if info.get("vocab_size"):
        return torch.randint(0, info["vocab_size"], shape, generator=g)
    return torch.rand(shape, generator=g)


def export_model(model: nn.Module, info: dict[str, Any], path: Path, opset: int = 17,
                 check: bool = True) -> OnnxExport:
    """Export ``model`` (described by its ``model.json`` ``info``) to ONNX at ``path`` and, if
    ``check`` and onnxruntime is installed, verify it.

    Every built-in family exports (perceptron, MLP, CNN, RNN/LSTM/GRU, Transformer); the outputs
    are the model's raw outputs (logits, or standardized regression values, as ``model.json``
    says). Raises :class:`UserError` when the onnx package is missing, the export fails, or ONNX
    Runtime disagrees with PyTorch by more than 1e-4.
    """
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise UserError('ONNX export needs the onnx package. Run: pip install "neuroplast[onnx]"') from None
    check_opset(opset)
    model = model.eval()
    x = example_input(info)
    exporters = (["dynamo"] if _has_onnxscript() else []) + ["torchscript"]
    for i, exporter in enumerate(exporters):
        try:
            _export(model, x, path, opset, exporter)
            break
        except Exception as err:  # the exporters' own exceptions vary by operator
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if i + 1 < len(exporters):  # e.g. data-dependent input checks: the tracer takes them
                log.info("torch.export-based ONNX export failed (%s); using the TorchScript exporter", first)
                continue
            raise UserError(f"The {info.get('family')} model could not be exported to ONNX (opset "
                            f"{opset}): {first}") from err
    written = _written_opset(path)
    if written is not None and written != opset:  # the exporter moved to an opset its operators need
        log.warning("asked for ONNX opset %d; the exporter wrote opset %d", opset, written)
    diff = check_onnx(path, model, info) if check else None
    return OnnxExport(path, diff, written or opset)


def check_opset(opset: int) -> None:
    """An opset the installed onnx does not know: one line, before the exporter logs a traceback."""
    newest = _newest_opset()
    if not 7 <= opset <= newest:
        raise UserError(f"--opset must be between 7 and {newest} (the newest the installed onnx knows); "
                        f"received {opset}. Leave it out for 17.")


def _newest_opset() -> int:
    try:
        import onnx
    except ImportError:
        return 21
    return int(onnx.defs.onnx_opset_version())


def _written_opset(path: Path) -> int | None:
    """The default-domain opset recorded in an ONNX file (None without the onnx package)."""
    try:
        import onnx
    except ImportError:
        return None
    proto = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


ONE_FILE_BYTES = 1_500_000_000  # weights under this go inside the .onnx file (protobuf's limit is 2 GB)


def _export(model: nn.Module, x: torch.Tensor, path: Path, opset: int, exporter: str) -> None:
    """One ONNX export with a dynamic batch axis, by torch's torch.export-based exporter (the
    default since torch 2.9; needs onnxscript) or by its TorchScript exporter."""
    with warnings.catch_warnings():  # input checks (shapes, token range) trace as constants
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        if exporter == "dynamo":
            weights = sum(p.numel() * p.element_size() for p in model.parameters())
            torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["output"],
                              dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=opset,
                              dynamo=True, verbose=False, external_data=weights > ONE_FILE_BYTES)
        else:
            torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              opset_version=opset, dynamo=False)


def _has_onnxscript() -> bool:
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def check_onnx(path: Path, model: nn.Module, info: dict[str, Any]) -> float | None:
    """Largest |ONNX Runtime - PyTorch| on a fresh batch of 3; None without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        log.warning("onnxruntime is not installed: the exported model was not checked "
                    '(pip install "neuroplast[onnx]").')
        return None
    x = example_input(info, batch=3, seed=1)  # another batch size: the batch axis is dynamic
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.inference_mode():
        want = model(x).float().numpy()
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    if not np.allclose(got, want, atol=ONNX_TOLERANCE, rtol=ONNX_TOLERANCE):
        raise UserError(f"ONNX Runtime's outputs differ from PyTorch's by up to {diff:.2e} (more than "
                        f"{ONNX_TOLERANCE:g}) for {path}. Try another opset (--opset) or report it.")
    return diff
