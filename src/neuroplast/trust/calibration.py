"""Calibrated confidence: metrics (accuracy, NLL, Brier, ECE, reliability) and methods that share
one interface — ``fit(x_val, y_val) -> self`` and ``predict(x) -> Prediction``.

A network is *calibrated* when, among the answers it gives with 80% confidence, 80% are right. The
expected calibration error (ECE) measures the gap: answers are grouped into 15 equal-width bins of
confidence, and ECE is the average |accuracy − confidence| over bins, weighted by how many answers
fall in each (Guo et al., "On Calibration of Modern Neural Networks", 2017).

Methods:
    ``TemperatureScaling``  divide the logits by one temperature T fitted on validation data by
                            minimising NLL (Guo et al. 2017); never changes the predicted class.
    ``MCDropout``           keep dropout on at prediction and average the softmax of S passes
                            (Gal & Ghahramani 2016); spread and mutual information say how much
                            the passes disagree.
    ``DeepEnsemble``        average M networks trained from different seeds (Lakshminarayanan et al. 2017).
    ``LaplaceApproximation`` a Gaussian posterior over the (last-layer) weights, fitted on the training
                            data with laplace-torch, prior by marginal likelihood.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import UserError
from neuroplast.registry import Registry

ECE_BINS = 15
CALIBRATORS: Registry[type] = Registry("calibration method")


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


# --------------------------------------------------------------------------- methods
class Calibrator:
    """The shared interface: ``fit(x_val, y_val) -> self``, ``predict(x) -> Prediction``."""

    def __init__(self, model: nn.Module, batch_size: int = 1024) -> None:
        self.model, self.batch_size = model, batch_size

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> Calibrator:
        return self

    def predict(self, x: torch.Tensor) -> Prediction:
        raise NotImplementedError

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits; when the "model" is itself a calibrator (an ensemble, MC dropout,
        Laplace), the log of its probabilities, so that methods compose:
        ``TemperatureScaling(DeepEnsemble(members)).fit(x_val, y_val)``."""
        if isinstance(self.model, Calibrator):
            return self.model.predict(x).probs.clamp_min(1e-12).log()
        from neuroplast.train.evaluate import predict_outputs

        return predict_outputs(self.model, x, self.batch_size)

    def describe(self) -> dict[str, Any]:
        """What was fitted (e.g. the temperature), for metrics.json."""
        return {}


@CALIBRATORS.register("none")
class Uncalibrated(Calibrator):
    """The model's own softmax: the baseline every method is compared with."""

    def predict(self, x: torch.Tensor) -> Prediction:
        return Prediction(_softmax(self.logits(x)))


@CALIBRATORS.register("temperature")
class TemperatureScaling(Calibrator):
    """Softmax of logits / T, with T > 0 fitted on held-out data by minimising NLL (L-BFGS on log T)."""

    temperature: float = 1.0

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> TemperatureScaling:
        if len(x) == 0:
            raise UserError("Temperature scaling needs held-out data and the validation split is empty. "
                            "Set data.val_fraction > 0 (e.g. 0.1) and train again.")
        logits, y = self.logits(x).double(), y.long().to(x.device)
        if bool((_softmax(logits).argmax(dim=1) == y).all()):
            raise UserError(f"The validation split ({len(y)} examples) is classified without a single error: "
                            "the temperature that fits it best is 0 (every answer certain), which says nothing "
                            "about new data. Hold out more (data.val_fraction) or keep the uncalibrated model.")
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            scaled = logits / log_t.exp()
            if scaled.shape[-1] == 1:  # one logit: a binary classifier, the sigmoid's temperature
                loss = F.binary_cross_entropy_with_logits(scaled.squeeze(-1), y.double())
            else:
                loss = F.cross_entropy(scaled, y)
            loss.backward()
            return loss

        opt.step(closure)
        self.temperature = float(log_t.detach().exp())
        return self

    def predict(self, x: torch.Tensor) -> Prediction:
        return Prediction(_softmax(self.logits(x) / self.temperature))

    def describe(self) -> dict[str, Any]:
        return {"temperature": self.temperature}


