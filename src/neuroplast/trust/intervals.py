"""Prediction intervals for regression with a finite-sample coverage guarantee: split conformal.

Split conformal prediction (Lei et al., "Distribution-Free Predictive Inference for Regression",
JASA 2018; Angelopoulos & Bates, "A Gentle Introduction to Conformal Prediction", 2021, section 1):
take the absolute residuals ``|y - f(x)|`` of a trained model on n calibration points that played no
part in fitting its weights, and let ``q`` be the ``k``-th smallest of them with

    k = ceil((n + 1) * (1 - alpha)).

Then ``[f(x) - q, f(x) + q]`` holds a new ``y`` with probability at least ``1 - alpha`` (and below
``1 - alpha + 1/(n + 1)`` when residuals have no ties), provided the calibration and test points are
exchangeable. The guarantee is marginal (on average over calibration sets and test points); the
coverage given one calibration set is Beta(k, n + 1 - k) distributed, so with a small set it scatters
(n = 35, alpha = 0.1: mean 0.917, standard deviation 0.045). When ``k > n`` — fewer than
``1/alpha - 1`` points — no finite ``q`` is valid and :class:`SplitConformal` refuses.

Each target column (each forecast step) gets its own ``q``. Caveats for run folders: the validation
split also chose the early-stopping epoch, a mild use of the calibration data; and the windows of a
time series are not exchangeable (the test part comes after the validation part), so there the
guarantee is an assumption, not a theorem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuroplast.errors import UserError
from neuroplast.train.evaluate import predict_outputs
from neuroplast.train.objective import gaussian
from neuroplast.trust.calibrators import dropout_on

_EPS = 1e-9  # (n + 1)(1 - alpha) is computed in floating point: 10 * (1 - 0.1) must give k = 9, not 10


# --------------------------------------------------------------------------- the quantile rule
def conformal_rank(n: int, alpha: float) -> int:
    """``k = ceil((n + 1)(1 - alpha))``: which order statistic (1-based) of n scores is ``q``."""
    check_alpha(alpha)
    return math.ceil((n + 1) * (1 - alpha) - _EPS)


def min_calibration_points(alpha: float) -> int:
    """The fewest calibration points for which ``k <= n`` at level ``alpha`` (9 for alpha = 0.1)."""
    check_alpha(alpha)
    n = max(1, math.ceil(1 / alpha - 1 - _EPS))
    while conformal_rank(n, alpha) > n:  # guard against rounding in 1 / alpha
        n += 1
    return n


def conformal_quantile(scores: torch.Tensor, alpha: float) -> torch.Tensor:
    """The ``k``-th smallest score of each column of ``scores`` (N,) or (N, T): shape () or (T,).

    Raises:
        UserError: when N is too small for ``alpha`` (``k > N``), saying how many points are needed.
    """
    n = len(scores)
    k = conformal_rank(n, alpha)
    if k > n:
        need = min_calibration_points(alpha)
        raise UserError(f"Split conformal at alpha = {alpha} (coverage {1 - alpha:.0%}) needs at least {need} "
                        f"calibration points; received {n}. Use more validation data (raise "
                        f"data.val_fraction) or a lower coverage (--coverage; a larger alpha): with {n} "
                        f"points at most {n / (n + 1):.3f}.")
    return scores.sort(dim=0).values[k - 1]


def check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise UserError(f"alpha is the miscoverage rate and must lie in (0, 1); received {alpha}. "
                        "alpha = 0.1 asks for 90% intervals.")


# --------------------------------------------------------------------------- intervals
@dataclass
class Interval:
    """Point predictions with a lower and an upper bound, each of shape (N, targets).

    In the model's output units (standardized targets) unless converted with :meth:`to_units`.
    """

    mean: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor

    @property
    def width(self) -> torch.Tensor:
        return self.upper - self.lower

    def to_units(self, preprocess: dict[str, Any]) -> Interval:
        """The interval in the target's units: ``value * target_std + target_mean`` (per column)."""
        std = torch.as_tensor(preprocess.get("target_std", [1.0]), dtype=self.mean.dtype, device=self.mean.device)
        mean = torch.as_tensor(preprocess.get("target_mean", [0.0]), dtype=self.mean.dtype,
                               device=self.mean.device)
        if (std <= 0).any():
            raise UserError(f"preprocess target_std must be positive; received {std.tolist()}.")
        return Interval(self.mean * std + mean, self.lower * std + mean, self.upper * std + mean)


