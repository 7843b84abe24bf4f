"""Out-of-distribution detection: a class-conditional Gaussian on a layer's features
(:class:`Mahalanobis`) and how well a score tells strange inputs from familiar ones (:func:`ood_metrics`)."""

from __future__ import annotations

import torch
from torch import nn

from neuroplast.errors import UserError


def layer_features(model: nn.Module, x: torch.Tensor, layer: str = "features",
                   batch_size: int = 1024) -> torch.Tensor:
    """Activations the model computes for ``x`` (eval mode), flattened per example:
    ``"features"`` is the input of its first ``nn.Linear`` (for a CNN, the flattened feature maps of
    the last conv block), ``"penultimate"`` the input of its last ``nn.Linear``."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError("Feature-density scores need a model with a linear read-out layer.")
    if layer not in ("features", "penultimate"):
        raise UserError(f"layer must be 'features' or 'penultimate'; received {layer!r}.")
    target = linears[0] if layer == "features" else linears[-1]
    captured: list[torch.Tensor] = []
    handle = target.register_forward_hook(
        lambda _m, inputs, _out: captured.append(inputs[0].detach().flatten(1).float()))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                model(x[i: i + batch_size])
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(captured)


class Mahalanobis:
    """Class-conditional Gaussians with one shared covariance on a layer's features (Lee et al.
    2018); the OOD score is the smallest Mahalanobis distance to a class mean (higher = stranger).

    ``layer="features"`` (the default) models the flattened conv features of a CNN (the input of
    the first linear layer); ``"penultimate"`` the input of the read-out.
    """

    def __init__(self, layer: str = "features") -> None:
        self.layer = layer

    def fit(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Mahalanobis:
        self.model = model
        f = layer_features(model, x, self.layer).double()
        y = y.to(f.device)
        classes = torch.unique(y)
        self.means = torch.stack([f[y == c].mean(0) for c in classes])
        centered = f - self.means[torch.searchsorted(classes, y)]
        cov = centered.T @ centered / len(f)
        self.precision = torch.linalg.pinv(cov + 1e-6 * torch.eye(len(cov), dtype=cov.dtype, device=cov.device))
        return self

    def score(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        f = layer_features(self.model, x, self.layer).double()
        out = []
        for i in range(0, len(f), batch_size):
            d = f[i: i + batch_size, None, :] - self.means[None]  # (n, K, D)
            out.append(torch.einsum("nkd,de,nke->nk", d, self.precision, d).min(dim=1).values)
        return torch.cat(out).float() if out else torch.empty(0)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"means": self.means.float().contiguous(), "precision": self.precision.float().contiguous()}

    def load_state_dict(self, model: nn.Module, state: dict[str, torch.Tensor]) -> Mahalanobis:
        self.model, self.means, self.precision = model, state["means"].double(), state["precision"].double()
        return self


def ood_metrics(in_scores: torch.Tensor, out_scores: torch.Tensor) -> dict[str, float]:
    """AUROC and the false-positive rate at 95% true-positive rate for telling out-of-distribution
    inputs (positives, ``out_scores``) from in-distribution ones; higher score = more likely OOD."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = torch.cat([torch.zeros(len(in_scores)), torch.ones(len(out_scores))]).numpy()
    s = torch.cat([in_scores.float().cpu(), out_scores.float().cpu()]).numpy()
    fpr, tpr, _ = roc_curve(y, s)
    return {"auroc": float(roc_auc_score(y, s)), "fpr_at_95_tpr": float(fpr[(tpr >= 0.95).argmax()])}
