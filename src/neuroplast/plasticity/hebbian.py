"""Hebbian learning: "neurons that fire together wire together", made stable by competition and decay.

Hebb's postulate (1949) alone, ``Δw = η·y·x``, grows a weight without bound. The two rules here add
the missing forgetting term so that the weights settle, and learn from the inputs alone: no labels,
no loss, no backpropagation.

* :func:`oja_update` / :class:`OjaNeuron`: Oja's rule for one linear neuron (E. Oja, "Simplified
  neuron model as a principal component analyzer", J. Math. Biology 15, 267-273, 1982). The decay
  ``-η·y²·w`` keeps ``|w|`` near 1, and ``w`` turns towards the first principal component of the
  inputs.
* :class:`SoftHebbConv2d`: a convolutional layer of competing units trained by SoftHebb
  (Moraitis et al., "SoftHebb: Bayesian inference in unsupervised Hebbian soft winner-take-all
  networks", Neuromorphic Computing and Engineering 2022; Journé, Rodriguez, Guo & Moraitis,
  "Hebbian deep learning without feedback", ICLR 2023, https://arxiv.org/abs/2209.11883). At every
  image position the units compete through a softmax; the winner moves towards the input patch
  (Hebbian), the others move away from it in proportion to their softmax share (anti-Hebbian),
  with Oja's decay term, and every filter is kept at zero mean and unit norm. The layer learns
  inside its own ``forward`` while training, with its own decaying learning rate, and hands on a
  detached output, so a supervised readout on top never backpropagates into it.
* :func:`plot_receptive_fields`: the learned filters as a grid of images.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import UserError


# --------------------------------------------------------------------------- Oja's rule
def oja_update(w: torch.Tensor, x: torch.Tensor, lr: float) -> torch.Tensor:
    """One step of Oja's rule for the linear neuron ``y = w·x``: ``Δw = lr·y·(x − y·w)``.

    Args:
        w: the weights, shape ``(d,)``.
        x: one input ``(d,)`` or a batch ``(n, d)``. For a batch the per-sample changes are
            **averaged**, so ``lr`` means the same for any batch size.
        lr: the learning rate η.

    Returns:
        The new weights ``w + Δw`` (a new tensor; ``w`` is not changed).

    Example:
        >>> oja_update(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]), 0.5)  # y = 1
        tensor([1.0000, 0.5000])
    """
    if w.ndim != 1 or x.shape[-1] != w.shape[0] or x.ndim not in (1, 2):
        raise UserError(f"oja_update expects w of shape (d,) and x of shape (d,) or (n, d); received "
                        f"w {tuple(w.shape)} and x {tuple(x.shape)}. Flatten the inputs to d features.")
    batch = x if x.ndim == 2 else x[None]
    y = batch @ w  # (n,)
    delta = (y[:, None] * (batch - y[:, None] * w)).mean(0)
    return w + lr * delta


class OjaNeuron(nn.Module):
    """A linear neuron ``y = w·x`` that learns from a stream of samples by Oja's rule.

    Its weight vector converges to the unit-norm first principal component (up to sign) of
    zero-mean inputs. The learning rate decays as ``lr / (1 + decay·steps)``, the Robbins-Monro
    condition under which the convergence is exact.

    Args:
        in_features: ``d``, the size of one input.
        lr: the initial learning rate η.
        decay: how fast the learning rate falls per update (0: constant).
        generator: for the random initial weights (a small random vector).

    Example:
        >>> neuron = OjaNeuron(2, lr=0.05).fit(torch.randn(2000, 2) * torch.tensor([3.0, 0.5]))
        >>> neuron.weight.abs().round()
        tensor([1., 0.])
    """

    def __init__(self, in_features: int, lr: float = 0.01, decay: float = 0.0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.lr, self.decay = lr, decay
        w = torch.randn(in_features, generator=generator)
        self.register_buffer("weight", 0.1 * w / w.norm())
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @property
    def current_lr(self) -> float:
        """The learning rate of the next update."""
        return self.lr / (1.0 + self.decay * int(self.steps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The neuron's output ``y = x·w`` for one input ``(d,)`` or a batch ``(n, d)``."""
        return x @ self.weight

    @torch.no_grad()
    def learn(self, x: torch.Tensor) -> torch.Tensor:
        """One Oja update from a sample or a batch (averaged); returns the output before the update."""
        y = self(x)
        self.weight.copy_(oja_update(self.weight, x, self.current_lr))
        self.steps += 1
        return y

    def fit(self, samples: torch.Tensor | Iterable[torch.Tensor], epochs: int = 1) -> OjaNeuron:
        """Learn from every sample in turn (rows of a tensor, or any iterable of samples/batches)."""
        for _ in range(epochs):
            for x in samples:
                self.learn(x)
        return self


