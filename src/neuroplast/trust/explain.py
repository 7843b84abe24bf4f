"""Explanations: which inputs a prediction rests on and what the layers see.

Attribution methods come from Captum (https://captum.ai) behind one verb,
``attribute(model, x, target, method)``; they are interchangeable entries of :data:`METHODS`:

- ``saliency``: ``|∂f_target/∂x|`` (Simonyan et al., 2014, https://arxiv.org/abs/1312.6034).
- ``ig``: integrated gradients (Sundararajan et al., 2017, https://arxiv.org/abs/1703.01365);
  the attributions sum to ``f(x) − f(baseline)`` and the error of that sum is returned as ``delta``.
- ``occlusion``: the drop in ``f_target`` when a patch is replaced by the baseline (Zeiler & Fergus, 2014).
- ``gradcam``: Grad-CAM on the last convolution (Selvaraju et al., 2017,
  https://arxiv.org/abs/1610.02391), upsampled to the input's height and width.

Models over token ids (``Recurrent`` with ``model.embedding``, ``Transformer`` with ``model.embed``)
are explained through their embedding layer: one score per token.

Whether to believe an attribution: :mod:`neuroplast.trust.sanity`.
Captum is an optional dependency: ``pip install "neuroplast[explain]"``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.registry import Registry

Method = Callable[..., tuple[torch.Tensor, torch.Tensor | None]]
METHODS: Registry[Method] = Registry("attribution method")


@dataclass
class Attribution:
    """Attributions of ``target`` for each example of a batch.

    Attributes:
        values: shaped like the input ``x`` (token models: ``(B, T)``, one score per token;
            ``gradcam``: ``(B, 1, H, W)``, one map shared by all channels).
        method: the name in :data:`METHODS`.
        target: the explained output index of each example, ``(B,)``.
        delta: ``ig`` only: ``sum(values) − (f(x) − f(baseline))`` per example, ``(B,)``; else None.
    """

    values: torch.Tensor
    method: str
    target: torch.Tensor
    delta: torch.Tensor | None = None

    def to_heatmap(self) -> torch.Tensor:
        """Per-pixel importance ``(B, H, W)`` for images (``|values|`` summed over channels);
        ``|values|`` for tables and tokens."""
        if self.values.ndim == 4:
            return self.values.abs().sum(dim=1)
        return self.values.abs()


# --------------------------------------------------------------------------- the one verb
def attribute(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor | None = None,
              method: str = "ig", baseline: float | torch.Tensor | None = None,
              **options: Any) -> Attribution:
    """Attribute the model's output ``target`` to the inputs ``x``.

    Args:
        model: a classifier or regressor giving ``(B, outputs)``; it is run in eval mode.
        x: a batch of inputs (images ``(B, C, H, W)``, table rows ``(B, F)``, token ids ``(B, T)``).
        target: output index, one per example or one for all; default: the predicted class.
        method: ``"saliency"``, ``"ig"``, ``"occlusion"`` or ``"gradcam"`` (see :data:`METHODS`).
        baseline: the "absent" input for ig and occlusion, a number or a tensor shaped like ``x``
            (default 0, i.e. the training mean for standardized inputs; token models: token id 0).
        **options: passed on: ``n_steps`` (ig, 50), ``window`` and ``stride`` (occlusion, per
            example, e.g. ``(1, 2, 2)``), ``layer`` (gradcam, default the last ``nn.Conv2d``),
            ``internal_batch_size``.

    Example:
        >>> a = attribute(run.model, x[:4], method="ig")
        >>> a.values.shape == x[:4].shape, a.delta.abs().max()
        >>> save_heatmap(x[0], a.to_heatmap()[0], "ig.png")
    """
    fn = METHODS.get(method)
    _captum()  # fail early, with the install hint
    with eval_mode(model):
        device = model_device(model)
        x = x.to(device)
        tokens = _token_layer(model, x)
        if tokens is None and not x.is_floating_point():
            x = x.float()
        target = targets_for(model, x, target)
        if tokens is not None and method not in ("ig", "saliency"):
            raise UserError(f"Models over token ids are explained with method 'ig' or 'saliency' "
                            f"through the embedding layer; received {method!r}.")
        values, delta = fn(model, x, target, baseline, **options)
    return Attribution(values.detach(), method, target.cpu(), None if delta is None else delta.detach())


@METHODS.register("saliency")
def _saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor, baseline: Any,
              **options: Any) -> tuple[torch.Tensor, None]:
    captum = _captum()
    layer = _token_layer(model, x)
    if layer is not None:  # |∂f/∂embedding|, summed over the embedding dim
        grads = captum.attr.LayerGradientXActivation(model, layer, multiply_by_inputs=False)
        return grads.attribute(x, target=target).abs().sum(dim=-1), None
    x = x.detach().requires_grad_()  # captum warns when it has to switch gradients on itself
    return captum.attr.Saliency(model).attribute(x, target=target, abs=True), None


@METHODS.register("ig")
def _integrated_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, baseline: Any,
                          n_steps: int = 50, **options: Any) -> tuple[torch.Tensor, torch.Tensor]:
    captum = _captum()
    layer = _token_layer(model, x)
    kwargs = {"target": target, "n_steps": n_steps, "return_convergence_delta": True,
              "internal_batch_size": options.get("internal_batch_size")}
    if layer is not None:  # interpolate between embeddings, not between token ids
        ig = captum.attr.LayerIntegratedGradients(model, layer)
        base = torch.zeros_like(x) if baseline is None else baseline_like(baseline, x)
        values, delta = ig.attribute(x, baselines=base, **kwargs)
        return values.sum(dim=-1), delta  # (B, T): one score per token
    values, delta = captum.attr.IntegratedGradients(model).attribute(
        x, baselines=baseline_like(baseline, x), **kwargs)
    return values, delta


@METHODS.register("occlusion")
def _occlusion(model: nn.Module, x: torch.Tensor, target: torch.Tensor, baseline: Any,
               **options: Any) -> tuple[torch.Tensor, None]:
    window, stride = options.get("window"), options.get("stride")
    if window is None:  # images: a square patch about 1/8 of the side, all channels at once
        if x.ndim == 4:
            side = max(1, min(x.shape[2:]) // 8)
            window = (x.shape[1], side, side)
            stride = stride or (x.shape[1], max(1, side // 2), max(1, side // 2))
        else:
            window = (1,) * (x.ndim - 1)
    occ = _captum().attr.Occlusion(model)
    values = occ.attribute(x, sliding_window_shapes=tuple(window), strides=stride or 1,
                           baselines=baseline_like(baseline, x), target=target,
                           perturbations_per_eval=options.get("internal_batch_size") or 1)
    return values.to(x.dtype), None  # captum 0.9 returns float32 even for float64 inputs


def gradcam_layer(model: nn.Module, input_shape: tuple[int, ...]) -> nn.Module:
    """The last convolution, whose maps Grad-CAM weighs; a model without one, or a non-image input
    ``(B, C, H, W)``, is a one-line error (checked before any work by ``explain`` and ``run``)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs or len(input_shape) != 4:
        raise UserError(f"method 'gradcam' needs a CNN over images (an nn.Conv2d and input "
                        f"(B, C, H, W)); {type(model).__name__} on input {tuple(input_shape)} has "
                        f"{'none' if not convs else 'a non-image input'}. Use 'ig', 'saliency' or 'occlusion'.")
    return convs[-1]


