"""Weight sharing through a per-layer codebook: the second step of Deep Compression.

Han, Mao & Dally 2016 (https://arxiv.org/abs/1510.00149): after pruning, each layer's surviving
weights are clustered by k-means into ``2 ** bits`` values (the codebook); every weight is then stored
as a ``bits``-bit index into its layer's codebook. The k-means starts from centroids spread linearly
between the smallest and largest weight ("linear initialization", which the paper found keeps the
rare large weights that matter most), and runs Lloyd's iterations in one dimension until no weight
changes cluster.

The codebook is then fine-tuned: while :func:`share_weights` is in force, each layer's weight is
recomputed as ``codebook[index]`` (zero where the pruning mask is zero) before every forward pass,
so autograd sums the gradients of all the weights sharing a centroid into that centroid — the
paper's update, ``∂L/∂c_k = Σ_{i: index_i = k} ∂L/∂w_i`` — and a pruned weight can never return.
:func:`finalize` folds the codebooks back into plain weights; :mod:`neuroplast.plasticity.coding`
stores them compactly.

Which layers: every weight matrix of ``Linear`` and ``Conv1d/2d/3d`` layers (biases, normalization
layers, embeddings and recurrent weights stay as they are and are stored in float32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

SHARED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
CONV_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def linear_init(values: torch.Tensor, k: int) -> torch.Tensor:
    """``k`` centroids spread evenly from ``values.min()`` to ``values.max()`` (Han et al.'s linear init).

    >>> linear_init(torch.tensor([-1.0, 0.5, 1.0]), 3)
    tensor([-1.,  0.,  1.])
    """
    return torch.linspace(float(values.min()), float(values.max()), k, dtype=torch.float32)


def assign(values: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """The index of the nearest of the (sorted) ``centroids`` for each value; a value exactly halfway
    between two goes to the lower one."""
    midpoints = (centroids[1:] + centroids[:-1]) / 2
    return torch.bucketize(values, midpoints, right=False)


def kmeans(values: torch.Tensor, k: int, max_iterations: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """One-dimensional k-means of ``values`` into at most ``k`` clusters: ``(centroids, index)``.

    Linear initialization, then Lloyd's iterations (each centroid moves to the mean of its values; a
    centroid with no values stays where it is) until no value changes cluster. The centroids stay
    sorted. ``k`` is capped at the number of values.

    >>> c, i = kmeans(torch.tensor([-1.0, -0.8, 0.1, 0.2, 0.9, 1.0]), 2)
    >>> c.tolist(), i.tolist()  # init [-1, 1]: split at 0; means -0.9 and 0.55; split at -0.175: stable
    ([-0.8999999761581421, 0.550000011920929], [0, 0, 1, 1, 1, 1])
    """
    values = values.detach().flatten().float()
    k = max(1, min(k, values.numel()))
    centroids = linear_init(values, k)
    index = assign(values, centroids)
    for _ in range(max_iterations):
        sums = torch.zeros(k, dtype=torch.float64).index_add_(0, index, values.double())
        counts = torch.bincount(index, minlength=k)
        filled = counts > 0
        centroids = torch.where(filled, (sums / counts.clamp_min(1)).float(), centroids)
        new = assign(values, centroids)
        if torch.equal(new, index):
            break
        index = new
    return centroids, index


class SharedWeight(nn.Module):
    """A parametrization: the layer's weight is ``codebook[index]`` where ``mask``, else zero.

    ``codebook`` is the trainable parameter; the gradient of every weight sharing a centroid flows
    into it (summed), so fine-tuning moves whole clusters and keeps the pruned weights at zero.
    """

    def __init__(self, codebook: torch.Tensor, index: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        self.codebook = nn.Parameter(codebook.clone())
        self.register_buffer("index", index.clone())
        self.register_buffer("mask", mask.clone())

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        shared = self.codebook[self.index]
        return torch.where(self.mask, shared, torch.zeros((), dtype=shared.dtype, device=shared.device))


@dataclass
class Codebook:
    """One layer's shared weights: sorted ``centroids`` (float16 values), a ``bits``-bit ``index`` per
    kept weight (flattened, in order) and the ``mask`` of kept weights (the layer's shape)."""

    centroids: torch.Tensor
    index: torch.Tensor
    mask: torch.Tensor
    bits: int

    def weight(self) -> torch.Tensor:
        """The dequantized weight: each kept weight's centroid, zero elsewhere."""
        out = torch.zeros(self.mask.shape, dtype=torch.float32)
        out[self.mask] = self.centroids.float()[self.index]
        return out


def shared_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(qualified weight name, layer)`` for every weight a codebook replaces."""
    return [(f"{name}.weight" if name else "weight", m) for name, m in model.named_modules()
            if isinstance(m, SHARED_LAYERS)]


def share_weights(model: nn.Module, bits: int, conv_bits: int | None = None) -> dict[str, int]:
    """Cluster each layer's non-zero weights into ``2 ** bits`` values (``conv_bits`` for convolutions)
    and put :class:`SharedWeight` in force on it; returns the codebook size per weight name.

    The pruning mask is the layer's non-zero weights: zeros stay zero through fine-tuning.
    """
    sizes = {}
    for qual, layer in shared_layers(model):
        w = layer.weight.detach()
        mask = w != 0
        layer_bits = conv_bits if conv_bits is not None and isinstance(layer, CONV_LAYERS) else bits
        if not bool(mask.any()):
            mask = torch.ones_like(mask)  # an all-zero layer: one centroid at 0
        centroids, index = kmeans(w[mask], 2 ** layer_bits)
        flat = torch.zeros(w.shape, dtype=torch.long, device=w.device)
        flat[mask] = index.to(w.device)
        parametrize.register_parametrization(
            layer, "weight", SharedWeight(centroids.to(w.device), flat, mask), unsafe=True)
        layer.parametrizations.weight.original.requires_grad_(False)
        sizes[qual] = centroids.numel()
    return sizes


def finalize(model: nn.Module, bits: int, conv_bits: int | None = None) -> dict[str, Codebook]:
    """End the weight sharing: round each codebook to float16 values (what the file stores), fold it
    into a plain weight (``codebook[index]``, zero where pruned) and return the codebooks by weight name.
    A codebook smaller than ``2 ** bits`` (a layer with few weights) is indexed with just enough bits."""
    books = {}
    for qual, layer in shared_layers(model):
        if not parametrize.is_parametrized(layer, "weight"):
            continue
        shared: SharedWeight = layer.parametrizations.weight[0]
        with torch.no_grad():
            shared.codebook.copy_(shared.codebook.half().float())
        layer_bits = conv_bits if conv_bits is not None and isinstance(layer, CONV_LAYERS) else bits
        size = shared.codebook.numel()  # fewer kept weights than 2 ** bits: fewer bits suffice
        layer_bits = min(layer_bits, max(1, math.ceil(math.log2(size))))
        books[qual] = Codebook(shared.codebook.detach().cpu().half(), shared.index[shared.mask].cpu(),
                               shared.mask.cpu(), layer_bits)
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        layer.weight.requires_grad_(True)
    return books
