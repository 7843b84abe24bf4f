"""The vector space a network builds: where each input lands after each block, projected to 2-D, and how
well the classes separate there.

A network cannot work on pixels or words until they are vectors; learning arranges the vectors so that
like lands near like, block after block. :func:`representations` records the vectors, :func:`project`
draws them in 2-D (principal components, whose parameters place new inputs later) and
:func:`knn_accuracy` measures the arrangement: how often an example's nearest neighbours share its class.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.trust.explain import eval_mode, model_device

ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SiLU)
POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def representations(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """``x`` as vectors at each stage, each ``(N, features)``: ``"input"``; the output of each block (a
    pooling layer of a CNN, the activation after each fully connected layer); ``"output"`` (logits).
    Keys other than input and output are module names, e.g. ``"features.3"``."""
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, POOLS + ACTIVATIONS)]
    found: dict[str, list[torch.Tensor]] = {}

    def keep(name: str, pool: bool):
        def hook(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            if pool or out.dim() in (2, 3):  # activations inside conv blocks (4-D) wait for their pooling
                found.setdefault(name, []).append(out.detach().flatten(1).float().cpu())
        return hook

    handles = [m.register_forward_hook(keep(n, isinstance(m, POOLS))) for n, m in blocks]
    outputs = []
    try:
        with eval_mode(model), torch.no_grad():
            for i in range(0, len(x), batch_size):
                outputs.append(model(x[i:i + batch_size].to(model_device(model))).float().cpu())
    finally:
        for h in handles:
            h.remove()
    if not outputs:
        raise UserError("representations needs at least one input.")
    stages = {"input": x.flatten(1).float().cpu()}
    stages.update({n: torch.cat(v) for n, v in found.items() if sum(len(t) for t in v) == len(x)})
    stages["output"] = torch.cat(outputs).flatten(1)
    return stages


def project(vectors: torch.Tensor, dims: int = 2) -> tuple[torch.Tensor, dict[str, list]]:
    """The first ``dims`` principal components of ``vectors`` ``(N, D)``, and the projection's parameters
    (``mean``, ``components``): a new vector ``v`` lands at ``(v - mean) @ components.T``."""
    v = vectors.double()
    mean = v.mean(dim=0)
    _, _, vh = torch.linalg.svd(v - mean, full_matrices=False)
    components = vh[:dims]
    if len(components) < dims:  # fewer features than dims: pad with zero directions
        components = torch.cat([components, torch.zeros(dims - len(components), v.shape[1], dtype=v.dtype)])
    signs = torch.sign(components.sum(dim=1, keepdim=True))  # a fixed orientation, run to run
    components = components * torch.where(signs == 0, 1.0, signs)
    return ((v - mean) @ components.T).float(), {"mean": mean.tolist(), "components": components.tolist()}


def knn_accuracy(vectors: torch.Tensor, labels: torch.Tensor, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy: the share of examples whose ``k`` nearest others
    (Euclidean) vote for their own class (ties: the smallest class index)."""
    if len(vectors) <= k:
        raise UserError(f"knn_accuracy needs more than k = {k} examples; received {len(vectors)}.")
    d = torch.cdist(vectors.double(), vectors.double())
    d.fill_diagonal_(float("inf"))
    nearest = d.topk(k, largest=False).indices
    votes = torch.zeros(len(vectors), int(labels.max()) + 1, dtype=torch.long)
    votes.scatter_add_(1, labels[nearest].long(), torch.ones_like(nearest))
    return float((votes.argmax(dim=1) == labels.long()).double().mean())
