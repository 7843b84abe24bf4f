"""Sanity checks of attributions: whether an explanation depends on the model at all
(:func:`randomization_test`, Adebayo et al., 2018, https://arxiv.org/abs/1810.03292) and whether
removing what it points at changes the answer (:func:`deletion_curve`, Petsiuk et al., 2018,
https://arxiv.org/abs/1806.07421).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast.trust.explain import (
    Attribution,
    attribute,
    baseline_like,
    eval_mode,
    model_device,
    targets_for,
)


def randomization_test(model: nn.Module, x: torch.Tensor, targets: torch.Tensor | None = None,
                       method: str = "ig", seed: int = 0, absolute: bool = False, **options: Any) -> np.ndarray:
    """Adebayo et al.'s model-randomization check: explanations that survive randomizing every
    weight do not explain the model.

    A copy of ``model`` has every parameter re-initialised (each module's ``reset_parameters``,
    seeded); both are explained for the same ``targets`` and, per example, the Spearman rank
    correlation of the two maps is returned, ``(B,)`` (NaN where a map is constant). Low values pass
    the check. The maps are compared as the method returns them (saliency is |gradient| already;
    integrated gradients and occlusion keep their sign: evidence for and against); ``absolute=True``
    compares ``|attributions|`` instead. Adebayo et al. (2018) report both: for signed methods the
    absolute value keeps the input's own outline in both maps, so it correlates more.
    """
    from scipy.stats import spearmanr

    trained = attribute(model, x, targets, method, **options)
    randomized = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in randomized.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    shuffled = attribute(randomized, x, trained.target, method, **options)
    a, b = trained.values, shuffled.values
    if absolute:
        a, b = a.abs(), b.abs()
    a = a.reshape(len(x), -1).cpu().numpy()
    b = b.reshape(len(x), -1).cpu().numpy()
    return np.array([_spearman(spearmanr, u, v) for u, v in zip(a, b, strict=True)])


@dataclass
class DeletionCurve:
    """Target probability as the most important inputs are removed first (lower area: more faithful).

    Attributes:
        fractions: fraction of pixels (or features) removed, ``(steps + 1,)`` from 0 to 1.
        curve: mean target probability at each fraction; ``area`` is its trapezoid area.
        random_curve, random_area: the same for a random ordering, for comparison.
    """

    fractions: np.ndarray
    curve: np.ndarray
    area: float
    random_curve: np.ndarray
    random_area: float


def deletion_curve(model: nn.Module, x: torch.Tensor, attributions: Attribution | torch.Tensor,
                   target: int | torch.Tensor | None = None, steps: int = 20,
                   baseline: float | torch.Tensor = 0.0, seed: int = 0) -> DeletionCurve:
    """Petsiuk et al.'s deletion metric: remove pixels in order of attribution (highest first),
    replace them with ``baseline`` (all channels of a pixel together), and track the softmax
    probability of ``target``; the same with a random order gives the chance level.

    Images are ranked by attributions summed over channels (signed, so evidence *for* the target
    goes first); tables and tokens by the attributions themselves.
    """
    values = attributions.values if isinstance(attributions, Attribution) else attributions
    if target is None and isinstance(attributions, Attribution):
        target = attributions.target
    with eval_mode(model):
        x = x.to(model_device(model)).float()
        target = targets_for(model, x, target)
        score = values.sum(dim=1) if values.ndim == 4 else values  # (B, H, W) or (B, F)
        generator = torch.Generator().manual_seed(seed)
        chance = torch.rand(score.shape, generator=generator)
        curve = _deletion(model, x, score, target, steps, baseline)
        random_curve = _deletion(model, x, chance, target, steps, baseline)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    return DeletionCurve(fractions, curve, float(np.trapezoid(curve, fractions)), random_curve,
                         float(np.trapezoid(random_curve, fractions)))


def _deletion(model: nn.Module, x: torch.Tensor, score: torch.Tensor, target: torch.Tensor,
              steps: int, baseline: float | torch.Tensor) -> np.ndarray:
    flat = score.reshape(len(x), -1).to(x.device)  # (B, positions)
    order = flat.argsort(dim=1, descending=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1], device=x.device)
                                            .expand_as(order))  # rank[b, p]: 0 = most important
    fill = baseline_like(baseline, x)
    probs = []
    for k in range(steps + 1):
        removed = (rank < round(k / steps * flat.shape[1])).reshape(score.shape)
        if x.ndim == 4:
            removed = removed.unsqueeze(1)  # one mask for all channels of a pixel
        with torch.no_grad():
            p = model(torch.where(removed, fill, x)).softmax(dim=1)
        probs.append(p.gather(1, target[:, None].to(x.device)).mean().item())
    return np.array(probs)


def _spearman(spearmanr: Callable, a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)
