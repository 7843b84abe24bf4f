"""The export stage: a run's model to ONNX, checked in ONNX Runtime (``neuroplast export``)."""

from __future__ import annotations

from pathlib import Path

from neuroplast import rundir
from neuroplast.errors import UserError, check_output
from neuroplast.export import OnnxExport, export_model
from neuroplast.spec import ExportSpec


def export(run_dir: str | Path, spec: ExportSpec | None = None, *, out: str | Path | None = None) -> OnnxExport:
    """Export the run's model (``out``, default ``RUN_DIR/model.onnx``, plus ``model.onnx.data`` when the
    exporter keeps the weights beside it) and check it; returns where it went and how closely ONNX
    Runtime reproduced PyTorch."""
    spec = ExportSpec() if spec is None else spec
    path = Path(out) if out is not None else Path(run_dir) / "model.onnx"
    check_output(path, "file", "model.onnx")  # before the run is read or anything exported
    run = rundir.load(run_dir)
    if run.info.get("family") == "custom":
        raise UserError("This run trained a hand-written module; export it with torch.onnx.export(module, "
                        "example_input) in your own code (neuroplast cannot rebuild its class).")
    return export_model(run.model, run.info, path, spec.opset, check=spec.check)
