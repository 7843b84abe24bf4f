"""``neuroplast summary``: layers, output shapes, parameter counts and MACs (via torchinfo)."""

from __future__ import annotations

import re

from torch import nn

from neuroplast.data import load_dataset
from neuroplast.models import build_model, model_outputs
from neuroplast.models.budget import check_parameters


def summarize(model: nn.Module, input_shape: tuple[int, ...], tokens: bool = False) -> str:
    """A table of the model's layers for one input of ``input_shape`` (no batch dimension);
    ``tokens`` says the input is integer token ids."""
    import torch
    from torchinfo import summary

    x = torch.zeros(1, *input_shape, dtype=torch.int64 if tokens else torch.float32)
    stats = summary(model, input_data=[x], verbose=0, device="cpu",
                    col_names=("output_size", "num_params", "mult_adds"), row_settings=("var_names",))
    # torchinfo 1.8 prints its unit enum ("Units.MEGABYTES") for the mult-adds total
    return re.sub(r"\(Units\.(\w)\w*\)", r"(\1)", str(stats))


def spec_summary(spec) -> str:
    """Build the model a spec describes (loading its data for the shapes) and summarise it."""
    data = load_dataset(spec.data, spec.seed)
    outputs = model_outputs(data.num_outputs, spec.train.loss)
    check_parameters(spec.model, data.input_shape, outputs, data.task, data.vocab_size, spec.limits.parameters,
                     f"model ({spec.name})", f"--set limits.parameters=N (now {spec.limits.parameters:,})")
    model = build_model(spec.model, data.input_shape, outputs, data.task, data.vocab_size)
    head = (f"{spec.name}: {spec.model.family} on {data.name} ({data.task}, input {data.input_shape}, "
            f"{data.num_outputs} outputs)")
    return head + "\n" + summarize(model, data.input_shape, tokens=data.vocab_size > 0)
