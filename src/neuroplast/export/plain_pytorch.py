"""The run's network as a stand-alone ``model.py`` that needs only ``torch`` and ``safetensors``.

The source is generated from the module tree, executed and compared with the real model before it is
trusted (perceptron, MLP and CNN families).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from neuroplast.export.onnx import example_input

log = logging.getLogger(__name__)

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
    from neuroplast.version import __version__

    forward = _FORWARD.get(info.get("family", ""))
    if forward is None:
        return None
    lines, forward = _members(model, forward)
    for name, child in model.named_children():
        rendered = _render(child, "        ") if name != "heads" else ""
        if rendered is None:
            return None
        if rendered:
            lines.append(f"        self.{name} = {rendered}")
    outputs = ("class logits" if info.get("task") == "classification"
               else "standardized targets (times target_std, plus target_mean)")
    source = _HEADER.format(family=info["family"].upper(), version=__version__, body="\n".join(lines),
                            forward=forward, shape=", ".join(map(str, info["input_shape"])),
                            outputs=outputs)
    return source if _reproduces(source, model, info) else None


def _members(model: nn.Module, forward: str) -> tuple[list[str], str]:
    """An MLP with a linear skip or an ensemble of members (``model.linear_skip``, ``model.ensemble``): the
    members' input scales and output layers as plain parameters, and the forward that averages them."""
    k, skip = getattr(model, "k", 1), getattr(model, "skip", None) is not None
    if k == 1:
        return [], ("flat = x.flatten(1)\n        return self.layers(flat) + self.skip(flat)" if skip else forward)
    scale, heads = model.member_scale, model.heads
    lines = [f"        self.member_scale = nn.Parameter(torch.zeros({k}, {scale.shape[1]}))  # each member's input scale",
             f"        self.heads = nn.ParameterDict({{'weight': nn.Parameter(torch.zeros({k}, {heads.weight.shape[1]}, "
             f"{heads.weight.shape[2]})), 'bias': nn.Parameter(torch.zeros({k}, {heads.bias.shape[1]}))}})"]
    body = ("flat = x.flatten(1)\n"
            "        h = self.layers[1:](flat.unsqueeze(1) * self.member_scale)  # (batch, members, features)\n"
            "        out = torch.einsum('bki,kio->bko', h, self.heads['weight']) + self.heads['bias']\n"
            + ("        out = out + self.skip(flat).unsqueeze(1)\n" if skip else "")
            + "        return out.mean(dim=1)  # the members' mean")
    return lines, body


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
