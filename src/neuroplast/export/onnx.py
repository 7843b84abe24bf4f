"""Take a trained network out of neuroplast: ONNX for ONNX Runtime, and plain PyTorch source.

``export_onnx`` writes ``model.onnx`` (batch size dynamic) and, when ONNX Runtime is installed,
checks it on a fresh random batch against the PyTorch model. ``plain_pytorch_source`` writes the
model as a stand-alone ``model.py`` that needs only ``torch`` and ``safetensors``; it is generated
from the module tree, executed and compared with the real model before it is trusted.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast.errors import UserError, check_output

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


def export_onnx(run_dir: str | Path, out: str | Path | None = None, check: bool = True,
                opset: int = 17) -> OnnxExport:
    """Export the run's model to ONNX and, if ``check`` and onnxruntime is installed, verify it.

    Every built-in family exports (perceptron, MLP, CNN, RNN/LSTM/GRU, Transformer); the outputs
    are the model's raw outputs (logits, or standardized regression values, as ``model.json``
    says). Raises :class:`UserError` when the onnx package is missing, the export fails, or ONNX
    Runtime disagrees with PyTorch by more than 1e-4.
    """
    from neuroplast.rundir import load

    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise UserError('ONNX export needs the onnx package. Run: pip install "neuroplast[onnx]"') from None
    run = load(run_dir)
    if run.info.get("family") == "custom":
        raise UserError("This run trained a hand-written module; export it with torch.onnx.export(module, "
                        "example_input) in your own code (neuroplast cannot rebuild its class).")
    path = Path(out) if out is not None else Path(run_dir) / "model.onnx"
    check_output(path, "file", "model.onnx")
    newest = _newest_opset()
    if not 7 <= opset <= newest:  # before the exporter logs a traceback and falls back on its own
        raise UserError(f"--opset must be between 7 and {newest} (the newest the installed onnx knows); "
                        f"received {opset}. Leave it out for 17.")
    model = run.model.eval()
    x = example_input(run.info)
    exporters = (["dynamo"] if _has_onnxscript() else []) + ["torchscript"]
    for i, exporter in enumerate(exporters):
        try:
            _export(model, x, path, opset, exporter)
            break
        except Exception as err:  # the exporters' own exceptions vary by operator
            if i + 1 < len(exporters):  # e.g. data-dependent input checks: the tracer takes them
                log.info("torch.export-based ONNX export failed (%s); using the TorchScript exporter",
                         str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
                continue
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"The {run.info.get('family')} model could not be exported to ONNX (opset "
                            f"{opset}): {first}") from err
    written = _written_opset(path)
    if written is not None and written != opset:  # the exporter moved to an opset its operators need
        log.warning("asked for ONNX opset %d; the exporter wrote opset %d", opset, written)
    diff = check_onnx(path, model, run.info) if check else None
    return OnnxExport(path, diff, written or opset)


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


def _export(model: nn.Module, x: torch.Tensor, path: Path, opset: int, exporter: str) -> None:
    """One ONNX export with a dynamic batch axis, by torch's torch.export-based exporter (the
    default since torch 2.9; needs onnxscript) or by its TorchScript exporter."""
    with warnings.catch_warnings():  # input checks (shapes, token range) trace as constants
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        if exporter == "dynamo":
            torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["output"],
                              dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=opset,
                              dynamo=True, verbose=False)
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


# --------------------------------------------------------------------------- plain PyTorch
_FORWARD = {  # family -> the body of forward(x), over the attributes the module tree has
    "perceptron": "return self.linear(x.flatten(1))",
    "mlp": "return self.layers(x)",
    "cnn": "return self.classifier(self.features(x))",
}

_HEADER = '''"""{family} network of the run in this folder, in plain PyTorch: no neuroplast needed.

Written by neuroplast {version}. Load the trained weights with only torch and safetensors:

    from model import build
    net = build()                 # reads model.safetensors beside this file; eval mode
    logits = net(x)               # x: a float tensor of shape (batch, {shape})

Inputs are preprocessed as preprocess.json says; outputs are {outputs}.
"""

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
{body}

    def forward(self, x):
        {forward}


def _dense(state):
    """Pruned runs store mostly-zero weights as NAME::bitmask + NAME::values + NAME::shape."""
    out = {{k: v for k, v in state.items() if "::" not in k}}
    for key in [k for k in state if k.endswith("::shape")]:
        name = key[: -len("::shape")]
        n = int(torch.tensor(state[key].tolist()).prod())
        bits = state[name + "::bitmask"].unsqueeze(1).bitwise_right_shift(torch.arange(7, -1, -1))
        mask = (bits & 1).flatten()[:n].bool()
        dense = torch.zeros(n, dtype=state[name + "::values"].dtype)
        dense[mask] = state[name + "::values"]
        out[name] = dense.reshape(state[key].tolist())
    return out


def build(weights=Path(__file__).with_name("model.safetensors")):
    net = Net()
    net.load_state_dict(_dense(load_file(str(weights))))
    return net.eval()
'''


def plain_pytorch_source(model: nn.Module, info: dict[str, Any]) -> str | None:
    """Stand-alone source for ``model`` (``model.py``), or None for a family it cannot write.

    Written for the perceptron, MLP and CNN families (``nn.Sequential`` of standard layers); the
    source is executed, loaded with the model's weights and compared on a random batch before it
    is returned, so a file that exists is a file that reproduces the model.
    """
    from neuroplast import __version__

    forward = _FORWARD.get(info.get("family", ""))
    if forward is None:
        return None
    lines = []
    for name, child in model.named_children():
        rendered = _render(child, "        ")
        if rendered is None:
            return None
        lines.append(f"        self.{name} = {rendered}")
    outputs = ("class logits" if info.get("task") == "classification"
               else "standardized targets (times target_std, plus target_mean)")
    source = _HEADER.format(family=info["family"].upper(), version=__version__, body="\n".join(lines),
                            forward=forward, shape=", ".join(map(str, info["input_shape"])),
                            outputs=outputs)
    return source if _reproduces(source, model, info) else None


def _render(module: nn.Module, indent: str) -> str | None:
    """Constructor source for a standard layer or a Sequential of them; None if not standard."""
    if isinstance(module, nn.Sequential):
        inner = [_render(m, indent + "    ") for m in module]
        if any(r is None for r in inner):
            return None
        body = "".join(f"{indent}    {r},\n" for r in inner)
        return f"nn.Sequential(\n{body}{indent})"
    if type(module).__module__.startswith("torch.nn.modules") and not list(module.children()):
        text = f"nn.{module!r}"
        return text if "\n" not in text else None
    return None


def _reproduces(source: str, model: nn.Module, info: dict[str, Any]) -> bool:
    namespace: dict[str, Any] = {"__name__": "neuroplast_plain_check", "__file__": "model.py"}
    try:
        exec(compile(source, "model.py", "exec"), namespace)  # noqa: S102  (our own generated code)
        net = namespace["Net"]()
        from neuroplast.io import encode_sparse

        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        net.load_state_dict(namespace["_dense"](encode_sparse(state)))  # as build() reads the file
        net.eval()
        x = example_input(info, batch=3, seed=2)
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            same = torch.allclose(net(x), model(x), atol=1e-6)
        model.train(was_training)
        return same
    except Exception as err:  # noqa: BLE001  (any failure means: do not ship this file)
        log.warning("plain PyTorch source for %s not written: %s", info.get("family"), err)
        return False
