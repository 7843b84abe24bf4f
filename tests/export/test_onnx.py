"""Leaving neuroplast: ONNX export checked against ONNX Runtime, and model.py in plain PyTorch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import neuroplast
from neuroplast.cli import main
from neuroplast.export import example_input
from neuroplast.stages import export as export_onnx

QUICK = {"train": {"epochs": 1, "threads": 1, "device": "cpu"}}
FAMILIES = {  # all on the bundled digits; the recurrent and attention models read the 8 rows
    "mlp": {"family": "mlp", "hidden": [32]},
    "cnn": {"family": "cnn", "channels": [8, 16], "hidden": [32]},
    "lstm": {"family": "lstm", "hidden_size": 16},
    "transformer": {"family": "transformer", "d_model": 16, "num_heads": 2, "num_layers": 1},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {name: neuroplast.run("digits-cnn", out=root / name, model=model, progress=False, **QUICK).dir
            for name, model in FAMILIES.items()}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_onnx_runtime_matches_pytorch(runs, family: str, capsys) -> None:
    pytest.importorskip("onnxruntime")
    assert main(["export", str(runs[family])]) == 0
    assert "ONNX Runtime matches PyTorch" in capsys.readouterr().out
    assert not (runs[family] / "model.onnx.data").exists()  # a small model is one file to copy
    import onnxruntime as ort

    run = neuroplast.load(runs[family])
    x = example_input(run.info, batch=5, seed=3)
    session = ort.InferenceSession(str(runs[family] / "model.onnx"), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    with torch.inference_mode():
        want = run.model(x)
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()


def test_token_input_language_model_exports(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    text = tmp_path / "tiny.txt"
    text.write_text("to be or not to be, that is the question. " * 40)
    run = neuroplast.run("shakespeare-transformer", out=tmp_path / "lm", progress=False,
                         data={"path": str(text), "block_size": 16},
                         model={"d_model": 16, "num_heads": 2, "num_layers": 1},
                         train={"epochs": 1, "max_steps_per_epoch": 2, "batch_size": 8, "threads": 1})
    result = export_onnx(run.dir)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4


def test_model_py_loads_the_weights_with_only_torch_and_safetensors(runs, tmp_path: Path) -> None:
    """Follow model.py's own docstring in a fresh interpreter where importing neuroplast fails."""
    for family in ("mlp", "cnn"):
        run_dir = runs[family]
        doc = (run_dir / "model.py").read_text().split('"""')[1]
        assert "from model import build" in doc
        run = neuroplast.load(run_dir)
        x = example_input(run.info, batch=4, seed=5)
        save_file({"x": x}, tmp_path / "x.safetensors")
        script = f"""
import sys
class Block:  # no neuroplast in this interpreter
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "neuroplast":
            raise ImportError("neuroplast is blocked in this test")
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(run_dir)!r})
from safetensors.torch import load_file, save_file
from model import build
net = build()
save_file({{"y": net(load_file({str(tmp_path / "x.safetensors")!r})["x"])}}, {str(tmp_path / "y.safetensors")!r})
"""
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        with torch.inference_mode():
            want = run.model(x)
        assert torch.allclose(load_file(tmp_path / "y.safetensors")["y"], want, atol=1e-6)
    assert not (runs["lstm"] / "model.py").exists()  # not written where it could not be checked


def test_export_without_onnx_or_of_a_custom_module_says_why(runs, tmp_path: Path, monkeypatch, capsys) -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))

    pytest.importorskip("onnx")
    custom = neuroplast.fit(Net(), "digits", epochs=1, threads=1, out=tmp_path / "custom", progress=False)
    assert main(["export", str(custom.dir)]) == 2
    assert "hand-written module" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    assert main(["export", str(runs["mlp"])]) == 2
    assert 'pip install "neuroplast[onnx]"' in capsys.readouterr().err