@METHODS.register("gradcam")
def _gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, baseline: Any,
             layer: nn.Module | None = None, **options: Any) -> tuple[torch.Tensor, None]:
    captum = _captum()
    cam = captum.attr.LayerGradCam(model, layer if layer is not None else gradcam_layer(model, x.shape))
    maps = cam.attribute(x, target=target, relu_attributions=True)  # (B, 1, h, w)
    return captum.attr.LayerAttribution.interpolate(maps, tuple(x.shape[2:]), "bilinear"), None


# --------------------------------------------------------------------------- tables
@dataclass
class Importance:
    """Permutation importance of each feature: the score lost when that column is shuffled.

    Attributes:
        mean, std: over the repeats, ``(features,)``.
        values: ``(features, n_repeats)``.
        baseline_score: the score on the unshuffled data (accuracy, or −MSE for regression).
    """

    mean: np.ndarray
    std: np.ndarray
    values: np.ndarray
    baseline_score: float


def permutation_importance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_repeats: int = 5,
                           seed: int = 0) -> Importance:
    """Breiman's permutation importance, computed by ``sklearn.inspection.permutation_importance``.

    sklearn wants an estimator object with ``fit``: the trained torch model goes in a small
    already-fitted adapter, and the scoring is ours (accuracy for integer ``y``, −mean squared error
    for float ``y``); sklearn shuffles each column of ``x`` (flattened to ``(N, features)``) ``n_repeats``
    times with ``random_state=seed``.

    Example:
        >>> imp = permutation_importance(run.model, data.x_test, data.y_test)
        >>> imp.mean.argsort()[::-1][:5]  # the five most important features
    """
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    shape = tuple(x.shape[1:])
    classify = not torch.is_floating_point(y)
    y_np = y.cpu().numpy()

    def score(_estimator: Any, rows: np.ndarray, labels: np.ndarray) -> float:
        inputs = torch.as_tensor(rows, dtype=torch.float32).reshape(-1, *shape)
        with eval_mode(model), torch.no_grad():
            out = model(inputs.to(model_device(model))).cpu()
        if classify:
            return float((out.argmax(dim=1).numpy() == labels).mean())
        return -float(((out.reshape(labels.shape).numpy() - labels) ** 2).mean())

    flat = x.reshape(len(x), -1).cpu().numpy()
    found = sk_permutation_importance(_Fitted(model), flat, y_np, scoring=score, n_repeats=n_repeats,
                                      random_state=seed, n_jobs=None)
    return Importance(found.importances_mean, found.importances_std, found.importances,
                      score(model, flat, y_np))


