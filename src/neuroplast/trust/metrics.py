"""Calibration metrics: what a calibration method predicts (:class:`Prediction`), and how well its
confidence matches its accuracy (accuracy, NLL, Brier, ECE, reliability, selective prediction).

A network is *calibrated* when, among the answers it gives with 80% confidence, 80% are right. The
expected calibration error (ECE) measures the gap: answers are grouped into 15 equal-width bins of
confidence, and ECE is the average |accuracy − confidence| over bins, weighted by how many answers
fall in each (Guo et al., "On Calibration of Modern Neural Networks", 2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

ECE_BINS = 15


# --------------------------------------------------------------------------- what a method predicts
@dataclass
class Prediction:
    """Class probabilities with how sure they are.

    Attributes:
        probs: (N, C) probabilities (the mean over samples for sampling methods).
        confidence: (N,) the largest probability.
        entropy: (N,) predictive entropy in nats (0 = certain; log C = uniform).
        mutual_information: (N,) for sampling methods, the part of the entropy that comes from
            disagreement between samples (epistemic uncertainty); None otherwise.
    """

    probs: torch.Tensor
    mutual_information: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_samples(cls, runs: torch.Tensor) -> Prediction:
        """The mean of ``(S, N, C)`` sampled probabilities, with their mutual information (entropy
        of the mean minus mean entropy) and per-class spread."""
        mean = runs.mean(0)
        mutual_information = entropy(mean) - torch.stack([entropy(p) for p in runs]).mean(0)
        return cls(mean, mutual_information.clamp_min(0), {"std": runs.std(0)})

    @property
    def confidence(self) -> torch.Tensor:
        return self.probs.max(dim=1).values

    @property
    def label(self) -> torch.Tensor:
        return self.probs.argmax(dim=1)

    @property
    def entropy(self) -> torch.Tensor:
        return entropy(self.probs)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * probs.clamp_min(1e-12).log()).sum(dim=1)


# --------------------------------------------------------------------------- metrics
def ece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error with ``n_bins`` equal-width confidence bins (a fraction, not %).

    A confidence of exactly 1.0 falls in the top bin; bins are half-open ``(lo, hi]``.
    """
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, n_bins + 1, device=probs.device)
    total = torch.zeros((), device=probs.device)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            total += in_bin.float().sum() * (correct[in_bin].mean() - conf[in_bin].mean()).abs()
    return (total / max(len(labels), 1)).item()


def ece_floor(probs: torch.Tensor, n_bins: int = ECE_BINS, draws: int = 200, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model with these confidences would still show on this many
    examples: the median of :func:`ece_if_calibrated`. ECE is a noisy, upward-biased estimate; a
    measured ECE near this floor cannot be told apart from perfect calibration on a test set of this size.
    """
    return float(ece_if_calibrated(probs, n_bins, draws, seed).median())


def ece_if_calibrated(probs: torch.Tensor, n_bins: int = ECE_BINS, draws: int = 200, seed: int = 0) -> torch.Tensor:
    """``draws`` ECEs of a perfectly calibrated model with these confidences: in each draw every answer
    is right with probability equal to its confidence. Their spread is the ECE's sampling noise on a
    test set of this size (e.g. the share of draws above a bar is how often perfect calibration misses it).
    """
    conf = probs.max(dim=1).values.double().cpu()
    gen = torch.Generator().manual_seed(seed)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    which = torch.bucketize(conf, edges[1:-1], right=False)  # bin k holds (edges[k], edges[k+1]]
    conf_sum = torch.bincount(which, weights=conf, minlength=n_bins)
    eces = []
    for _ in range(draws):
        right = (torch.rand(len(conf), generator=gen, dtype=torch.float64) < conf).double()
        right_sum = torch.bincount(which, weights=right, minlength=n_bins)
        eces.append(float((right_sum - conf_sum).abs().sum() / max(len(conf), 1)))
    return torch.tensor(eces, dtype=torch.float64)


def reliability(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = ECE_BINS) -> dict[str, list[float]]:
    """Per-bin mean confidence, accuracy and count: the data of a reliability diagram."""
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, n_bins + 1)
    out: dict[str, list[float]] = {"lower": [], "upper": [], "confidence": [], "accuracy": [], "count": []}
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        n = int(in_bin.sum())
        out["lower"].append(lo)
        out["upper"].append(hi)
        out["count"].append(n)
        out["confidence"].append(conf[in_bin].mean().item() if n else float("nan"))
        out["accuracy"].append(correct[in_bin].mean().item() if n else float("nan"))
    return out


def scores(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy, NLL (nats per example), Brier score (sum over classes, mean over examples) and ECE."""
    probs, labels = probs.float(), labels.long()
    one_hot = F.one_hot(labels, probs.shape[1]).float()
    return {
        "accuracy": (probs.argmax(1) == labels).float().mean().item(),
        "nll": F.nll_loss(probs.clamp_min(1e-12).log(), labels).item(),
        "brier": (probs - one_hot).pow(2).sum(1).mean().item(),
        "ece": ece(probs, labels),
    }


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities from logits; one logit is a binary classifier's (sigmoid, two columns)."""
    if logits.shape[-1] == 1:  # one logit: a binary classifier
        p = torch.sigmoid(logits.float())
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits.float(), dim=-1)


def selective_threshold(confidence: torch.Tensor, correct: torch.Tensor, target_accuracy: float) -> float:
    """The lowest confidence threshold at which the answers kept (confidence >= threshold) are right
    at least ``target_accuracy`` of the time; below it the model says "not sure". 1.0 when no
    threshold reaches the target (every answer is then "not sure" unless fully confident)."""
    order = torch.argsort(confidence, descending=True)
    conf, right = confidence[order], correct[order].float()
    kept_accuracy = right.cumsum(0) / torch.arange(1, len(right) + 1, device=right.device)
    ok = (kept_accuracy >= target_accuracy).nonzero()
    if len(ok) == 0:
        return 1.0
    return float(conf[int(ok[-1])])


def selective_curve(confidence: torch.Tensor, correct: torch.Tensor, points: int = 20) -> dict[str, list[float]]:
    """Accuracy of the answers kept against the fraction kept (coverage), most confident first."""
    order = torch.argsort(confidence, descending=True)
    right = correct[order].float()
    n = len(right)
    coverage = [k / points for k in range(1, points + 1)]
    accuracy = [right[: max(1, round(c * n))].mean().item() for c in coverage]
    return {"coverage": coverage, "accuracy": accuracy}
