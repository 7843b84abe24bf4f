"""model.py for the table default's MLP (a linear skip and an ensemble of members): plain PyTorch that
reproduces the trained network from model.safetensors alone."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from neuroplast.export.plain_pytorch import plain_pytorch_source
from neuroplast.models.mlp import MLP


@pytest.mark.parametrize(("ensemble", "skip"), [(1, True), (5, True), (5, False)])
def test_an_mlp_with_a_skip_or_members_is_written_as_plain_pytorch(tmp_path: Path, ensemble: int, skip: bool) -> None:
    torch.manual_seed(0)
    net = MLP(7, 3, hidden=(8, 4), dropout=0.1, linear_skip=skip, ensemble=ensemble).eval()
    if skip:
        with torch.no_grad():
            net.skip.weight.normal_()  # a trained skip is not zero
    source = plain_pytorch_source(net, {"family": "mlp", "input_shape": [7], "task": "classification"})
    assert source is not None and "neuroplast" not in source.split('"""', 2)[2]  # no import of ours
    folder = tmp_path / f"run-{ensemble}-{skip}"
    folder.mkdir()
    (folder / "model.py").write_text(source)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    spec = importlib.util.spec_from_file_location(f"plain_{ensemble}_{skip}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    x = torch.randn(9, 7)
    with torch.inference_mode():
        torch.testing.assert_close(module.build()(x), net(x))


def test_the_readmes_model_py_snippet_answers_as_run_predict(tmp_path: Path, capsys) -> None:
    """The README's plain-PyTorch block, run as written on a fresh digits run, prints what run.predict gives."""
    import re

    import neuroplast

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "from model import build" in b)
    run = neuroplast.run("digits-cnn", out=tmp_path / "run", progress=False, train={"epochs": 2, "threads": 1})
    sys.modules.pop("model", None)
    try:
        exec(block.replace("runs/digits-cnn-...", str(run.dir)), {"__name__": "readme"})  # noqa: S102
    finally:
        sys.modules.pop("model", None)
        sys.path.remove(str(run.dir))
    from sklearn.datasets import load_digits

    pixels = load_digits().images[:5] / 16
    expected = run.predict(pixels[:, None].astype("float32")).tolist()
    assert capsys.readouterr().out.strip() == f"tensor({expected})"