@CALIBRATORS.register("mc-dropout")
class MCDropout(Calibrator):
    """Average the softmax of ``samples`` forward passes with dropout left on (the rest in eval mode).

    A model without dropout layers is refused: every pass would be the same.
    """

    def __init__(self, model: nn.Module, samples: int = 30, seed: int = 0, batch_size: int = 1024) -> None:
        super().__init__(model, batch_size)
        self.samples, self.seed = samples, seed
        if not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules()):
            raise UserError("MC dropout needs dropout layers and this model has none. Train with "
                            "model.dropout > 0, or use --method temperature.")

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> Prediction:
        model = dropout_on(self.model)
        torch.manual_seed(self.seed)
        runs = torch.stack([_softmax(torch.cat([model(x[i: i + self.batch_size]).float()
                                                for i in range(0, len(x), self.batch_size)]))
                            for _ in range(self.samples)])  # (S, N, C)
        return Prediction.from_samples(runs)

    def describe(self) -> dict[str, Any]:
        return {"samples": self.samples}


def dropout_on(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with only its dropout layers on (batch norm keeps its running
    statistics): the network MC dropout samples from."""
    model = copy.deepcopy(model).eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()
    return model


MAX_NOISE = 1e3  # noise standard deviations searched by noise_perturbed (standardized inputs)


def noise_perturbed(method: Calibrator, x: torch.Tensor, y: torch.Tensor, levels: int = 10,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """Validation data for calibrating under distribution shift (Tomani et al. 2021, "Post-hoc
    uncertainty calibration for domain drift scenarios"): ``x`` and ``levels`` copies of it under
    Gaussian noise, the k-th with the standard deviation (found by bisection) at which ``method``'s
    accuracy falls k/levels of the way from clean to chance. Returns ``(x_all, y_all, sigmas)``;
    levels no noise up to ``MAX_NOISE`` reaches (a network that stays above chance on pure noise) are
    left out, so ``sigmas`` may be shorter than ``levels``.

    A temperature fitted on it is humbler for inputs that drift away from the training data; a
    generic perturbation, not the shift it is later tested on.
    """
    if len(x) == 0:
        raise UserError("Fitting a temperature on noise-perturbed data needs held-out data and the validation "
                        "split is empty. Set data.val_fraction > 0 (e.g. 0.1) and train again.")
    if not x.is_floating_point():
        raise UserError("--perturb adds Gaussian noise to the inputs, and this model reads token ids (text): "
                        "noise has no meaning there. Leave --perturb out.")
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape, generator=gen).to(x.device)

    def accuracy(prediction: Prediction) -> float:
        return (prediction.label == y.to(x.device)).float().mean().item()

    def noisy_accuracy(sigma: float) -> float:
        return accuracy(method.predict(x + sigma * noise))

    first = method.predict(x)
    clean, chance = accuracy(first), 1.0 / first.probs.shape[1]
    xs, sigmas = [x], []
    for k in range(1, levels + 1):
        target = clean - (clean - chance) * k / levels
        lo, hi = 0.0, 1.0
        above = noisy_accuracy(hi) > target
        while above and hi < MAX_NOISE:
            lo, hi = hi, 2 * hi
            above = noisy_accuracy(hi) > target
        if above:  # no amount of noise takes the accuracy this low: the levels end here
            break
        for _ in range(12):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if noisy_accuracy(mid) > target else (lo, mid)
        sigmas.append((lo + hi) / 2)
        xs.append(x + sigmas[-1] * torch.randn(x.shape, generator=gen).to(x.device))
    if not sigmas:
        raise UserError(f"Gaussian noise up to {MAX_NOISE:g} standard deviations does not lower this model's "
                        f"accuracy ({clean:.3f} on validation) towards chance, so there is nothing to calibrate "
                        "for. Leave --perturb out.")
    return torch.cat(xs), y.repeat(len(sigmas) + 1), sigmas


def make_calibrator(method: str, model: nn.Module, **options: Any) -> Calibrator:
    """The calibration method registered under ``method`` (``none``, ``temperature``, ``mc-dropout``,
    ``ensemble``, ``laplace``)."""
    return CALIBRATORS.get(method)(model, **options)


def _softmax(logits: torch.Tensor) -> torch.Tensor:
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


@CALIBRATORS.register("ensemble")
class DeepEnsemble(Calibrator):
    """Average the softmax of M independently trained members (Lakshminarayanan et al. 2017).

    ``DeepEnsemble([model_a, model_b, ...])``; the members' disagreement is the mutual information.
    Members may themselves be fitted calibrators: ``DeepEnsemble([LaplaceApproximation(m).fit(x, y)
    for m in models])`` is a mixture of Laplace approximations (Eschenhagen et al. 2021,
    https://arxiv.org/abs/2111.03577), each member's posterior predictive averaged.
    """

    def __init__(self, models: list[nn.Module | Calibrator] | nn.Module, batch_size: int = 1024) -> None:
        models = list(models) if isinstance(models, (list, tuple, nn.ModuleList)) else [models]
        if len(models) < 2:
            raise UserError(f"An ensemble needs at least 2 members; received {len(models)}. Train more "
                            "with different seeds (neuroplast run SPEC --set seed=N).")
        super().__init__(models[0], batch_size)
        self.models = models

    def predict(self, x: torch.Tensor) -> Prediction:
        from neuroplast.train.evaluate import predict_outputs

        return Prediction.from_samples(torch.stack([
            m.predict(x).probs if isinstance(m, Calibrator) else _softmax(predict_outputs(m, x, self.batch_size))
            for m in self.models]))

    def describe(self) -> dict[str, Any]:
        """The number of members, and what the first was fitted with when they are calibrators."""
        first = self.models[0]
        return {"fitted_on": "train", **(first.describe() if isinstance(first, Calibrator) else {}),
                "members": len(self.models)}


@CALIBRATORS.register("laplace")
class LaplaceApproximation(Calibrator):
    """A Gaussian posterior around the trained weights (MacKay 1992; Daxberger et al. 2021,
    "Laplace Redux"), by laplace-torch.

    ``fit(x_train, y_train)`` takes the training data: the posterior's precision is the loss's
    curvature there (a generalized Gauss-Newton Hessian) plus a prior precision chosen by maximising
    the marginal likelihood. ``subset="last_layer"`` (default for networks over ``ALL_WEIGHTS_MAX``
    parameters) treats only the last linear layer as uncertain with a Kronecker-factored Hessian;
    ``"all"`` (default for small MLPs) does every weight. Predictions integrate the logits' Gaussian
    through the softmax with the probit approximation: confident where the data was, humbler away from it.

    ``fit(x_train, y_train, val=(x_val, y_val))`` also checks the prior on held-out data: on a small
    training set a network fits almost perfectly, the curvature there is tiny and the marginal
    likelihood can prefer a prior so weak that every answer drifts towards uniform (the 8x8 digits
    CNN: prior 2.5, validation ECE 53%). The marginal-likelihood prior is kept unless a prior precision
    from a log grid (1e-2 to 1e4) has a lower validation NLL; ``describe()`` says which was used.
    """

    ALL_WEIGHTS_MAX = 50_000

    def __init__(self, model: nn.Module, subset: str = "auto", hessian: str = "kron", batch_size: int = 256) -> None:
        super().__init__(model, batch_size)
        laplace = _laplace_torch()
        if subset == "auto":
            plain = all(isinstance(m, (nn.Sequential, nn.Linear, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Flatten,
                                       nn.Dropout, nn.Identity, nn.LeakyReLU, nn.ELU))
                        for m in model.modules() if m is not model)
            small = sum(p.numel() for p in model.parameters()) <= self.ALL_WEIGHTS_MAX
            subset = "all" if plain and small else "last_layer"
        if subset not in ("all", "last_layer"):
            raise UserError(f"Laplace subset must be 'auto', 'all' or 'last_layer'; received {subset!r}.")
        self.subset, self.hessian, self._laplace = subset, hessian, laplace
        self.la = None

    PRIOR_GRID = tuple(float(v) for v in torch.logspace(-2, 4, 25))

    def fit(self, x: torch.Tensor, y: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor] | None = None,
            prior_precision: list[float] | None = None) -> LaplaceApproximation:
        out = self.logits(x[:2])
        if out.shape[-1] < 2:
            raise UserError("The Laplace approximation here needs a network with one logit per class; this "
                            "one has a single output. Use --method temperature.")
        # laplace-torch flattens parameters with .view: a copy in the contiguous layout (a channels-last
        # CNN's conv weights are not), so the caller's model is left as it was
        model = copy.deepcopy(self.model).to(memory_format=torch.contiguous_format).eval()
        x = x.contiguous()
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y.long()), batch_size=self.batch_size)
        self.la = self._laplace.Laplace(model, "classification", subset_of_weights=self.subset,
                                        hessian_structure=self.hessian)
        with warnings.catch_warnings():  # laplace-torch's notice that the probit link is its default
            warnings.simplefilter("ignore", UserWarning)
            self.la.fit(loader)
            if prior_precision is not None:  # one chosen before (a calibrated folder reloaded)
                current = self.la.prior_precision
                self.la.prior_precision = torch.as_tensor(prior_precision, dtype=current.dtype,
                                                          device=current.device)
                self.marglik_prior, self.prior_from = None, "given"
                return self
            self.la.optimize_prior_precision(method="marglik", pred_type="glm", link_approx="probit")
        self.marglik_prior = self.la.prior_precision.detach().clone()
        self.prior_from = "marginal likelihood"
        if val is not None and len(val[0]):
            self._check_prior(*val)
        return self

    def _check_prior(self, x_val: torch.Tensor, y_val: torch.Tensor) -> None:
        """Keep the marginal-likelihood prior unless one from ``PRIOR_GRID`` has a lower validation NLL."""
        y_val = y_val.long().to(x_val.device)

        def nll() -> float:
            return scores(self.predict(x_val).probs, y_val)["nll"]

        best_nll, best_prior = nll(), self.marglik_prior
        for value in self.PRIOR_GRID:
            self.la.prior_precision = torch.full_like(self.marglik_prior, value)
            candidate = nll()
            if candidate < best_nll:
                best_nll, best_prior = candidate, self.la.prior_precision.clone()
        self.la.prior_precision = best_prior
        if best_prior is not self.marglik_prior:
            self.prior_from = "validation NLL"
        self.val_nll = best_nll

    def predict(self, x: torch.Tensor) -> Prediction:
        if self.la is None:
            raise UserError("Call fit(x_train, y_train) before predict.")
        x = x.contiguous()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            probs = torch.cat([self.la(x[i: i + self.batch_size], pred_type="glm", link_approx="probit").detach()
                               for i in range(0, len(x), self.batch_size)])
        return Prediction(probs.float())

    def describe(self) -> dict[str, Any]:
        prior = None if self.la is None else self.la.prior_precision.detach().flatten().tolist()
        out = {"subset": self.subset, "hessian": self.hessian, "prior_precision": prior, "link": "probit",
               "fitted_on": "train", "prior_from": getattr(self, "prior_from", None)}
        if getattr(self, "val_nll", None) is not None:  # the prior was checked on validation data
            out["fitted_on"] = "train (curvature), val (prior check)"
            out["marglik_prior_precision"] = self.marglik_prior.flatten().tolist()
        return out


def _laplace_torch() -> Any:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import laplace
    except ImportError:
        raise UserError("The Laplace approximation needs laplace-torch, installed without its torchvision "
                        "requirement: pip install --no-deps -r requirements-laplace.txt (see the README).") from None
    return laplace


# --------------------------------------------------------------------------- out-of-distribution
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
