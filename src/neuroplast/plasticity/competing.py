"""Unsupervised learning by competing hidden units: Krotov & Hopfield's fully connected Hebbian layer.

D. Krotov and J. J. Hopfield, "Unsupervised learning by competing hidden units", PNAS 116 (16),
7723-7731, 2019 (https://doi.org/10.1073/pnas.1820458116). Every hidden unit ``μ`` has a weight
vector ``W_μ`` over the input pixels and receives the current

    I_μ = <W_μ, v> = Σ_i sign(W_μi)·|W_μi|^(p−1)·v_i      (the Lebesgue-p inner product)

For each input the units are ranked by their current: the strongest gets ``g = +1`` (Hebbian),
the ``k``-th strongest ``g = −Δ`` (anti-Hebbian: it is pushed away from an input it nearly won),
all others ``g = 0``. Each weight vector then moves by

    ΔW_μ = Σ_batch g_μ·(v − I_μ·W_μ)

which pulls the winner towards the input while the decay term ``−g·I·W`` drives ``‖W_μ‖_p``
towards 1. As in the authors' public notebook, the batch's change is divided by its largest
entry (so the learning rate is the largest change of any weight) and the learning rate falls
linearly to 0. No labels, no loss and no gradient are involved: the layer learns inside its own
``forward`` while training, under ``torch.no_grad()``.
"""

from __future__ import annotations

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.plasticity.hebbian import LocalRule


def lebesgue_currents(weight: torch.Tensor, x: torch.Tensor, p: float) -> torch.Tensor:
    """The currents ``I = <W, v>_p`` of every unit for every input: ``(N, units)``.

    Args:
        weight: ``(units, d)``.
        x: ``(N, d)`` inputs.
        p: the Lebesgue exponent (2: the ordinary dot product).
    """
    synaptic = weight if p == 2 else weight.sign() * weight.abs().pow(p - 1)
    return x @ synaptic.T


def competing_update(weight: torch.Tensor, x: torch.Tensor, p: float = 3.0, k: int = 7,
                     delta: float = 0.4, currents: torch.Tensor | None = None) -> torch.Tensor:
    """The Krotov-Hopfield change ``ΔW = Σ_batch g·(v − I·W)`` of a batch, before normalisation.

    Args:
        weight: ``(units, d)``.
        x: ``(N, d)`` inputs.
        p: the Lebesgue exponent of the currents.
        k: the rank of the unit that learns anti-Hebbian (2: the runner-up); at most ``units``.
        delta: the strength Δ of the anti-Hebbian step.
        currents: ``lebesgue_currents(weight, x, p)`` when already computed.

    Returns:
        ``ΔW``, shape ``(units, d)``.

    Example (two units, p = 2, k = 2):
        >>> w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> competing_update(w, torch.tensor([[2.0, 1.0]]), p=2, k=2, delta=0.5)
        tensor([[ 0.0000,  1.0000],
                [-1.0000,  0.0000]])
    """
    units = weight.shape[0]
    if not 1 <= k <= units:
        raise UserError(f"competing_update: k = {k} must lie between 1 and the number of units ({units}). "
                        "Use k = 2 (the runner-up) or more units.")
    currents = lebesgue_currents(weight, x, p) if currents is None else currents
    ranked = currents.topk(k, dim=1).indices  # (N, k), strongest first
    g = torch.zeros_like(currents)
    if k > 1:
        g.scatter_(1, ranked[:, k - 1:k], -delta)
    g.scatter_(1, ranked[:, :1], 1.0)
    return g.T @ x - (g * currents).sum(0)[:, None] * weight


class CompetingHiddenUnits(LocalRule):
    """A fully connected layer of units that compete for the inputs and learn by the Krotov-Hopfield
    rule (see the module docstring); its output is the currents ``I = <W, v>_p``, ``(N, units)``.

    Learning happens in :meth:`forward` while ``self.training`` is true, for the first
    ``learning_samples`` inputs, with the rate falling linearly from ``lr`` to 0 (per batch; the
    paper anneals per epoch); afterwards the weights are fixed. The weight is an
    ``nn.Parameter`` with ``requires_grad = False`` and the output is detached, so no gradient
    ever reaches it. ``trainable=True`` turns the rule off and makes the weight an ordinary
    trainable parameter instead (the backpropagation reference of the same architecture).

    Args:
        in_features: ``d``, the size of one (flattened) input.
        units: the competing hidden units.
        p: Lebesgue exponent of the currents (3 in the paper).
        k: rank of the anti-Hebbian unit (7 in the paper for 2000 units).
        delta: anti-Hebbian strength Δ (0.4 in the paper).
        lr: initial learning rate (the largest change of any weight in one batch).
        learning_samples: inputs the layer learns from; 0 leaves it at its random initialisation.
        init_std: standard deviation of the random normal initial weights.
        trainable: backpropagation instead of the local rule.
        generator: for the initial weights.
    """

    def __init__(self, in_features: int, units: int, p: float = 3.0, k: int = 7, delta: float = 0.4,
                 lr: float = 0.2, learning_samples: int = 60_000, init_std: float = 1.0,
                 trainable: bool = False, generator: torch.Generator | None = None) -> None:
        if not 1 <= k <= units:
            raise UserError(f"CompetingHiddenUnits: k = {k} must lie between 1 and units = {units}.")
        super().__init__(lr, 0 if trainable else learning_samples)
        self.p, self.k, self.delta, self.trainable = p, k, delta, trainable
        init = init_std * torch.randn(units, in_features, generator=generator)
        self.weight = nn.Parameter(init, requires_grad=trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The currents ``(N, units)`` of the flattened inputs; learns first while training (above)."""
        x = x.flatten(1)
        if self.trainable:
            return lebesgue_currents(self.weight, x, self.p)
        x = x.detach()
        with torch.no_grad():
            currents = lebesgue_currents(self.weight, x, self.p)
            if self.learning:
                self.learn(x, currents)
        return currents

    @torch.no_grad()
    def learn(self, x: torch.Tensor, currents: torch.Tensor | None = None) -> None:
        """One normalised Krotov-Hopfield step from a batch ``x`` ``(N, d)`` (``currents`` when known)."""
        delta = competing_update(self.weight, x.to(self.weight.dtype), self.p, self.k, self.delta, currents)
        delta /= delta.abs().amax().clamp_min(1e-30)
        self.weight.add_(self.current_lr() * delta)
        self.samples_seen += x.shape[0]

    def extra_repr(self) -> str:
        units, d = self.weight.shape
        return (f"{d}, {units}, p={self.p}, k={self.k}, delta={self.delta}, lr={self.lr}, "
                f"learning_samples={self.learning_samples}, trainable={self.trainable}")