class _Fitted:
    """A trained torch model dressed as a fitted sklearn estimator (``fit`` does nothing)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def fit(self, *_: Any) -> _Fitted:
        return self


# --------------------------------------------------------------------------- layer views
def first_layer_filters(model: nn.Module) -> torch.Tensor:
    """The first convolution's weights ``(out, in, kh, kw)``, each filter min-max scaled to [0, 1]."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise UserError(f"first_layer_filters needs a CNN; {type(model).__name__} has no nn.Conv2d. "
                        "For an MLP use receptive_fields(model).")
    w = conv.weight.detach().cpu().clone()
    low = w.amin(dim=(1, 2, 3), keepdim=True)
    span = w.amax(dim=(1, 2, 3), keepdim=True) - low
    return (w - low) / span.clamp_min(1e-12)


def feature_maps(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The output of each convolutional block for input ``x``, recorded by forward hooks.

    A block ends at a pooling layer (neuroplast's CNN: conv -> norm -> activation -> pool); a model
    without pooling reports each ``nn.Conv2d``. Keys are module names, e.g. ``"features.3"``.
    """
    pools = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    named = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not named:
        raise UserError(f"feature_maps needs a CNN; {type(model).__name__} has no nn.Conv2d.")
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, pools)]
    maps: dict[str, torch.Tensor] = {}

    def keep(name: str):
        return lambda _m, _inp, out: maps.__setitem__(name, out.detach())

    handles = [m.register_forward_hook(keep(n)) for n, m in (blocks or named)]
    try:
        with eval_mode(model), torch.no_grad():
            model(x.to(model_device(model)))
    finally:
        for h in handles:
            h.remove()
    return maps


def receptive_fields(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """The first ``nn.Linear`` layer's weights, one row per hidden unit, shaped like the input.

    ``input_shape`` defaults to a square one-channel image ``(1, s, s)`` when the input width is a
    perfect square, else rows stay flat: ``(hidden, in_features)``.
    """
    if any(isinstance(m, (nn.Conv2d, nn.RNNBase, nn.Embedding)) for m in model.modules()):
        raise UserError(f"receptive_fields reads an MLP's first layer; {type(model).__name__} is not "
                        "an MLP. For a CNN use first_layer_filters(model).")
    linear = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    if linear is None:
        raise UserError(f"receptive_fields needs an nn.Linear layer; {type(model).__name__} has none.")
    w = linear.weight.detach().cpu().clone()  # (hidden, in_features)
    if input_shape is None:
        side = math.isqrt(w.shape[1])
        input_shape = (1, side, side) if side * side == w.shape[1] else (w.shape[1],)
    if math.prod(input_shape) != w.shape[1]:
        raise UserError(f"receptive_fields: input_shape {tuple(input_shape)} has "
                        f"{math.prod(input_shape)} values; the first layer reads {w.shape[1]}.")
    return w.reshape(len(w), *input_shape)


# --------------------------------------------------------------------------- pictures
def save_heatmap(image: torch.Tensor | np.ndarray, attribution: Attribution | torch.Tensor | np.ndarray,
                 path: str | Path, alpha: float = 0.5, cmap: str = "inferno") -> Path:
    """Write a PNG of one image (``(C, H, W)`` or ``(H, W)``) with its heatmap laid over it.

    ``attribution`` is an :class:`Attribution` of one example, or a map ``(H, W)``/``(C, H, W)``
    (channels are summed as ``|values|``).
    """
    from neuroplast.plots import figure

    heat = attribution.to_heatmap()[0] if isinstance(attribution, Attribution) else attribution
    heat = np.asarray(torch.as_tensor(heat).detach().cpu().float())
    heat = np.abs(heat).sum(axis=0) if heat.ndim == 3 else heat
    picture = np.asarray(torch.as_tensor(image).detach().cpu().float())
    if picture.ndim == 3:  # (C, H, W) -> (H, W) or (H, W, 3)
        picture = picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)
    picture = (picture - picture.min()) / max(float(np.ptp(picture)), 1e-12)
    fig = figure(figsize=(3, 3))
    ax = fig.subplots()
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
    shown = ax.imshow(heat, cmap=cmap, alpha=alpha, interpolation="nearest")
    fig.colorbar(shown, ax=ax, fraction=0.046)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


# --------------------------------------------------------------------------- helpers
def _captum() -> Any:
    try:
        with warnings.catch_warnings():  # captum imports tqdm.auto, which warns in Jupyter without ipywidgets
            warnings.filterwarnings("ignore", message="IProgress not found")
            import captum.attr
    except ImportError:
        raise UserError('Explanations need Captum: pip install "neuroplast[explain]" '
                        "(or pip install captum).") from None
    return captum


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout, batch norm's running statistics), then the caller's mode again."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _token_layer(model: nn.Module, x: torch.Tensor) -> nn.Module | None:
    """The embedding of a model over token ids (``Recurrent.embedding``, ``Transformer.embed``)."""
    if x.is_floating_point():
        return None
    for name in ("embedding", "embed"):
        layer = getattr(model, name, None)
        if isinstance(layer, nn.Embedding):
            return layer
    return None


def targets_for(model: nn.Module, x: torch.Tensor, target: int | torch.Tensor | None) -> torch.Tensor:
    """One output index per example; the predicted class when ``target`` is None."""
    if target is None:
        with torch.no_grad():
            out = model(x)
        if out.ndim != 2:
            raise UserError(f"Explanations need outputs of shape (batch, outputs); the model gives "
                            f"{tuple(out.shape)} (a language model?). Explain a classifier or regressor.")
        return out.argmax(dim=1)
    target = torch.as_tensor(target, device=x.device).long()
    return target.expand(len(x)).clone() if target.ndim == 0 else target


def baseline_like(baseline: float | torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    if baseline is None:
        return torch.zeros_like(x)
    return torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x).clone()
