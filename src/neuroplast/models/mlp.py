"""The multilayer perceptron: fully connected layers for tables and flattened images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from neuroplast.models.base import ACTIVATIONS, MODELS


class MLP(nn.Module):
    """Linear -> [norm] -> activation -> [dropout] for each hidden layer, then a linear output layer.

    Inputs of any shape are flattened, so an MLP also reads images (LeNet-300-100 on MNIST).

    Args:
        in_features: size of one flattened input.
        num_outputs: classes (logits) or regression targets.
        hidden: width of each hidden layer; ``()`` gives a linear model (softmax regression).
        activation: relu, sigmoid, tanh, gelu, leaky_relu or elu.
        dropout: probability of zeroing a hidden unit while training.
        norm: ``"none"``, ``"batch"`` or ``"layer"`` normalization after each hidden linear layer.
        linear_skip: add a linear path from the inputs to the outputs (the "wide" part of Wide & Deep,
            Cheng et al. 2016, https://arxiv.org/abs/1606.07792), starting at zero: the hidden layers learn
            what a linear model misses.
        ensemble: ``k > 1`` trains k members at the cost of about one network, as TabM-mini (Gorishniy et
            al. 2024, https://arxiv.org/abs/2410.24210): each member scales the input by its own vector
            (random signs at the start), shares the hidden layers and has its own output layer. In
            training the output is ``(batch, k, outputs)`` and each member is trained on the batch (the
            objective's loss reads the members axis); in eval mode it is the members' mean,
            ``(batch, outputs)``.

    Example:
        >>> MLP(64, 10, hidden=(32,))(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(self, in_features: int, num_outputs: int, hidden: Sequence[int] = (128, 64),
                 activation: str = "relu", dropout: float = 0.0, norm: str = "none", linear_skip: bool = False,
                 ensemble: int = 1) -> None:
        super().__init__()
        self.k = ensemble
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if norm == "batch":
                layers.append(_MembersFlat(nn.BatchNorm1d(h)) if ensemble > 1 else nn.BatchNorm1d(h))
            elif norm == "layer":
                layers.append(nn.LayerNorm(h))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        if ensemble == 1:
            layers.append(nn.Linear(width, num_outputs))
        self.layers = nn.Sequential(*layers)
        if ensemble > 1:
            signs = torch.randint(0, 2, (ensemble, in_features)).float() * 2 - 1
            self.member_scale = nn.Parameter(signs)
            self.heads = MemberLinear(ensemble, width, num_outputs)
        self.skip = nn.Linear(in_features, num_outputs) if linear_skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        if self.k == 1:
            out = self.layers(flat)
            return out if self.skip is None else out + self.skip(flat)
        h = self.layers[1:](flat.unsqueeze(1) * self.member_scale)  # (batch, k, features) through shared layers
        out = self.heads(h)
        if self.skip is not None:
            out = out + self.skip(flat).unsqueeze(1)
        return out if self.training else out.mean(dim=1)


class MemberLinear(nn.Module):
    """One linear layer per ensemble member: ``(batch, k, in) -> (batch, k, out)``, each member initialized
    as ``nn.Linear`` would be."""

    def __init__(self, k: int, in_features: int, out_features: int) -> None:
        super().__init__()
        layers = [nn.Linear(in_features, out_features) for _ in range(k)]
        self.weight = nn.Parameter(torch.stack([m.weight.T for m in layers]).detach().clone())  # (k, in, out)
        self.bias = nn.Parameter(torch.stack([m.bias for m in layers]).detach().clone())  # (k, out)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bki,kio->bko", h, self.weight) + self.bias


class _MembersFlat(nn.Module):
    """A layer of ``(batch, features)`` applied to ``(batch, k, features)`` with members as more rows."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layer(h.flatten(0, 1)).unflatten(0, h.shape[:2])


def start_at_linear(net: MLP, x: torch.Tensor, y: torch.Tensor, task: str) -> bool:
    """Start an MLP's linear skip at the linear model a data scientist fits first, on the training rows:
    scikit-learn's ``Ridge(alpha=1)`` for values (closed form, intercept unpenalized) or
    ``LogisticRegression(C=1)`` for classes. The network starts as that linear model and its hidden
    layers learn what it misses. Returns False (nothing changed) where the net has no skip or its outputs
    are not one per target column or class (a Gaussian head)."""
    if net.skip is None or not len(x):
        return False
    x = x.flatten(1).double()
    if task == "regression":
        weight, bias = _ridge(x, y.double().reshape(len(x), -1))
    elif task == "classification":
        weight, bias = _logistic(x, y.long(), net.skip.out_features)
    else:
        return False
    if weight.shape != net.skip.weight.shape:
        return False
    with torch.no_grad():
        net.skip.weight.copy_(weight)
        net.skip.bias.copy_(bias)
    return True


def _ridge(x: torch.Tensor, y: torch.Tensor, alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    xm, ym = x.mean(0), y.mean(0)
    xc = x - xm
    w = torch.linalg.solve(xc.T @ xc + alpha * torch.eye(x.shape[1], dtype=x.dtype), xc.T @ (y - ym))
    return w.T, ym - xm @ w


def _logistic(x: torch.Tensor, y: torch.Tensor, outputs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits of a fitted LogisticRegression, one row per class (a class absent from ``y`` stays zero);
    two classes as minus and plus half the log-odds (softmax reads their difference), or the log-odds for
    one logit. Empty where they cannot be the ``outputs`` logits."""
    from sklearn.linear_model import LogisticRegression

    none = torch.zeros(0, x.shape[1], dtype=x.dtype), torch.zeros(0, dtype=x.dtype)
    classes = torch.unique(y)
    if len(classes) < 2 or int(classes.max()) >= max(outputs, 2):
        return none
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(x.numpy(), y.numpy())
    coef, intercept = torch.from_numpy(lr.coef_), torch.from_numpy(lr.intercept_)
    if len(classes) == 2:  # scikit-learn gives the log-odds of the second class
        if outputs == 1:
            return coef, intercept
        coef, intercept = torch.cat([-coef, coef]) / 2, torch.cat([-intercept, intercept]) / 2
    elif outputs == 1:
        return none
    weight, bias = torch.zeros(outputs, x.shape[1], dtype=x.dtype), torch.zeros(outputs, dtype=x.dtype)
    weight[classes], bias[classes] = coef, intercept
    return weight, bias


@MODELS.register("mlp")
def _build(spec, input_shape: tuple[int, ...], num_outputs: int, **_) -> nn.Module:
    return MLP(math.prod(input_shape), num_outputs, spec.hidden, spec.activation, spec.dropout, spec.norm,
               spec.linear_skip, spec.ensemble)
