"""Unstructured pruning: zero the weights that matter least; the rest re-learn around the gaps.

"Use it or lose it": a trained network keeps its accuracy without most of its connections
(Han et al. 2015, https://arxiv.org/abs/1506.02626; Frankle & Carbin 2019, the lottery ticket,
https://arxiv.org/abs/1803.03635). The masks are ``torch.nn.utils.prune``'s: a pruned weight becomes
``weight_orig * weight_mask``, recomputed before every forward pass, so no optimizer step (momentum,
weight decay) can bring a pruned connection back. :func:`finalize` folds the masks in, leaving
plain tensors with exact zeros, which ``save_weights(..., sparse=True)`` stores compactly.

Which weights: every weight matrix of ``Linear``, ``Conv1d/2d/3d`` and ``RNN``/``LSTM``/``GRU``
layers (input and recurrent matrices). Biases, normalization layers and embeddings are left as
they are and listed by :func:`not_pruned`. Scores:

- ``magnitude``: ``|w|`` (global: one threshold for the whole network; layer: the same share of
  every layer; lamp: one threshold on layer-adaptive scores, ``w² / Σ`` of the squares of the
  layer's weights at least as large (Lee et al. 2021, https://arxiv.org/abs/2010.07611), so no
  layer is emptied because its weights are small by scale); erk: each layer's share set by
  Erdős–Rényi-Kernel density, proportional to ``(sum of its dimensions) / (product of its
  dimensions)`` (Evci et al. 2020, RigL, https://arxiv.org/abs/1911.11134): large layers such as
  an MLP's input layer keep a smaller share, small ones more; then magnitude within each layer.
- ``saliency``: ``|w · ∂L/∂w|``, the first-order estimate of how much the loss changes when the
  weight is removed (Molchanov et al. 2017, https://arxiv.org/abs/1611.06440), with the gradient
  summed over training batches.

Schedules (targets per round, see :func:`schedule_targets`): one-shot, iterative (the same share
of the *remaining* weights each round), gradual (Zhu & Gupta 2017's cubic ramp,
https://arxiv.org/abs/1710.01878) and lottery (iterative, rewinding the survivors to early
weights before retraining each round).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import prune

from neuroplast.errors import UserError
from neuroplast.spec.stages import PruneSchedule, PruneScope, choices

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
SCHEDULES = choices(PruneSchedule)  # the spec owns the lists
SCOPES = choices(PruneScope)


def prunable_weights(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """``(qualified name, module, parameter name)`` for every weight matrix that pruning may zero."""
    found = []
    for mod_name, module in model.named_modules():
        if isinstance(module, WEIGHT_LAYERS):
            found.append((_join(mod_name, "weight"), module, "weight"))
        elif isinstance(module, nn.RNNBase):
            found += [(_join(mod_name, p), module, p) for p in module._flat_weights_names if p.startswith("weight")]
    return found


def not_pruned(model: nn.Module) -> list[str]:
    """Layers with weights that unstructured pruning leaves dense, e.g. ``"embed (Embedding)"``.

    Biases of pruned layers are not listed: they are always kept (one per neuron)."""
    covered = {id(m) for _, m, _ in prunable_weights(model)}
    names = []
    for mod_name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if own and id(module) not in covered:
            names.append(f"{mod_name or '(model)'} ({type(module).__name__})")
    return names


def weight(module: nn.Module, name: str) -> torch.Tensor:
    """The weight as the forward pass sees it (mask applied)."""
    return getattr(module, name)


def mask_of(module: nn.Module, name: str) -> torch.Tensor | None:
    return getattr(module, name + "_mask", None)


def sparsity(model: nn.Module) -> float:
    """Share of the prunable weights that are exactly zero."""
    zeros = total = 0
    for _, module, name in prunable_weights(model):
        w = weight(module, name)
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros / total if total else 0.0


def schedule_targets(sparsity: float, schedule: str, rounds: int | None) -> list[float]:
    """Sparsity to reach at the end of each round.

    - ``one-shot``: ``[s]``.
    - ``iterative`` and ``lottery``: each round removes the same share of the weights still
      there, ``1 - (1 - s) ** (k / n)``; by default ~20% of the remaining per round.
    - ``gradual``: Zhu & Gupta's cubic ramp ``s · (1 - (1 - k / n) ** 3)``: fast at first, slow at
      the end, when each weight removed costs the most.

    >>> [round(t, 3) for t in schedule_targets(0.75, "iterative", 2)]
    [0.5, 0.75]
    """
    if not 0.0 < sparsity < 1.0:
        raise UserError(f"sparsity (--sparsity) must be between 0 and 1 (the share of weights removed, e.g. 0.9); "
                        f"received {sparsity}.")
    if schedule not in SCHEDULES:
        raise UserError(f"schedule must be one of {', '.join(SCHEDULES)}; received {schedule!r}.")
    if schedule == "one-shot":
        return [sparsity]
    n = rounds or max(1, math.ceil(math.log(1 - sparsity) / math.log(0.8)))
    if n < 1:
        raise UserError(f"rounds must be at least 1; received {rounds}.")
    if schedule == "gradual":
        return [sparsity * (1 - (1 - k / n) ** 3) for k in range(1, n + 1)]
    return [1 - (1 - sparsity) ** (k / n) for k in range(1, n + 1)]


def saliency_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn, batch_size: int = 256,
                    max_batches: int = 16, seed: int = 0) -> dict[tuple[nn.Module, str], torch.Tensor]:
    """``|w · ∂L/∂w|`` per weight, the gradient summed over up to ``max_batches`` training batches.

    The model runs in eval mode (dropout off, batch-norm statistics fixed), so the score measures
    the trained network the pruning acts on.
    """
    targets = prunable_weights(model)
    was_training = model.training
    model.eval()
    grads = {(m, n): torch.zeros_like(weight(m, n)) for _, m, n in targets}
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    device = next(model.parameters()).device
    for i in range(min(max_batches, math.ceil(len(x) / batch_size))):
        idx = order[i * batch_size:(i + 1) * batch_size]
        model.zero_grad(set_to_none=True)
        loss_fn(model(x[idx].to(device)), y[idx].to(device)).backward()
        for _, m, n in targets:
            leaf = getattr(m, n + "_orig", None)
            g = (leaf if leaf is not None else getattr(m, n)).grad
            if g is not None:
                grads[(m, n)] += g
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {(m, n): (weight(m, n).detach() * grads[(m, n)]).abs() for _, m, n in targets}


def prune_to(model: nn.Module, target: float, scope: str = "global",
             scores: dict[tuple[nn.Module, str], torch.Tensor] | None = None) -> None:
    """Zero more weights until ``target`` of the prunable weights are pruned.

    Already pruned weights stay pruned; the lowest-scoring remaining ones join them. ``scores``
    (same shapes as the weights) replace ``|w|`` as the ranking, e.g. :func:`saliency_scores`.
    """
    if scope not in SCOPES:
        raise UserError(f"scope must be 'global' (one threshold for all layers), 'layer' (the same share "
                        f"of each layer), 'lamp' (layer-adaptive scores) or 'erk' (Erdős–Rényi-Kernel shares); "
                        f"received {scope!r}.")
    targets = prunable_weights(model)
    if not targets:
        raise UserError(f"{type(model).__name__} has no Linear, Conv or recurrent weights to prune.")
    scores = scores or {}
    if scope == "lamp":
        scores = {(m, n): lamp_scores(scores.get((m, n), weight(m, n).detach())) for _, m, n in targets}
    if scope in ("global", "lamp"):
        total = sum(weight(m, n).numel() for _, m, n in targets)
        amount = round(target * total) - sum(_pruned_count(m, n) for _, m, n in targets)
        if amount > 0:
            prune.global_unstructured([(m, n) for _, m, n in targets], pruning_method=prune.L1Unstructured,
                                      amount=amount, importance_scores=scores or None)
        return
    shares = (erk_sparsity([weight(m, n).shape for _, m, n in targets], target) if scope == "erk"
              else [target] * len(targets))
    for (_, m, n), share in zip(targets, shares, strict=True):
        amount = round(share * weight(m, n).numel()) - _pruned_count(m, n)
        if amount > 0:
            prune.l1_unstructured(m, n, amount=amount, importance_scores=scores.get((m, n)))


def erk_sparsity(shapes: list[torch.Size], target: float) -> list[float]:
    """Per-layer sparsities that remove ``target`` of all the weights, each layer's density
    proportional to ``sum(shape) / prod(shape)`` (Erdős–Rényi-Kernel) and at most 1: a layer whose
    density would pass 1 stays dense and the others share the rest.

    >>> [round(s, 4) for s in erk_sparsity([torch.Size([300, 784]), torch.Size([100, 300]),
    ...                                     torch.Size([10, 100])], 0.96)]
    [0.9692, 0.9109, 0.2652]
    """
    sizes = [math.prod(s) for s in shapes]
    raw = [sum(s) / math.prod(s) for s in shapes]
    keep = (1.0 - target) * sum(sizes)
    dense: set[int] = set()
    while True:
        free = [i for i in range(len(shapes)) if i not in dense]
        budget = keep - sum(sizes[i] for i in dense)
        eps = budget / max(sum(raw[i] * sizes[i] for i in free), 1e-30)
        over = [i for i in free if eps * raw[i] > 1.0]
        if not over:
            break
        dense.update(over)
    return [0.0 if i in dense else max(0.0, 1.0 - eps * raw[i]) for i in range(len(shapes))]


def lamp_scores(score: torch.Tensor) -> torch.Tensor:
    """LAMP: each score squared over the sum of the squares of the layer's scores at least as large.

    >>> lamp_scores(torch.tensor([1.0, 2.0, 3.0]))  # 1/14, 4/13, 9/9
    tensor([0.0714, 0.3077, 1.0000])
    """
    flat = score.flatten().pow(2)
    order = torch.argsort(flat)
    sorted_sq = flat[order]
    tail = sorted_sq.flip(0).cumsum(0).flip(0)  # sum of the squares from this one upwards
    out = torch.empty_like(flat)
    out[order] = sorted_sq / tail.clamp_min(1e-30)
    return out.reshape(score.shape)


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Fix the given masks (by qualified weight name) on the model, e.g. a lottery ticket's."""
    for qual, module, name in prunable_weights(model):
        if qual in masks:
            if mask_of(module, name) is not None:
                prune.remove(module, name)
            prune.custom_from_mask(module, name, masks[qual].to(weight(module, name).device))


def current_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The masks now on the model, by qualified weight name (only pruned weights)."""
    return {q: mask_of(m, n).detach().clone() for q, m, n in prunable_weights(model) if mask_of(m, n) is not None}


def finalize(model: nn.Module) -> None:
    """Fold every mask into its weight: plain parameters with exact zeros, no hooks left."""
    for _, module, name in prunable_weights(model):
        if mask_of(module, name) is not None:
            prune.remove(module, name)


def layer_sparsity(model: nn.Module) -> dict[str, float]:
    """Share of zeros per prunable weight, by qualified name."""
    return {q: float((weight(m, n) == 0).float().mean()) for q, m, n in prunable_weights(model)}


def _pruned_count(module: nn.Module, name: str) -> int:
    mask = mask_of(module, name)
    return int((mask == 0).sum()) if mask is not None else 0


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
