"""The vector space a network builds: where each input lands after each block, projected to 2-D, and how
well the classes separate there.

A network cannot work on pixels or words until they are vectors; learning arranges the vectors so that
like lands near like, block after block. :func:`representations` records the vectors, :func:`project`
draws them in 2-D (principal components, whose parameters place new inputs later) and
:func:`knn_accuracy` measures the arrangement: how often an example's nearest neighbours share its class.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.trust.explain import eval_mode, model_device

ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SiLU)
POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@contextlib.contextmanager
def recording(model: nn.Module) -> Iterator[dict[str, list[torch.Tensor]]]:
    """While inside, every forward pass of ``model`` appends its inputs' vectors at each stage to the
    yielded dict (stage name -> one ``(batch, features)`` tensor per pass): ``"input"``; the output of
    each block (a pooling layer of a CNN, the activation after each fully connected layer); ``"output"``.
    An ensemble of ``k`` members in one network (an MLP with ``ensemble = k``: activations ``(N, k,
    width)``) gives one vector per input at each layer, the members' mean, as its prediction averages the
    members' outputs. What :func:`representations` and the server's placement of new inputs share."""
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, POOLS + ACTIVATIONS)]
    found: dict[str, list[torch.Tensor]] = {}
    members = int(getattr(model, "k", 1) or 1)

    def keep(name: str, pool: bool):
        def hook(_m: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            if members > 1 and out.dim() == 3 and out.shape[1] == members:
                out = out.mean(dim=1)  # the ensemble's members side by side: one vector per input
            if pool or out.dim() in (2, 3):  # activations inside conv blocks (4-D) wait for their pooling
                found.setdefault(name, []).append(out.detach().flatten(1).float().cpu())
        return hook

    def ends(_m: nn.Module, inp: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and inp and isinstance(inp[0], torch.Tensor):
            found.setdefault("input", []).append(inp[0].detach().flatten(1).float().cpu())
            found.setdefault("output", []).append(out.detach().float().cpu().flatten(1))

    handles = [m.register_forward_hook(keep(n, isinstance(m, POOLS))) for n, m in blocks]
    handles.append(model.register_forward_hook(ends))
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


def representations(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """``x`` as vectors at each stage, each ``(N, features)`` (:func:`recording`'s stages): ``"input"``,
    the blocks' outputs, ``"output"`` (logits). Keys other than input and output are module names, e.g.
    ``"features.3"``."""
    if len(x) == 0:
        raise UserError("representations needs at least one input.")
    with recording(model) as found, eval_mode(model), torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size].to(model_device(model)))
    inner = {n: torch.cat(v) for n, v in found.items() if n not in ("input", "output")}
    return {"input": x.flatten(1).float().cpu(),
            **{n: v for n, v in inner.items() if len(v) == len(x)},
            "output": torch.cat(found["output"])}


MAPS_SHOWN = 8  # feature maps of a convolutional stage sent beside an input's point


def map_shapes(model: nn.Module, input_shape: list[int] | tuple[int, ...]) -> dict[str, tuple[int, int, int]]:
    """The ``(channels, height, width)`` of each convolutional stage (a pooling layer's output) for one
    input of ``input_shape`` ``(C, H, W)``: one forward pass of zeros, no gradient."""
    shapes: dict[str, tuple[int, int, int]] = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
               for n, m in model.named_modules() if isinstance(m, POOLS)]
    try:
        with eval_mode(model), torch.no_grad():
            model(torch.zeros(1, *input_shape, device=model_device(model)))
    finally:
        for h in handles:
            h.remove()
    return {n: s for n, s in shapes.items() if len(s) == 3}


def feature_maps(vector: torch.Tensor, shape: tuple[int, int, int], shown: int = MAPS_SHOWN) -> dict[str, Any]:
    """One input's flattened stage ``vector`` as its first ``shown`` feature maps, each scaled to 0-255 by
    its own range (0 = its lowest value): ``channels``, ``height``, ``width`` and ``values`` (one flat
    row-major list per map)."""
    channels, height, width = shape
    maps = vector.reshape(channels, height, width)[:shown].double()
    low = maps.flatten(1).amin(dim=1).view(-1, 1, 1)
    span = (maps.flatten(1).amax(dim=1).view(-1, 1, 1) - low).clamp_min(1e-12)
    scaled = torch.round(255 * (maps - low) / span).to(torch.uint8)
    return {"channels": channels, "height": height, "width": width,
            "values": [m.flatten().tolist() for m in scaled]}


def principal(vectors: torch.Tensor, dims: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``dims`` principal components of ``vectors`` ``(N, D)`` as ``(coords, mean, components)``
    (float64): ``coords = (vectors - mean) @ components.T``, each component's sign fixed so that its entries
    sum to a positive number (the same picture run to run); missing directions are zero."""
    v = vectors.double()
    mean = v.mean(dim=0)
    _, _, vh = torch.linalg.svd(v - mean, full_matrices=False)
    components = vh[:dims]
    if len(components) < dims:  # fewer features or examples than dims: pad with zero directions
        components = torch.cat([components, torch.zeros(dims - len(components), v.shape[1], dtype=v.dtype)])
    signs = torch.sign(components.sum(dim=1, keepdim=True))  # a fixed orientation, run to run
    components = components * torch.where(signs == 0, 1.0, signs)
    return (v - mean) @ components.T, mean, components


def project(vectors: torch.Tensor, dims: int = 2) -> tuple[torch.Tensor, dict[str, list]]:
    """The first ``dims`` principal components of ``vectors`` ``(N, D)``, and the projection's parameters
    (``mean``, ``components``): a new vector ``v`` lands at ``(v - mean) @ components.T``."""
    coords, mean, components = principal(vectors, dims)
    return coords.float(), {"mean": mean.tolist(), "components": components.tolist()}


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


# --------------------------------------------------------------------------- the stored map (space.safetensors)
MAX_STAGES = 8  # the input, the output and up to six blocks between
NEIGHBOURS = 8  # stored examples returned beside a new input (and averaged over by t-SNE's placement)


def chosen_stages(stages: dict[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """At most :data:`MAX_STAGES` stages of :func:`representations`: the first ones and the output."""
    items = list(stages.items())
    return items if len(items) <= MAX_STAGES else [*items[:MAX_STAGES - 1], items[-1]]


def tsne(coords: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """scikit-learn's t-SNE of ``coords`` (the stored principal coordinates) to 2-D, seeded."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise UserError("space.method = 'tsne' needs scikit-learn (pip install scikit-learn); or set "
                        "space.method = 'pca'.") from None
    perplexity = float(min(30.0, (len(coords) - 1) / 3))
    out = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(coords.numpy())
    return torch.from_numpy(out).float()


def build_space(stages: dict[str, torch.Tensor], labels: torch.Tensor, predicted: torch.Tensor, *,
                method: str = "pca", dims: int = 16, seed: int = 0) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The tensors and per-stage facts of a stored vector space, from :func:`representations` of N examples.

    Per stage ``i`` (of :func:`chosen_stages`): ``stage{i}.mean`` ``(D,)`` and ``stage{i}.components``
    ``(dims, D)`` (principal components, float32), ``stage{i}.coords = (vectors - mean) @ components.T``
    ``(N, dims)`` and ``stage{i}.points`` ``(N, 2)``: the map (``coords[:, :2]`` for PCA; t-SNE of the
    coords for ``method = "tsne"``). Beside them ``labels`` and ``predicted`` ``(N,)``. The facts: each
    stage's ``name``, ``dims`` (features) and ``knn`` (:func:`knn_accuracy`, k = 5, on the full vectors)."""
    tensors: dict[str, torch.Tensor] = {"labels": labels.long().cpu(), "predicted": predicted.long().cpu()}
    facts = []
    for i, (name, vectors) in enumerate(chosen_stages(stages)):
        _, mean, components = principal(vectors, min(dims, max(2, vectors.shape[1])))
        mean, components = mean.float(), components.float()
        coords = (vectors.float() - mean) @ components.T  # exactly what a new input gets from the stored values
        points = coords[:, :2].clone() if method == "pca" else tsne(coords, seed)
        tensors.update({f"stage{i}.mean": mean, f"stage{i}.components": components.contiguous(),
                        f"stage{i}.coords": coords.contiguous(), f"stage{i}.points": points.contiguous()})
        facts.append({"name": name, "dims": int(vectors.shape[1]),
                      "knn": knn_accuracy(vectors, labels) if len(vectors) > 5 else None})
    return tensors, facts


def nearest(coords: torch.Tensor, stored: torch.Tensor, k: int = NEIGHBOURS) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` stored examples nearest (Euclidean, in the principal coordinates) to each row of ``coords``:
    ``(distances, indices)``, each ``(M, k)``, nearest first."""
    d = torch.cdist(coords.double(), stored.double())
    found = d.topk(min(k, stored.shape[0]), largest=False)
    return found.values, found.indices


def place(coords: torch.Tensor, stored_coords: torch.Tensor, stored_points: torch.Tensor, method: str,
          k: int = NEIGHBOURS) -> torch.Tensor:
    """Where new inputs (their principal ``coords``, ``(v - mean) @ components.T``) land on the 2-D map.
    PCA: the first two coordinates. t-SNE has no projection for new points: each lands at the mean of its
    ``k`` nearest stored neighbours' 2-D points, weighted by 1 / distance (on a stored point exactly: there)."""
    if method == "pca":
        return coords[:, :2].float()
    distances, indices = nearest(coords, stored_coords, k)
    weights = 1.0 / distances.clamp_min(1e-12)
    weights = weights / weights.sum(dim=1, keepdim=True)
    return (weights[..., None] * stored_points.double()[indices]).sum(dim=1).float()
