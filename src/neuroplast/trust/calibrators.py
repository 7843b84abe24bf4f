"""Calibration methods that share one interface — ``fit(x_val, y_val) -> self`` and
``predict(x) -> Prediction`` — registered in :data:`CALIBRATORS`.

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
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import UserError
from neuroplast.registry import Registry
from neuroplast.train.evaluate import predict_outputs
from neuroplast.trust.metrics import Prediction, scores, softmax

CALIBRATORS: Registry[type] = Registry("calibration method")


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
        return predict_outputs(self.model, x, self.batch_size)

    def describe(self) -> dict[str, Any]:
        """What was fitted (e.g. the temperature), for metrics.json."""
        return {}


@CALIBRATORS.register("none")
class Uncalibrated(Calibrator):
    """The model's own softmax: the baseline every method is compared with."""

    def predict(self, x: torch.Tensor) -> Prediction:
        return Prediction(softmax(self.logits(x)))


@CALIBRATORS.register("temperature")
class TemperatureScaling(Calibrator):
    """Softmax of logits / T, with T > 0 fitted on held-out data by minimising NLL (L-BFGS on log T)."""

    temperature: float = 1.0

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> TemperatureScaling:
        if len(x) == 0:
            raise UserError("Temperature scaling needs held-out data and the validation split is empty. "
                            "Set data.val_fraction > 0 (e.g. 0.1) and train again.")
        logits, y = self.logits(x).double(), y.long().to(x.device)
        if bool((softmax(logits).argmax(dim=1) == y).all()):
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
        return Prediction(softmax(self.logits(x) / self.temperature))

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
        runs = torch.stack([softmax(torch.cat([model(x[i: i + self.batch_size]).float()
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
        return Prediction.from_samples(torch.stack([
            m.predict(x).probs if isinstance(m, Calibrator) else softmax(predict_outputs(m, x, self.batch_size))
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
