"""Take a trained network out of neuroplast: ONNX (checked in ONNX Runtime) and plain PyTorch source."""

from neuroplast.export.onnx import OnnxExport, check_onnx, example_input, export_model
from neuroplast.export.plain_pytorch import plain_pytorch_source

__all__ = ["OnnxExport", "check_onnx", "example_input", "export_model", "plain_pytorch_source"]