# --------------------------------------------------------------------------- annealed local rules
class LocalRule(nn.Module):
    """What every layer that learns by a local rule shares: it counts the training inputs it has seen
    (the ``samples_seen`` buffer, saved with the model so a resumed run knows how far it got), learns
    only in training mode and only for its first ``learning_samples`` inputs, with a rate falling
    linearly from ``lr`` to 0 (``learning_samples = 0``: it never learns)."""

    def __init__(self, lr: float, learning_samples: int) -> None:
        super().__init__()
        self.lr, self.learning_samples = lr, learning_samples
        self.register_buffer("samples_seen", torch.zeros((), dtype=torch.long))

    @property
    def learning(self) -> bool:
        """Whether a training-mode forward pass will still update the weights."""
        return self.training and int(self.samples_seen) < self.learning_samples

    def current_lr(self) -> float:
        """The learning rate of the next update."""
        if self.learning_samples == 0:
            return 0.0
        return self.lr * max(0.0, 1.0 - int(self.samples_seen) / self.learning_samples)


# --------------------------------------------------------------------------- SoftHebb
class SoftHebbConv2d(LocalRule):
    """A convolutional layer of competing units that learns by the SoftHebb rule, without backprop.

    At every image position the units' pre-activations ``u_k = w_k·x`` (``x`` the patch) compete
    through a softmax, ``s = softmax(β·u)``. The winner (largest ``u``) learns Hebbian,
    ``y_k = +s_k``; every other unit learns anti-Hebbian, ``y_k = −s_k``, moving away from a
    patch it nearly won (Journé et al. 2023). Each filter then changes by Oja's rule with ``y``
    in place of the neuron's output, summed over the batch's positions::

        Δw_k = Σ_positions y_k·(x − u_k·w_k)

    ``Δ`` is divided by its largest entry (so ``lr`` is the largest change of any weight), and
    after the step each filter is projected back to **zero mean and unit norm**. That projection
    replaces the paper's norm-dependent rate ``lr·|‖w‖ − 1|^½``: with it, units that keep losing
    (``y < 0``, ``u > 0``) grow their norm without bound on MNIST, and one such unit takes the
    whole normalised step. Zero-mean filters see each patch's contrast, not its brightness, so
    blank background (a constant patch) gives ``u = 0`` for every unit and teaches nothing.

    Learning happens in :meth:`forward` while ``self.training`` is true, under ``torch.no_grad()``,
    for the first ``learning_samples`` images, with the rate decaying linearly from ``lr`` to 0;
    afterwards the filters are fixed. The weight is an ``nn.Parameter`` with
    ``requires_grad = False`` (saved with the model, skipped by optimizers) and the output is
    detached, so no gradient ever reaches the layer; the ``samples_seen`` buffer is saved too, so
    a resumed run knows how far the layer got. In eval mode it never learns.

    Args:
        in_channels, out_channels, kernel_size: as ``nn.Conv2d`` (square kernels, stride 1).
        padding: pixels added on each side (reflected, so borders do not look like strokes).
        lr: initial Hebbian learning rate.
        inverse_temperature: β of the softmax competition (larger: closer to hard winner-take-all).
        learning_samples: number of training images the layer learns from before it freezes.
        generator: for the random initial filters.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, padding: int = 2,
                 lr: float = 0.05, inverse_temperature: float = 5.0, learning_samples: int = 60_000,
                 generator: torch.Generator | None = None) -> None:
        super().__init__(lr, learning_samples)
        self.kernel_size, self.padding, self.inverse_temperature = kernel_size, padding, inverse_temperature
        init = torch.randn(out_channels, in_channels * kernel_size * kernel_size, generator=generator)
        init = _zero_mean_unit_norm(init).view(out_channels, in_channels, kernel_size, kernel_size)
        self.weight = nn.Parameter(init, requires_grad=False)

    def forward(self, x: torch.Tensor, center: bool = False) -> torch.Tensor:
        """The pre-activations ``u = W·patch`` at every position, ``(N, units, H', W')``, detached
        (channels-last in memory, which makes the max pooling after it fast on CPU).

        With ``center=True``, ``u`` minus its mean over the units: the first step of the triangle
        activation, computed at no cost by centring the filters. In training mode the layer first
        learns from the batch (see the class docstring).
        """
        n, _, h, w = x.shape
        h, w = h + 2 * self.padding - self.kernel_size + 1, w + 2 * self.padding - self.kernel_size + 1
        patches = self.patches(x.detach())  # (N·H'·W', in_channels·k·k)
        if self.learning:
            with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
                self._learn(patches.float(), images=n)
        weight = self.weight.flatten(1).to(patches.dtype)  # (units, in_channels·k·k)
        if center:
            weight = weight - weight.mean(0)
        u = patches @ weight.T  # (N·H'·W', units): a convolution as one matrix product
        return u.view(n, h, w, -1).permute(0, 3, 1, 2).detach()

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """Every ``k×k`` patch of the (reflect-padded) images as a row: ``(N·H'·W', C·k·k)``."""
        if self.padding:
            x = F.pad(x, (self.padding,) * 4, mode="reflect")
        k = self.kernel_size
        p = x.unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H', W', k, k)
        return p.permute(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1] * k * k)

    def _learn(self, patches: torch.Tensor, images: int) -> None:
        """One SoftHebb step from the ``patches`` ``(P, d)`` of a batch of ``images``."""
        patches = patches - patches.mean(1, keepdim=True)  # contrast only (the filters are zero-mean)
        patches = patches[patches.abs().amax(1) > 1e-6]  # blank patches teach nothing: skip them
        w = self.weight.flatten(1)  # (units, d)
        u = patches @ w.T  # (P, units)
        y = torch.softmax(self.inverse_temperature * u, dim=1).neg_()  # every unit anti-Hebbian...
        winner = u.argmax(1, keepdim=True)
        y.scatter_(1, winner, y.gather(1, winner).neg_())  # ...except the winner: Hebbian
        delta = y.T @ patches - (y * u).sum(0)[:, None] * w  # Σ y·x − (Σ y·u)·w, per unit
        delta /= delta.abs().amax() + 1e-30
        self.weight.copy_(_zero_mean_unit_norm(w + self.current_lr() * delta).view_as(self.weight))
        self.samples_seen += images

    def receptive_fields(self) -> torch.Tensor:
        """The filters as images ``(units, kernel, kernel)`` (averaged over input channels)."""
        return self.weight.detach().mean(1).cpu()

    def extra_repr(self) -> str:
        units, channels, k, _ = self.weight.shape
        return (f"{channels}, {units}, kernel_size={k}, padding={self.padding}, lr={self.lr}, "
                f"inverse_temperature={self.inverse_temperature}, learning_samples={self.learning_samples}")


def _zero_mean_unit_norm(w: torch.Tensor) -> torch.Tensor:
    """Each row minus its mean, scaled to unit length."""
    w = w - w.mean(1, keepdim=True)
    return w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)


class Triangle(nn.Module):
    """The "triangle" activation as SoftHebb uses it: subtract each position's mean over the units,
    keep the positive part, and raise it to ``power`` (Coates, Lee & Ng, "An analysis of
    single-layer networks in unsupervised feature learning", AISTATS 2011; the power is Journé
    et al.'s). Only the units that respond more than average at a position pass anything on."""

    def __init__(self, power: float = 0.7) -> None:
        super().__init__()
        self.power = power

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.rectify(u - u.mean(1, keepdim=True))

    def rectify(self, centered: torch.Tensor) -> torch.Tensor:
        """The second step, on pre-activations already centred over the units."""
        return F.relu(centered).pow(self.power)

    def extra_repr(self) -> str:
        return f"power={self.power}"


# --------------------------------------------------------------------------- what moved
class WeightMovement:
    """A training callback: how far a Hebbian layer's weights moved in each epoch, the relative change
    ``‖W_end − W_start‖ / ‖W_start‖``, added to the epoch's logs (and so to ``history.csv``) as
    ``hebbian_change``. It is 0 once the layer has stopped learning, and 0 throughout for a random
    control.

    Args:
        weight: the Hebbian layer's weight (updated in place by its rule).

    Example:
        >>> w = torch.ones(2, 2)
        >>> trace = WeightMovement(w)
        >>> trace.on_epoch_begin(1, {})
        >>> _ = w.mul_(1.5)
        >>> logs = {}
        >>> trace.on_epoch_end(1, logs)
        >>> logs["hebbian_change"]
        0.5
    """

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight
        self.start: torch.Tensor | None = None

    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.start = self.weight.detach().clone()  # here, not at construction: a resume loads weights later

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.start is not None:
            moved = (self.weight.detach() - self.start).norm() / self.start.norm().clamp_min(1e-12)
            logs["hebbian_change"] = round(float(moved), 6)


def movement_callbacks(model: nn.Module) -> list[WeightMovement]:
    """``[WeightMovement]`` for a network with a Hebbian layer (``model.hebbian.weight``), else ``[]``."""
    layer = getattr(model, "hebbian", None)
    weight = getattr(layer, "weight", None)
    return [WeightMovement(weight)] if hasattr(model, "receptive_fields") and weight is not None else []


# --------------------------------------------------------------------------- pictures
def plot_receptive_fields(fields: torch.Tensor, path: str | Path, max_units: int = 100) -> Path:
    """Write the learned filters ``(units, H, W)`` as a PNG grid (each scaled to its own range).

    Args:
        fields: e.g. ``model.receptive_fields()``.
        path: the PNG file to write.
        max_units: draw at most this many (the first ones).
    """
    from neuroplast.plots import figure

    fields = torch.as_tensor(fields).detach().float().cpu()
    if fields.ndim != 3 or fields.shape[0] == 0:
        raise UserError(f"plot_receptive_fields expects filters of shape (units, H, W); received "
                        f"{tuple(fields.shape)}. Pass model.receptive_fields().")
    fields = fields[:max_units]
    cols = math.ceil(math.sqrt(len(fields)))
    rows = math.ceil(len(fields) / cols)
    fig = figure(figsize=(cols * 0.8, rows * 0.8))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, field in zip(axes.flat, fields, strict=False):
        limit = float(field.abs().max()) or 1.0
        ax.imshow(field.numpy(), cmap="bwr", vmin=-limit, vmax=limit)
    fig.suptitle("Hebbian receptive fields (red +, blue −)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path