def coverage(interval: Interval, y: torch.Tensor, per_target: bool = False) -> float | list[float]:
    """The fraction of ``y`` inside ``[lower, upper]`` (ends included), over every sample and target;
    with ``per_target``, one fraction per target column."""
    y = y.to(interval.mean.device, interval.mean.dtype).reshape(interval.mean.shape)
    inside = ((y >= interval.lower) & (y <= interval.upper)).float()
    return inside.mean(0).tolist() if per_target else inside.mean().item()


# --------------------------------------------------------------------------- methods
class SplitConformal:
    """Intervals ``f(x) ± q`` with ``q`` the conformal quantile of absolute calibration residuals.

    ``SplitConformal(model, alpha=0.1).fit(x_val, y_val).predict(x_test)`` gives 90% intervals.
    ``q`` (one per target) is in the model's output units. For a Gaussian head (``heads=2``: a mean
    and a variance per target) the residuals are normalized by the predicted standard deviation and
    the interval is ``mean ± q·sigma``: wider where the network expects larger errors, with the same
    guarantee (Lei et al. 2018, section 5.2).
    """

    def __init__(self, model: nn.Module, alpha: float = 0.1, batch_size: int = 1024, heads: int = 1) -> None:
        check_alpha(alpha)
        self.model, self.alpha, self.batch_size, self.heads = model, alpha, batch_size, heads
        self.q: torch.Tensor | None = None
        self.n = 0

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Point predictions and the scale of their errors (1, or the Gaussian head's sigma)."""
        out = predict_outputs(self.model, x, self.batch_size).reshape(len(x), -1)
        if self.heads == 2:
            mean, var = gaussian(out)
            return mean, var.sqrt()
        return out, torch.ones_like(out)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> SplitConformal:
        out, scale = self.outputs(x)
        if y.numel() != out.numel():
            raise UserError(f"Calibration targets have shape {tuple(y.shape)} but the model gives "
                            f"{tuple(out.shape)}; pass one target row per input.")
        residuals = (y.to(out.device, out.dtype).reshape(out.shape) - out).abs() / scale
        self.q, self.n = conformal_quantile(residuals, self.alpha), len(x)
        return self

    def predict(self, x: torch.Tensor) -> Interval:
        if self.q is None:
            raise UserError("SplitConformal.predict was called before fit; call fit(x_val, y_val) first.")
        out, scale = self.outputs(x)
        half = self.q.to(out.device) * scale
        return Interval(out, out - half, out + half)

    def describe(self) -> dict[str, Any]:
        """What was fitted, for metrics.json (``q`` in model output units, or in sigmas when normalized)."""
        return {"alpha": self.alpha, "q": None if self.q is None else self.q.tolist(),
                "normalized": self.heads == 2,
                "rank": conformal_rank(self.n, self.alpha) if self.n else None, "val_samples": self.n}


class GaussianIntervals:
    """``mean ± z·sigma`` from a Gaussian head (``train.loss = "gaussian_nll"``), z the normal quantile
    for ``1 - alpha``; no calibration data (``fit`` is a no-op). Right only as far as the network's
    variances are; :class:`SplitConformal` on the same head adds the guarantee."""

    def __init__(self, model: nn.Module, alpha: float = 0.1, batch_size: int = 1024) -> None:
        check_alpha(alpha)
        self.conformal = SplitConformal(model, alpha, batch_size, heads=2)
        self.z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(1 - alpha / 2)).item()

    def fit(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> GaussianIntervals:
        return self

    def predict(self, x: torch.Tensor) -> Interval:
        mean, sigma = self.conformal.outputs(x)
        return Interval(mean, mean - self.z * sigma, mean + self.z * sigma)


class SampledIntervals:
    """``mean ± z·std`` over several predictions of each input: the members of a deep ensemble
    (networks from different seeds), or MC-dropout passes of one network (``mc_samples``).

    With Gaussian heads the variance is the law of total variance: the mean of the members'
    variances (noise in the data) plus the variance of their means (disagreement: what the networks
    do not know). No calibration data; the spread is only as right as the members' disagreement is.
    """

    def __init__(self, models: list[nn.Module] | nn.Module, alpha: float = 0.1, heads: int = 1,
                 mc_samples: int = 0, seed: int = 0, batch_size: int = 1024) -> None:
        check_alpha(alpha)
        self.models = list(models) if isinstance(models, (list, tuple)) else [models]
        if mc_samples == 0 and len(self.models) < 2:
            raise UserError(f"Ensemble intervals need at least 2 networks; received {len(self.models)}. "
                            "Pass more members, or mc_samples=30 for MC dropout on one network.")
        self.alpha, self.heads, self.mc_samples, self.seed, self.batch_size = alpha, heads, mc_samples, seed, batch_size
        self.z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(1 - alpha / 2)).item()

    def fit(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> SampledIntervals:
        return self

    @torch.inference_mode()
    def samples(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and variances ``(S, N, targets)`` of every member or pass (variance 0 without a head)."""
        nets = self.models
        if self.mc_samples:
            nets = [dropout_on(self.models[0])] * self.mc_samples
            torch.manual_seed(self.seed)
        means, variances = [], []
        for net in nets:
            if not self.mc_samples:
                net.eval()
            out = torch.cat([net(x[i: i + self.batch_size]).float() for i in range(0, len(x), self.batch_size)])
            out = out.reshape(len(x), -1)
            mean, var = gaussian(out) if self.heads == 2 else (out, torch.zeros_like(out))
            means.append(mean)
            variances.append(var)
        return torch.stack(means), torch.stack(variances)

    def predict(self, x: torch.Tensor) -> Interval:
        means, variances = self.samples(x)
        mean = means.mean(0)
        std = (variances.mean(0) + means.var(0, unbiased=False)).sqrt()
        return Interval(mean, mean - self.z * std, mean + self.z * std)


class AdaptiveConformal:
    """Adaptive conformal inference for forecasts (Gibbs & Candès, "Adaptive Conformal Inference
    Under Distribution Shift", NeurIPS 2021): conformal intervals whose level follows the errors.

    Split conformal assumes the test points are exchangeable with the calibration points; a time
    series' later years are not (sunspots: the strongest solar cycles come last). ACI walks through
    the test windows in time order; at step t it uses the conformal quantile at level ``1 - alpha_t``
    of every score seen so far (calibration, then the test steps already observed), then updates
    ``alpha_{t+1} = alpha_t + gamma (alpha - err_t)``, err_t = 1 if y_t fell outside. Whatever the
    shift, the long-run miss rate is within ``(max(alpha_1, 1 - alpha_1) + gamma) / (gamma T)`` of
    ``alpha`` (their Proposition 4.1). Each forecast step (target column) adapts on its own.

    This is an online method: the interval for step t uses the true values before t, as a forecaster
    has them in practice. ``gamma = 0.05`` lets alpha cross its range within ~20 steps, which a test
    part of a few dozen yearly windows needs (the paper's 0.005 is for thousands of steps). When
    ``alpha_t`` falls below ``1 / (n + 1)`` the exact method would give an infinite interval; here it
    takes the largest score seen (the widest finite one), which can only miss more.
    """

    def __init__(self, model: nn.Module, alpha: float = 0.1, gamma: float = 0.05, heads: int = 1,
                 batch_size: int = 1024) -> None:
        check_alpha(alpha)
        self.base = SplitConformal(model, alpha, batch_size, heads)
        self.alpha, self.gamma = alpha, gamma
        self.scores: torch.Tensor | None = None
        self.alphas: list[list[float]] = []

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> AdaptiveConformal:
        out, scale = self.base.outputs(x)
        self.scores = ((y.to(out.dtype).reshape(out.shape) - out).abs() / scale).double()
        return self

    def predict_online(self, x: torch.Tensor, y: torch.Tensor) -> Interval:
        """Intervals for the test windows ``x`` in time order, observing ``y`` after each step."""
        if self.scores is None:
            raise UserError("AdaptiveConformal.predict_online was called before fit; call fit(x_val, y_val) first.")
        out, scale = self.base.outputs(x)
        y = y.to(out.dtype).reshape(out.shape)
        seen = [row for row in self.scores]
        alpha_t = torch.full((out.shape[1],), self.alpha, dtype=torch.float64)
        lower, upper, self.alphas = torch.empty_like(out), torch.empty_like(out), []
        for t in range(len(x)):
            pool = torch.stack(seen)  # (n, targets)
            n = len(pool)
            ranks = torch.ceil((n + 1) * (1 - alpha_t) - _EPS).clamp(1, n).long()
            q = torch.sort(pool, dim=0).values.gather(0, (ranks - 1)[None]).squeeze(0).to(out.dtype)
            half = q * scale[t]
            lower[t], upper[t] = out[t] - half, out[t] + half
            score = ((y[t] - out[t]).abs() / scale[t]).double()
            miss = (score > q.double()).double()
            self.alphas.append(alpha_t.tolist())
            alpha_t = alpha_t + self.gamma * (self.alpha - miss)
            seen.append(score)
        return Interval(out, lower, upper)
