"""Structured pruning: remove whole neurons and channels, leaving a smaller dense network.

Zeros inside a weight matrix save nothing in a dense kernel; a neuron or a channel removed is a
row and a column fewer in every matrix it touches, so the pruned network is faster and smaller
on any hardware. The bookkeeping of what else must shrink with a channel (its batch-norm, the next
layer's inputs, the columns a ``Flatten`` spreads it over) is Torch-Pruning's dependency graph
(Fang et al. 2023, https://arxiv.org/abs/2301.12900); neuroplast chooses *which* units go (the
smallest L2 norm over the whole coupled group) and records the new widths in the spec, so the
pruned model rebuilds from its ``model.json`` and safetensors weights, never from a pickle.

Supported: the ``mlp`` family (hidden neurons), the ``cnn`` family (channels of every
convolution, neurons of the fully connected head) and one-directional ``rnn``/``lstm``/``gru``
models (hidden units: every gate's row of the unit, its recurrent column, and the next layer's or
the head's column; the same number kept in each layer, as the spec has one ``hidden_size``). The
output layer is never pruned. Attention layers and bidirectional recurrent layers are not pruned
structurally; they are named in a warning, never skipped silently (their weights can still be
pruned with ``magnitude`` or ``saliency``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError

log = logging.getLogger(__name__)
FAMILIES = ("mlp", "cnn")
RECURRENT = ("rnn", "lstm", "gru")


@dataclass
class StructuredStep:
    """What one pruning step removed: unit indices (numbered as before the step) per layer."""

    removed: dict[str, list[int]] = field(default_factory=dict)
    widths: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (before, after)


def unprunable_layers(model: nn.Module) -> list[str]:
    """Recurrent and attention layers: named, because structured pruning leaves them as they are."""
    names = []
    for name, module in model.named_modules():
        kind = type(module).__name__
        if isinstance(module, (nn.RNNBase, nn.MultiheadAttention)) or "Attention" in kind:
            names.append(f"{name} ({kind})")
    return names


def check_family(family: str, model: nn.Module) -> None:
    """Structured pruning rebuilds the model from its spec: MLP, CNN and one-directional recurrent
    models; anything else gets a warning naming its layers and an error with the way out."""
    if family in FAMILIES:
        return
    if family in RECURRENT and not model.rnn.bidirectional:
        return
    skipped = unprunable_layers(model)
    if skipped:
        log.warning("structured pruning cannot remove units from these layers: %s", ", ".join(skipped))
        raise UserError(f"--method structured removes neurons, channels and hidden units from mlp, cnn and "
                        f"one-directional rnn/lstm/gru models; this {family!r} model's layers "
                        f"({', '.join(skipped)}) cannot be shrunk that way. Use --method magnitude or "
                        "saliency, which prune their weights.")
    raise UserError(f"--method structured removes units from mlp, cnn and one-directional rnn/lstm/gru models; "
                    f"this run's family is {family!r}. Use --method magnitude or saliency.")


def _output_layer(model: nn.Module) -> nn.Module:
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not layers:
        raise UserError(f"{type(model).__name__} has no Linear or Conv2d layers to prune.")
    return layers[-1]


def prune_units(model: nn.Module, example: torch.Tensor, keep: dict[str, int] | float) -> StructuredStep:
    """Remove the weakest units so each prunable layer keeps ``keep`` of them.

    Args:
        model: an MLP or CNN (changed in place).
        example: one input batch (for tracing the dependency graph).
        keep: a fraction of each layer's current units to keep, or ``{layer name: units to keep}``.

    Each layer's units are ranked by the L2 norm of every weight that goes with them (the unit's
    own weights, its batch-norm, and the next layer's weights that read it), the weakest removed.
    """
    import torch_pruning as tp

    names = {m: n for n, m in model.named_modules()}
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    importance = tp.importance.GroupMagnitudeImportance(p=2)
    step = StructuredStep()
    groups = list(graph.get_all_groups(ignored_layers=[_output_layer(model)],
                                       root_module_types=[nn.Conv2d, nn.Linear]))
    for group in groups:
        root, handler = group[0].dep.target.module, group[0].dep.handler
        name = names[root]
        width = root.out_channels if isinstance(root, nn.Conv2d) else root.out_features
        target = keep.get(name, width) if isinstance(keep, dict) else max(1, round(width * keep))
        if target >= width:
            continue
        scores = importance(group)
        drop = sorted(torch.argsort(scores)[: width - target].tolist())
        pruning = graph.get_pruning_group(root, handler, idxs=drop)
        if not graph.check_pruning_group(pruning):
            log.warning("structured pruning: %s cannot lose %d units safely; left at %d", name, len(drop), width)
            continue
        pruning.prune()
        step.removed[name] = drop
        step.widths[name] = (width, target)
    return step


def prune_hidden_units(model: nn.Module, keep: int) -> StructuredStep:
    """Keep ``keep`` hidden units in every layer of a one-directional recurrent model (in place).

    A unit's importance is the L2 norm of everything that goes with it: its rows in every gate of
    the input and recurrent matrices, its column of the recurrent matrix, and its column in the
    next layer's input matrix (or the head's). PyTorch stacks the gates as blocks of ``hidden_size``
    rows, so unit ``j`` is row ``j`` of each block.
    """
    rnn = model.rnn
    hidden, layers = rnn.hidden_size, rnn.num_layers
    gates = rnn.weight_hh_l0.shape[0] // hidden
    if keep >= hidden:
        return StructuredStep()
    step, kept = StructuredStep(), []
    for layer in range(layers):
        w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
        reader = getattr(rnn, f"weight_ih_l{layer + 1}") if layer + 1 < layers else model.head.weight
        score = (w_ih.reshape(gates, hidden, -1).pow(2).sum((0, 2)) + w_hh.reshape(gates, hidden, -1).pow(2).sum((0, 2))
                 + w_hh.pow(2).sum(0) + reader.pow(2).sum(0))
        order = torch.argsort(score.detach(), descending=True)
        kept.append(torch.sort(order[:keep]).values)
        step.removed[f"rnn.l{layer}"] = sorted(order[keep:].tolist())
        step.widths[f"rnn.l{layer}"] = (hidden, keep)
    new = type(rnn)(rnn.input_size, keep, layers, bias=rnn.bias, batch_first=rnn.batch_first, dropout=rnn.dropout)
    with torch.no_grad():
        for layer, idx in enumerate(kept):
            rows = torch.cat([g * hidden + idx for g in range(gates)])
            cols = kept[layer - 1] if layer else slice(None)
            getattr(new, f"weight_ih_l{layer}").copy_(getattr(rnn, f"weight_ih_l{layer}")[rows][:, cols])
            getattr(new, f"weight_hh_l{layer}").copy_(getattr(rnn, f"weight_hh_l{layer}")[rows][:, idx])
            if rnn.bias:
                for b in ("bias_ih", "bias_hh"):
                    getattr(new, f"{b}_l{layer}").copy_(getattr(rnn, f"{b}_l{layer}")[rows])
        head = nn.Linear(keep, model.head.out_features, bias=model.head.bias is not None)
        head.weight.copy_(model.head.weight[:, kept[-1]])
        if head.bias is not None:
            head.bias.copy_(model.head.bias)
    model.rnn, model.head = new.to(model.head.weight.device), head.to(model.head.weight.device)
    return step


def layer_widths(model: nn.Module) -> dict[str, int]:
    """Current output units of every Linear/Conv2d layer except the output layer (the hidden size
    of a recurrent model)."""
    if isinstance(getattr(model, "rnn", None), nn.RNNBase):
        return {"rnn": model.rnn.hidden_size}
    out = _output_layer(model)
    return {n: (m.out_channels if isinstance(m, nn.Conv2d) else m.out_features)
            for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d)) and m is not out}


def spec_widths(family: str, model: nn.Module, config: dict[str, Any]) -> dict[str, Any]:
    """The model spec's size fields for the pruned model (``hidden``; ``channels`` for a CNN).

    A CNN block with several convolutions must keep one width for all of them (the spec has one
    ``channels`` entry per block); pruning the same share of each layer keeps them equal.
    """
    if family in RECURRENT:
        return {"hidden_size": model.rnn.hidden_size}
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]
    changes: dict[str, Any] = {"hidden": [m.out_features for m in linears]}
    if family == "cnn":
        convs = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
        per_block = int(config.get("convs_per_block", 1))
        blocks = [convs[i:i + per_block] for i in range(0, len(convs), per_block)]
        if any(len(set(b)) != 1 for b in blocks):
            raise UserError(f"structured pruning left different widths inside one CNN block ({blocks}); the "
                            "spec has one width per block. Prune with one share for every layer.")
        changes["channels"] = [b[0] for b in blocks]
    return changes
